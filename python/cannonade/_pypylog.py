"""GC and JIT events of a PyPy server, from its ``PYPYLOG`` file, on the ``time.monotonic()`` line.

PyPy writes a log when the ``PYPYLOG`` environment variable names a file. In
*conditional* mode, ``PYPYLOG=prefix1,prefix2:FILE``, it logs the sections whose
names start with one of the prefixes, with their nested ``debug_print`` lines::

    [2d2c0e8a1b3f] {gc-minor
    [2d2c0e8a1d02] {gc-minor-walkroots
    [2d2c0e8a2210] gc-minor-walkroots}
    minor collect, total memory used: 430752
    [2d2c0e8a6c9c] gc-minor}

The hexadecimal number is the time the section started or stopped. Its unit is
reported by ``__pypy__.debug_get_timestamp_unit()``: on x86-64 it is ``"tsc"``,
the processor's time-stamp counter (``rdtsc``), which ticks at a constant rate on
every core (the ``constant_tsc``/``nonstop_tsc`` CPU flags; Linux then uses it as
its clock source). Its relation to ``time.monotonic()`` is therefore a straight
line, which :class:`ClockProbe` measures by reading both clocks side by side in a
PyPy process (this one, if it is PyPy; otherwise a short-lived ``pypy -S -c``)
at two moments a fraction of a second apart. Measured on an x86-64 VM, 0.25 s
apart: each reading pins the pair to within about 0.15 µs, and the line predicts
``time.monotonic()`` from the counter to within 0.2 µs ten seconds later (0.02
ppm). Checked end to end (``tests/test_pypylog.py``): a PyPy script brackets
``__pypy__.debug_start``/``debug_stop`` markers and ``gc.collect()`` calls with
``time.monotonic()`` readings; calibrated from another process before the
script ran, every logged event fell inside its bracket (brackets about 20 µs
wide, over 30 s). Over long runs the remaining error is the NTP slew of
``CLOCK_MONOTONIC`` against the counter, typically a few ppm (a few
milliseconds per 1000 s).

On other Unix platforms PyPy logs ``clock_gettime(CLOCK_THREAD_CPUTIME_ID)``
nanoseconds (unit ``"ns"``): thread CPU time, which cannot be placed on a wall
clock, so :class:`ClockProbe` refuses it.

Do not use PYPYLOG's *profiling* mode (``PYPYLOG=FILE`` without a colon, or
``+FILE``): it pins the whole process to CPU 0 (``sched_setaffinity``), which
distorts any benchmark. :func:`pypylog_value` always builds a conditional one.

Sections worth knowing in PyPy 7.3.11 (nesting shown by indentation):

``gc-minor`` (nested: ``gc-minor-walkroots``)
    A minor collection (nursery); a pause of typically 10 µs to 1 ms, hundreds to
    thousands per second in a busy server.
``gc-collect-step`` (nested, once per cycle: ``gc-collect-done``)
    One step of the incremental major collection; each step is a pause. A cycle
    (``gc-collect-done``) ends after many steps; ``gc.collect()`` runs all of them.
``jit-tracing`` (nested: ``jit-optimize``, ``jit-backend``, ``jit-log-*``, ...)
    Tracing, optimising and compiling one loop or bridge: the JIT's pause. A
    ``gc-minor`` may be nested inside it.
``jit-summary``
    Printed once, at a clean exit (not after SIGKILL): totals such as
    ``Tracing: 2 0.013489`` (count, seconds) and ``Backend: 2 0.010052``.
``jit-backend-dump``, ``jit-log-opt-loop``, ...
    Machine code and traces; bulky, not needed here.

:data:`DEFAULT_SECTIONS` (``gc-minor``, ``gc-collect``, ``jit-tracing``,
``jit-summary``) is what the per-interval summary uses. Cost: PyPy flushes the
file at every section stop, about 2.4 µs per logged section here, so about 5 µs
per minor collection (``gc-minor`` always brings its nested
``gc-minor-walkroots``, whose flush, about 2.5 µs, is inside the measured
``gc-minor`` duration). A Twisted echo server at 30 000 requests/s on 2 cores
made about 2 400 minor collections, 25 major steps and 600 kB of log per
second: about 1% of a core, below the run-to-run noise of throughput. Without
``gc-minor`` the cost is negligible (tens of sections per second).
"""

from __future__ import annotations

import bisect
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

from ._errors import CannonadeError

__all__ = [
    "DEFAULT_SECTIONS",
    "ClockPoint",
    "ClockProbe",
    "EventStats",
    "IntervalEvents",
    "JitSummary",
    "PypyClock",
    "PypyLog",
    "PypyLogEvent",
    "PypyLogReader",
    "find_pypy",
    "parse_pypylog",
    "pypylog_value",
    "summarize_intervals",
]

DEFAULT_SECTIONS: tuple[str, ...] = ("gc-minor", "gc-collect", "jit-tracing", "jit-summary")
"""Section prefixes logged by default: GC pauses, JIT compilation, the JIT totals at exit."""

GC_MINOR = "gc-minor"
"""Section name of a minor collection."""
GC_MAJOR_STEP = "gc-collect-step"
"""Section name of one step of the incremental major collection."""
GC_MAJOR_DONE = "gc-collect-done"
"""Section name logged (inside a step) when a major collection cycle completes."""
JIT_TRACING = "jit-tracing"
"""Section name of tracing and compiling one loop or bridge."""
JIT_SUMMARY = "jit-summary"
"""Section name of the totals PyPy prints at exit."""

# One section start ("[hex] {name") or stop ("[hex] name}") per line.
_MARKER = re.compile(r"^\[([0-9a-fA-F]+)\] (\{)?([^\s{}\[\]]+)(\})?$", re.MULTILINE)
_SECTION_NAME = re.compile(r"[A-Za-z0-9_.-]+\Z")
_READ_CHUNK = 1 << 24


def pypylog_value(sections: Iterable[str], path: Union[str, os.PathLike[str]]) -> str:
    """The ``PYPYLOG`` value that logs ``sections`` (name prefixes) into ``path``.

    Always the conditional form ``prefix1,prefix2:path`` (the profiling form would
    pin the process to one CPU). A prefix selects every section whose name starts
    with it, so ``gc-collect`` selects ``gc-collect-step`` and ``gc-collect-done``.

    Raises:
        ValueError: No section, a section name with characters PyPy would
            misread (``,`` ``:`` spaces), or a path containing ``%d`` (PyPy would
            replace it with the process id, and the reader would not find the file).
    """
    names = list(sections)
    if not names:
        raise ValueError("PYPYLOG needs at least one section prefix, e.g. 'gc-minor'")
    for name in names:
        if not _SECTION_NAME.match(name):
            raise ValueError(
                f"invalid PYPYLOG section prefix {name!r}: use letters, digits and '-_.'"
            )
    text = os.fspath(path)
    if "%d" in text:
        raise ValueError(f"PYPYLOG path {text!r} must not contain '%d'")
    return f"{','.join(names)}:{text}"


# --- clock --------------------------------------------------------------------

# Run by a PyPy interpreter, in a subprocess (``pypy -S -E -c``) or in this process
# when it is PyPy. Each point is the narrowest of N (ticks, monotonic, ticks)
# brackets, so a reading interrupted by the scheduler is discarded.
_PROBE_SOURCE = r"""
import sys
import time

import __pypy__


def point(count=200):
    read = __pypy__.debug_read_timestamp
    mono = time.monotonic
    best = None
    for _ in range(count):
        before = read()
        now = mono()
        after = read()
        if best is None or after - before < best[2]:
            best = ((before + after) // 2, now, after - before)
    return best


if __name__ == "__main__":
    print(__pypy__.debug_get_timestamp_unit())
    print(*point())
    sys.stdout.flush()
    time.sleep(float(sys.argv[1]))
    print(*point())
"""


@dataclass(frozen=True)
class ClockPoint:
    """One simultaneous reading of PyPy's log clock and ``time.monotonic()``.

    Attributes:
        ticks: The log clock (``__pypy__.debug_read_timestamp()``).
        monotonic_s: ``time.monotonic()`` read in between.
        window_ticks: Ticks between the two log-clock readings bracketing
            ``monotonic_s``: the reading's uncertainty.
    """

    ticks: int
    monotonic_s: float
    window_ticks: int


@dataclass(frozen=True)
class PypyClock:
    """Converts PyPy log timestamps to ``time.monotonic()`` seconds (a straight line).

    Attributes:
        unit: PyPy's name of the timestamp unit (``"tsc"`` on x86-64).
        ticks_per_s: Rate of the log clock.
        ref_ticks: A log-clock reading ...
        ref_s: ... and the ``time.monotonic()`` value at that moment.
    """

    unit: str
    ticks_per_s: float
    ref_ticks: int
    ref_s: float

    def to_monotonic(self, ticks: int) -> float:
        """The ``time.monotonic()`` value at log timestamp ``ticks``."""
        return self.ref_s + (ticks - self.ref_ticks) / self.ticks_per_s

    def to_seconds(self, ticks: int) -> float:
        """A duration of ``ticks`` log-clock ticks, in seconds."""
        return ticks / self.ticks_per_s

    @classmethod
    def from_points(cls, first: ClockPoint, last: ClockPoint, unit: str = "tsc") -> PypyClock:
        """The line through two readings; the farther apart, the better the rate.

        Raises:
            CannonadeError: The readings are too close together (under 1 ms) or
                the clock did not advance.
        """
        span_s = last.monotonic_s - first.monotonic_s
        span_ticks = last.ticks - first.ticks
        if span_s < 0.001 or span_ticks <= 0:
            raise CannonadeError(
                f"cannot calibrate the PYPYLOG clock from readings {span_s * 1e3:.3f} ms and "
                f"{span_ticks} ticks apart"
            )
        return cls(unit, span_ticks / span_s, last.ticks, last.monotonic_s)

    @classmethod
    def measure(cls, pypy: Optional[str] = None, span_s: float = 0.25) -> PypyClock:
        """Calibrate now, blocking for about ``span_s`` (see :class:`ClockProbe`)."""
        return ClockProbe(pypy, span_s).result()


def find_pypy(candidates: Sequence[str] = ()) -> Optional[str]:
    """A PyPy interpreter to read the log clock with, or ``None`` (this one if it is PyPy).

    ``candidates`` are tried first (a name is looked up on ``PATH``; a file counts
    as PyPy if its resolved name contains ``pypy``), then ``pypy3`` and ``pypy``
    on ``PATH``. Returns ``sys.executable`` when running on PyPy.
    """
    if sys.implementation.name == "pypy":
        return sys.executable
    for candidate in [*candidates, "pypy3", "pypy"]:
        found = shutil.which(candidate)
        if found and "pypy" in os.path.basename(os.path.realpath(found)).lower():
            return found
    return None


class ClockProbe:
    """Measures a :class:`PypyClock` in the background; :meth:`result` collects it.

    Takes one reading now and one at least ``span_s`` later. In a PyPy process the
    readings are taken here (``result()`` sleeps only for what is left of
    ``span_s``); otherwise a PyPy subprocess takes both (about 60 ms of start-up
    plus ``span_s``), so a server can start meanwhile.

    Args:
        pypy: The PyPy interpreter for the subprocess; default :func:`find_pypy`.
            Any PyPy on this machine will do: the time-stamp counter is machine-wide.
        span_s: Minimum time between the two readings (0.25 s gives a rate good
            to about 0.1 ppm).

    Raises:
        CannonadeError: No PyPy interpreter found, the probe failed, or the log
            clock is not the time-stamp counter (see the module documentation).
    """

    def __init__(self, pypy: Optional[str] = None, span_s: float = 0.25) -> None:
        self._span_s = span_s
        self._first: Optional[ClockPoint] = None
        self._process: Optional[subprocess.Popen[str]] = None
        self._clock: Optional[PypyClock] = None
        if pypy is None and sys.implementation.name == "pypy":
            namespace: dict[str, object] = {"__name__": "cannonade_clock_probe"}
            exec(_PROBE_SOURCE, namespace)
            self._point = namespace["point"]
            self._unit = _check_unit(_in_process_unit())
            self._first = self._read_here()
            return
        interpreter = pypy or find_pypy()
        if interpreter is None:
            raise CannonadeError(
                "cannot calibrate the PYPYLOG clock: no PyPy interpreter found (pass pypy=...)"
            )
        self._interpreter = interpreter
        try:
            self._process = subprocess.Popen(
                [interpreter, "-S", "-E", "-c", _PROBE_SOURCE, repr(float(span_s))],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as error:
            raise CannonadeError(
                f"cannot calibrate the PYPYLOG clock with {interpreter}: {error}"
            ) from None

    def _read_here(self) -> ClockPoint:
        ticks, now, window = self._point()  # type: ignore[operator]
        return ClockPoint(int(ticks), float(now), int(window))

    def result(self, timeout_s: float = 30.0) -> PypyClock:
        """The calibrated clock; waits for the second reading if needed."""
        if self._clock is not None:
            return self._clock
        if self._process is None:
            assert self._first is not None
            left = self._span_s - (time.monotonic() - self._first.monotonic_s)
            if left > 0:
                time.sleep(left)
            self._clock = PypyClock.from_points(self._first, self._read_here(), self._unit)
            return self._clock
        try:
            out, err = self._process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.close()
            raise CannonadeError(
                f"cannot calibrate the PYPYLOG clock: {self._interpreter} did not answer "
                f"within {timeout_s:g} s"
            ) from None
        lines = out.split("\n")
        if self._process.returncode != 0 or len(lines) < 3:
            raise CannonadeError(
                f"cannot calibrate the PYPYLOG clock: {self._interpreter} is not a working "
                f"PyPy (exit status {self._process.returncode}): {(err or out).strip()[-500:]}"
            )
        unit = _check_unit(lines[0].strip())
        first, last = (_parse_point(line) for line in lines[1:3])
        self._clock = PypyClock.from_points(first, last, unit)
        return self._clock

    def close(self) -> None:
        """Abandon a pending measurement (kills the subprocess, if any)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.communicate()


def _in_process_unit() -> str:
    import __pypy__  # type: ignore[import-not-found]

    return str(__pypy__.debug_get_timestamp_unit())


def _check_unit(unit: str) -> str:
    if unit != "tsc":
        raise CannonadeError(
            f"cannot place PYPYLOG timestamps on the time.monotonic() line: this PyPy logs "
            f"{unit!r} timestamps (on Linux other than x86-64 that is thread CPU time); "
            f"only 'tsc' (x86-64) is supported"
        )
    return unit


def _parse_point(line: str) -> ClockPoint:
    ticks, now, window = line.split()
    return ClockPoint(int(ticks), float(now), int(window))


# --- events ---------------------------------------------------------------------


@dataclass(frozen=True)
class PypyLogEvent:
    """One completed section of the log.

    Attributes:
        name: The section name, e.g. ``gc-minor``.
        start_s: When it started, in ``time.monotonic()`` seconds.
        duration_s: How long it lasted, nested sections included.
        depth: Nesting level (0: top level).
        parent: Name of the enclosing section, if any.
    """

    name: str
    start_s: float
    duration_s: float
    depth: int = 0
    parent: Optional[str] = None

    @property
    def end_s(self) -> float:
        """When it stopped, in ``time.monotonic()`` seconds."""
        return self.start_s + self.duration_s


@dataclass(frozen=True)
class JitSummary:
    """The ``jit-summary`` section PyPy prints at a clean exit.

    Attributes:
        tracing_count: Loops and bridges traced.
        tracing_s: Time spent tracing (and optimising), seconds.
        backend_count: Loops and bridges compiled to machine code.
        backend_s: Time spent in the backend, seconds.
        total_s: PyPy's ``TOTAL``: the process's run time, seconds.
        values: Every line as name -> numbers (``"ops"``: ``(459.0,)``,
            ``"abort: trace too long"``: ``(0.0,)``, ...).
    """

    tracing_count: int
    tracing_s: float
    backend_count: int
    backend_s: float
    total_s: float
    values: dict[str, tuple[float, ...]] = field(default_factory=dict)

    @classmethod
    def parse(cls, lines: Iterable[str]) -> JitSummary:
        """Parse the lines between ``{jit-summary`` and ``jit-summary}``."""
        values: dict[str, tuple[float, ...]] = {}
        for line in lines:
            name, sep, rest = line.rpartition(":")
            if not sep:
                continue
            try:
                numbers = tuple(float(word) for word in rest.split())
            except ValueError:
                continue
            if numbers:
                values[name.strip()] = numbers

        def pair(key: str) -> tuple[int, float]:
            found = values.get(key, ())
            if len(found) >= 2:
                return int(found[0]), found[1]
            return 0, 0.0

        tracing_count, tracing_s = pair("Tracing")
        backend_count, backend_s = pair("Backend")
        total = values.get("TOTAL", (0.0,))
        return cls(tracing_count, tracing_s, backend_count, backend_s, total[-1], values)


@dataclass(frozen=True)
class PypyLog:
    """Everything parsed from a log at once (see :func:`parse_pypylog`).

    Attributes:
        events: Completed sections, in the order they stopped.
        unfinished: Sections started but not (yet) stopped: (name, start_s).
        jit_summary: The JIT totals, if the process exited cleanly.
    """

    events: list[PypyLogEvent]
    unfinished: list[tuple[str, float]]
    jit_summary: Optional[JitSummary]


class GrowingLog:
    """A log file another process is still writing, read in complete lines.

    Each :meth:`new_lines` yields what was written since the previous call, in chunks
    of whole lines; a partial last line (the writer is mid-line, or died there) is
    left for the next call. A missing file reads as empty; a file that shrank (the
    writer started again) is read again from the start, after ``restart()``. Shared
    by the PyPy and HotSpot log readers.

    Args:
        path: The file.
        chunk_size: Bytes read at a time; a line longer than that is skipped.
    """

    def __init__(self, path: Path, chunk_size: int) -> None:
        self.path = path
        self._chunk_size = chunk_size
        self._offset = 0

    def new_lines(self, restart: Callable[[], None]) -> Iterator[bytes]:
        """Chunks of complete lines written since the previous call."""
        try:
            log = open(self.path, "rb")
        except FileNotFoundError:
            return
        with log:
            if os.fstat(log.fileno()).st_size < self._offset:
                self._offset = 0
                restart()
            log.seek(self._offset)
            while True:
                chunk = log.read(self._chunk_size)
                if not chunk:
                    return
                end = chunk.rfind(b"\n") + 1
                if end == 0:
                    # No complete line in this chunk: the line is longer, or partial.
                    if len(chunk) < self._chunk_size:
                        return
                    end = len(chunk)  # a pathological line: skip it
                yield chunk[:end]
                self._offset += end
                log.seek(self._offset)


class PypyLogReader:
    """Reads a growing PYPYLOG file incrementally: each :meth:`read` returns new events.

    Only complete lines are consumed; a partial last line (the server is still
    writing, or died mid-line) is left for the next read. A missing file reads as
    empty (PyPy creates it at its first logged section); a file that shrank is
    read again from the start.

    Args:
        path: The log file.
        clock: Converts its timestamps (see :class:`ClockProbe`).
    """

    def __init__(self, path: Union[str, os.PathLike[str]], clock: PypyClock) -> None:
        self.path = Path(path)
        self.clock = clock
        self.jit_summary: Optional[JitSummary] = None
        """The JIT totals, once the log contains them (after a clean exit)."""
        self._log = GrowingLog(self.path, _READ_CHUNK)
        self._stack: list[tuple[str, int]] = []
        # Text of a jit-summary section being read: parts so far, and where it
        # continues in the current chunk.
        self._summary_parts: Optional[list[str]] = None
        self._summary_from = 0

    @property
    def unfinished(self) -> list[tuple[str, float]]:
        """Sections started but not stopped so far: (name, start_s), outermost first."""
        return [(name, self.clock.to_monotonic(ticks)) for name, ticks in self._stack]

    def read(self) -> list[PypyLogEvent]:
        """Events completed since the previous call, in the order they stopped."""
        events: list[PypyLogEvent] = []
        for lines in self._log.new_lines(self._restart):
            self._feed(lines.decode("utf-8", "replace"), events)
        return events

    def _restart(self) -> None:
        self._stack.clear()
        self._summary_parts = None

    def _feed(self, text: str, events: list[PypyLogEvent]) -> None:
        """Parse ``text`` (complete lines) and append the events it completes."""
        stack = self._stack
        rate = self.clock.ticks_per_s
        origin_s = self.clock.ref_s - self.clock.ref_ticks / rate
        for marker in _MARKER.finditer(text):
            stamp, opening, name, closing = marker.groups()
            ticks = int(stamp, 16)
            if opening and not closing:
                stack.append((name, ticks))
                if name == JIT_SUMMARY:
                    self._summary_parts = []
                    self._summary_from = marker.end()
            elif closing and not opening:
                # Pop to the matching start; sections left open inside it are dropped.
                for index in range(len(stack) - 1, -1, -1):
                    if stack[index][0] == name:
                        start = stack[index][1]
                        del stack[index:]
                        events.append(
                            PypyLogEvent(
                                name,
                                origin_s + start / rate,
                                (ticks - start) / rate,
                                len(stack),
                                stack[-1][0] if stack else None,
                            )
                        )
                        break
                if name == JIT_SUMMARY and self._summary_parts is not None:
                    self._summary_parts.append(text[self._summary_from : marker.start()])
                    self.jit_summary = JitSummary.parse("".join(self._summary_parts).split("\n"))
                    self._summary_parts = None
        if self._summary_parts is not None:  # continues in the next chunk
            self._summary_parts.append(text[self._summary_from :])
            self._summary_from = 0


def parse_pypylog(path: Union[str, os.PathLike[str]], clock: PypyClock) -> PypyLog:
    """Parse a whole PYPYLOG file (tolerates a truncated last line)."""
    reader = PypyLogReader(path, clock)
    events = reader.read()
    return PypyLog(events, reader.unfinished, reader.jit_summary)


# --- per-interval summary -------------------------------------------------------


@dataclass(frozen=True)
class EventStats:
    """Count and durations of one kind of event in one interval.

    Attributes:
        count: How many started in the interval.
        total_s: Their summed duration (an event is counted whole where it started).
        max_s: The longest one (0.0 if none).
    """

    count: int = 0
    total_s: float = 0.0
    max_s: float = 0.0

    def add(self, duration_s: float) -> EventStats:
        """These statistics with one more event."""
        return EventStats(self.count + 1, self.total_s + duration_s, max(self.max_s, duration_s))


@dataclass(frozen=True)
class IntervalEvents:
    """GC and JIT activity in one interval ``[start_s, end_s)`` of ``time.monotonic()``.

    Attributes:
        start_s: Interval start.
        end_s: Interval end.
        gc_minor: ``gc-minor`` sections (minor collections).
        gc_major: ``gc-collect-step`` sections (steps of the incremental major GC).
        gc_major_done: Major collection cycles completed (``gc-collect-done``).
        jit: ``jit-tracing`` sections (tracing and compiling, backend included).
    """

    start_s: float
    end_s: float
    gc_minor: EventStats = EventStats()
    gc_major: EventStats = EventStats()
    gc_major_done: int = 0
    jit: EventStats = EventStats()

    @property
    def gc_pause_s(self) -> float:
        """Minor plus major collection time in the interval."""
        return self.gc_minor.total_s + self.gc_major.total_s


def by_interval(events: Iterable[Any], boundaries: Sequence[float]) -> tuple[list[float], list]:
    """The boundaries as a list, and ``(index, event)`` for each event that started in
    interval ``index``, ``[boundaries[index], boundaries[index + 1])`` (one crossing a
    boundary counts whole in the first; events outside all intervals are left out).
    Shared by the PyPy and HotSpot summaries. ValueError unless the boundaries increase.
    """
    edges = list(boundaries)
    if any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError("interval boundaries must be strictly increasing")
    count = max(len(edges) - 1, 0)
    if not edges:
        edges = [0.0]
    placed = []
    for event in events if count else ():
        index = bisect.bisect_right(edges, event.start_s) - 1
        if 0 <= index < count:
            placed.append((index, event))
    return edges, placed


def summarize_intervals(
    events: Iterable[PypyLogEvent], boundaries: Sequence[float]
) -> list[IntervalEvents]:
    """GC and JIT statistics per interval.

    Args:
        events: Events from :class:`PypyLogReader` or :func:`parse_pypylog`.
        boundaries: Increasing ``time.monotonic()`` values; ``n + 1`` of them give
            ``n`` intervals ``[boundaries[i], boundaries[i + 1])``.

    An event belongs to the interval in which it started (a pause crossing a
    boundary counts whole in the first). Events outside all intervals are ignored.
    A ``gc-minor`` nested inside ``jit-tracing`` counts in both ``gc_minor`` and
    (as part of its duration) ``jit``.

    Raises:
        ValueError: Boundaries not increasing.
    """
    edges, placed = by_interval(events, boundaries)
    count = len(edges) - 1
    minor = [EventStats() for _ in range(count)]
    major = [EventStats() for _ in range(count)]
    jit = [EventStats() for _ in range(count)]
    done = [0] * count
    if count:
        for index, event in placed:
            if event.name == GC_MINOR:
                minor[index] = minor[index].add(event.duration_s)
            elif event.name == GC_MAJOR_STEP:
                major[index] = major[index].add(event.duration_s)
            elif event.name == GC_MAJOR_DONE:
                done[index] += 1
            elif event.name == JIT_TRACING:
                jit[index] = jit[index].add(event.duration_s)
    return [
        IntervalEvents(edges[i], edges[i + 1], minor[i], major[i], done[i], jit[i])
        for i in range(count)
    ]
