"""Load a Twisted echo server running on PyPy, and print a wrk-like summary.

    .venv-pypy/bin/python examples/quickstart.py [DURATION_S]

The server is cannonade's bundled Twisted testee, started under the same
interpreter as this script; the load is 32 connections in a closed loop, each
sending a 64-byte request and waiting for its echo before sending the next.
"""

from __future__ import annotations

import subprocess
import sys

import cannonade


def start_echo_server() -> tuple[subprocess.Popen, str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "cannonade.testees.echo", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline()  # "listening on HOST:PORT" once bound
    if not line.startswith("listening on "):
        server.kill()
        raise SystemExit(f"the echo server did not start (printed {line!r})")
    return server, line.split()[-1]


def main() -> None:
    duration_s = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    server, address = start_echo_server()
    try:
        plan = cannonade.Plan(
            address, cannonade.Tcp(payload_bytes=64), connections=32, duration_s=duration_s
        )
        print(cannonade.run(plan).format())
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
