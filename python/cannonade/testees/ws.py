"""An Autobahn|Python (Twisted) WebSocket echo server, the PyPy-side counterpart of
``cannonade-testee ws``.

    pypy3 -m cannonade.testees.ws --host 127.0.0.1 --port 0 [--subprotocol NAME]
        [--tls [--cert-out FILE]]

Accepts the upgrade on any path and echoes every message back, text as text and
binary as binary, up to 16 MiB per message and per frame. With ``--subprotocol NAME``
the server selects NAME when the client offers it (and accepts the connection without
a subprotocol otherwise). Prints exactly one line, ``listening on HOST:PORT``, once
serving (``--port 0`` picks a free port); logs nothing per connection or message;
exits cleanly with status 0 on SIGINT or SIGTERM.

``--tls`` serves TLS with a certificate made at start-up (see ``_tls``); the CA's PEM
goes to ``--cert-out FILE`` for clients to trust (``cannonade --cacert FILE``).
"""

from __future__ import annotations

import argparse
from typing import Optional

from ._serve import add_tls_options, require, serve, tls_options

MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def _parse(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cannonade.testees.ws")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    add_tls_options(parser)
    parser.add_argument("--subprotocol", metavar="NAME")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = _parse(argv)
    # Twisted and Autobahn are optional (extra "testees"): import them only when a
    # server is wanted.
    require("twisted.internet", "autobahn.twisted.websocket")
    from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol

    subprotocol = args.subprotocol

    class Echo(WebSocketServerProtocol):
        def onConnect(self, request: object) -> Optional[str]:
            if subprotocol is not None and subprotocol in request.protocols:
                return subprotocol
            return None

        def onMessage(self, payload: bytes, isBinary: bool) -> None:
            self.sendMessage(payload, isBinary)

    factory = WebSocketServerFactory(protocols=[subprotocol] if subprotocol is not None else None)
    factory.protocol = Echo
    factory.noisy = False
    factory.setProtocolOptions(
        maxMessagePayloadSize=MAX_MESSAGE_BYTES,
        maxFramePayloadSize=MAX_MESSAGE_BYTES,
        # Echo each message as one frame, whatever its size.
        autoFragmentSize=0,
        # On a protocol error or an oversized message, send a close frame with the
        # reason code (1002, 1007, 1009...) rather than reset the TCP connection.
        failByDrop=False,
    )

    return serve(factory, args.host, args.port, tls_options(args, (b"http/1.1",)))


if __name__ == "__main__":
    raise SystemExit(main())
