"""What every bundled testee does once its factory is built: listen, announce, serve."""

from __future__ import annotations

import importlib
import sys
from typing import Any

_EXTRA_HINT = (
    "install the testees extra: `pip install 'cannonade[testees]'` (under PyPy 3.9 add "
    "`--only-binary cryptography`, as the README says)"
)


def require(*modules: str) -> None:
    """Exit with one line naming the missing framework and the extra that brings it."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as error:
            sys.exit(f"{sys.argv[0]}: this testee needs {name} ({error}); {_EXTRA_HINT}")


def add_tls_options(parser: Any) -> None:
    """``--tls`` and ``--cert-out FILE``, as the native testee has them."""
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve TLS with a certificate made at start-up for localhost, 127.0.0.1, ::1",
    )
    parser.add_argument(
        "--cert-out", metavar="FILE", help="where --tls writes its CA certificate (PEM)"
    )


def tls_options(args: Any, alpn: tuple[bytes, ...] = ()) -> Any:
    """Twisted's TLS options when ``--tls`` was given, else None."""
    if not args.tls:
        if args.cert_out is not None:
            sys.exit(f"{sys.argv[0]}: --cert-out is where --tls writes its certificate; add --tls")
        return None
    require("OpenSSL", "service_identity")
    from ._tls import context_factory

    return context_factory(args.cert_out, alpn)


def serve(factory: Any, host: str, port: int, tls: Any = None) -> int:
    """Listen on ``host:port``, print ``listening on HOST:PORT``, run until SIGINT/SIGTERM.

    ``tls`` is Twisted's TLS options (see ``_tls.context_factory``) to serve TLS with.
    """
    from twisted.internet import reactor

    if tls is None:
        listening = reactor.listenTCP(port, factory, interface=host)
    else:
        listening = reactor.listenSSL(port, factory, tls, interface=host)
    address = listening.getHost()
    shown = f"[{address.host}]" if ":" in address.host else address.host
    # Announce only once the reactor runs: reactor.run() installs the SIGINT/SIGTERM
    # handlers that stop it cleanly, and a client may signal as soon as it reads the line.
    reactor.callWhenRunning(print, f"listening on {shown}:{address.port}", flush=True)
    reactor.run()
    return 0
