"""HotSpot's own word on its JIT: compilations read from the JVM's unified log, per interval.

The JVM is started with :func:`xlog_option`::

    -Xlog:jit+compilation=debug,compilation+codecache=debug:file=PATH:timenanos,tid,tags:filecount=0

and :class:`HotSpotLogReader` reads the growing file while the load runs. Two kinds of
line matter (JDK 11 to 21 print them alike):

- ``jit+compilation`` at debug level: one line when a compiler thread *starts* a task
  (the same text as ``-XX:+PrintCompilation``: compile id, attributes ``%sbn!``, tier,
  method, size), and lines for state changes (``made not entrant``, ``COMPILE SKIPPED``,
  ...) that carry a message after the size.
- ``compilation+codecache`` at debug level: the code cache summary a compiler thread
  prints when it has *finished* a task (installed or not).

A task's duration is therefore the time from its start line to the next code cache
summary of the same thread (``tid``): compile plus install, the time a compiler thread
was busy with it. Native-method wrappers (attribute ``n``) are generated on the Java
thread that needs them, print no summary, and count with a duration of zero.

The ``timenanos`` decorator is ``os::javaTimeNanos()``, which on Linux is
``CLOCK_MONOTONIC``: the same clock as Python's ``time.monotonic()``, so the events
need no calibration (unlike PyPy's time-stamp counter, see :mod:`cannonade._pypylog`).
``filecount=0`` turns off the log's rotation, which would otherwise start a new file
every 20 MB.

:func:`summarize_intervals` gives, per interval, a ``jit`` field in the same shape as
the PyPy reader's (:class:`~cannonade._pypylog.EventStats`: count, total and longest
compilation), so "the JIT went quiet" means the same for both runtimes: few or short
compilations started in the interval.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from ._pypylog import EventStats, GrowingLog, by_interval

__all__ = [
    "DECORATORS",
    "TAGS",
    "HotSpotCompile",
    "HotSpotIntervalEvents",
    "HotSpotLogReader",
    "HotSpotStateChange",
    "parse_hotspot_log",
    "summarize_intervals",
    "xlog_option",
]

TAGS = "jit+compilation=debug,compilation+codecache=debug"
"""What is logged: compilation starts and state changes, and the end-of-task summaries."""

DECORATORS = "timenanos,tid,tags"
"""What each line is prefixed with: monotonic time (ns), thread id, tag set."""

_READ_CHUNK = 1 << 20
# [831312941308ns][30145][jit,compilation      ] text
_LINE = re.compile(rb"^\[(\d+)ns\]\[(\d+)\]\[([a-z0-9_,]+)\s*\]\s?(.*)$")
# "   22   %  4       java.lang.Foo::bar @ 12 (166 bytes)   made not entrant"
_TASK = re.compile(
    r"^\s*(?P<id>\d+)\s(?P<attrs>[ %sbn!]{5})\s*(?P<tier>\d)?\s+(?P<method>\S+)"
    r"(?:\s+@\s+(?P<bci>\d+))?\s+\((?:(?P<bytes>\d+) bytes|native)\)\s*(?P<message>.*)$"
)
_JIT_COMPILATION = b"jit,compilation"
_CODECACHE = b"compilation,codecache"


def xlog_option(path: Union[str, os.PathLike[str]]) -> str:
    """The ``-Xlog`` option that writes what :class:`HotSpotLogReader` reads to ``path``.

    Raises:
        ValueError: ``path`` contains a character the ``-Xlog`` syntax gives a meaning
            to (``:``, ``,``, ``=``, a quote or whitespace): use another file name.
    """
    text = os.fspath(path)
    bad = sorted({c for c in text if c in ':,="' or c.isspace()})
    if bad or not text:
        raise ValueError(
            f"HotSpot log path {text!r} cannot be given to -Xlog (it contains {bad}): "
            f"choose a path without ':', ',', '=', quotes or spaces"
        )
    return f"-Xlog:{TAGS}:file={text}:{DECORATORS}:filecount=0"


@dataclass(frozen=True)
class HotSpotCompile:
    """One compilation task of the HotSpot JIT.

    Attributes:
        compile_id: HotSpot's task number (a method compiled at several tiers has
            one per tier).
        tier: Compilation level: 1-3 C1, 4 C2, 0 a native wrapper; ``None`` if the
            JVM does not print one (tiered compilation off).
        method: ``package.Class::method``.
        start_s: When the compiler thread took the task, ``time.monotonic()`` seconds.
        duration_s: Until that thread's end-of-task summary (0.0 for native wrappers).
        thread: The OS thread id that compiled it.
        osr: An on-stack-replacement compilation (attribute ``%``).
        native: A native-method wrapper (attribute ``n``).
        bytes: Size of the method's bytecode (0 for native methods).
    """

    compile_id: int
    tier: Optional[int]
    method: str
    start_s: float
    duration_s: float
    thread: int
    osr: bool = False
    native: bool = False
    bytes: int = 0

    @property
    def end_s(self) -> float:
        """When the task ended, in ``time.monotonic()`` seconds."""
        return self.start_s + self.duration_s


@dataclass(frozen=True)
class HotSpotStateChange:
    """A line about compiled code that is not a new task (``made not entrant``, ...).

    Attributes:
        compile_id: The task whose code changed state.
        tier: Its compilation level, if printed.
        method: ``package.Class::method``.
        t_s: When it was logged, ``time.monotonic()`` seconds.
        message: What happened, e.g. ``made not entrant``, ``COMPILE SKIPPED: ...``.
    """

    compile_id: int
    tier: Optional[int]
    method: str
    t_s: float
    message: str


@dataclass(frozen=True)
class _Pending:
    compile_id: int
    tier: Optional[int]
    method: str
    start_ns: int
    osr: bool
    size: int


class HotSpotLogReader:
    """Reads a growing HotSpot log incrementally: each :meth:`read` returns new tasks.

    Only complete lines are consumed; a partial last line is left for the next read.
    A missing file reads as empty (the JVM creates it at start-up); a file that
    shrank is read again from the start.

    Args:
        path: The log file written with :func:`xlog_option`.
    """

    def __init__(self, path: Union[str, os.PathLike[str]]) -> None:
        self.path = Path(path)
        self.state_changes: list[HotSpotStateChange] = []
        """Every state-change line read so far (not cleared by :meth:`read`)."""
        self._log = GrowingLog(self.path, _READ_CHUNK)
        self._pending: dict[int, _Pending] = {}  # thread id -> task being compiled
        self._summary_seen = False

    @property
    def unfinished(self) -> list[tuple[str, float]]:
        """Tasks started but not finished so far: (method, start_s)."""
        return [(p.method, p.start_ns / 1e9) for p in self._pending.values()]

    @property
    def durations_known(self) -> bool:
        """Whether the log has end-of-task summaries (``compilation+codecache``).

        Without them (a JVM started with only ``jit+compilation``) every task's
        duration reads as zero: counts are right, times are not known.
        """
        return self._summary_seen

    def read(self) -> list[HotSpotCompile]:
        """Compilations finished since the previous call, in the order they finished."""
        events: list[HotSpotCompile] = []
        for lines in self._log.new_lines(self._pending.clear):
            for line in lines.split(b"\n"):
                self._feed(line, events)
        return events

    def _feed(self, line: bytes, events: list[HotSpotCompile]) -> None:
        match = _LINE.match(line)
        if match is None:
            return
        stamp, tid_text, tags, text = match.groups()
        t_ns, tid = int(stamp), int(tid_text)
        if tags == _CODECACHE:
            # A summary is one line per code heap (three when the cache is segmented,
            # as with tiered compilation; one "CodeCache:" line otherwise): the first
            # line ends the task, the others find nothing pending.
            self._summary_seen = True
            pending = self._pending.pop(tid, None)
            if pending is not None:
                events.append(self._event(pending, tid, t_ns))
            return
        if tags != _JIT_COMPILATION:
            return
        task = _TASK.match(text.decode("utf-8", "replace"))
        if task is None:
            return
        attrs = task["attrs"]
        tier = int(task["tier"]) if task["tier"] is not None else None
        message = task["message"].strip()
        native = "n" in attrs
        if native:
            # Generated on the calling Java thread at once; "(static)" is not a state.
            events.append(
                HotSpotCompile(
                    int(task["id"]), tier, task["method"], t_ns / 1e9, 0.0, tid, native=True
                )
            )
            return
        if message:
            self.state_changes.append(
                HotSpotStateChange(int(task["id"]), tier, task["method"], t_ns / 1e9, message)
            )
            return
        previous = self._pending.pop(tid, None)
        if previous is not None:
            # No summary came between two starts on one thread: the log has no
            # compilation+codecache lines, so the first task's end is not known.
            events.append(self._event(previous, tid, previous.start_ns))
        self._pending[tid] = _Pending(
            int(task["id"]),
            tier,
            task["method"],
            t_ns,
            "%" in attrs,
            int(task["bytes"] or 0),
        )

    @staticmethod
    def _event(pending: _Pending, tid: int, end_ns: int) -> HotSpotCompile:
        return HotSpotCompile(
            pending.compile_id,
            pending.tier,
            pending.method,
            pending.start_ns / 1e9,
            max(end_ns - pending.start_ns, 0) / 1e9,
            tid,
            osr=pending.osr,
            bytes=pending.size,
        )


def parse_hotspot_log(path: Union[str, os.PathLike[str]]) -> list[HotSpotCompile]:
    """Every finished compilation in a whole log file, in the order they finished."""
    return HotSpotLogReader(path).read()


@dataclass(frozen=True)
class HotSpotIntervalEvents:
    """HotSpot JIT activity in one interval ``[start_s, end_s)`` of ``time.monotonic()``.

    Attributes:
        start_s: Interval start.
        end_s: Interval end.
        jit: Compilations by the compiler threads that started in the interval
            (count, summed and longest duration), the same shape as PyPy's ``jit``.
        c1: Those at tiers 1-3 (the quick compiler).
        c2: Those at tier 4 (the optimising compiler).
        native_wrappers: Native-method wrappers generated in the interval.
    """

    start_s: float
    end_s: float
    jit: EventStats = EventStats()
    c1: EventStats = EventStats()
    c2: EventStats = EventStats()
    native_wrappers: int = 0


def summarize_intervals(
    events: Iterable[HotSpotCompile], boundaries: Sequence[float]
) -> list[HotSpotIntervalEvents]:
    """JIT statistics per interval.

    Args:
        events: Tasks from :class:`HotSpotLogReader` or :func:`parse_hotspot_log`.
        boundaries: Increasing ``time.monotonic()`` values; ``n + 1`` of them give
            ``n`` intervals ``[boundaries[i], boundaries[i + 1])``.

    A compilation belongs to the interval in which it started (one crossing a
    boundary counts whole in the first). Tasks outside all intervals are ignored.

    Raises:
        ValueError: Boundaries not increasing.
    """
    edges, placed = by_interval(events, boundaries)
    count = len(edges) - 1
    jit = [EventStats() for _ in range(count)]
    c1 = [EventStats() for _ in range(count)]
    c2 = [EventStats() for _ in range(count)]
    native = [0] * count
    if count:
        for index, event in placed:
            if event.native:
                native[index] += 1
                continue
            jit[index] = jit[index].add(event.duration_s)
            if event.tier == 4:
                c2[index] = c2[index].add(event.duration_s)
            elif event.tier is not None:
                c1[index] = c1[index].add(event.duration_s)
    return [
        HotSpotIntervalEvents(edges[i], edges[i + 1], jit[i], c1[i], c2[i], native[i])
        for i in range(count)
    ]
