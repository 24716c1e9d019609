"""The bundled PyPy web testees (twisted.web HTTP, Autobahn WebSocket echo), checked with
stdlib clients: http.client for HTTP/1.1 keep-alive, a minimal RFC 6455 client for
WebSocket."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import signal
import socket
import struct
import subprocess
from collections.abc import Iterator
from typing import Callable, Optional, Union

import pytest

from support import Server, pypy_argv, start_server, stop_process

# Every socket operation in these tests gives up after this long.
TIMEOUT_S = 30.0
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10

TESTEES = {"http": "cannonade.testees.http", "ws": "cannonade.testees.ws"}


def _start(kind: str, *extra: str) -> Server:
    return start_server(f"{kind} testee", [*pypy_argv(), "-m", TESTEES[kind], *extra])


@pytest.fixture
def web_server() -> Iterator[Callable[..., Server]]:
    """Start a web testee under PyPy with extra arguments; all are stopped at teardown."""
    started: list[Server] = []

    def start(kind: str, *extra: str) -> Server:
        server = _start(kind, *extra)
        started.append(server)
        return server

    yield start
    for server in started:
        stop_process(server.process)


@pytest.fixture(scope="module")
def http_server() -> Iterator[Server]:
    """The HTTP testee with default options, shared by this module's tests."""
    server = _start("http")
    yield server
    stop_process(server.process)


@pytest.fixture(scope="module")
def ws_server() -> Iterator[Server]:
    """The WebSocket testee with default options, shared by this module's tests."""
    server = _start("ws")
    yield server
    stop_process(server.process)


# --- HTTP -------------------------------------------------------------------------


def _get(
    conn: http.client.HTTPConnection, method: str, path: str, body: Optional[bytes] = None
) -> tuple[http.client.HTTPResponse, bytes]:
    conn.request(method, path, body=body)
    response = conn.getresponse()
    data = response.read()
    assert response.getheader("Transfer-Encoding") is None, "reply was chunked"
    return response, data


def test_http_keep_alive(http_server: Server) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", http_server.port, timeout=TIMEOUT_S)
    try:
        response, data = _get(conn, "GET", "/")
        assert response.status == 200
        assert response.version == 11
        assert data == b"Hello, world!"
        assert response.getheader("Content-Length") == "13"
        sock = conn.sock
        assert sock is not None

        response, data = _get(conn, "GET", "/some/other/path?q=1")
        assert (response.status, data) == (200, b"Hello, world!")
        assert conn.sock is sock, "second GET did not reuse the connection"

        payload = os.urandom(3000)
        response, data = _get(conn, "POST", "/echo", payload)
        assert response.status == 200
        assert response.getheader("Content-Length") == str(len(payload))
        assert data == payload
        assert conn.sock is sock, "POST did not reuse the connection"

        response, data = _get(conn, "PUT", "/", b"put body")
        assert (response.status, data) == (200, b"put body")

        response, data = _get(conn, "HEAD", "/")
        assert (response.status, data) == (200, b"")
        assert response.getheader("Content-Length") == "13"

        response, data = _get(conn, "GET", "/status/404")
        assert response.status == 404
        assert len(data) == 13
        response, data = _get(conn, "POST", "/status/503", b"x")
        assert (response.status, data) == (503, b"x")
        response, data = _get(conn, "GET", "/status/204")
        assert (response.status, data) == (204, b"")
        assert conn.sock is sock, "status replies did not keep the connection"
    finally:
        conn.close()


@pytest.mark.parametrize("size", [0, 1, 100_000])
def test_http_body_bytes(size: int, web_server: Callable[..., Server]) -> None:
    server = web_server("http", "--body-bytes", str(size))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT_S)
    try:
        for _ in range(2):
            response, data = _get(conn, "GET", "/")
            assert response.status == 200
            assert response.getheader("Content-Length") == str(size)
            assert data == (b"Hello, world!" * (size // 13 + 1))[:size]
    finally:
        conn.close()


def test_http_pipelined(http_server: Server) -> None:
    """Three requests in one write: three replies, in order, on the same connection."""
    requests = (
        b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
        b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /status/418 HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", http_server.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(requests)
        stream = sock.makefile("rb")
        replies = []
        for _ in range(3):
            status_line = stream.readline()
            assert status_line.startswith(b"HTTP/1.1 "), status_line
            headers = {}
            while True:
                line = stream.readline()
                assert line.endswith(b"\r\n"), line
                if line == b"\r\n":
                    break
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            assert b"transfer-encoding" not in headers
            body = stream.read(int(headers[b"content-length"]))
            replies.append((int(status_line.split()[1]), body))
        stream.close()
    assert replies == [(200, b"Hello, world!"), (200, b"hello"), (418, b"Hello, world!")]


# --- WebSocket --------------------------------------------------------------------


class WsClient:
    """A minimal RFC 6455 client: blocking socket, masked frames out, whole frames in."""

    def __init__(self, port: int, protocols: tuple[str, ...] = ()) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.buffer = b""
        try:
            self._handshake(port, protocols)
        except BaseException:
            self.sock.close()
            raise

    def _handshake(self, port: int, protocols: tuple[str, ...]) -> None:
        key = base64.b64encode(os.urandom(16))
        lines = [
            b"GET /chat HTTP/1.1",
            b"Host: 127.0.0.1:%d" % port,
            b"Upgrade: websocket",
            b"Connection: Upgrade",
            b"Sec-WebSocket-Key: " + key,
            b"Sec-WebSocket-Version: 13",
        ]
        if protocols:
            lines.append(b"Sec-WebSocket-Protocol: " + ", ".join(protocols).encode())
        self.sock.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        assert status_line.startswith("HTTP/1.1 101 "), head
        self.headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
        assert self.headers.get("sec-websocket-accept") == expected, head
        assert self.headers.get("upgrade", "").lower() == "websocket", head

    def __enter__(self) -> WsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise EOFError(f"connection closed; buffered {self.buffer!r}")
        self.buffer += chunk

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _read_exact(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def send_frame(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        header = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        # XOR through big integers: fast enough for megabytes under either interpreter.
        repeated = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
            n, "big"
        )
        self.sock.sendall(header + mask + masked)

    def read_frame(self) -> tuple[bool, int, bytes]:
        first, second = self._read_exact(2)
        assert first & 0x70 == 0, "reserved bits set"
        assert second & 0x80 == 0, "server frames must not be masked"
        n = second & 0x7F
        if n == 126:
            (n,) = struct.unpack(">H", self._read_exact(2))
        elif n == 127:
            (n,) = struct.unpack(">Q", self._read_exact(8))
        return bool(first & 0x80), first & 0x0F, self._read_exact(n)

    def read_message(self) -> tuple[int, bytes]:
        """The next data message (fragments joined); pings are answered, pongs skipped."""
        opcode, parts = None, []
        while True:
            fin, op, payload = self.read_frame()
            if op == OP_PING:
                self.send_frame(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if opcode is None:
                assert op != OP_CONTINUATION, "continuation without a start"
                opcode = op
            else:
                assert op == OP_CONTINUATION, f"opcode {op} inside a fragmented message"
            parts.append(payload)
            if fin or op == OP_CLOSE:
                return opcode, b"".join(parts)

    def close(self) -> None:
        self.sock.close()

    def close_handshake(self, code: int = 1000) -> tuple[int, bytes]:
        """Send a close frame; return the peer's close code and reason, after its EOF."""
        self.send_frame(OP_CLOSE, struct.pack(">H", code) + b"bye")
        opcode, payload = self.read_message()
        assert opcode == OP_CLOSE, (opcode, payload[:100])
        assert len(payload) >= 2, payload
        # The server closes the TCP connection after the closing handshake.
        assert self.sock.recv(1) == b""
        (reply_code,) = struct.unpack(">H", payload[:2])
        return reply_code, payload[2:]


def test_ws_echo(ws_server: Server) -> None:
    with WsClient(ws_server.port) as client:
        assert "sec-websocket-protocol" not in client.headers
        text = "héllo, wörld ☃".encode()
        client.send_frame(OP_TEXT, text)
        assert client.read_message() == (OP_TEXT, text)

        binary = bytes(range(256)) * 4
        client.send_frame(OP_BINARY, binary)
        assert client.read_message() == (OP_BINARY, binary)

        client.send_frame(OP_TEXT, b"")
        assert client.read_message() == (OP_TEXT, b"")

        # A fragmented text message comes back whole.
        client.send_frame(OP_TEXT, b"frag", fin=False)
        client.send_frame(OP_CONTINUATION, b"mented", fin=True)
        assert client.read_message() == (OP_TEXT, b"fragmented")

        # A ping in between is answered with a pong carrying the same payload.
        client.send_frame(OP_PING, b"are you there")
        assert client.read_frame() == (True, OP_PONG, b"are you there")

        code, _reason = client.close_handshake()
        assert code == 1000


@pytest.mark.parametrize("size", [70_000, MAX_MESSAGE_BYTES])
def test_ws_large_messages(size: int, ws_server: Server) -> None:
    """16-bit and 64-bit frame lengths, up to the 16 MiB limit, in one message."""
    with WsClient(ws_server.port) as client:
        payload = os.urandom(size)
        client.send_frame(OP_BINARY, payload)
        opcode, echoed = client.read_message()
        assert opcode == OP_BINARY
        assert len(echoed) == size
        assert echoed == payload
        assert client.close_handshake()[0] == 1000


def test_ws_too_large_message(ws_server: Server) -> None:
    """A frame header announcing more than 16 MiB: the server closes with 1009."""
    with WsClient(ws_server.port) as client:
        # The header alone (mask bit, 64-bit length, masking key) is enough to be refused.
        too_big = struct.pack(">BBQ", 0x80 | OP_BINARY, 0x80 | 127, MAX_MESSAGE_BYTES + 1)
        client.sock.sendall(too_big + os.urandom(4))
        opcode, payload = client.read_message()
        assert opcode == OP_CLOSE
        assert struct.unpack(">H", payload[:2])[0] == 1009
        # No close reply can follow (it would count as payload): the server drops the
        # connection (EOF or reset) after its close handshake timeout.
        try:
            tail = client.sock.recv(1)
        except ConnectionResetError:
            tail = b""
        assert tail == b""


@pytest.mark.parametrize(
    "offered, selected",
    [
        (("chat",), "chat"),
        (("superchat", "chat"), "chat"),
        (("superchat",), None),
        ((), None),
    ],
)
def test_ws_subprotocol(
    offered: tuple[str, ...], selected: Optional[str], web_server: Callable[..., Server]
) -> None:
    server = web_server("ws", "--subprotocol", "chat")
    with WsClient(server.port, offered) as client:
        assert client.headers.get("sec-websocket-protocol") == selected
        client.send_frame(OP_TEXT, b"hi")
        assert client.read_message() == (OP_TEXT, b"hi")
        assert client.close_handshake()[0] == 1000


# --- the testee contract ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["http", "ws"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_clean_exit_on_signal(
    kind: str, signum: signal.Signals, web_server: Callable[..., Server]
) -> None:
    """Serve a little first, then signal with a client still connected: exit status 0."""
    server = web_server(kind)
    if kind == "http":
        client: Union[http.client.HTTPConnection, WsClient]
        client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT_S)
        for _ in range(3):
            assert _get(client, "GET", "/")[0].status == 200
    else:
        client = WsClient(server.port)
        client.send_frame(OP_TEXT, b"ping")
        assert client.read_message() == (OP_TEXT, b"ping")
    try:
        server.process.send_signal(signum)
        assert server.process.wait(TIMEOUT_S) == 0
    except subprocess.TimeoutExpired:
        pytest.fail(f"{kind} testee did not exit within {TIMEOUT_S:.0f}s of {signum.name}")
    finally:
        client.close()
    assert server.process.stdout is not None
    # Also shows there is no access log: requests were served, nothing more was printed.
    assert server.process.stdout.read() == b"", "more than the one 'listening on' line"
