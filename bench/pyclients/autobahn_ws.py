#!/usr/bin/env python3
"""A closed-loop WebSocket echo client on Autobahn|Python (Twisted): a baseline for
bench/echo_clients.py.

    python autobahn_ws.py HOST PORT CONNECTIONS DURATION_S [--bytes 64]

Each connection sends a text message of BYTES ASCII characters on open and again on
each echo (onMessage), until DURATION_S seconds after the last connection opened.
Uses Twisted's epoll reactor. Prints one JSON line: {"messages": round trips completed,
"duration_s": load time}.
"""

import time

import _args  # bench/pyclients/_args.py, beside this script
from twisted.internet import epollreactor

epollreactor.install()

from autobahn.twisted.websocket import (  # noqa: E402
    WebSocketClientFactory,
    WebSocketClientProtocol,
)
from twisted.internet import reactor  # noqa: E402


def main():
    a = _args.parse(__doc__)
    payload = (b"abcdefghijklmnopqrstuvwxyz0123456789" * (a.bytes // 36 + 1))[: a.bytes]
    state = {"open": [], "messages": 0, "t0": None, "deadline": float("inf"), "closed": 0}

    class Echo(WebSocketClientProtocol):
        def onOpen(self):
            state["open"].append(self)
            if len(state["open"]) == a.connections:
                state["t0"] = time.monotonic()
                state["deadline"] = state["t0"] + a.duration
                for proto in state["open"]:
                    proto.sendMessage(payload, False)

        def onMessage(self, data, isBinary):
            state["messages"] += 1
            if time.monotonic() < state["deadline"]:
                self.sendMessage(payload, False)
            else:
                self.sendClose()

        def onClose(self, wasClean, code, reason):
            state["closed"] += 1
            if state["closed"] == a.connections and reactor.running:
                state["t1"] = time.monotonic()
                reactor.stop()

    url = f"ws://{a.host}:{a.port}/"
    factory = WebSocketClientFactory(url)
    factory.protocol = Echo
    factory.noisy = False
    for _ in range(a.connections):
        reactor.connectTCP(a.host, a.port, factory)
    reactor.callLater(a.duration + 30, reactor.stop)  # a bound, should the server hang
    reactor.run()
    if state["t0"] is None:
        raise SystemExit("autobahn_ws: the connections did not all open")
    elapsed = state.get("t1", time.monotonic()) - state["t0"]
    _args.report(state["messages"], elapsed)


if __name__ == "__main__":
    main()
