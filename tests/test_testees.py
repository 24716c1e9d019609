"""The reference servers keep the testee contract: one 'listening on' line, clean exit."""

from __future__ import annotations

import signal
import socket
import subprocess
from typing import Callable

import pytest

from support import Server


@pytest.mark.parametrize("kind", ["rust", "twisted"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_clean_exit_on_signal(
    kind: str, signum: signal.Signals, server_factory: Callable[..., Server]
) -> None:
    server = server_factory(kind)
    # One echo first: the signal then reaches a server that is surely serving.
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"ping")
        assert sock.recv(4) == b"ping"
    server.process.send_signal(signum)
    try:
        assert server.process.wait(30) == 0
    except subprocess.TimeoutExpired:
        pytest.fail(f"{kind} testee did not exit within 30s of {signum.name}")
    assert server.process.stdout is not None
    assert server.process.stdout.read() == b"", "more than the one 'listening on' line"


@pytest.mark.parametrize("kind", ["rust", "twisted"])
def test_close_after_bytes(kind: str, server_factory: Callable[..., Server]) -> None:
    server = server_factory(kind, "--close-after-bytes", "10")
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"0123456789abcdef")
        received = b""
        while True:
            chunk = sock.recv(100)
            if not chunk:
                break
            received += chunk
    assert received == b"0123456789"
