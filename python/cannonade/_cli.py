"""Command line: ``python -m cannonade tcp HOST:PORT -c 32 -t 2 -d 5``, and likewise
``http URL`` and ``ws URL``.

Prints the wrk-like summary. With ``--warmup`` (or ``--server CMD``) the run is a
benchmark instead: warm up until steady, measure, classify, report. Any error (bad
arguments, unreachable target, bad plan, an output file that cannot be written) prints
one line to stderr and exits with status 2, before any load is sent. While the load
runs, a terminal shows one live progress line; a pipe or a file gets one line per
interval; ``--quiet`` shows neither.

Saved results: ``report FILE...`` prints their summaries (``--html OUT`` writes the
report page), ``compare A B`` gives b/a per metric (for two benchmarks with
:func:`cannonade.compare`'s bootstrap intervals and verdicts, for runs plain ratios,
and says which), and ``merge FILE... -o OUT`` adds runs that ran side by side
interval by interval (:func:`cannonade.merge`). A file that cannot be read or merged is
one line on stderr and exit status 2.

SIGINT (Ctrl-C), SIGTERM and SIGHUP stop the load and the server cannonade started,
then print and write (``--json``, ``--hlog``) what was measured, marked as
interrupted, and exit with status 128 + the signal's number (130 for Ctrl-C). A server
that exits during a benchmark is reported the same way, marked with its error, and
the exit status is 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import signal
import sys
import time
from types import FrameType
from typing import Any, NoReturn, Optional, Union

from ._errors import CannonadeError, ResultError, RunError, ServerError
from ._plan import Http, Plan, Tcp, Ws
from ._report import format_ns
from ._result import Interval
from ._run import start
from ._version import __version__

_PROG = "cannonade"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class _Parser(argparse.ArgumentParser):
    # argparse prints the whole usage before the error; one line is easier to read
    # in a log and keeps every failure of this CLI the same shape.
    def error(self, message: str) -> NoReturn:
        _fail(message)


def _say(message: str) -> None:
    """One line to stderr; a closed terminal (SIGHUP) must not turn into a traceback."""
    try:
        print(message, file=sys.stderr)
        sys.stderr.flush()
    except OSError:
        pass


def _write_html(*args: Any, **options: Any) -> None:
    """:func:`cannonade.write_html`, imported only by a command that writes HTML."""
    from ._html import write_html

    write_html(*args, **options)


def _fail(message: str) -> NoReturn:
    _say(f"{_PROG}: error: {' '.join(message.split())}")
    raise SystemExit(2)


def _duration(text: str) -> float:
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}; use e.g. 5, 5s, 500ms, 2m")
    return float(match.group(1)) * _UNIT_S[match.group(2) or "s"]


#: What --watch may name (the keys of cannonade._benchmark.METRICS, which imports late).
_WATCHABLE = ("requests_per_s", "p50", "p90", "p99", "p99.9")


def _metrics(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name.partition("@")[0] not in _WATCHABLE]
    unknown += [name for name in names if name.endswith("@")]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"invalid metrics {text!r}; name one or more of {', '.join(_WATCHABLE)}, "
            "comma-separated, or METRIC@LABEL for one label of --requests-file's mix"
        )
    return names


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"invalid header {text!r}; write it as 'Name: value'")
    return name, value.strip(" \t")


def _common_options() -> argparse.ArgumentParser:
    """The options every subcommand shares (load shape, stop conditions, output)."""
    common = _Parser(add_help=False)
    common.add_argument(
        "-c", "--connections", metavar="N", type=int, default=10, help="open connections (10)"
    )
    common.add_argument(
        "-t", "--threads", metavar="N", type=int, help="worker threads (min(cores, connections))"
    )
    common.add_argument(
        "-d",
        "--duration",
        metavar="TIME",
        type=_duration,
        help="run time: 5, 5s, 500ms, 2m (10s when -n is not given)",
    )
    common.add_argument(
        "-n",
        "--requests",
        metavar="N",
        type=int,
        help="stop after N requests (with -d: whichever comes first)",
    )
    common.add_argument(
        "-R",
        "--rate",
        metavar="N",
        type=float,
        help="open loop at N requests/s in all, latency corrected for coordinated omission "
        "(default: closed loop)",
    )
    common.add_argument(
        "--interval",
        metavar="TIME",
        type=_duration,
        default=None,
        help="snapshot interval (1s for a run; a benchmark analyses 100ms intervals unless "
        "this is given)",
    )
    common.add_argument(
        "--requests-per-connection",
        metavar="K",
        type=int,
        help="churn: close each connection after K requests and open a new one",
    )
    common.add_argument(
        "--connection-rate",
        metavar="C",
        type=float,
        help="churn: open at most C connections per second in all",
    )
    common.add_argument(
        "--think",
        metavar="TIME",
        type=_duration,
        help="closed loop: pause TIME between a reply and the next request",
    )
    common.add_argument(
        "--idle",
        metavar="M",
        type=int,
        default=0,
        help="also hold M idle connections open beside the load (C10K tests)",
    )
    common.add_argument(
        "--timeout", metavar="TIME", type=_duration, default=10.0, help="request timeout (10s)"
    )
    common.add_argument(
        "--connect-timeout",
        metavar="TIME",
        type=_duration,
        default=2.0,
        help="connect timeout (2s)",
    )
    common.add_argument(
        "--no-reconnect", action="store_true", help="do not reopen connections the server closes"
    )
    mix = common.add_argument_group("request mixes (docs/mixes.md)")
    mix.add_argument(
        "--requests-file",
        metavar="FILE",
        help="send a mix of requests: JSON Lines (one entry per line: label, weight, method, "
        "path, headers, body; or message/size, payload) or a HAR file (http, loopback only)",
    )
    mix.add_argument(
        "--mix",
        choices=("random", "round_robin", "session"),
        default="random",
        help="how each next entry is picked: weighted random (default), in turn, or in turn "
        "from the first on every new connection",
    )
    mix.add_argument(
        "--seed", metavar="N", type=int, help="seed of the random mix (default: drawn, reported)"
    )
    tls = common.add_argument_group("TLS (https://, wss://, tcp --tls)")
    tls.add_argument(
        "--cacert",
        metavar="FILE",
        help="trust the CA certificates of this PEM file (not the system's)",
    )
    tls.add_argument(
        "--insecure",
        action="store_true",
        help="accept any certificate (a self-signed loopback server)",
    )
    tls.add_argument(
        "--sni", metavar="NAME", help="ask for and check NAME instead of the URL's host"
    )
    tls.add_argument(
        "--tls-resume",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="resume TLS sessions on new connections (default: off, every handshake is full)",
    )
    tls.add_argument("--tls-version", choices=("1.2", "1.3"), help="allow this TLS version alone")
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress while the load runs (on a terminal a live line, otherwise a "
        "line per interval); the summary is still printed",
    )
    common.add_argument("--json", metavar="FILE", help="also write the result as JSON to FILE")
    common.add_argument(
        "--html", metavar="FILE", help="also write a self-contained HTML report with plots"
    )
    common.add_argument(
        "--mpi",
        action="store_true",
        help="one rank of `mpirun -n K`: rank 0 splits -c, -R and -n across the ranks, starts "
        "them together, merges their intervals and reports (--hlog too); docs/distributed.md",
    )
    common.add_argument(
        "--netns",
        metavar="NAME",
        help="with --mpi: this rank's load leaves from network namespace NAME ({rank} is "
        "replaced by the rank), e.g. one source address per rank on one machine",
    )
    bench = common.add_argument_group(
        "warm-up and measurement (a benchmark instead of a single run)"
    )
    bench.add_argument(
        "--warmup",
        action="store_true",
        help="warm the server up until the data say it is steady, then measure it",
    )
    bench.add_argument(
        "--server",
        metavar="CMD",
        help="start the server with CMD ({port} is replaced by a free port) and stop it "
        "after; implies --warmup; the target's host:port becomes the server's",
    )
    bench.add_argument(
        "--pypylog", action="store_true", help="collect PyPy GC and JIT events from --server"
    )
    bench.add_argument(
        "--hotspot-log",
        action="store_true",
        help="collect HotSpot JIT compilations from a java --server (-Xlog jit+compilation)",
    )
    bench.add_argument(
        "--warmup-min", metavar="TIME", type=_duration, default=10.0, help="warm up at least (10s)"
    )
    bench.add_argument(
        "--warmup-max",
        metavar="TIME",
        type=_duration,
        default=120.0,
        help="give up on a steady state after (120s)",
    )
    bench.add_argument(
        "--window",
        metavar="TIME",
        type=_duration,
        default=10.0,
        help="steady once no changepoint for this long (10s)",
    )
    bench.add_argument(
        "--measure", metavar="TIME", type=_duration, default=30.0, help="measure for (30s)"
    )
    bench.add_argument(
        "--watch",
        metavar="METRICS",
        type=_metrics,
        default=None,
        help="the interval series that decide warm-up, comma-separated, from "
        "requests_per_s, p50, p90, p99, p99.9, or METRIC@LABEL for one label of the "
        "mix (requests_per_s,p50)",
    )
    bench.add_argument(
        "--executions",
        metavar="N",
        type=int,
        default=1,
        help="process executions: restart the --server N times (1)",
    )
    bench.add_argument(
        "--hlog", metavar="FILE", help="write every interval as an HdrHistogram interval log"
    )
    return common


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=_PROG, description="Socket load generator for servers on a JIT.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    common = [_common_options()]

    tcp = commands.add_parser(
        "tcp", parents=common, help="TCP request/reply load (echo or fixed-length reply)"
    )
    tcp.add_argument("target", metavar="HOST:PORT", help="the server, e.g. 127.0.0.1:8080")
    payload = tcp.add_mutually_exclusive_group()
    payload.add_argument(
        "--payload-bytes",
        metavar="N",
        type=int,
        default=64,
        help="send N bytes of a fixed pattern (64)",
    )
    payload.add_argument("--payload-text", metavar="TEXT", help="send TEXT (UTF-8) instead")
    tcp.add_argument(
        "--reply-bytes",
        metavar="N",
        type=int,
        help="the server replies N bytes (default: it echoes the payload)",
    )
    tcp.add_argument(
        "--reply-delimiter",
        metavar="TEXT",
        help="each reply ends with TEXT (UTF-8; e.g. $'\\n' for a line protocol)",
    )
    tcp.add_argument("--tls", action="store_true", help="run TLS over each connection")

    http = commands.add_parser(
        "http", parents=common, help="HTTP/1.1 requests over keep-alive connections"
    )
    http.add_argument("target", metavar="URL", help="the URL, e.g. http://127.0.0.1:8080/")
    http.add_argument("-m", "--method", default="GET", help="request method (GET)")
    http.add_argument(
        "-H",
        "--header",
        metavar="HEADER",
        dest="headers",
        type=_header,
        action="append",
        default=[],
        help="add a request header, 'Name: value' (repeatable)",
    )
    http.add_argument("--body", metavar="TEXT", help="request body (UTF-8)")
    http.add_argument(
        "--close",
        action="store_true",
        help="send Connection: close, so every request opens a new connection",
    )
    http.add_argument(
        "--pipeline",
        metavar="N",
        type=int,
        default=1,
        help="requests in flight per connection (1; closed loop only)",
    )

    ws = commands.add_parser(
        "ws", parents=common, help="WebSocket messages to an echo server, one at a time"
    )
    ws.add_argument("target", metavar="URL", help="the URL, e.g. ws://127.0.0.1:8081/")
    message = ws.add_mutually_exclusive_group()
    message.add_argument(
        "--message-bytes",
        metavar="N",
        type=int,
        default=64,
        help="send messages of N bytes of a fixed pattern (64)",
    )
    message.add_argument("--message-text", metavar="TEXT", help="send TEXT (UTF-8) instead")
    message.add_argument(
        "--autobahn",
        metavar="CASE",
        help="the message shape of an AutobahnTestSuite performance case, e.g. 9.5.1",
    )
    ws.add_argument("--binary", action="store_true", help="send binary messages (default: text)")
    ws.add_argument(
        "--frame-bytes",
        metavar="N",
        type=int,
        help="split each message into frames of at most N bytes",
    )
    ws.add_argument(
        "--chunk-bytes",
        metavar="N",
        type=int,
        help="write each message to the socket in pieces of at most N bytes, one write each",
    )
    ws.add_argument("--subprotocol", metavar="NAME", help="ask for this subprotocol")
    ws.add_argument(
        "--pipeline",
        metavar="N",
        type=int,
        default=1,
        help="messages in flight per connection (1; closed loop only)",
    )
    report = commands.add_parser(
        "report", help="print the summary of saved results (--json files), or an HTML report"
    )
    report.add_argument("files", metavar="FILE", nargs="+", help="a run's or a benchmark's JSON")
    report.add_argument(
        "--html", metavar="OUT", help="write the HTML report of the (single) FILE to OUT"
    )
    comparison = commands.add_parser(
        "compare", help="compare two saved results: b/a per metric (bootstrap for benchmarks)"
    )
    comparison.add_argument("a", metavar="A", help="the baseline's JSON")
    comparison.add_argument("b", metavar="B", help="the other result's JSON")
    comparison.add_argument("--html", metavar="OUT", help="also write both overlaid, as HTML")
    merging = commands.add_parser(
        "merge",
        help="merge runs that ran side by side (several processes or machines): histograms "
        "added interval by interval, counts and errors summed",
    )
    merging.add_argument("files", metavar="FILE", nargs="+", help="the runs' JSON (two or more)")
    merging.add_argument(
        "-o", "--output", metavar="OUT", required=True, help="write the merged run's JSON to OUT"
    )
    return parser


def _mix_options(args: argparse.Namespace) -> dict[str, Any]:
    """``requests``, ``mix`` and ``seed`` of the protocol, from --requests-file & co."""
    if args.requests_file is None:
        if args.seed is not None or args.mix != "random":
            _fail("--mix and --seed pick entries of a mix: give --requests-file FILE too")
        return {}
    from ._requests_file import load_requests_file

    entries = load_requests_file(args.requests_file, args.command, args.target)
    return {"requests": entries, "mix": args.mix, "seed": args.seed}


def _protocol(args: argparse.Namespace) -> Union[Tcp, Http, Ws]:
    mixed = _mix_options(args)
    if args.command == "http":
        return Http(
            **mixed,
            method=args.method,
            headers=tuple(args.headers),
            body=b"" if args.body is None else args.body.encode("utf-8"),
            close=args.close,
            pipeline=args.pipeline,
        )
    if args.command == "ws":
        if args.autobahn is not None:
            given = [
                flag
                for flag, value in (
                    ("--binary", args.binary),
                    ("--frame-bytes", args.frame_bytes),
                    ("--chunk-bytes", args.chunk_bytes),
                )
                if value
            ]
            if given:
                _fail(
                    f"--autobahn {args.autobahn} sets the message's shape; "
                    f"leave out {', '.join(given)}"
                )
            return Ws.autobahn(
                args.autobahn, **mixed, subprotocol=args.subprotocol, pipeline=args.pipeline
            )
        if args.message_text is not None:
            message: Optional[bytes] = args.message_text.encode("utf-8")
        else:
            message = None
        return Ws(
            **mixed,
            message=message,
            message_bytes=args.message_bytes,
            binary=args.binary,
            frame_bytes=args.frame_bytes,
            chunk_bytes=args.chunk_bytes,
            subprotocol=args.subprotocol,
            pipeline=args.pipeline,
        )
    delimiter = None
    if args.reply_delimiter is not None:
        delimiter = args.reply_delimiter.encode("utf-8")
    if args.payload_text is not None:
        payload = args.payload_text.encode("utf-8")
        return Tcp(
            **mixed,
            payload=payload,
            reply_bytes=args.reply_bytes,
            reply_delimiter=delimiter,
            tls=args.tls,
        )
    return Tcp(
        **mixed,
        payload_bytes=args.payload_bytes,
        reply_bytes=args.reply_bytes,
        reply_delimiter=delimiter,
        tls=args.tls,
    )


def _plan(args: argparse.Namespace) -> Plan:
    protocol = _protocol(args)
    duration_s = args.duration
    if duration_s is None and args.requests is None:
        duration_s = 10.0
    return Plan(
        target=args.target,
        protocol=protocol,
        connections=args.connections,
        threads=args.threads,
        duration_s=duration_s,
        requests=args.requests,
        connect_timeout_s=args.connect_timeout,
        request_timeout_s=args.timeout,
        reconnect=not args.no_reconnect,
        rate_per_s=args.rate,
        interval_s=1.0 if args.interval is None else args.interval,
        requests_per_connection=args.requests_per_connection,
        connection_rate_per_s=args.connection_rate,
        idle_connections=args.idle,
        think_time_s=args.think,
        cacert=args.cacert,
        insecure=args.insecure,
        sni=args.sni,
        tls_resume=args.tls_resume,
        tls_version=args.tls_version,
    )


def _print(text: str) -> None:
    try:
        try:
            print(text)
        except UnicodeEncodeError:  # a terminal that cannot show "µ"
            print(text.replace("µ", "u"))
        sys.stdout.flush()
    except OSError:
        # The terminal is gone (SIGHUP) or the pipe closed: the files still get written,
        # and an error here must not abandon the measurement under way.
        pass


def _percentile_text(interval: Interval, p: float) -> str:
    if not interval.latency.count:
        return "-"
    try:
        return format_ns(interval.latency.percentile(p))
    except KeyError:
        return "-"


class _Progress:
    """What the load is doing, once per interval, on stdout.

    On a terminal one live line, rewritten in place (a carriage return, then the
    line, then "erase to the end of the line"): phase, elapsed time, the last
    interval's requests/s and p99, and the errors so far. Otherwise one line per
    interval, which a log or a pipe keeps. ``--quiet``: neither.
    """

    def __init__(self, quiet: bool, stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        try:
            tty = self.stream.isatty()
        except (AttributeError, ValueError, OSError):
            tty = False
        self.mode = "quiet" if quiet else ("live" if tty else "lines")
        self.errors = 0
        self._shown = False

    def __call__(self, phase: str, interval: Interval, server: object = None) -> None:
        self.errors += interval.errors.total
        if self.mode == "quiet":
            return
        rate = f"{interval.requests_per_s:,.0f} req/s"
        p99 = _percentile_text(interval, 99.0)
        if self.mode == "lines":
            p50 = _percentile_text(interval, 50.0)
            errors = f"  errors {interval.errors.total}" if interval.errors.total else ""
            _print(
                f"  {phase:<8}{interval.end_s:7.1f}s {rate:>16}  p50 {p50:>9}  p99 {p99:>9}{errors}"
            )
            return
        line = f"{phase} {interval.end_s:6.1f}s  {rate}  p99 {p99}  errors {self.errors}"
        # A line longer than the terminal would wrap, and the carriage return would then
        # rewrite only its last row; a terminal that says it is tiny is not believed.
        columns = shutil.get_terminal_size((80, 24)).columns
        if columns >= 40:
            line = line[: columns - 1]
        self._write(f"\r{line}\x1b[K")
        self._shown = True

    def _write(self, text: str) -> None:
        try:
            try:
                self.stream.write(text)
            except UnicodeEncodeError:
                self.stream.write(text.replace("µ", "u"))
            self.stream.flush()
        except OSError:  # the terminal is gone (SIGHUP): the files still get written
            pass

    def clear(self) -> None:
        """Erase the live line (before the summary takes its place)."""
        if self._shown:
            self._write("\r\x1b[K")
            self._shown = False


# --- output files ------------------------------------------------------------------


def _check_writable(option: str, path: Optional[str]) -> None:
    """Fail now, before any load, if ``path`` cannot be written."""
    if path is None:
        return
    if os.path.isdir(path):
        _fail(f"cannot write {option} {path}: it is a directory; give a file name")
    if os.path.exists(path) and not os.path.isfile(path):
        return  # a device or a pipe (e.g. /dev/stdout): opening it now could block
    existed = os.path.exists(path)
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as error:
        parent = os.path.dirname(os.path.abspath(path))
        if os.path.exists(parent) and not os.path.isdir(parent):
            hint = f"{parent} is not a directory; choose another path"
        elif not os.path.isdir(parent):
            hint = f"create the directory {parent} first, or choose another path"
        else:
            hint = "choose a path you can write to"
        _fail(f"cannot write {option} {path}: {error.strerror or error}; {hint}")
    if not existed:
        os.unlink(path)  # written for real once there is something to write


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)


# --- signals -----------------------------------------------------------------------

_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
# How long the load may take to stop once asked before the CLI gives up on it.
_STOP_TIMEOUT_S = 30.0


class _Interrupted(ServerError):
    """A terminating signal, raised inside the benchmark loop to end it.

    A ServerError, because that is the error on which the warm-up driver keeps the
    execution measured so far (``error.execution``), as it does when the server exits.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


class _Signals:
    """SIGINT, SIGTERM and SIGHUP stop the load, whichever arrives.

    The handler only records the signal while the load loop will look at it soon (a
    plain run polls; a benchmark's progress callback runs every interval), so the
    driver is not interrupted half-way through bookkeeping. Otherwise (a server
    starting, no interval for a while) it raises :class:`_Interrupted` at once. It
    raises at most once: later signals do not interrupt the clean-up.
    """

    def __init__(self, patience_s: Optional[float]) -> None:
        #: Defer to the loop while its last check is younger than this (None: always).
        self.patience_s = patience_s
        self.signum: Optional[int] = None
        self._raised = False
        self._last_check = -1e18
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        for sig in _STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.signum is None:
            self.signum = signum
        if self._raised:
            return
        if self.patience_s is None or time.monotonic() - self._last_check < self.patience_s:
            return
        self._raised = True
        raise _Interrupted(self.signum)

    def disarm(self) -> None:
        """From now on only record signals: the clean-up must not be cut short."""
        self._raised = True

    def check(self) -> None:
        """Raise :class:`_Interrupted` (once) if a signal has arrived."""
        self._last_check = time.monotonic()
        if self.signum is not None and not self._raised:
            self._raised = True
            raise _Interrupted(self.signum)

    @property
    def status(self) -> int:
        return 128 + (self.signum or signal.SIGINT)


# --- a plain run -------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    plan = _plan(args)
    interrupted = False
    progress = _Progress(args.quiet)
    with _Signals(patience_s=None) as signals:
        handle = start(plan)
        # Kept for the JSON (runs merge interval by interval) and the HTML plots, and
        # only when one of them is asked for: a long run without them keeps no series
        # (about 5 KB per interval under PyPy), so its memory stays flat.
        intervals: list[Interval] = []
        keep = bool(args.json or args.html)

        def take() -> None:
            for interval in handle.poll():
                if keep:
                    intervals.append(interval)
                progress(interval.phase, interval)

        with handle:
            result = handle.wait(0.1)
            while result is None and signals.signum is None:
                take()
                result = handle.wait(0.1)
            take()
            progress.clear()
            if result is None:
                interrupted = True
                handle.stop()
                result = handle.wait(_STOP_TIMEOUT_S)
                if result is None:
                    _say(
                        f"{_PROG}: error: the load did not stop within {_STOP_TIMEOUT_S:.0f} s "
                        f"of {signal.Signals(signals.status - 128).name}; nothing written"
                    )
                    os._exit(signals.status)  # joining its threads could hang as well
    if interrupted:
        result = dataclasses.replace(result, stopped_by="interrupted")
    result = dataclasses.replace(result, interval_series=tuple(intervals))
    for option, path, write in (
        ("--json", args.json, lambda out: _write(out, result.to_json() + "\n")),
        ("--html", args.html, lambda out: _write_html(result, out, intervals=intervals)),
    ):
        if not path:
            continue
        try:
            write(path)
        except OSError as error:
            _print(result.format())
            _fail(f"cannot write {option} {path}: {error.strerror or error}")
    _print(result.format())
    if interrupted:
        _say(f"{_PROG}: interrupted by {signal.Signals(signals.status - 128).name}")
        return signals.status
    return 0


# --- a benchmark -------------------------------------------------------------------


def _partial(bench: Any, error: BaseException) -> Any:
    """The executions finished and the one ``error`` stopped, as a BenchmarkResult, or None.

    Built from what the driver keeps public: the finished executions
    (``Benchmark.result()``) and the execution a ServerError carries (other errors
    carry none: only the finished executions are kept then).
    """
    from ._benchmark import BenchmarkResult

    stopped = getattr(error, "execution", None)
    try:
        done: Optional[BenchmarkResult] = bench.result()
    except RunError:  # no execution finished
        done = None
    if done is None and stopped is None:
        return None
    if done is None:
        return BenchmarkResult(
            executions=(stopped,),
            classification="no steady state",
            steady={},
            confidence=bench.confidence,
            warmup=bench.settings,
            measure_s=bench.measure_s,
            plan=bench.plan.to_dict(),
            environment=bench.environment(),
        )
    if stopped is None:
        return done
    # The estimates stay those of the finished executions: a stopped one is not steady.
    return dataclasses.replace(done, executions=done.executions + (stopped,))


def _benchmark(args: argparse.Namespace, start: Optional[Any] = None) -> int:
    from ._benchmark import Benchmark, Warmup
    from ._server import Server

    server: Optional[Server] = None
    try:
        plan = _plan(args)
        if (args.pypylog or args.hotspot_log) and not args.server:
            _fail(
                "--pypylog and --hotspot-log need --server: cannonade can only log a server "
                "it starts"
            )
        server = (
            Server(args.server, pypylog=args.pypylog or None, hotspot_log=args.hotspot_log)
            if args.server
            else None
        )
        warmup = Warmup(
            min_s=args.warmup_min,
            max_s=args.warmup_max,
            steady_window_s=args.window,
            interval_s=args.interval,
            **({"metrics": args.watch} if args.watch else {}),
        )
        signals = _Signals(patience_s=2 * plan.interval_s + 1.0)
        shown = _Progress(args.quiet)

        def progress(phase: str, interval: Interval, sample: object) -> None:
            shown(phase, interval, sample)
            signals.check()

        bench = Benchmark(
            plan,
            server,
            warmup=warmup,
            measure_s=args.measure,
            executions=args.executions,
            progress=progress,
            start=start,  # --mpi: rank 0's split runs, merged over the ranks
        )
        stopped: Optional[CannonadeError] = None
        with signals:
            try:
                with bench:
                    try:
                        result = bench.run()
                    except CannonadeError as error:  # the server exited, a signal came...
                        stopped = error
                        result = _partial(bench, error)
                        if result is None:
                            raise
            finally:
                shown.clear()
                signals.disarm()
                # The driver stops the server; this covers a signal that lands between
                # the server's start and the load's.
                if server is not None:
                    server.stop()
    except _Interrupted as error:  # before anything was measured
        _say(f"{_PROG}: {error}; nothing was measured")
        return 128 + error.signum
    except (CannonadeError, ValueError) as error:
        _fail(str(error))
    if stopped is not None:
        result = dataclasses.replace(
            result,
            stopped_by="interrupted" if isinstance(stopped, _Interrupted) else "error",
            error=str(stopped),
        )
    try:
        if args.json:
            _write(args.json, result.to_json() + "\n")
        if args.hlog:
            result.write_hlog(args.hlog)
        if args.html:
            _write_html(result, args.html)
    except OSError as error:
        _print(result.format())
        _fail(f"cannot write {error.filename}: {error.strerror or error}")
    _print("")
    _print(result.format())
    if isinstance(stopped, _Interrupted):
        _say(f"{_PROG}: {stopped}")
        return 128 + stopped.signum
    if stopped is not None:
        _say(f"{_PROG}: error: {' '.join(str(stopped).split())}")
        return 2
    return 0


# --- saved results -------------------------------------------------------------------


def _load(path: str) -> Any:
    """A saved run (Result) or benchmark (BenchmarkResult); one line if it is bad."""
    from ._load import load

    try:
        return load(path)
    except OSError as error:
        _fail(f"cannot read {path}: {error.strerror or error}")
    except ResultError as error:
        _fail(str(error))


def _report(args: argparse.Namespace) -> int:
    if args.html and len(args.files) != 1:
        _fail("report --html takes one FILE")
    results = [(path, _load(path)) for path in args.files]
    for path, result in results:
        if len(results) > 1:
            _print(f"== {path}")
        _print(result.format())
        if args.html:
            _write_html(result, args.html, source=os.path.basename(path))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from ._benchmark import BenchmarkResult, compare
    from ._html import _ratios, write_compare_html

    a, b = _load(args.a), _load(args.b)
    labels = (os.path.basename(args.a), os.path.basename(args.b))
    if isinstance(a, BenchmarkResult) and isinstance(b, BenchmarkResult):
        try:
            comparison = compare(a, b, labels=labels)
        except CannonadeError as error:
            _say(f"{_PROG}: no bootstrap comparison: {error}; plain ratios follow")
        else:
            if not comparison.metrics:
                _fail(f"{args.a} and {args.b} have no metric in common to compare")
            _print(
                f"b = {labels[1]} against a = {labels[0]}: benchmarks, so b/a of the steady-state "
                f"means with bootstrap confidence intervals over the measured intervals of "
                f"the steady executions (cannonade.compare)"
            )
            _print(comparison.format())
            if args.html:
                write_compare_html(a, b, args.html, labels=labels)
            return 0
    rows, note = _ratios(a, b, labels)
    if not rows:
        _fail(f"{args.a} and {args.b} have no metric in common to compare")
    _print(f"b = {labels[1]} against a = {labels[0]}; {note}")
    for row in rows:
        interval = f"  [{row['low']:.3f}, {row['high']:.3f}]" if row.get("low") is not None else ""
        verdict = {True: "  significant", False: "  not significant"}.get(row["significant"], "")
        ratio = "n/a" if row["ratio"] is None else f"{row['ratio']:.3f}"
        _print(f"  {row['metric']:<14} b/a {ratio}{interval}{verdict}")
    if args.html:
        write_compare_html(a, b, args.html, labels=labels)
    return 0


def _merge_files(args: argparse.Namespace) -> int:
    from ._merge import merge, merge_note
    from ._result import Result

    if len(args.files) < 2:
        _fail("merge takes two or more FILEs")
    results = []
    for path in args.files:
        result = _load(path)
        if not isinstance(result, Result):
            _fail(
                f"cannot merge {path}: it is a benchmark; its executions were each warmed up "
                f"and judged on their own, so only runs merge (compare benchmarks instead)"
            )
        results.append(result)
    try:
        merged = merge(results, labels=args.files)
    except ResultError as error:
        _fail(str(error))
    try:
        _write(args.output, merged.to_json() + "\n")
    except OSError as error:
        _fail(f"cannot write -o {args.output}: {error.strerror or error}")
    _print(f"{merge_note(results, merged)}; written to {args.output}")
    _print(merged.format())
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "merge":
        _check_writable("-o", args.output)
        return _merge_files(args)
    if args.command in ("report", "compare"):
        _check_writable("--html", args.html)
        return _report(args) if args.command == "report" else _compare(args)
    benchmark = bool(args.warmup or args.server)
    if args.netns and not args.mpi:
        _fail("--netns belongs to --mpi (one namespace per rank)")
    if args.mpi:
        from ._mpi import cli_run

        return cli_run(args, benchmark)
    if not benchmark and (args.hlog or args.pypylog or args.hotspot_log or args.watch):
        _fail(
            "--hlog, --pypylog, --hotspot-log and --watch belong to a benchmark: add --warmup or "
            "--server CMD"
        )
    _check_writable("--json", args.json)
    _check_writable("--hlog", args.hlog)
    _check_writable("--html", args.html)
    try:
        if benchmark:
            return _benchmark(args)
        return _run(args)
    except CannonadeError as error:
        _fail(str(error))
    except KeyboardInterrupt:  # Ctrl-C before the handlers were in place: nothing ran yet
        _say(f"{_PROG}: interrupted by SIGINT; nothing was measured")
        return 130
