#!/usr/bin/env python3
"""A closed-loop TCP echo client in plain asyncio: the baseline for bench/echo_clients.py.

    python asyncio_tcp.py HOST PORT CONNECTIONS DURATION_S [--bytes 64] [--protocol]

One coroutine per connection: write a message, `readexactly` its echo, repeat, until
DURATION_S seconds after the connections are open. With --protocol, an
asyncio.Protocol per connection instead (data_received counts the echoed bytes and
writes the next message at once): no streams, no coroutine switch per message.
Prints one JSON line: {"messages": round trips completed, "duration_s": load time}.
"""

import asyncio
import socket
import time

import _args  # bench/pyclients/_args.py, beside this script


async def streams(host, port, conns, duration, payload):
    pairs = [await asyncio.open_connection(host, port) for _ in range(conns)]
    for _, writer in pairs:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # asyncio does too
    size = len(payload)
    t0 = time.monotonic()
    deadline = t0 + duration

    async def one(reader, writer):
        n = 0
        while time.monotonic() < deadline:
            writer.write(payload)
            await reader.readexactly(size)
            n += 1
        return n

    counts = await asyncio.gather(*(one(r, w) for r, w in pairs))
    elapsed = time.monotonic() - t0
    for _, writer in pairs:
        writer.close()
    return sum(counts), elapsed


class Echo(asyncio.Protocol):
    def __init__(self, payload, deadline, done):
        self.payload, self.size, self.deadline, self.done = payload, len(payload), deadline, done
        self.pending = 0
        self.messages = 0

    def connection_made(self, transport):
        self.transport = transport

    def start(self):
        self.pending = self.size
        self.transport.write(self.payload)

    def data_received(self, data):
        self.pending -= len(data)
        if self.pending > 0:
            return
        self.messages += 1
        if time.monotonic() < self.deadline[0]:
            self.start()
        else:
            self.transport.close()

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_result(None)


async def protocols(host, port, conns, duration, payload):
    loop = asyncio.get_running_loop()
    deadline = [float("inf")]
    clients = []
    for _ in range(conns):
        done = loop.create_future()
        _, proto = await loop.create_connection(
            lambda d=done: Echo(payload, deadline, d), host, port
        )
        clients.append(proto)
    t0 = time.monotonic()
    deadline[0] = t0 + duration
    for c in clients:
        c.start()
    await asyncio.gather(*(c.done for c in clients))
    return sum(c.messages for c in clients), time.monotonic() - t0


def main():
    a = _args.parse(
        __doc__,
        ("--protocol", {"action": "store_true", "help": "asyncio.Protocol, not streams"}),
    )
    payload = bytes(i % 251 for i in range(a.bytes))
    run = protocols if a.protocol else streams
    _args.report(*asyncio.run(run(a.host, a.port, a.connections, a.duration, payload)))


if __name__ == "__main__":
    main()
