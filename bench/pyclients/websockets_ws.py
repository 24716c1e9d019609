#!/usr/bin/env python3
"""A closed-loop WebSocket echo client on the `websockets` library (asyncio): an optional
baseline for bench/echo_clients.py, run only when `websockets` is installed.

    python websockets_ws.py HOST PORT CONNECTIONS DURATION_S [--bytes 64]

One coroutine per connection: send a text message of BYTES characters, await its echo,
repeat, until DURATION_S seconds after the connections are open. Prints one JSON line:
{"messages": round trips completed, "duration_s": load time}.
"""

import asyncio
import time

import _args  # bench/pyclients/_args.py, beside this script
import websockets


async def run(url, conns, duration, payload):
    sockets = [await websockets.connect(url, compression=None, max_size=None) for _ in range(conns)]
    t0 = time.monotonic()
    deadline = t0 + duration

    async def one(ws):
        n = 0
        while time.monotonic() < deadline:
            await ws.send(payload)
            await ws.recv()
            n += 1
        return n

    counts = await asyncio.gather(*(one(ws) for ws in sockets))
    elapsed = time.monotonic() - t0
    await asyncio.gather(*(ws.close() for ws in sockets))
    return sum(counts), elapsed


def main():
    a = _args.parse(__doc__)
    payload = ("abcdefghijklmnopqrstuvwxyz0123456789" * (a.bytes // 36 + 1))[: a.bytes]
    _args.report(*asyncio.run(run(f"ws://{a.host}:{a.port}/", a.connections, a.duration, payload)))


if __name__ == "__main__":
    main()
