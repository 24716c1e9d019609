"""Result parsing, JSON round trip and the text summary (no network)."""

from __future__ import annotations

import json

import pytest

from cannonade import InternalError, Result
from cannonade._report import format_bytes, format_ns

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
    result = Result.from_json(RESULT_JSON, b"\x1c\x84\x93\x04")
    assert result.requests == 123456
    assert result.errors.closed == 3 and result.errors.total == 4
    assert result.latency.min_ns == 51000 and result.latency.mean_ns == 81234.5
    assert result.latency.percentiles[2] == (99.0, 120000)
    assert result.latency.percentile(99.9) == 300000
    assert result.duration_s == pytest.approx(5.000123456)
    assert result.histogram == b"\x1c\x84\x93\x04"


def test_round_trip() -> None:
    result = Result.from_json(RESULT_JSON, b"\x00\x01binary\xff")
    again = Result.from_json(result.to_json())
    assert again == result
    assert json.loads(result.to_json())["latency_ns"] == json.loads(RESULT_JSON)["latency_ns"]
    without = Result.from_json(RESULT_JSON)
    assert "histogram_base64" not in without.to_dict()
    assert Result.from_dict(without.to_dict()) == without


def test_missing_field_is_an_internal_error() -> None:
    data = json.loads(RESULT_JSON)
    del data["latency_ns"]["max"]
    with pytest.raises(InternalError, match="latency_ns.'max'"):
        Result.from_dict(data)
    data = json.loads(RESULT_JSON)
    data["schema_version"] = 99
    with pytest.raises(InternalError, match="schema_version 99"):
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
