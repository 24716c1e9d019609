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
