"""HTTP/1.1 and WebSocket load through the engine, against the native testee and the
PyPy testees (twisted.web, Autobahn): exact counts, status codes, pipelining, new
connections per request, fragmentation, subprotocols, and broken servers counted as
errors rather than raised."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

import cannonade
from cannonade import Errors, Http, Plan, PlanError, Result, Ws

from support import (
    Server,
    SharedTestees,
    cli,
    run_bounded,
    start_testee,
    stop_process,
)

MIB = 1024 * 1024
# Which testee serves which protocol: the native one and the one under PyPy.
IMPLS = {"http": ["rust", "twisted"], "ws": ["rust", "autobahn"]}


@pytest.fixture
def web_factory() -> Iterator[Callable[..., Server]]:
    """Start ``(impl, kind, *extra)`` testees; all are stopped at teardown."""
    started: list[Server] = []

    def start(impl: str, kind: str, *extra: str) -> Server:
        server = start_testee(impl, kind, *extra)
        started.append(server)
        return server

    yield start
    for server in started:
        stop_process(server.process)


@pytest.fixture(scope="module")
def shared_testees() -> Iterator[SharedTestees]:
    """The testees with default options, started on first use and shared by this module."""
    servers = SharedTestees()
    yield servers
    servers.close()


@pytest.fixture(params=IMPLS["http"])
def http_testee(request: pytest.FixtureRequest, shared_testees: SharedTestees) -> Server:
    """Each HTTP testee in turn: native, then twisted.web under PyPy."""
    return shared_testees.get(request.param, "http")


@pytest.fixture(params=IMPLS["ws"])
def ws_testee(request: pytest.FixtureRequest, shared_testees: SharedTestees) -> Server:
    """Each WebSocket echo testee in turn: native, then Autobahn under PyPy."""
    return shared_testees.get(request.param, "ws")


@pytest.fixture
def rust_http(shared_testees: SharedTestees) -> Server:
    return shared_testees.get("rust", "http")


@pytest.fixture
def rust_ws(shared_testees: SharedTestees) -> Server:
    return shared_testees.get("rust", "ws")


def http_url(server: Server, path: str = "/") -> str:
    return f"http://{server.address}{path}"


def ws_url(server: Server, path: str = "/") -> str:
    return f"ws://{server.address}{path}"


def assert_clean(result: Result, requests: int) -> None:
    """Exactly ``requests`` completed exchanges, all timed, and no error of any kind."""
    assert result.errors.total == 0, result.errors
    assert result.stopped_by == "requests"
    assert result.requests == requests
    assert result.latency.count == requests
    assert result.connect.count == result.connections_opened


# --- HTTP -------------------------------------------------------------------------


def test_http_closed_loop_by_request_count(http_testee: Server) -> None:
    n = 400
    result = run_bounded(Plan(http_url(http_testee), connections=4, threads=2, requests=n))
    assert_clean(result, n)
    assert result.protocol == "http"
    assert result.status_code_counts == {200: n}
    assert result.non_2xx_3xx == 0
    assert result.handshake is None
    assert result.connections_opened == 4
    # Every reply carries the 13-byte body "Hello, world!" after its headers.
    assert result.bytes_received > n * 13


def test_http_status_404_is_counted_not_an_error(http_testee: Server) -> None:
    n = 100
    result = run_bounded(Plan(http_url(http_testee, "/status/404"), connections=2, requests=n))
    assert_clean(result, n)
    assert result.status_code_counts == {404: n}
    assert result.non_2xx_3xx == n
    text = result.format()
    assert f"Non-2xx or 3xx responses: {n}" in text
    assert f"Status codes: 404 {n}" in text


def test_http_3xx_is_not_counted_as_non_2xx_3xx(http_testee: Server) -> None:
    result = run_bounded(Plan(http_url(http_testee, "/status/302"), connections=1, requests=10))
    assert_clean(result, 10)
    assert result.status_code_counts == {302: 10}
    assert result.non_2xx_3xx == 0  # as wrk counts them


def test_http_url_with_a_query(http_testee: Server) -> None:
    result = run_bounded(Plan(http_url(http_testee, "/search?q=1&r=%20"), requests=10))
    assert_clean(result, 10)
    assert result.status_code_counts == {200: 10}


def test_http_pipeline_completes_exactly_n(http_testee: Server) -> None:
    n = 800
    plan = Plan(http_url(http_testee), Http(pipeline=8), connections=2, threads=2, requests=n)
    result = run_bounded(plan)
    assert_clean(result, n)
    assert result.status_code_counts == {200: n}
    assert result.connections_opened == 2


def test_http_close_opens_a_connection_per_request(http_testee: Server) -> None:
    n, connections = 40, 2
    plan = Plan(http_url(http_testee), Http(close=True), connections=connections, requests=n)
    result = run_bounded(plan)
    assert_clean(result, n)
    assert result.status_code_counts == {200: n}
    # One connection per request, give or take one per connection opened at the end.
    assert n <= result.connections_opened <= n + connections
    assert result.connect.count == result.connections_opened


def test_http_post_with_a_body(http_testee: Server) -> None:
    n, body = 100, os.urandom(1000)
    protocol = Http("POST", headers=(("Content-Type", "application/octet-stream"),), body=body)
    result = run_bounded(Plan(http_url(http_testee, "/echo"), protocol, connections=2, requests=n))
    assert_clean(result, n)
    assert result.status_code_counts == {200: n}
    # Both testees echo a POST body back.
    assert result.bytes_sent > n * len(body)
    assert result.bytes_received > n * len(body)


def test_http_head_has_no_body(http_testee: Server) -> None:
    # The reply says Content-Length: 13 but carries no body; waiting for one would hang.
    result = run_bounded(
        Plan(http_url(http_testee), Http("HEAD"), connections=2, requests=50, request_timeout_s=5)
    )
    assert_clean(result, 50)
    assert result.status_code_counts == {200: 50}


def test_http_custom_headers(http_testee: Server) -> None:
    protocol = Http(headers=(("Accept", "*/*"), ("X-Trace", "abc"), ("Host", "example.test")))
    result = run_bounded(Plan(http_url(http_testee), protocol, connections=1, requests=20))
    assert_clean(result, 20)


@pytest.mark.parametrize(
    "extra",
    [
        ["--transfer", "chunked"],
        ["--body-bytes", "0"],
        ["--body-bytes", str(MIB)],
        ["--transfer", "chunked", "--body-bytes", "100000"],
    ],
    ids=["chunked", "empty", "1MiB", "chunked-100k"],
)
def test_http_reply_framing(extra: list[str], web_factory: Callable[..., Server]) -> None:
    server = web_factory("rust", "http", *extra)
    n = 20
    result = run_bounded(Plan(http_url(server), connections=2, requests=n))
    assert_clean(result, n)
    assert result.status_code_counts == {200: n}
    body_bytes = int(extra[-1]) if extra[-2] == "--body-bytes" else 13
    assert result.bytes_received >= n * body_bytes


def test_http_server_closing_after_some_replies(web_factory: Callable[..., Server]) -> None:
    # The server sends Connection: close on every 5th reply: the engine reconnects.
    server = web_factory("rust", "http", "--close-every", "5")
    n = 50
    result = run_bounded(Plan(http_url(server), connections=2, requests=n))
    assert result.requests == n
    assert result.status_code_counts == {200: n}
    assert result.errors.protocol == 0
    assert result.connections_opened >= n // 5


def test_http_twisted_body_bytes(web_factory: Callable[..., Server]) -> None:
    server = web_factory("twisted", "http", "--body-bytes", "100000")
    result = run_bounded(Plan(http_url(server), connections=2, requests=20))
    assert_clean(result, 20)
    assert result.bytes_received >= 20 * 100_000


# Broken servers: without reconnecting, each connection fails once and the run ends when
# all are lost, so the count of errors is exact (and no burst of sockets is left behind).
HTTP_MALFORMED = ["status-line", "chunk-size", "content-length", "truncated"]
WS_MALFORMED = ["accept-key", "masked-frame", "oversized", "bad-opcode"]


def _run_until_lost(url: str, protocol: object = None, connections: int = 2) -> Result:
    plan = Plan(url, protocol, connections=connections, duration_s=30, reconnect=False)  # type: ignore[arg-type]
    result = run_bounded(plan)
    assert result.stopped_by == "connections_lost"
    assert result.requests == 0 and result.latency.count == 0
    assert result.connections_opened == connections
    assert "Errors: none" not in result.format()
    return result


@pytest.mark.parametrize("kind", HTTP_MALFORMED)
def test_http_malformed_replies_are_counted(kind: str, web_factory: Callable[..., Server]) -> None:
    server = web_factory("rust", "http", "--malformed", kind)
    result = _run_until_lost(http_url(server))
    assert result.status_codes == ()
    # "truncated" closes 10 bytes into a 100-byte body: closed by the peer mid-reply.
    kind_counted = "closed" if kind == "truncated" else "protocol"
    assert result.errors.to_dict() == {**Errors().to_dict(), kind_counted: 2}
    # A protocol error keeps the decoder's words, with its count; a close has none.
    words = {m.kind: m for m in result.error_messages}
    if kind_counted == "protocol":
        assert words["protocol"].count == 2
        assert words["protocol"].first.startswith("HTTP: "), words
        assert "protocol errors: 2, first: HTTP: " in result.format()
    else:
        assert "protocol" not in words
    assert Result.from_json(result.to_json()).error_messages == result.error_messages


def test_http_bad_status_line_keeps_its_words() -> None:
    """A tiny server in the test answers every request with a malformed status line."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                if conn.recv(4096):
                    conn.sendall(b"HTTP/1.1 OK 200\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        result = _run_until_lost(f"http://127.0.0.1:{port}/", connections=1)
    finally:
        listener.close()
    assert result.errors.protocol == 1, result.errors
    (message,) = result.error_messages
    assert (message.kind, message.count) == ("protocol", 1)
    assert message.first.startswith("HTTP: bad status line"), message.first
    assert f"protocol errors: 1, first: {message.first}" in result.format()
    assert result.phases[0].error_messages == result.error_messages


@pytest.mark.parametrize("kind", ["status-line", "truncated"])
def test_http_broken_connections_are_reopened(
    kind: str, web_factory: Callable[..., Server]
) -> None:
    server = web_factory("rust", "http", "--malformed", kind)
    result = run_bounded(Plan(http_url(server), connections=1, duration_s=0.1))
    assert result.stopped_by == "duration"
    assert result.requests == 0
    assert result.connections_opened > 1
    assert result.errors.protocol + result.errors.closed >= result.connections_opened - 1


def test_http_header_injection_is_refused_when_the_plan_is_made() -> None:
    # Refused at construction (by the engine's check), long before any connection.
    with pytest.raises(PlanError) as info:
        Http(headers=(("X-Evil", "1\r\nInjected: yes"),))
    assert '"X-Evil"' in str(info.value) and "headers" in str(info.value)


def _raw_http_plan(server: Server, **protocol: object) -> str:
    data = Plan(http_url(server), requests=1).to_dict()
    data["protocol"].update(protocol)
    return json.dumps(data)


@pytest.mark.parametrize(
    "protocol, words",
    [
        ({"headers": [["X-Evil", "1\r\nInjected: yes"]]}, ["protocol", "X-Evil", "CR"]),
        ({"headers": [["Content-Length", "3"]]}, ["protocol", "Content-Length"]),
        ({"headers": [["Transfer-Encoding", "chunked"]]}, ["protocol", "Transfer-Encoding"]),
        ({"url": "ftp://127.0.0.1:1/"}, ["protocol.url", "ftp://", "https://"]),
        ({"pipeline": 0}, ["protocol.pipeline"]),
        ({"pipeline": 1025}, ["protocol.pipeline"]),
        ({"method": "G T"}, ["method"]),
    ],
)
def test_http_bad_plans_are_refused_by_the_engine(
    protocol: dict, words: list[str], rust_http: Server
) -> None:
    with pytest.raises(PlanError) as info:
        with cannonade.start_json(_raw_http_plan(rust_http, **protocol)):
            pass
    for word in words:
        assert word in str(info.value)


def test_engine_refuses_pipeline_with_a_rate(rust_http: Server) -> None:
    data = Plan(http_url(rust_http), requests=1, rate_per_s=10).to_dict()
    data["protocol"]["pipeline"] = 4
    with pytest.raises(PlanError, match="pipeline"):
        with cannonade.start_json(json.dumps(data)):
            pass


def test_http_constant_rate(http_testee: Server) -> None:
    n = 60
    result = run_bounded(Plan(http_url(http_testee), connections=2, requests=n, rate_per_s=300.0))
    assert_clean(result, n)
    assert result.rate_per_s == 300.0
    assert result.status_code_counts == {200: n}
    assert result.uncorrected_latency is not None and result.uncorrected_latency.count == n
    assert result.send_lag is not None and result.send_lag.count == n
    assert "corrected for coordinated omission" in result.format()


def test_http_intervals_add_up(rust_http: Server) -> None:
    with cannonade.start(
        Plan(http_url(rust_http), connections=2, duration_s=0.5, interval_s=0.1)
    ) as run:
        result = run.wait(60)
        assert result is not None
        intervals = run.poll()
    assert sum(iv.requests for iv in intervals) == result.requests > 0
    assert sum(result.status_code_counts.values()) == result.requests


def test_http_unreachable_url_is_a_connect_error(unused_port: int) -> None:
    with pytest.raises(cannonade.ConnectError, match=str(unused_port)):
        cannonade.run(Plan(f"http://127.0.0.1:{unused_port}/", requests=1))


# --- WebSocket --------------------------------------------------------------------


def assert_ws_clean(result: Result, requests: int) -> None:
    assert_clean(result, requests)
    assert result.protocol == "ws"
    assert result.status_codes == () and result.non_2xx_3xx == 0
    assert result.handshake is not None
    assert result.handshake.count == result.connections_opened


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_ws_echo_by_request_count(binary: bool, ws_testee: Server) -> None:
    n = 400
    protocol = Ws(message=b"hello, \xe2\x98\x83" * 8, binary=binary)
    result = run_bounded(Plan(ws_url(ws_testee), protocol, connections=4, threads=2, requests=n))
    assert_ws_clean(result, n)
    assert result.connections_opened == 4
    assert result.bytes_received >= n * len(protocol.data)
    assert "Handshake time:" in result.format()


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_ws_empty_messages(binary: bool, ws_testee: Server) -> None:
    result = run_bounded(
        Plan(ws_url(ws_testee), Ws(message_bytes=0, binary=binary), connections=2, requests=100)
    )
    assert_ws_clean(result, 100)


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_ws_one_mib_messages(binary: bool, ws_testee: Server) -> None:
    n = 8
    protocol = Ws(message_bytes=MIB, binary=binary)
    result = run_bounded(Plan(ws_url(ws_testee), protocol, connections=2, requests=n))
    assert_ws_clean(result, n)
    assert result.bytes_sent >= n * MIB
    assert result.bytes_received >= n * MIB


@pytest.mark.parametrize(
    "message_bytes, frame_bytes", [(1000, 100), (50, 1), (70_000, 65_536), (10, 1000)]
)
def test_ws_fragmented_messages(message_bytes: int, frame_bytes: int, ws_testee: Server) -> None:
    protocol = Ws(message_bytes=message_bytes, frame_bytes=frame_bytes, binary=True)
    result = run_bounded(Plan(ws_url(ws_testee), protocol, connections=2, requests=60))
    assert_ws_clean(result, 60)
    assert result.bytes_received >= 60 * message_bytes


def test_ws_fragmented_text_splits_a_character(ws_testee: Server) -> None:
    # Frames of 1 byte cut the 3-byte snowman apart; only the whole message is UTF-8.
    protocol = Ws(message="☃ snow ☃".encode(), frame_bytes=1)
    result = run_bounded(Plan(ws_url(ws_testee), protocol, connections=1, requests=20))
    assert_ws_clean(result, 20)


@pytest.mark.parametrize("impl", IMPLS["ws"])
def test_ws_subprotocol(impl: str, web_factory: Callable[..., Server]) -> None:
    server = web_factory(impl, "ws", "--subprotocol", "chat")
    result = run_bounded(Plan(ws_url(server), Ws(subprotocol="chat"), connections=2, requests=50))
    assert_ws_clean(result, 50)


def test_ws_subprotocol_not_accepted_is_a_protocol_error(rust_ws: Server) -> None:
    result = _run_until_lost(ws_url(rust_ws), Ws(subprotocol="chat"), connections=1)
    assert result.errors.protocol == 1, result.errors


@pytest.mark.parametrize("kind", WS_MALFORMED)
def test_ws_malformed_servers_are_counted(kind: str, web_factory: Callable[..., Server]) -> None:
    server = web_factory("rust", "ws", "--malformed", kind)
    result = _run_until_lost(ws_url(server))
    assert result.errors.to_dict() == {**Errors().to_dict(), "protocol": 2}
    assert result.handshake is not None
    # A wrong Sec-WebSocket-Accept fails the handshake; the others break a frame after it.
    assert result.handshake.count == (0 if kind == "accept-key" else 2)


def test_ws_broken_connections_are_reopened(web_factory: Callable[..., Server]) -> None:
    server = web_factory("rust", "ws", "--malformed", "bad-opcode")
    result = run_bounded(Plan(ws_url(server), connections=1, duration_s=0.1))
    assert result.stopped_by == "duration" and result.requests == 0
    assert result.connections_opened > 1
    assert result.errors.protocol >= result.connections_opened - 1


def test_ws_constant_rate(rust_ws: Server) -> None:
    n = 60
    result = run_bounded(Plan(ws_url(rust_ws), connections=2, requests=n, rate_per_s=300.0))
    assert_ws_clean(result, n)
    assert result.send_lag is not None and result.send_lag.count == n


@pytest.mark.parametrize(
    "protocol, words",
    [
        ({"message_hex": "ff"}, ["protocol.message_hex", "UTF-8"]),
        ({"frame_bytes": 0}, ["protocol.frame_bytes"]),
        ({"subprotocol": "a b"}, ["subprotocol"]),
        ({"url": "https://127.0.0.1:1/"}, ["protocol.url", "ws://", "wss://"]),
    ],
)
def test_ws_bad_plans_are_refused_by_the_engine(
    protocol: dict, words: list[str], rust_ws: Server
) -> None:
    data = Plan(ws_url(rust_ws), requests=1).to_dict()
    data["protocol"].update(protocol)
    with pytest.raises(PlanError) as info:
        with cannonade.start_json(json.dumps(data)):
            pass
    for word in words:
        assert word in str(info.value)


# --- CLI --------------------------------------------------------------------------


def test_cli_http_prints_a_summary(http_testee: Server, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    proc = cli(
        "http",
        http_url(http_testee, "/status/201"),
        *["-c", "2", "-t", "2", "-n", "50", "-m", "POST", "--body", "hé"],
        *["-H", "X-One: 1", "-H", "Accept:*/*", "--json", str(out)],
    )
    assert proc.returncode == 0, proc.stderr
    assert "http run @" in proc.stdout
    assert "50 requests in" in proc.stdout
    assert "Status codes: 201 50" in proc.stdout
    assert "Connect time:" in proc.stdout
    result = Result.from_json(out.read_text())
    assert result.status_code_counts == {201: 50} and result.errors.total == 0


def test_cli_http_pipeline_and_close(rust_http: Server) -> None:
    proc = cli("http", http_url(rust_http), "-c", "2", "-n", "64", "--pipeline", "4")
    assert proc.returncode == 0, proc.stderr
    assert "Status codes: 200 64" in proc.stdout
    proc = cli("http", http_url(rust_http), "-c", "1", "-n", "5", "--close", "-R", "100")
    assert proc.returncode == 0, proc.stderr
    assert "Connections opened: 5" in proc.stdout or "Connections opened: 6" in proc.stdout


def test_cli_ws_prints_a_summary(ws_testee: Server) -> None:
    proc = cli("ws", ws_url(ws_testee), "-c", "2", "-n", "50", "--message-text", "héllo")
    assert proc.returncode == 0, proc.stderr
    assert "ws run @" in proc.stdout
    assert "50 requests in" in proc.stdout
    assert "Handshake time:" in proc.stdout
    assert "Errors: none" in proc.stdout


def test_cli_ws_binary_fragmented(web_factory: Callable[..., Server]) -> None:
    server = web_factory("rust", "ws", "--subprotocol", "chat")
    proc = cli(
        "ws",
        ws_url(server),
        *["-c", "1", "-n", "20", "--message-bytes", "300", "--binary"],
        *["--frame-bytes", "64", "--subprotocol", "chat"],
    )
    assert proc.returncode == 0, proc.stderr
    assert "20 requests in" in proc.stdout and "Errors: none" in proc.stdout


def test_cli_unreachable_url(unused_port: int) -> None:
    proc = cli("http", f"http://127.0.0.1:{unused_port}/", "-n", "1")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cannonade: error: ")
    assert str(unused_port) in lines[0]
