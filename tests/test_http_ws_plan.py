"""HTTP and WebSocket plans and results in Python (no network): validation, plan JSON,
result JSON, the text summary, and the CLI's refusals."""

from __future__ import annotations

import json
import typing

import pytest

import cannonade
from cannonade import MAX_PAYLOAD_BYTES, Http, Plan, PlanError, Result, Tcp, Ws

from support import cli

URL = "http://127.0.0.1:8080/"


# --- Http -------------------------------------------------------------------------


def test_http_defaults_and_json() -> None:
    plan = Plan("http://127.0.0.1:8080/a/b?q=1&r=2", requests=100)
    assert plan.protocol == Http()
    data = json.loads(plan.to_json())
    assert "target" not in data
    assert data["protocol"] == {
        "kind": "http",
        "url": "http://127.0.0.1:8080/a/b?q=1&r=2",
        "method": "GET",
        "headers": [],
        "body_hex": "",
        "close": False,
        "pipeline": 1,
    }
    assert data["requests"] == 100 and data["abi_version"] == cannonade.ABI_VERSION


def test_http_json_with_every_field() -> None:
    protocol = Http(
        method="POST",
        headers=(("Accept", "*/*"), ("X-Empty", "")),
        body=b"hello",
        close=True,
    )
    data = json.loads(Plan("http://[::1]:8080/submit", protocol, duration_s=1).to_json())
    assert data["protocol"] == {
        "kind": "http",
        "url": "http://[::1]:8080/submit",
        "method": "POST",
        "headers": [["Accept", "*/*"], ["X-Empty", ""]],
        "body_hex": "68656c6c6f",
        "close": True,
        "pipeline": 1,
    }
    assert (
        json.loads(Plan(URL, Http(pipeline=16), requests=1).to_json())["protocol"]["pipeline"] == 16
    )


def test_http_normalises_to_hashable_values() -> None:
    protocol = Http(headers=[["A", "1"], ("B", "2")], body=bytearray(b"xy"))  # type: ignore[arg-type]
    assert protocol.headers == (("A", "1"), ("B", "2"))
    assert protocol.body == b"xy" and isinstance(protocol.body, bytes)
    assert Http(headers={"A": "1"}).headers == (("A", "1"),)  # type: ignore[arg-type]
    plan = Plan(URL, protocol, requests=1)
    assert hash(plan) == hash(
        Plan(URL, Http(headers=(("A", "1"), ("B", "2")), body=b"xy"), requests=1)
    )
    with pytest.raises(AttributeError):
        protocol.method = "PUT"  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"method": "G ET"}, ["method", "token"]),
        ({"method": ""}, ["method"]),
        ({"method": 1}, ["method"]),
        ({"headers": (("X-Evil", "a\r\nInjected: 1"),)}, ["headers", '"X-Evil"', "CR, LF or NUL"]),
        ({"headers": (("X-Lf", "a\nb"),)}, ['"X-Lf"']),
        ({"headers": (("X-Nul", "a\0b"),)}, ['"X-Nul"']),
        ({"headers": (("X-Bad\r\nName", "v"),)}, ["headers", "header name", "token"]),
        ({"headers": (("Bad Name", "v"),)}, ["headers", '"Bad Name"']),
        ({"headers": (("", "v"),)}, ["headers"]),
        ({"headers": (("Content-Length", "5"),)}, ["headers", '"Content-Length"', "remove"]),
        ({"headers": (("transfer-encoding", "chunked"),)}, ['"transfer-encoding"', "remove"]),
        ({"headers": "Accept: */*"}, ["headers", "pairs"]),
        ({"headers": (("Accept",),)}, ["headers", "pairs"]),
        ({"headers": (("Accept", 1),)}, ["headers", "str"]),
        ({"body": "text"}, ["body", "bytes", "encode"]),
        ({"body": bytes(MAX_PAYLOAD_BYTES + 1)}, ["body", "16 MiB"]),
        ({"close": "yes"}, ["close", "True or False"]),
        ({"pipeline": 0}, ["pipeline", "between 1 and 1024"]),
        ({"pipeline": 1025}, ["pipeline", "between 1 and 1024"]),
        ({"pipeline": True}, ["pipeline", "integer"]),
        ({"pipeline": 4, "close": True}, ["pipeline", "close"]),
    ],
)
def test_http_errors_name_the_field(kwargs: dict, words: list) -> None:
    with pytest.raises(PlanError) as info:
        Http(**kwargs)
    for word in words:
        assert word in str(info.value)


def test_http_accepts_a_host_header_and_a_big_body() -> None:
    assert Http(headers=(("Host", "example.test"),)).headers[0][0] == "Host"
    assert len(Http(method="PUT", body=bytes(MAX_PAYLOAD_BYTES)).body) == MAX_PAYLOAD_BYTES


# --- Ws ---------------------------------------------------------------------------


def test_ws_defaults_and_json() -> None:
    plan = Plan("ws://127.0.0.1:8081/echo", duration_s=1)
    assert plan.protocol == Ws()
    data = json.loads(plan.to_json())
    assert "target" not in data
    message = bytes.fromhex(data["protocol"].pop("message_hex"))
    assert len(message) == 64 and message == Ws().data
    assert data["protocol"] == {
        "kind": "ws",
        "url": "ws://127.0.0.1:8081/echo",
        "binary": False,
        "frame_bytes": None,
        "subprotocol": None,
    }


def test_ws_json_with_every_field() -> None:
    protocol = Ws(message=b"\x00\xff", binary=True, frame_bytes=1, subprotocol="chat.v2")
    data = json.loads(Plan("ws://localhost/", protocol, requests=3).to_json())
    assert data["protocol"] == {
        "kind": "ws",
        "url": "ws://localhost/",
        "message_hex": "00ff",
        "binary": True,
        "frame_bytes": 1,
        "subprotocol": "chat.v2",
    }


def test_ws_message_sizes() -> None:
    assert Ws(message_bytes=0).data == b""
    assert Ws(message=b"").data == b""
    assert len(Ws(message_bytes=MAX_PAYLOAD_BYTES).data) == MAX_PAYLOAD_BYTES
    assert Ws(message="héllo ☃".encode()).data == "héllo ☃".encode()
    assert Ws(message=bytearray(b"ab")).message == b"ab"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"message": b"\xff\xfe"}, ["message", "UTF-8", "binary"]),
        ({"message": "text"}, ["message", "bytes", "encode"]),
        ({"message": bytes(MAX_PAYLOAD_BYTES + 1), "binary": True}, ["message", "16 MiB"]),
        ({"message_bytes": -1}, ["message_bytes", "at least 0"]),
        ({"message_bytes": MAX_PAYLOAD_BYTES + 1}, ["message_bytes", "16 MiB"]),
        ({"message_bytes": 1.5}, ["message_bytes", "integer"]),
        ({"binary": 1}, ["binary", "True or False"]),
        ({"frame_bytes": 0}, ["frame_bytes", "at least 1"]),
        ({"frame_bytes": "8"}, ["frame_bytes", "integer"]),
        ({"subprotocol": ""}, ["subprotocol", "token"]),
        ({"subprotocol": "a, b"}, ["subprotocol", "token"]),
        ({"subprotocol": "chat\r\nX: 1"}, ["subprotocol"]),
    ],
)
def test_ws_errors_name_the_field(kwargs: dict, words: list) -> None:
    with pytest.raises(PlanError) as info:
        Ws(**kwargs)
    for word in words:
        assert word in str(info.value)


# --- Plan targets -----------------------------------------------------------------


@pytest.mark.parametrize(
    "target, protocol",
    [
        ("http://127.0.0.1:8080/", Http),
        ("HTTP://127.0.0.1/", Http),
        ("http://localhost", Http),
        ("http://[::1]:8080/x?y=1", Http),
        ("http://127.0.0.1:8080?q=1", Http),
        ("ws://127.0.0.1:8081/chat", Ws),
        ("ws://[::1]/", Ws),
        ("127.0.0.1:9000", Tcp),
    ],
)
def test_protocol_follows_the_target(target: str, protocol: type) -> None:
    assert type(Plan(target, requests=1).protocol) is protocol


@pytest.mark.parametrize(
    "target, protocol, words",
    [
        ("https://127.0.0.1/", Ws(), ["target", "ws://", "wss://"]),
        ("wss://127.0.0.1/", Http(), ["target", "http://", "https://"]),
        ("ftp://127.0.0.1/", None, ["ftp://", "http://", "ws://"]),
        ("127.0.0.1:8080", Http(), ["target", "http://HOST[:PORT]/PATH"]),
        ("127.0.0.1:8080", Ws(), ["target", "ws://"]),
        ("ws://127.0.0.1/", Http(), ["target", "http://"]),
        ("http://127.0.0.1/", Ws(), ["target", "ws://"]),
        ("http://127.0.0.1/", Tcp(), ["target", "HOST:PORT", "cannonade.Http()"]),
        ("http://127.0.0.1:0/", None, ["target", "port", "1-65535"]),
        ("http://127.0.0.1:65536/", None, ["port"]),
        ("http://127.0.0.1:http/", None, ["port"]),
        ("http://::1/", None, ["brackets"]),
        ("http://[::1/", None, ["IPv6"]),
        ("http:///path", None, ["no host"]),
        ("http://:8080/", None, ["no host"]),
        ("http://user:pw@127.0.0.1/", None, ["Authorization"]),
        ("http://127.0.0.1/a b", None, ["percent-encode"]),
        ("http://127.0.0.1/\r\nX: 1", None, ["percent-encode"]),
        ("http://127.0.0.1/é", None, ["percent-encode"]),
        ("http://127.0.0.1/#top", None, ["fragment"]),
    ],
)
def test_bad_urls(target: str, protocol: object, words: list) -> None:
    with pytest.raises(PlanError) as info:
        Plan(target, protocol, requests=1)  # type: ignore[arg-type]
    for word in words:
        assert word in str(info.value)


def test_pipeline_with_a_constant_rate_is_refused() -> None:
    with pytest.raises(PlanError) as info:
        Plan(URL, Http(pipeline=8), requests=10, rate_per_s=100)
    assert "pipeline" in str(info.value) and "rate_per_s" in str(info.value)
    assert Plan(URL, Http(pipeline=8), requests=10).protocol.pipeline == 8  # type: ignore[union-attr]
    assert Plan(URL, Http(), requests=10, rate_per_s=100).rate_per_s == 100


def test_protocol_type_is_checked() -> None:
    with pytest.raises(PlanError, match=r"cannonade\.Tcp.*cannonade\.Http.*cannonade\.Ws"):
        Plan(URL, "http", requests=1)  # type: ignore[arg-type]


def test_tcp_plans_are_unchanged() -> None:
    assert Plan("127.0.0.1:9", requests=1) == Plan("127.0.0.1:9", Tcp(), requests=1)
    data = json.loads(Plan("127.0.0.1:9", requests=1).to_json())
    assert data["target"] == "127.0.0.1:9" and data["protocol"]["kind"] == "tcp"


def test_public_api_is_typed() -> None:
    for name in ("Http", "Ws"):
        assert name in cannonade.__all__
    hints = typing.get_type_hints(Plan)
    assert hints["protocol"] == typing.Optional[typing.Union[Tcp, Http, Ws]]
    assert typing.get_type_hints(Http)["headers"] == tuple[tuple[str, str], ...]
    assert typing.get_type_hints(Ws)["message"] == typing.Optional[bytes]
    result_hints = typing.get_type_hints(Result)
    assert result_hints["status_codes"] == tuple[tuple[int, int], ...]
    assert result_hints["handshake"] == typing.Optional[cannonade.Latency]


# --- Results ----------------------------------------------------------------------


def _latency(count: int, p50: int, p99: int) -> dict:
    return {
        "count": count,
        "min": p50 // 2,
        "mean": float(p50),
        "stdev": 10.0,
        "max": p99 * 2,
        "percentiles": [[50.0, p50], [90.0, p50], [99.0, p99], [99.9, p99], [99.99, p99]],
    }


def _result_json(protocol: str) -> dict:
    return {
        "schema_version": 1,
        "target": "127.0.0.1:8080",
        "protocol": protocol,
        "connections": 4,
        "threads": 2,
        "stopped_by": "requests",
        "duration_ns": 2_000_000_000,
        "requests": 1000,
        "requests_per_s": 500.0,
        "bytes_sent": 40000,
        "bytes_received": 80000,
        "connections_opened": 4,
        "errors": {
            "connect_refused": 0,
            "connect_timeout": 0,
            "connect_other": 0,
            "reset": 0,
            "closed": 0,
            "timeout": 0,
            "protocol": 0,
            "io_other": 0,
        },
        "latency_ns": _latency(1000, 80_000, 120_000),
        "rate_per_s": None,
        "uncorrected_latency_ns": _latency(1000, 80_000, 120_000),
        "send_lag_ns": None,
        "intervals": 2,
        "status_codes": {"404": 2, "200": 995, "503": 3} if protocol == "http" else {},
        "non_2xx_3xx": 5 if protocol == "http" else 0,
        "connect_ns": _latency(4, 40_000, 90_000),
        "handshake_ns": _latency(4, 150_000, 310_000) if protocol == "ws" else None,
    }


def test_http_result_parses_and_round_trips() -> None:
    result = Result.from_dict(_result_json("http"))
    assert result.status_codes == ((200, 995), (404, 2), (503, 3))
    assert result.status_code_counts == {200: 995, 404: 2, 503: 3}
    assert result.non_2xx_3xx == 5
    assert result.connect.count == 4 and result.connect.percentile(99.0) == 90_000
    assert result.handshake is None
    assert Result.from_json(result.to_json()) == result
    data = json.loads(result.to_json())
    assert data["status_codes"] == {"200": 995, "404": 2, "503": 3}
    assert data["connect_ns"] == _result_json("http")["connect_ns"]
    assert data["handshake_ns"] is None


def test_ws_result_parses_and_round_trips() -> None:
    result = Result.from_dict(_result_json("ws"))
    assert result.status_codes == () and result.non_2xx_3xx == 0
    assert result.handshake is not None and result.handshake.percentile(50.0) == 150_000
    assert Result.from_json(result.to_json()) == result


def test_a_result_without_the_new_fields_still_parses() -> None:
    data = _result_json("tcp")
    for key in ("status_codes", "non_2xx_3xx", "connect_ns", "handshake_ns"):
        del data[key]
    result = Result.from_dict(data)
    assert result.status_codes == () and result.non_2xx_3xx == 0
    assert result.connect.count == 0 and result.handshake is None
    assert "Connect time" not in result.format()


def test_a_broken_connect_latency_names_it() -> None:
    data = _result_json("ws")
    del data["connect_ns"]["max"]
    with pytest.raises(cannonade.ResultError, match="connect_ns.'max'"):
        Result.from_dict(data)


def test_http_format_is_wrk_like() -> None:
    text = Result.from_dict(_result_json("http")).format()
    assert "http run @ 127.0.0.1:8080" in text
    assert "  Status codes: 200 995, 404 2, 503 3" in text
    assert "  Non-2xx or 3xx responses: 5" in text
    assert "  Connect time:   p50 40.00µs, p99 90.00µs, max 180.00µs" in text
    assert "Handshake" not in text


def test_ws_format_has_the_handshake() -> None:
    text = Result.from_dict(_result_json("ws")).format()
    assert "ws run @" in text
    assert "  Handshake time: p50 150.00µs, p99 310.00µs, max 620.00µs" in text
    assert "Status codes" not in text and "Non-2xx" not in text


def test_all_2xx_has_no_non_2xx_line() -> None:
    data = _result_json("http")
    data["status_codes"], data["non_2xx_3xx"] = {"200": 1000}, 0
    text = Result.from_dict(data).format()
    assert "Status codes: 200 1000" in text and "Non-2xx" not in text


# --- CLI refusals (no server needed) -------------------------------------------------


@pytest.mark.parametrize(
    "args, words",
    [
        (["http", "127.0.0.1:8080", "-n", "1"], ["target", "http://"]),
        (
            ["http", "https://127.0.0.1/", "-n", "1", "--cacert", "/nonexistent/ca.pem"],
            ["cacert", "/nonexistent/ca.pem", "PEM"],
        ),
        (["http"], ["URL"]),
        (["http", URL, "-n", "1", "-H", "NoColon"], ["header", "NoColon", "Name: value"]),
        (["http", URL, "-n", "1", "-H", "Content-Length: 3"], ["Content-Length"]),
        (["http", URL, "-n", "1", "-m", "GET /"], ["method"]),
        (["http", URL, "-n", "1", "--pipeline", "0"], ["pipeline"]),
        (["http", URL, "-n", "1", "--pipeline", "2", "-R", "10"], ["pipeline", "rate_per_s"]),
        (["http", URL, "-n", "1", "--pipeline", "2", "--close"], ["pipeline", "close"]),
        (["http", URL, "-c", "0", "-n", "1"], ["connections"]),
        (["ws", "http://127.0.0.1:8080/", "-n", "1"], ["target", "ws://"]),
        (["ws", "ws://127.0.0.1/", "-n", "1", "--insecure"], ["insecure", "wss://"]),
        (
            ["ws", "ws://127.0.0.1:1/", "--message-bytes", "2", "--message-text", "x"],
            ["not allowed"],
        ),
        (["ws", "ws://127.0.0.1:1/", "-n", "1", "--frame-bytes", "0"], ["frame_bytes"]),
        (["ws", "ws://127.0.0.1:1/", "-n", "1", "--subprotocol", "a b"], ["subprotocol"]),
        (["ws", "ws://127.0.0.1:1/", "-n", "1", "--message-bytes", "-1"], ["message_bytes"]),
        (["tcp", URL, "-n", "1"], ["HOST:PORT"]),
    ],
)
def test_cli_bad_input(args: list[str], words: list[str]) -> None:
    proc = cli(*args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("cannonade: error: ") and "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("command", ["http", "ws"])
def test_cli_help_lists_the_options(command: str) -> None:
    proc = cli(command, "--help")
    assert proc.returncode == 0
    options = {
        "http": ["--method", "--header", "--body", "--close", "--pipeline"],
        "ws": ["--message-bytes", "--message-text", "--binary", "--frame-bytes", "--subprotocol"],
    }[command]
    for option in [*options, "--connections", "--rate", "--json", "--no-reconnect"]:
        assert option in proc.stdout
