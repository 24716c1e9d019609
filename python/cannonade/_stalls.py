"""Stalls of the machine, as the load generator sees them: time the generator or the
server wanted a CPU and did not get one.

API::

    STALL_LIMIT = 0.1          # share of an interval lost to stalls that makes it a stall

    class StallSampler:
        StallSampler(server_pids: Callable[[], Sequence[int]], *, period_s: float = 0.01)
        start() -> None; stop() -> None
        stalled(edges: Sequence[float]) -> list[Stall]    # one per interval between edges

    @dataclass(frozen=True)
    class Stall:
        generator_s: float     # the generator's worker threads were runnable, not running
        server_s: float        # likewise the server's processes
        share: float           # max of both over the interval's length
        generator_wait_s: float  # mean run-queue wait of a generator thread per wake-up
        server_wait_s: float     # likewise the server's threads

On a shared machine (a 2-core VM with a load average of 3 to 18), a benchmark's
100 ms intervals are not all the server's: for whole intervals the scheduler
can leave the server, or the generator, in its run queue while other programs
run (seen here: a PyPy server runnable and not running for 1.0 s while 16 tasks
competed for 2 cores). Such an interval's throughput and latency measure the
machine, not the server, and a changepoint analysis would take them as the
server's level changes.

A thread of the sampler reads, every ``period_s`` (10 ms), the state (``R``:
runnable) and the CPU time run so far (``/proc/<pid>/task/<tid>/schedstat``,
nanoseconds) of the generator's own worker threads (named ``cannonade-w*``,
in this process) and of every thread of the server's processes. Between two
samples, a process was *stalled* if it was runnable at both (some thread in
state ``R``; a gap in the sampler's own samples, when it did not get a CPU
either, counts when the process was runnable at one end), ran less than a
tenth of that time, and none of its threads was given a CPU meanwhile (the
third field of ``schedstat``, the times a thread was scheduled in, did not
grow: a process that waits a few milliseconds for each of many wake-ups is
slowed, not stalled). Such spans count when they make a stretch of at least
three periods (30 ms), or hold a gap: a process woken on the same timer tick
as the sampler is seen runnable at a sample or two by chance. Summed over an
interval, the larger of the generator's and
the server's stalled time over the interval's length is its ``share``; an
interval with a share above :data:`STALL_LIMIT` (10 %: the smallest level change
the analysis counts) is a stall of the machine. The benchmark driver leaves
stalls out of its analysis (they are kept and reported), and refuses to call a
measurement steady when more than half of it stalled.

Beside the stalls, the sampler reads how long each thread waited in the run queue
(the second field of ``schedstat``) and how often it was scheduled in; per interval,
their ratio is the mean wait of a *wake-up*: ``generator_wait_s`` and
``server_wait_s``. On an idle machine it is microseconds; on this shared VM, with
a CPU-bound process beside the benchmark, milliseconds. Every reply a closed loop
times waits for one wake-up of the server (to send it) and one of the generator
(to read it); the generator's wait is what the generator itself added to the
latency it measured, the benchmark driver's noise floor for a level change
(:func:`cannonade._benchmark.noise_floor`; the server's is its own business: a JIT's
compiler threads make its request threads wait).

Only Linux has ``/proc``; elsewhere, or when the files cannot be read, the
sampler reports no stall.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable, Optional

__all__ = ["STALL_LIMIT", "Stall", "StallSampler"]

#: An interval that lost more than this share of its time to stalls is left out.
STALL_LIMIT = 0.1
#: A span in which a runnable process ran less than this share of it is a stall.
_RAN_LITTLE = 0.1
#: Samples further apart than this many periods are a gap in the sampler itself.
_GAP_PERIODS = 5
#: Fewest consecutive stalled sampling periods that count (a process woken on the same
#: timer tick as the sampler is seen runnable at one sample, even two, by chance).
_MIN_PERIODS = 3

#: One sample of one process: (any thread runnable, CPU time run in ns, times a
#: thread of it was given a CPU, time its threads waited in a run queue in ns).
_Proc = tuple[bool, int, int, int]


def _threads(pid: int, prefix: Optional[str]) -> Optional[_Proc]:
    """Whether a thread of ``pid`` (named ``prefix*`` if given) is runnable, and their
    CPU time; None if the process cannot be read."""
    base = f"/proc/{pid}/task"
    try:
        tids = os.listdir(base)
    except OSError:
        return None
    runnable, ran, slices, waited, seen = False, 0, 0, 0, False
    for tid in tids:
        try:
            if prefix is not None:
                with open(f"{base}/{tid}/comm", encoding="ascii", errors="replace") as f:
                    if not f.read().startswith(prefix):
                        continue
            with open(f"{base}/{tid}/stat", encoding="ascii", errors="replace") as f:
                state = f.read().rpartition(")")[2].split(None, 1)[0]
            with open(f"{base}/{tid}/schedstat", encoding="ascii") as f:
                fields = f.read().split()
            ran += int(fields[0])
            waited += int(fields[1])
            slices += int(fields[2])
        except (OSError, ValueError, IndexError):
            continue
        seen = True
        runnable = runnable or state == "R"
    return (runnable, ran, slices, waited) if seen else None


@dataclass(frozen=True)
class Stall:
    """Stalled time of one interval (seconds), and its share of the interval."""

    generator_s: float
    server_s: float
    share: float
    #: Mean run-queue wait per wake-up of the generator's threads (of the server's).
    generator_wait_s: float = 0.0
    server_wait_s: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {
            "generator_s": self.generator_s,
            "server_s": self.server_s,
            "share": self.share,
            "generator_wait_s": self.generator_wait_s,
            "server_wait_s": self.server_wait_s,
        }


class StallSampler:
    """Samples the generator's and the server's scheduling (see the module docstring)."""

    def __init__(
        self,
        server_pids: Callable[[], Sequence[int]],
        *,
        period_s: float = 0.01,
        generator_prefix: str = "cannonade-w",
    ) -> None:
        self._server_pids = server_pids
        self._period_s = period_s
        self._prefix = generator_prefix
        self._lock = threading.Lock()
        #: (time, generator, server) per sample; a process is None when unreadable.
        self._times: list[float] = []
        self._gen: list[Optional[_Proc]] = []
        self._srv: list[Optional[_Proc]] = []
        #: Every span between two samples: (start, end, generator stalled, server
        #: stalled, a gap in the samples).
        self._spans: list[tuple[float, float, bool, bool, bool]] = []
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._pids: list[int] = []
        self._pids_at = -1.0

    def start(self) -> None:
        if self._thread is not None or not os.path.isdir("/proc/self/task"):
            return
        self._thread = threading.Thread(target=self._loop, name="cannonade-stalls", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)

    def _sample_server(self, now: float) -> Optional[_Proc]:
        if now - self._pids_at >= 1.0:  # the server's processes, once a second
            try:
                self._pids = list(self._server_pids())
            except Exception:  # a server that just exited: keep the old list
                pass
            self._pids_at = now
        runnable, ran, slices, waited, seen = False, 0, 0, 0, False
        for pid in self._pids:
            proc = _threads(pid, None)
            if proc is not None:
                seen = True
                runnable = runnable or proc[0]
                ran += proc[1]
                slices += proc[2]
                waited += proc[3]
        return (runnable, ran, slices, waited) if seen else None

    def _loop(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            now = time.monotonic()
            gen = _threads(me, self._prefix)
            srv = self._sample_server(now)
            with self._lock:
                if self._times:
                    self._add_span(self._times[-1], now, self._gen[-1], gen, self._srv[-1], srv)
                self._times.append(now)
                self._gen.append(gen)
                self._srv.append(srv)
            self._stop.wait(self._period_s)

    def _add_span(
        self,
        t0: float,
        t1: float,
        gen0: Optional[_Proc],
        gen1: Optional[_Proc],
        srv0: Optional[_Proc],
        srv1: Optional[_Proc],
    ) -> None:
        span = t1 - t0
        if span <= 0:
            return
        gap = span > _GAP_PERIODS * self._period_s

        def stalled(a: Optional[_Proc], b: Optional[_Proc]) -> bool:
            if a is None or b is None:
                return False
            wanted = (a[0] and b[0]) or (gap and (a[0] or b[0]))
            # Not given a CPU at all (a thread on one throughout has run the whole span).
            return wanted and b[2] == a[2] and (b[1] - a[1]) < _RAN_LITTLE * span * 1e9

        self._spans.append((t0, t1, stalled(gen0, gen1), stalled(srv0, srv1), gap))

    def _stretches(self, which: int) -> list[tuple[float, float]]:
        """The stalled stretches of one process (2: generator, 3: server): runs of
        consecutive stalled spans lasting ``_MIN_PERIODS`` periods, or a gap."""
        with self._lock:
            spans = list(self._spans)
        out: list[tuple[float, float]] = []
        k = 0
        while k < len(spans):
            if not spans[k][which]:
                k += 1
                continue
            first, gap = k, False
            while k < len(spans) and spans[k][which]:
                gap = gap or spans[k][4]
                k += 1
            lo, hi = spans[first][0], spans[k - 1][1]
            if gap or hi - lo >= (_MIN_PERIODS - 0.5) * self._period_s:
                out.append((lo, hi))
        return out

    def _waits(self, edges: Sequence[float], which: int) -> list[float]:
        """Mean run-queue wait per wake-up (seconds) of one process (1: generator, 2:
        server) in each interval between ``edges``; 0 where it is not known."""
        with self._lock:
            times = list(self._times)
            procs = list(self._gen if which == 1 else self._srv)

        def at(t: float) -> Optional[_Proc]:
            k = bisect_left(times, t)
            for j in (k, k - 1):  # the sample nearest to t that could be read
                if 0 <= j < len(times) and procs[j] is not None:
                    return procs[j]
            return None

        marks = [at(t) for t in edges]
        out = []
        for a, b in zip(marks, marks[1:]):
            if a is None or b is None or b[2] <= a[2] or b[3] < a[3]:
                out.append(0.0)
            else:
                out.append((b[3] - a[3]) / (b[2] - a[2]) / 1e9)
        return out

    def stalled(self, edges: Sequence[float]) -> list[Stall]:
        """Per interval between consecutive ``edges`` (``time.monotonic()`` seconds)."""
        per = [self._stretches(2), self._stretches(3)]
        waits = list(zip(self._waits(edges, 1), self._waits(edges, 2)))
        out = []
        for lo, hi in zip(edges, edges[1:]):
            lost = []
            for stretches in per:
                starts = [a for a, _ in stretches]
                total = 0.0
                k = max(bisect_left(starts, lo) - 1, 0)
                while k < len(stretches) and stretches[k][0] < hi:
                    a, b = stretches[k]
                    total += max(0.0, min(b, hi) - max(a, lo))
                    k += 1
                lost.append(total)
            length = hi - lo
            share = max(lost) / length if length > 0 else 0.0
            gen_wait, srv_wait = waits[len(out)] if len(out) < len(waits) else (0.0, 0.0)
            out.append(Stall(lost[0], lost[1], share, gen_wait, srv_wait))
        return out
