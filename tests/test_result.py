"""Result parsing, JSON round trip, the text summary, and reading back bad saved results."""

from __future__ import annotations

import base64
import json
import random
import struct
import zlib
from pathlib import Path
from typing import Any, Callable

import pytest

import cannonade
from cannonade import CannonadeError, Result, ResultError
from cannonade._report import format_bytes, format_ns

from support import Server, decode_histogram, run_bounded


def v2_histogram(counts: dict[int, int]) -> bytes:
    """HdrHistogram V2 deflate bytes (3 digits, 1..2^40) with ``counts`` by bucket index."""
    payload = bytearray()
    index = 0
    for bucket in sorted(counts):
        if bucket > index:
            skip = -(bucket - index)
            payload += _varint((skip << 1) ^ (skip >> 63))
        payload += _varint(counts[bucket] << 1)
        index = bucket + 1
    inner = struct.pack(">IIIIqqd", 0x1C849313, len(payload), 0, 3, 1, 2**40, 1.0) + payload
    body = zlib.compress(inner)
    return struct.pack(">II", 0x1C849314, len(body)) + body


def _varint(value: int) -> bytes:
    value &= 2**64 - 1
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


HISTOGRAM = v2_histogram({0: 3, 1500: 7})

# The result JSON as the engine writes it (schema_version 1).
RESULT_JSON = """{
  "schema_version": 1,
  "target": "127.0.0.1:9000", "protocol": "tcp", "connections": 32, "threads": 2,
  "stopped_by": "duration",
  "duration_ns": 5000123456,
  "requests": 123456,
  "requests_per_s": 24690.1,
  "bytes_sent": 7901184, "bytes_received": 7901184,
  "connections_opened": 32,
  "errors": {"connect_refused": 0, "connect_timeout": 0, "connect_other": 0,
             "reset": 1, "closed": 3, "timeout": 0, "protocol": 0, "io_other": 0},
  "latency_ns": {"count": 123456, "min": 51000, "mean": 81234.5, "stdev": 2345.6, "max": 3100000,
                 "percentiles": [[50.0, 80000], [90.0, 90000], [99.0, 120000], [99.9, 300000],
                                 [99.99, 900000]]},
  "rate_per_s": null,
  "uncorrected_latency_ns": {"count": 123456, "min": 51000, "mean": 81234.5, "stdev": 2345.6,
                 "max": 3100000, "percentiles": [[50.0, 80000], [90.0, 90000], [99.0, 120000],
                                 [99.9, 300000], [99.99, 900000]]},
  "send_lag_ns": null,
  "intervals": 6
}"""


def test_parse_contract_example() -> None:
    result = Result.from_json(RESULT_JSON, HISTOGRAM)
    assert result.requests == 123456
    assert result.errors.closed == 3 and result.errors.total == 4
    assert result.latency.min_ns == 51000 and result.latency.mean_ns == 81234.5
    assert result.latency.percentiles[2] == (99.0, 120000)
    assert result.latency.percentile(99.9) == 300000
    assert result.duration_s == pytest.approx(5.000123456)
    assert result.histogram == HISTOGRAM
    assert decode_histogram(result.histogram).total == 10


def test_round_trip() -> None:
    result = Result.from_json(RESULT_JSON, HISTOGRAM)
    again = Result.from_json(result.to_json())
    assert again == result
    assert json.loads(result.to_json())["latency_ns"] == json.loads(RESULT_JSON)["latency_ns"]
    without = Result.from_json(RESULT_JSON)
    assert "histogram_base64" not in without.to_dict()
    assert Result.from_dict(without.to_dict()) == without


def test_missing_field_is_a_result_error() -> None:
    data = json.loads(RESULT_JSON)
    del data["latency_ns"]["max"]
    with pytest.raises(ResultError, match="latency_ns.'max'"):
        Result.from_dict(data)
    data = json.loads(RESULT_JSON)
    data["schema_version"] = 99
    with pytest.raises(ResultError, match="schema_version 99"):
        Result.from_dict(data)


def test_format_is_wrk_like() -> None:
    text = Result.from_json(RESULT_JSON).format()
    assert "127.0.0.1:9000" in text
    assert "2 threads and 32 connections" in text
    assert "123456 requests in 5.00s" in text
    assert "Requests/sec:   24690.10" in text
    assert "Transfer/sec:" in text
    assert "51.00µs" in text and "3.10ms" in text
    assert "99.99%" in text and "900.00µs" in text
    assert "Errors: reset 1, closed 3" in text


def test_format_without_requests() -> None:
    data = json.loads(RESULT_JSON)
    data["requests"] = 0
    data["latency_ns"] = {
        "count": 0,
        "min": 0,
        "mean": 0.0,
        "stdev": 0.0,
        "max": 0,
        "percentiles": [],
    }
    text = Result.from_dict(data).format()
    assert "no request completed" in text


@pytest.mark.parametrize(
    "ns, text",
    [(999, "999ns"), (51_000, "51.00µs"), (3_100_000, "3.10ms"), (2_500_000_000, "2.50s")],
)
def test_format_ns(ns: int, text: str) -> None:
    assert format_ns(ns) == text


def test_format_bytes() -> None:
    assert format_bytes(512) == "512B"
    assert format_bytes(7901184) == "7.54MiB"


# --- reading back saved results that are bad -------------------------------------------


def test_result_error_is_a_cannonade_error_and_a_value_error() -> None:
    assert issubclass(ResultError, CannonadeError) and issubclass(ResultError, ValueError)
    assert cannonade.ResultError is ResultError


def _edit(change: Callable[[dict[str, Any]], None]) -> str:
    data = json.loads(RESULT_JSON)
    data["histogram_base64"] = base64.b64encode(HISTOGRAM).decode()
    data["phases"] = [_phase()]
    change(data)
    return json.dumps(data)


def _phase() -> dict[str, Any]:
    data = json.loads(RESULT_JSON)
    return {
        "name": "main", "first_interval": 0, "intervals": 6, "start_ns": 0,
        "end_ns": data["duration_ns"], "requests": data["requests"],
        "requests_per_s": data["requests_per_s"], "bytes_sent": 1, "bytes_received": 1,
        "connections_opened": 32, "errors": data["errors"], "latency_ns": data["latency_ns"],
        "uncorrected_latency_ns": data["latency_ns"],
        "histogram_v2_base64": base64.b64encode(HISTOGRAM).decode(),
    }  # fmt: skip


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value

    return change


def _junk_histogram(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


_INFLATED = zlib.decompress(HISTOGRAM[8:])

# (what, JSON text, words the message must hold)
BAD_RESULTS = [
    ("empty", "", ["empty"]),
    ("blank", " \n\t", ["empty"]),
    ("cut short", RESULT_JSON[: len(RESULT_JSON) // 2], ["cut short"]),
    ("not JSON", "schema_version: 2", ["not valid JSON"]),
    ("null", "null", ["must be an object", "null"]),
    ("a list", "[1, 2]", ["must be an object", "array"]),
    ("a number", "42", ["must be an object", "42"]),
    ("deep", "[" * 100_000 + "]" * 100_000, []),
    ("newer schema", _edit(_set("schema_version", 4)), ["newer", "upgrade cannonade"]),
    ("schema as text", _edit(_set("schema_version", "2")), ["schema_version '2'"]),
    ("schema missing", _edit(lambda d: d.pop("schema_version")), ["schema_version"]),
    ("requests as text", _edit(_set("requests", "many")), ["requests", "many"]),
    ("requests as list", _edit(_set("requests", [1])), ["requests"]),
    ("requests huge float", _edit(_set("requests", 1e400)), ["requests"]),
    ("latency null", _edit(_set("latency_ns", None)), ["latency_ns"]),
    ("latency a list", _edit(_set("latency_ns", [])), ["latency_ns"]),
    ("errors a list", _edit(_set("errors", [0] * 8)), ["errors"]),
    ("an error count missing", _edit(lambda d: d["errors"].pop("reset")), ["reset"]),
    ("percentile pair short", _edit(_set("latency_ns.percentiles", [[50.0]])), ["percentiles"]),
    ("percentiles a number", _edit(_set("latency_ns.percentiles", 7)), ["percentiles"]),
    ("status codes a list", _edit(_set("status_codes", [200])), ["status_codes"]),
    ("status code not a number", _edit(_set("status_codes", {"ok": 1})), ["status_codes"]),
    ("phases an object", _edit(_set("phases", {"a": 1})), ["phases"]),
    ("phase a number", _edit(_set("phases", [7])), ["Phase"]),
    ("phase field wrong", _edit(_set("phases.0.requests", {})), ["phases[0].requests"]),
    ("idle a string", _edit(_set("idle_connections", "x")), ["idle_connections"]),
    ("histogram not base64", _edit(_set("histogram_base64", "!!not base64!!")), ["base64"]),
    ("histogram not a string", _edit(_set("histogram_base64", 12)), ["base64 string"]),
    (
        "histogram junk bytes",
        _edit(_set("histogram_base64", _junk_histogram(b"\x00\x01binary\xff"))),
        ["HdrHistogram V2", "cookie"],
    ),
    (
        "histogram too short",
        _edit(_set("histogram_base64", _junk_histogram(HISTOGRAM[:6]))),
        ["shorter"],
    ),
    (
        "histogram cut short",
        _edit(_set("histogram_base64", _junk_histogram(HISTOGRAM[:-3]))),
        ["compressed bytes"],
    ),
    (
        "histogram deflate corrupt",
        _edit(
            _set(
                "histogram_base64",
                _junk_histogram(HISTOGRAM[:8] + bytes(len(HISTOGRAM) - 8)),
            )
        ),
        ["corrupt"],
    ),
    (
        "histogram inner junk",
        _edit(
            _set(
                "histogram_base64",
                _junk_histogram(
                    struct.pack(">II", 0x1C849314, len(zlib.compress(b"junk" * 20)))
                    + zlib.compress(b"junk" * 20)
                ),
            )
        ),
        ["inner cookie"],
    ),
    (
        "histogram payload length wrong",
        _edit(
            _set(
                "histogram_base64",
                _junk_histogram(
                    struct.pack(">II", 0x1C849314, len(zlib.compress(_INFLATED[:-1])))
                    + zlib.compress(_INFLATED[:-1])
                ),
            )
        ),
        ["payload bytes"],
    ),
    (
        "phase histogram junk",
        _edit(_set("phases.0.histogram_v2_base64", _junk_histogram(b"junk junk junk"))),
        ["phases[].histogram_v2_base64"],
    ),
]


@pytest.mark.parametrize("what, text, words", BAD_RESULTS, ids=[b[0] for b in BAD_RESULTS])
def test_a_bad_saved_result_raises_one_error_naming_the_file(
    what: str, text: str, words: list[str], tmp_path: Path
) -> None:
    with pytest.raises(ResultError) as caught:
        Result.from_json(text)
    for word in words:
        assert word in str(caught.value), str(caught.value)
    assert "reinstall" not in str(caught.value) and "_Tracked" not in str(caught.value)
    saved = tmp_path / "saved.json"
    saved.write_text(text)
    with pytest.raises(ResultError, match=str(saved)):
        Result.from_file(saved)


def test_the_edited_fixture_itself_loads() -> None:
    result = Result.from_json(_edit(lambda d: None))
    assert result.histogram == HISTOGRAM and result.phases[0].histogram == HISTOGRAM


@pytest.mark.parametrize("junk", [b"\x00\x01binary\xff", b"x", HISTOGRAM[:-1], "text", 12])
def test_a_junk_histogram_argument_is_refused(junk: Any) -> None:
    with pytest.raises(ResultError, match="histogram"):
        Result.from_json(RESULT_JSON, junk)


def test_bytes_that_are_not_utf8_are_a_result_error(tmp_path: Path) -> None:
    with pytest.raises(ResultError):
        Result.from_json(b"\xff\xfe{\x00")
    saved = tmp_path / "binary.json"
    saved.write_bytes(bytes(range(256)))
    with pytest.raises(ResultError, match="binary.json"):
        Result.from_file(saved)


@pytest.fixture(scope="module")
def saved_result(rust_echo: Server) -> bytes:
    """A real result as the CLI writes it, with histograms and phases."""
    plan = cannonade.Plan(rust_echo.address, connections=2, threads=1, requests=300)
    text = run_bounded(plan).to_json() + "\n"
    return text.encode()


def _load_or_result_error(blob: bytes) -> None:
    try:
        Result.from_json(blob)
    except ResultError:
        pass


def test_every_truncation_of_a_real_result_is_refused(saved_result: bytes) -> None:
    Result.from_json(saved_result)  # the whole file loads
    step = max(1, len(saved_result) // 400)
    for end in range(0, len(saved_result) - 2, step):
        with pytest.raises(ResultError):
            Result.from_json(saved_result[:end])


def test_bit_flips_in_a_real_result_load_or_raise_a_result_error(saved_result: bytes) -> None:
    rng = random.Random(11)
    for _ in range(1500):
        blob = bytearray(saved_result)
        for _ in range(rng.choice((1, 1, 2, 8))):
            blob[rng.randrange(len(blob))] ^= 1 << rng.randrange(8)
        _load_or_result_error(bytes(blob))  # any other exception fails the test


def test_bit_flips_in_a_saved_histogram_are_caught(saved_result: bytes) -> None:
    data = json.loads(saved_result)
    blob = base64.b64decode(data["histogram_base64"])
    rng = random.Random(8)
    refused = 0
    for _ in range(300):
        bad = bytearray(blob)
        bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
        data["histogram_base64"] = base64.b64encode(bytes(bad)).decode()
        try:
            Result.from_dict(data)
        except ResultError:
            refused += 1
    # deflate's checksum (Adler-32) catches nearly every flip in the compressed body
    assert refused > 250, refused


def test_what_a_loader_keeps_of_the_json_still_copies_and_dumps() -> None:
    import copy
    import dataclasses
    import pickle

    from cannonade._result import _Tracked, _TrackedList

    # A field a loader keeps as it was read (a dict or a list) must behave as one.
    tracked = _Tracked({"a": [1, {"b": 2}]}, "x")
    kept = tracked["a"]
    assert isinstance(kept, _TrackedList) and kept == [1, {"b": 2}]
    assert json.loads(json.dumps(tracked)) == {"a": [1, {"b": 2}]}
    assert copy.deepcopy(tracked) == tracked and pickle.loads(pickle.dumps(tracked)) == tracked

    @dataclasses.dataclass
    class Holder:
        value: Any

    assert dataclasses.asdict(Holder(tracked)) == {"value": {"a": [1, {"b": 2}]}}
