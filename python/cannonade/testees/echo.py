"""A Twisted TCP echo server, the PyPy-side counterpart of ``cannonade-testee echo``.

    pypy3 -m cannonade.testees.echo --host 127.0.0.1 --port 0 [--close-after-bytes N]
        [--tls [--cert-out FILE]]

Prints exactly one line, ``listening on HOST:PORT``, once bound (``--port 0``
picks a free port); exits cleanly with status 0 on SIGINT or SIGTERM.
``--close-after-bytes N`` makes the server close each connection after echoing
N bytes, to exercise a client's handling of peers that go away mid-run.

``--tls`` serves TLS with a certificate made at start-up (see ``_tls``); the CA's PEM
goes to ``--cert-out FILE`` for clients to trust (``cannonade --cacert FILE``).
"""

from __future__ import annotations

import argparse
from typing import Optional

from ._serve import add_tls_options, require, serve, tls_options


def _parse(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cannonade.testees.echo")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    add_tls_options(parser)
    parser.add_argument("--close-after-bytes", type=int, metavar="N")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = _parse(argv)
    # Twisted is optional (extra "testees"): import it only when a server is wanted.
    require("twisted.internet")
    from twisted.internet import protocol

    close_after = args.close_after_bytes

    class Echo(protocol.Protocol):
        echoed = 0

        def dataReceived(self, data: bytes) -> None:
            if close_after is None:
                self.transport.write(data)
                return
            chunk = data[: close_after - self.echoed]
            self.transport.write(chunk)
            self.echoed += len(chunk)
            if self.echoed >= close_after:
                # Flushes the pending write, then closes: the peer sees EOF, not a reset.
                self.transport.loseConnection()

    factory = protocol.Factory.forProtocol(Echo)
    return serve(factory, args.host, args.port, tls_options(args, ()))


if __name__ == "__main__":
    raise SystemExit(main())
