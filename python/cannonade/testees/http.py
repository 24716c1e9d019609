"""A twisted.web HTTP/1.1 server, the PyPy-side counterpart of ``cannonade-testee http``.

    pypy3 -m cannonade.testees.http --host 127.0.0.1 --port 0 [--body-bytes N]
        [--tls [--cert-out FILE]]

Any path answers:

- ``GET`` with 200 and a fixed body of N bytes (default 13, ``Hello, world!``, the
  pattern repeated or cut for other sizes); ``HEAD`` with the same headers and no body;
- ``POST`` and ``PUT`` with 200 and the request body echoed back;
- ``/status/NNN`` (200 <= NNN <= 599) with status NNN and the same bodies (none for 204
  and 304); other methods with 405.

Every reply carries a Content-Length, so HTTP/1.1 keep-alive connections are never
chunked. Prints exactly one line, ``listening on HOST:PORT``, once serving (``--port 0``
picks a free port); logs no requests; exits cleanly with status 0 on SIGINT or SIGTERM.

``--tls`` serves TLS with a certificate made at start-up (see ``_tls``); the CA's PEM
goes to ``--cert-out FILE`` for clients to trust (``cannonade --cacert FILE``).
"""

from __future__ import annotations

import argparse
from typing import Optional

from ._serve import add_tls_options, require, serve, tls_options

_PATTERN = b"Hello, world!"
_STATUS_PREFIX = b"/status/"
_NO_BODY_CODES = (204, 304)


def _parse(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cannonade.testees.http")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    add_tls_options(parser)
    parser.add_argument("--body-bytes", type=int, default=13, metavar="N")
    args = parser.parse_args(argv)
    if args.body_bytes < 0:
        parser.error("--body-bytes must be >= 0")
    return args


def fixed_body(size: int) -> bytes:
    """The GET body of ``size`` bytes: ``Hello, world!`` repeated, then cut."""
    return (_PATTERN * (size // len(_PATTERN) + 1))[:size]


def main(argv: Optional[list[str]] = None) -> int:
    args = _parse(argv)
    # Twisted is optional (extra "testees"): import it only when a server is wanted.
    require("twisted.web")
    from twisted.web import resource, server

    body = fixed_body(args.body_bytes)
    body_length = b"%d" % len(body)

    class Reply(resource.Resource):
        isLeaf = True

        def render(self, request: server.Request) -> object:
            # Dispatch here rather than through render_GET & co: fewer lookups, and no
            # "faking HEAD with GET" log message per request.
            path = request.path
            if path.startswith(_STATUS_PREFIX):
                code = path[len(_STATUS_PREFIX) :]
                if not (code.isdigit() and len(code) == 3 and 200 <= int(code) <= 599):
                    request.setResponseCode(400)
                    return b"status must be 200..599\n"
                request.setResponseCode(int(code))
            method = request.method
            if method == b"GET" or method == b"HEAD":
                reply, length = body, body_length
            elif method == b"POST" or method == b"PUT":
                reply = request.content.read()
                length = b"%d" % len(reply)
            else:
                request.setResponseCode(405)
                request.setHeader(b"Allow", b"GET, HEAD, POST, PUT")
                return b"method not allowed\n"
            if method == b"HEAD" or request.code in _NO_BODY_CODES:
                # Returning bytes would make twisted.web log a warning (HEAD) or send
                # Content-Length: 0 (204); write the headers and finish instead.
                if request.code not in _NO_BODY_CODES:
                    request.setHeader(b"Content-Length", length)
                request.write(b"")
                request.finish()
                return server.NOT_DONE_YET
            # twisted.web sets Content-Length from returned bytes: never chunked.
            return reply

    class PlainRequest(server.Request):
        defaultContentType = b"text/plain"

    class QuietSite(server.Site):
        noisy = False

        def log(self, request: object) -> None:
            """No access log: it would cost a formatted line per request."""

    try:
        # Twisted 24.7+: skip parsing form uploads into request.args.
        site = QuietSite(Reply(), requestFactory=PlainRequest, parsePOSTFormSubmission=False)
    except TypeError:
        site = QuietSite(Reply(), requestFactory=PlainRequest)

    return serve(site, args.host, args.port, tls_options(args, (b"http/1.1",)))


if __name__ == "__main__":
    raise SystemExit(main())
