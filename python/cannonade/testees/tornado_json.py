"""A small Tornado JSON app: a real framework whose warm-up under PyPy is a ramp.

    pypy3 -m cannonade.testees.tornado_json --host 127.0.0.1 --port 0 [--items N]

``GET /`` answers 200 with a JSON object holding N items (default 50), built and
serialised anew for every request through Tornado's own ``RequestHandler.write``;
``GET /items/K`` answers item K (404 beyond N). Prints exactly one line,
``listening on HOST:PORT``, once serving (``--port 0`` picks a free port); logs no
requests; exits cleanly with status 0 on SIGINT or SIGTERM.

Unlike the Twisted testees, which warm within a second or two, the whole Tornado stack
(HTTP/1.1 parsing, routing, the handler, ``json``) is traced by PyPy's JIT over several
seconds: throughput climbs in steps for most of the first ten seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any, Optional


def _parse(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cannonade.testees.tornado_json")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--items", type=int, default=50, metavar="N")
    args = parser.parse_args(argv)
    if args.items < 0:
        parser.error("--items must be >= 0")
    return args


def item(index: int) -> dict[str, Any]:
    """The item ``index`` of the catalogue."""
    return {
        "id": index,
        "name": f"item-{index}",
        "price": round(index * 0.25, 2),
        "tags": ["a", "b"] if index % 2 else ["c"],
        "in_stock": index % 3 != 0,
    }


def main(argv: Optional[list[str]] = None) -> int:
    args = _parse(argv)
    # Tornado is optional (extra "testees"): import it only when a server is wanted.
    import tornado.httpserver
    import tornado.netutil
    import tornado.web

    count = args.items

    class Catalogue(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write({"count": count, "items": [item(i) for i in range(count)]})

    class Item(tornado.web.RequestHandler):
        def get(self, index: str) -> None:
            k = int(index)
            if k >= count:
                raise tornado.web.HTTPError(404)
            self.write(item(k))

    def no_log(handler: tornado.web.RequestHandler) -> None:
        """No access log: it would cost a formatted line per request."""

    app = tornado.web.Application([(r"/", Catalogue), (r"/items/(\d+)", Item)], log_function=no_log)
    sockets = tornado.netutil.bind_sockets(args.port, address=args.host)
    host, port = sockets[0].getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host

    async def serve() -> None:
        server = tornado.httpserver.HTTPServer(app)
        server.add_sockets(sockets)
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopped.set)
        # Announced once the handlers are in place: a client may signal at once.
        print(f"listening on {shown}:{port}", flush=True)
        await stopped.wait()
        server.stop()

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
