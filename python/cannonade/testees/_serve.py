"""What every bundled testee does once its factory is built: listen, announce, serve."""

from __future__ import annotations

from typing import Any


def serve(factory: Any, host: str, port: int) -> int:
    """Listen on ``host:port``, print ``listening on HOST:PORT``, run until SIGINT/SIGTERM."""
    from twisted.internet import reactor

    listening = reactor.listenTCP(port, factory, interface=host)
    address = listening.getHost()
    shown = f"[{address.host}]" if ":" in address.host else address.host
    # Announce only once the reactor runs: reactor.run() installs the SIGINT/SIGTERM
    # handlers that stop it cleanly, and a client may signal as soon as it reads the line.
    reactor.callWhenRunning(print, f"listening on {shown}:{address.port}", flush=True)
    reactor.run()
    return 0
