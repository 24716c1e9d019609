"""Load from many generator hosts at once, over MPI.

``mpirun -n K python -m cannonade http URL -c 300 -R 30000 -d 30 --mpi`` (or
:func:`run_mpi` from a script started the same way) runs one generator per rank:

- Rank 0 validates the plan and splits it (:func:`split_plan`): connections, requests
  (``-n``) and idle connections in whole parts, the first ranks taking the remainder;
  the rate and the connection rate in proportion to each rank's connections, so the
  parts add up to the plan. More ranks than connections is refused.
- Rank 0 measures each rank's monotonic clock against its own by ping-pong (the
  exchange with the smallest round trip wins: offset within half of it), then sends
  each rank the start instant on *its own* clock. Every rank sleeps until then and
  starts; how late it started is reported (``start_skew_ns``).
- Each rank polls its run and sends every finished interval (its histogram compressed,
  HdrHistogram V2 deflate, as in the interval log) to rank 0 with a non-blocking send.
  Rank 0 adds interval ``k`` of every rank (:mod:`cannonade._merge`: histograms added,
  counts summed, never averaged) as soon as all have sent it, or when its deadline
  passes (the ranks still missing are reported as behind).
- Phase marks reach every rank at the same interval boundary: a mark is an interval
  index, and each rank marks it 30% of the way into that interval on its own
  run's clock (the engine starts a phase with the interval that finishes next), so no
  rank needs a message to arrive within a boundary's microseconds. Each rank checks the
  index the engine gave back; a rank whose marks landed elsewhere is realigned on rank
  0's boundaries and says so.
- A benchmark (``--warmup``): rank 0 runs the warm-up driver with
  ``Benchmark(start=session.start)``, so it analyses the merged series; the other ranks
  run :meth:`MpiSession.serve` until rank 0 releases them.
- Rank 0 never blocks on another rank once the load runs: it probes for messages and
  keeps deadlines. A rank whose report is late is ``behind``; one with no final report
  by the end (the planned end plus a grace) is ``lost``, named by rank and host, and
  the run ends on time with the others' data. The merged totals are recomputed at the
  end from the complete series of every rank that finished (``merge(..., shares=True)``);
  the ``ranks`` list keeps each rank's own counts, including a lost rank's intervals so
  far.

What Open MPI does when a rank dies: by default mpirun aborts the whole job, rank 0
included. Launch with ``mpirun --enable-recovery`` (as the tests and
docs/distributed.md do) and the other ranks keep running; rank 0 then reports the dead
rank as lost. Without it, the CLI's ``--json FILE`` still keeps what rank 0 merged so
far in ``FILE.partial`` (one merged interval per line, written as they complete).
"""

from __future__ import annotations

import atexit
import dataclasses
import faulthandler
import json
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, Callable, Optional

from ._errors import CannonadeError, PlanError, ResultError, RunError
from ._hlog import add_histograms, decode_histogram, measured_tags, write_interval_log
from ._merge import _interval as _merge_interval
from ._merge import _span as _merge_span
from ._merge import merge
from ._plan import Plan
from ._result import Interval, Phase, Rank, Result
from ._run import Run, start_json

__all__ = ["MpiSession", "run_mpi", "split_plan"]

_DATA = 11  # a rank to rank 0: ("intervals", [interval dicts]) then ("final", {...})
_CTRL = 12  # rank 0 to a rank: ("mark", name, index) or ("stop",)
_CLOCK = 13  # the ping-pong
_SETUP = 14  # rank 0 to a rank: the shares, an error, or ("released",)
_BYE = 15  # rank 0 to a rank, from finalize(): rank 0 is done, MPI may end
#: How long rank 0 waits for a rank's answer during the set-up, before any load.
_SETUP_WAIT_S = 30.0
_PINGS = 8
#: How often a rank polls its run and its messages: this, or a tenth of an interval.
_POLL_S = 0.05
#: A mark is made this far into its interval (the engine's interval starts a little
#: after the rank's start instant, and a late message still has the rest of it).
_MARK_AT = 0.3
#: An interval is late once its deadline (its end plus this many intervals, and at least
#: _LATE_MIN_S) has passed on rank 0's clock.
_LATE_INTERVALS = 2.0
_LATE_MIN_S = 2.0
#: A rank with no final report this long after the planned end is lost.
_END_GRACE_MIN_S = 5.0
#: How long a rank waits for its last sends to rank 0 to complete.
_SEND_WAIT_S = 10.0
#: How long a rank lets MPI_Finalize take before it ends its process anyway.
_FINALIZE_WAIT_S = 10.0
#: Open loop: a rank whose send lag p99 exceeds this share of an interval fell behind.
_BEHIND_SEND_LAG = 0.1

Decide = Callable[[Interval], Optional[str]]


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise RunError(
            f"--mpi needs mpi4py ({error}): pip install mpi4py, which builds against Open "
            f"MPI (apt-get install openmpi-bin libopenmpi-dev); see docs/distributed.md"
        ) from None
    return MPI


def _parts(total: int, k: int) -> list[int]:
    return [total // k + (1 if r < total % k else 0) for r in range(k)]


def split_plan(plan: Plan, ranks: int) -> list[Plan]:
    """``plan`` split into ``ranks`` shares that add up to it.

    Connections, requests and idle connections are split in whole parts (the first
    ranks take the remainder); the rate and the connection rate go in proportion to
    each share's connections. ``threads`` stays per rank (each host has its own
    cores), capped at the share's connections. Raises PlanError if a rank would get no
    connection or no request.
    """
    if not isinstance(plan, Plan):
        raise PlanError(f"split_plan takes a cannonade.Plan, got {type(plan).__name__}")
    if ranks < 1:
        raise PlanError(f"cannot split a plan across {ranks} ranks; give 1 or more")
    if plan.connections < ranks:
        raise PlanError(
            f"{ranks} ranks need at least {ranks} connections (one per rank), but the plan "
            f"has {plan.connections}: give -c {ranks} or more, or start fewer ranks "
            f"(mpirun -n {plan.connections})"
        )
    if plan.requests is not None and plan.requests < ranks:
        raise PlanError(
            f"{ranks} ranks need at least {ranks} requests (one per rank), but the plan "
            f"has -n {plan.requests}: give -n {ranks} or more, or start fewer ranks"
        )
    connections = _parts(plan.connections, ranks)
    requests = _parts(plan.requests, ranks) if plan.requests is not None else [None] * ranks
    idle = _parts(plan.idle_connections, ranks)

    def share(value: Optional[float], c: int) -> Optional[float]:
        return None if value is None else value * c / plan.connections

    return [
        dataclasses.replace(
            plan,
            connections=c,
            requests=n,
            idle_connections=i,
            rate_per_s=share(plan.rate_per_s, c),
            connection_rate_per_s=share(plan.connection_rate_per_s, c),
            threads=None if plan.threads is None else min(plan.threads, c),
            protocol=_rank_protocol(plan.protocol, rank),
        )
        for rank, (c, n, i) in enumerate(zip(connections, requests, idle))
    ]


def _rank_protocol(protocol: Any, rank: int) -> Any:
    """The protocol for ``rank``: a mix's given seed moved on by the rank, so that ranks
    do not all draw the same sequences (rank 0 keeps the seed: one rank is the plain
    run). A seed left to the engine is drawn by each rank on its own."""
    seed = getattr(protocol, "seed", None)
    if seed is None or rank == 0 or getattr(protocol, "requests", None) is None:
        return protocol
    return dataclasses.replace(protocol, seed=(seed + rank) % (1 << 64))


#: The start instant is awaited by sleeping until this close to it, then spinning.
_SPIN_NS = 10_000_000
#: setns(2)'s flag for a network namespace.
_CLONE_NEWNET = 0x40000000


def enter_netns(name: str) -> None:
    """Move the calling thread into network namespace ``name`` (``ip netns`` names it
    under /run/netns; a path works too). Threads started afterwards from this thread,
    such as the engine's workers, are in it as well; sockets already open (MPI's) stay
    where they are. Linux only; needs CAP_SYS_ADMIN (root)."""
    import ctypes

    path = name if "/" in name else f"/run/netns/{name}"
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as error:
        raise RunError(
            f"cannot open network namespace {path}: {error.strerror}; create it with "
            f"`ip netns add {name}`"
        ) from None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            why = os.strerror(ctypes.get_errno())
            raise RunError(f"cannot enter network namespace {path}: {why} (it needs root)")
    finally:
        os.close(fd)


def _imminent(marks: list[tuple[int, str]], run_start: int, interval_ns: int) -> bool:
    """Whether a mark is due in this interval or the next: a stop waits for those (every
    rank then ends with the same phases) and drops the later ones."""
    current = (time.monotonic_ns() - run_start) // interval_ns
    marks[:] = [m for m in marks if m[0] <= current + 1]
    return bool(marks)


def _sleep_until(deadline_ns: int) -> None:
    while True:
        left = deadline_ns - time.monotonic_ns()
        if left <= 0:
            return
        if left > _SPIN_NS:
            time.sleep((left - _SPIN_NS) / 1e9)
        # The last few milliseconds spin: a sleep may overshoot by as much on a busy host.


class _Stop:
    """SIGINT, SIGTERM and SIGHUP stop this rank's load (mpirun forwards them)."""

    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        for name in ("SIGINT", "SIGTERM", "SIGHUP"):
            sig = getattr(signal, name, None)
            if sig is not None:
                try:
                    self._previous[sig] = signal.signal(sig, self._handle)
                except ValueError:  # not the main thread: leave signals alone
                    pass
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum is None:
            self.signum = signum


@dataclasses.dataclass
class _Peer:
    """What rank 0 knows of one rank."""

    rank: int
    host: str = "?"
    plan: Optional[Plan] = None
    offset_ns: int = 0
    rtt_ns: int = 0
    skew_ns: int = 0
    series: list[Interval] = dataclasses.field(default_factory=list)
    final: Optional[dict[str, Any]] = None
    late: list[int] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def name(self) -> str:
        return f"rank {self.rank} on {self.host}"


class MpiSession:
    """One run across the ranks of an MPI communicator; every rank makes one.

    Prefer :func:`run_mpi`; this class also hands rank 0 each rank's own interval
    series (``peers``) and the wall-clock start (``start_unix_s``), for the interval log.
    """

    def __init__(self, comm: Any = None) -> None:
        MPI = _mpi()
        self.MPI = MPI
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        # Errors come back as exceptions instead of aborting the job, where Open MPI can.
        self.comm.Set_errhandler(MPI.ERRORS_RETURN)
        _bound_finalize_at_exit(self.comm)
        self.rank: int = self.comm.Get_rank()
        self.size: int = self.comm.Get_size()
        self.host = socket.gethostname()
        self.peers: list[_Peer] = []
        self.start_unix_s = time.time()
        self.merged: list[Interval] = []
        self._lock = threading.Lock()
        #: (index, name, already marked on rank 0's own run, already told to the others)
        self._asked: list[tuple[int, str, bool, bool]] = []
        self._stop_asked = False
        #: Rank 0's --netns in a benchmark (the other ranks pass theirs to serve()).
        self.netns: Optional[str] = None

    # --- set-up (collective, before any load) -------------------------------------
    def _setup(self, prepare: Callable[[], Plan], marks: Sequence[tuple[float, str]]) -> Any:
        payload: Any = None
        error: Optional[BaseException] = None
        if self.rank == 0:
            try:
                plan = prepare()
                shares = split_plan(plan, self.size)
                from ._backend import validate

                for share in shares:
                    validate(share.to_json())
                indices = []
                for at_s, name in marks:
                    k = int(round(at_s / plan.interval_s))
                    if k < 1:
                        raise PlanError(
                            f"phase {name!r} at {at_s:g} s marks interval {k}; marks start "
                            f"at one interval ({plan.interval_s:g} s) or later"
                        )
                    indices.append((k, str(name)))
                payload = ("ok", [s.to_json() for s in shares], shares, sorted(indices))
            except (CannonadeError, ValueError) as caught:
                error = caught
                payload = ("error", str(caught))
            except SystemExit as caught:  # the CLI's _fail: the message is printed already
                error = caught
                payload = ("error", "rank 0 refused the arguments (its error is above)")
        payload = self._share_setup(payload)
        if payload[0] == "released":
            raise _Released()
        if payload[0] == "error":
            if error is not None:
                raise error
            raise PlanError(f"rank 0: {payload[1]}")
        return payload

    def _clocks(self) -> tuple[list[tuple[int, int]], list[str]]:
        """Rank 0: (offset, round trip) of every rank's monotonic clock against its own,
        and every rank's host name. Rank 0 waits at most _SETUP_WAIT_S for an answer."""
        comm = self.comm
        if self.rank != 0:
            for _ in range(_PINGS):
                comm.recv(source=0, tag=_CLOCK)
                comm.send((time.monotonic_ns(), self.host), dest=0, tag=_CLOCK)
            return [], []
        out, hosts = [(0, 0)], [self.host]
        for r in range(1, self.size):
            best: Optional[tuple[int, int]] = None
            host = "?"
            for _ in range(_PINGS):
                t0 = time.monotonic_ns()
                comm.send(t0, dest=r, tag=_CLOCK)
                theirs, host = self._recv_within(r, _CLOCK, "the clock exchange")
                t1 = time.monotonic_ns()
                if best is None or t1 - t0 < best[1]:
                    best = (theirs - (t0 + t1) // 2, t1 - t0)
            assert best is not None
            out.append(best)
            hosts.append(str(host))
        return out, hosts

    def _recv_within(self, source: int, tag: int, what: str) -> Any:
        """Rank 0: a message from ``source``, or RunError naming it after _SETUP_WAIT_S."""
        request = self.comm.irecv(source=source, tag=tag)
        started = time.monotonic()
        while True:
            done, message = request.test()
            if done:
                return message
            waited = time.monotonic() - started
            if waited > _SETUP_WAIT_S:
                raise RunError(
                    f"rank {source} did not answer {what} within {_SETUP_WAIT_S:g} s; it may "
                    f"have died before the load started (see mpirun's output)"
                )
            if waited > 0.05:  # spin first: the round trip is being measured
                time.sleep(0.001)

    # --- the run ------------------------------------------------------------------
    def run(
        self,
        prepare: Callable[[], Plan],
        *,
        marks: Sequence[tuple[float, str]] = (),
        decide: Optional[Decide] = None,
        netns: Optional[str] = None,
    ) -> Optional[Result]:
        """Run the plan ``prepare()`` gives rank 0; return the merged Result on rank 0.

        Other ranks return None once their last report is sent (or could not be).
        ``netns``: this rank's load leaves from that network namespace (``{rank}`` in
        the name is replaced by the rank), e.g. to give each rank of one machine its
        own source address.
        """
        with _Stop() as stop:
            begun = self._begin(prepare, marks, netns)
            if begun is None:
                return None
            handle, plan, run_start, skew, interval_ns, indices = begun
            with handle:
                if self.rank == 0:
                    return self._lead(
                        handle, plan, run_start, skew, interval_ns, indices, decide, stop
                    )
                self._follow(handle, run_start, skew, interval_ns, indices, stop)
                return None

    def _begin(
        self,
        prepare: Callable[[], Plan],
        marks: Sequence[tuple[float, str]],
        netns: Optional[str],
    ) -> Optional[tuple[Run, Plan, int, int, int, list[tuple[int, str]]]]:
        """Set up (collective), wait for the start instant and start this rank's share;
        None on a rank whose load could not start (it has reported so)."""
        _, texts, shares, indices = self._setup(prepare, marks)
        plan: Plan = shares[self.rank]
        interval_ns = int(plan.interval_s * 1e9)
        clocks, hosts = self._clocks()
        self.merged = []
        if self.rank == 0:
            lead_ns = max(500_000_000, 20 * max(rtt for _, rtt in clocks))
            start0 = time.monotonic_ns() + lead_ns
            self.start_unix_s = time.time() + lead_ns / 1e9
            starts = [(start0 + offset, offset, rtt) for offset, rtt in clocks]
            self.peers = [
                _Peer(r, host=h, plan=s, offset_ns=o, rtt_ns=t)
                for r, (h, s, (o, t)) in enumerate(zip(hosts, shares, clocks))
            ]
        if self.rank == 0:
            sends = [self.comm.isend(starts[r], dest=r, tag=_CLOCK) for r in range(1, self.size)]
            self._finish_sends(sends)
            my_start = starts[0][0]
        else:
            my_start = self.comm.recv(source=0, tag=_CLOCK)[0]
        try:
            if netns:
                enter_netns(netns.replace("{rank}", str(self.rank)))
        except CannonadeError as error:
            self._failed(str(error), 0)
            return None
        _sleep_until(my_start)
        before = time.monotonic_ns()
        skew = before - my_start
        try:
            handle = start_json(texts[self.rank])
        except CannonadeError as error:
            self._failed(str(error), skew)
            return None
        # The engine's clock starts inside start_json (which takes tens of ms in a fresh
        # process): its middle is the best guess, within half the call.
        run_start = (before + time.monotonic_ns()) // 2
        return handle, plan, run_start, skew, interval_ns, indices

    # --- a benchmark over the ranks: Benchmark(start=session.start) on rank 0 -------------
    def start(self, plan: Plan) -> _SplitRun:
        """Rank 0: start ``plan`` split across the ranks; the returned run is what
        :class:`cannonade.Benchmark` drives (``poll`` gives merged intervals), so the
        warm-up analysis and the verdict run on the merged series. The other ranks run
        :meth:`serve` meanwhile; :meth:`release` ends it."""
        if self.rank != 0:
            raise RunError("MpiSession.start() is rank 0's; the other ranks call serve()")
        return _SplitRun(self, plan)

    def serve(self, netns: Optional[str] = None) -> None:
        """Not rank 0: run every share rank 0 starts, until it calls :meth:`release`."""
        with _Stop() as stop:
            while True:
                try:
                    begun = self._begin(lambda: None, (), netns)  # type: ignore[arg-type,return-value]
                except _Released:
                    return
                except PlanError:  # rank 0 refused the plan; it says so, then releases us
                    continue
                if begun is None:
                    continue
                handle, _, run_start, skew, interval_ns, indices = begun
                with handle:
                    self._follow(handle, run_start, skew, interval_ns, indices, stop)

    def release(self) -> None:
        """Rank 0: let the other ranks' :meth:`serve` return."""
        self._share_setup(("released",))

    def _share_setup(self, payload: Any) -> Any:
        """Rank 0 sends ``payload`` to every rank not lost (point to point, so a dead
        rank cannot hold it up); the others wait for it and return it."""
        comm = self.comm
        if self.rank == 0:
            lost = {p.rank for p in self.peers if p.final is None}
            requests = []
            for r in range(1, self.size):
                if r in lost:
                    continue
                try:
                    requests.append(comm.isend(payload, dest=r, tag=_SETUP))
                except self.MPI.Exception:
                    pass
            self._finish_sends(requests)
            return payload
        while not comm.iprobe(source=0, tag=_SETUP):
            time.sleep(0.005)
        return comm.recv(source=0, tag=_SETUP)

    def _inbox(self) -> list[tuple[int, str, bool, bool]]:
        """Marks asked for from another thread (a Benchmark's mark_phase), taken once."""
        with self._lock:
            taken, self._asked = self._asked, []
        return taken

    def mark_index(self, run_start: int, interval_ns: int) -> int:
        """The interval a mark asked for now lands on: this one if less than half of it
        is over (every rank still has half of it to hear of the mark), else the next."""
        elapsed = max(0, time.monotonic_ns() - run_start)
        current, into = divmod(elapsed, interval_ns)
        return int(current) + (0 if into < interval_ns // 2 else 1)

    def _failed(self, message: str, skew: int) -> Optional[Result]:
        if self.rank != 0:
            request = self.comm.isend(("final", {"error": message, "skew_ns": skew}), 0, _DATA)
            self._finish_sends([request])
            return None
        raise RunError(f"rank 0 on {self.host} could not start its load: {message}")

    def _finish_sends(self, requests: list[Any]) -> None:
        _finish_sends(self.MPI, requests)

    @staticmethod
    def _due_marks(
        marks: list[tuple[int, str]], run_start: int, interval_ns: int
    ) -> list[tuple[int, str]]:
        now = time.monotonic_ns()
        due = [m for m in marks if now >= run_start + int((m[0] + _MARK_AT) * interval_ns)]
        for m in due:
            marks.remove(m)
        return due

    def _mark(self, handle: Run, index: int, name: str, problems: list[str]) -> None:
        try:
            got = handle.mark_phase(name)
        except RunError:  # the run has finished
            return
        if got != index:
            problems.append(f"phase {name!r} landed on interval {got}, not {index}")

    def _follow(
        self,
        handle: Run,
        run_start: int,
        skew: int,
        interval_ns: int,
        indices: list[tuple[int, str]],
        stop: _Stop,
    ) -> None:
        comm = self.comm
        marks = list(indices)
        sends: list[Any] = []
        problems: list[str] = []
        result: Optional[Result] = None
        stopping = False
        while True:
            result = handle.wait(min(_POLL_S, interval_ns / 1e10))
            items = handle.poll()
            if items:
                message = ("intervals", [i.to_dict() for i in items])
                sends.append(comm.isend(message, dest=0, tag=_DATA))
            try:
                while comm.iprobe(source=0, tag=_CTRL):
                    control = comm.recv(source=0, tag=_CTRL)
                    if control[0] == "mark":
                        marks.append((int(control[2]), str(control[1])))
                    elif control[0] == "stop":
                        stopping = True
            except self.MPI.Exception:
                handle.stop()  # rank 0 is gone: stop the load
            for index, name in self._due_marks(marks, run_start, interval_ns):
                self._mark(handle, index, name, problems)
            # A stop waits for the marks already announced, as rank 0's does, so that
            # every rank's run ends with the same phases.
            if (stopping or stop.signum is not None) and not _imminent(
                marks, run_start, interval_ns
            ):
                handle.stop()
            if result is not None:
                break
            sends = [r for r in sends if not r.Test()]
        if stop.signum is not None:
            result = dataclasses.replace(result, stopped_by="interrupted")
        final = {"result": result.to_dict(), "skew_ns": skew, "problems": problems}
        sends.append(comm.isend(("final", final), dest=0, tag=_DATA))
        self._finish_sends(sends)

    def _lead(
        self,
        handle: Run,
        plan: Plan,
        run_start: int,
        skew: int,
        interval_ns: int,
        indices: list[tuple[int, str]],
        decide: Optional[Decide],
        stop: _Stop,
    ) -> Result:
        comm, MPI, peers = self.comm, self.MPI, self.peers
        peers[0].skew_ns = skew
        marks = list(indices)
        late_ns = int(max(_LATE_INTERVALS * interval_ns, _LATE_MIN_S * 1e9))
        grace_ns = int(max(3 * interval_ns, _END_GRACE_MIN_S * 1e9))
        planned_end = None if plan.duration_s is None else run_start + int(plan.duration_s * 1e9)
        own: Optional[Result] = None
        own_done = 0
        stopping_at: Optional[int] = None
        status = MPI.Status()
        while True:
            if own is None:
                own = handle.wait(min(_POLL_S, interval_ns / 1e10))
                peers[0].series.extend(handle.poll())
                if own is not None:
                    own_done = time.monotonic_ns()
                    peers[0].final = {"result": own, "skew_ns": skew}
            else:
                time.sleep(min(_POLL_S, interval_ns / 1e10))
            try:
                while comm.iprobe(source=MPI.ANY_SOURCE, tag=_DATA, status=status):
                    source = status.Get_source()
                    kind, body = comm.recv(source=source, tag=_DATA)
                    peer = peers[source]
                    if kind == "intervals":
                        peer.series.extend(Interval.from_dict(d) for d in body)
                    else:
                        peer.final = body
            except MPI.Exception as error:  # a dead peer, where Open MPI reports one
                peers[0].problems.append(f"MPI: {str(error).splitlines()[0]}")
            now = time.monotonic_ns()
            self._emit(run_start, interval_ns, late_ns, now, own is not None, decide, marks)
            for index, name, done, told in self._inbox():
                if not done:
                    marks.append((index, name))
                if not told:
                    self._broadcast(("mark", name, index))
            for index, name in self._due_marks(marks, run_start, interval_ns):
                self._mark(handle, index, name, peers[0].problems)
            asked = stop.signum is not None or self._stop_asked
            if asked and stopping_at is None and not _imminent(marks, run_start, interval_ns):
                handle.stop()
                self._broadcast(("stop",))
                stopping_at = now
            if own is None:
                continue
            if all(p.final is not None for p in peers):
                break
            end = max(own_done, planned_end or 0)
            if stopping_at is not None:
                end = min(end, stopping_at)
            if now > end + grace_ns:
                break
        self._emit(run_start, interval_ns, late_ns, time.monotonic_ns(), True, None, [], True)
        assert own is not None
        result = self._assemble(plan, interval_ns)
        if stop.signum is not None:
            result = dataclasses.replace(result, stopped_by="interrupted")
        return result

    def _broadcast(self, message: tuple[Any, ...]) -> None:
        for peer in self.peers[1:]:
            if peer.final is None:
                try:
                    self.comm.isend(message, dest=peer.rank, tag=_CTRL)
                except self.MPI.Exception:
                    pass

    def _emit(
        self,
        run_start: int,
        interval_ns: int,
        late_ns: int,
        now: int,
        own_done: bool,
        decide: Optional[Decide],
        marks: list[tuple[int, str]],
        flush: bool = False,
    ) -> None:
        """Merge every interval that all ranks delivered, or whose deadline passed."""
        peers = self.peers
        while True:
            k = len(self.merged)
            have = [p for p in peers if len(p.series) > k]
            if not have:
                return
            # A rank that finished with fewer intervals (its short last one) has no k.
            waiting = [p for p in peers if len(p.series) <= k and p.final is None]
            if waiting and not flush:
                if now < run_start + (k + 1) * interval_ns + late_ns:
                    return
                for p in waiting:
                    if not p.late or p.late[-1] != k:
                        p.late.append(k)
            merged = _merge_interval([p.series[k] for p in have], [p.name for p in have])
            self.merged.append(merged)
            if decide is not None:
                name = decide(merged)
                if name:
                    index = self.mark_index(run_start, interval_ns)
                    marks.append((index, str(name)))
                    self._broadcast(("mark", str(name), index))

    def _assemble(self, plan: Plan, interval_ns: int) -> Result:
        """The merged result of every rank that finished, and the ``ranks`` list."""
        results: dict[int, Result] = {}
        for peer in self.peers:
            final = peer.final
            if final is None:
                last = peer.series[-1].index if peer.series else None
                since = (
                    "sent no interval" if last is None else f"sent nothing after interval {last}"
                )
                peer.problems.insert(0, f"lost: {since}; no final report by the deadline")
                continue
            peer.skew_ns = int(final.get("skew_ns", 0))
            peer.problems.extend(final.get("problems", ()))
            if "error" in final:
                peer.problems.insert(0, f"failed: {final['error']}")
                continue
            result = final["result"]
            if not isinstance(result, Result):
                result = Result.from_dict(result)
            results[peer.rank] = dataclasses.replace(result, interval_series=tuple(peer.series))
        base = results.get(0)
        if base is None:
            raise RunError("no rank finished its run")
        phases = [(p.name, p.first_interval) for p in base.phases]
        for rank, result in list(results.items()):
            mine = [(p.name, p.first_interval) for p in result.phases]
            if mine == phases:
                continue
            realigned = _realign(result, phases, self.peers[rank].name)
            if realigned is not None:
                results[rank] = realigned
                self.peers[rank].problems.append(
                    f"its phase marks landed at {mine}, not at rank 0's {phases} (a mark "
                    f"reached it late): its intervals were relabelled on rank 0's boundaries "
                    f"and its phases rebuilt from them, without their status codes and "
                    f"send lag"
                )
                continue
            self.peers[rank].problems.append(
                f"left out of the merge: its phases {mine} differ from rank 0's {phases}"
            )
            del results[rank]
        members = [results[r] for r in sorted(results)]
        labels = [self.peers[r].name for r in sorted(results)]
        if len(members) == 1:
            merged = members[0]
        else:
            try:
                merged = merge(members, labels=labels, shares=True)
            except ResultError as error:
                raise RunError(f"the ranks' results do not merge: {error}") from None
        ranks = tuple(self._rank(p, results.get(p.rank), interval_ns) for p in self.peers)
        return dataclasses.replace(merged, ranks=ranks)

    def _rank(self, peer: _Peer, result: Optional[Result], interval_ns: int) -> Rank:
        problems = list(peer.problems)
        if peer.late:
            shown = ", ".join(map(str, peer.late[:5])) + (", ..." if len(peer.late) > 5 else "")
            problems.append(f"behind: interval {shown} reached rank 0 after its deadline")
        if result is not None:
            lag = result.send_lag
            if lag is not None and lag.count and lag.percentiles:
                p99 = dict(lag.percentiles).get(99.0)
                if p99 is not None and p99 > _BEHIND_SEND_LAG * interval_ns:
                    problems.append(
                        f"behind: sent late against its schedule, send lag p99 {p99 / 1e6:.1f} ms"
                    )
            requests, errors = result.requests, result.errors.total
            latency = result.latency
            p50 = dict(latency.percentiles).get(50.0) if latency.count else None
            p99 = dict(latency.percentiles).get(99.0) if latency.count else None
        else:
            requests = sum(i.requests for i in peer.series)
            errors = sum(i.errors.total for i in peer.series)
            p50 = p99 = None
            blobs = [decode_histogram(i.histogram) for i in peer.series if i.histogram]
            if blobs:
                added = add_histograms(blobs)
                if added.total:
                    p50, p99 = added.value_at_percentile(50.0), added.value_at_percentile(99.0)
        if peer.final is None:
            status = "lost"
        elif "error" in peer.final or result is None:
            status = "failed"
        elif any(p.startswith("behind") for p in problems):
            status = "behind"
        else:
            status = "ok"
        share = peer.plan
        return Rank(
            rank=peer.rank,
            host=peer.host,
            status=status,
            connections=share.connections if share is not None else 0,
            rate_per_s=share.rate_per_s if share is not None else None,
            requests=requests,
            errors=errors,
            intervals=len(peer.series),
            clock_offset_ns=peer.offset_ns,
            clock_rtt_ns=peer.rtt_ns,
            start_skew_ns=peer.skew_ns,
            latency_p50_ns=p50,
            latency_p99_ns=p99,
            problem="; ".join(problems),
        )

    def write_interval_log(self, path: str, result: Result) -> None:
        """Rank 0: the merged intervals untagged (the measured phases, or every phase of a
        run nobody marked), other merged phases tagged by name, and each rank's own
        intervals tagged ``rankN-PHASE``."""
        base = self.start_unix_s
        rows = [(i.phase, base + i.start_s, i) for i in result.interval_series]
        measured = measured_tags(tag for tag, _, _ in rows) or {tag for tag, _, _ in rows}
        for peer in self.peers:
            rows.extend((f"rank{peer.rank}-{i.phase}", base + i.start_s, i) for i in peer.series)
        write_interval_log(path, rows, measured=measured)


def _realign(result: Result, layout: list[tuple[str, int]], label: str) -> Optional[Result]:
    """``result`` with its intervals relabelled on the phase boundaries ``layout`` (rank
    0's) and its phases rebuilt from them; None if a phase would have no interval."""
    series = result.interval_series

    def phase_of(index: int) -> str:
        return [name for name, first in layout if first <= index][-1]

    relabelled = tuple(dataclasses.replace(i, phase=phase_of(i.index)) for i in series)
    phases = []
    for n, (name, first) in enumerate(layout):
        end = layout[n + 1][1] if n + 1 < len(layout) else None
        members = [i for i in relabelled if i.index >= first and (end is None or i.index < end)]
        if not members:
            return None
        span = _merge_span(members, [label] * len(members), f"phase {name!r}")
        seconds = (span["end_ns"] - span["start_ns"]) / 1e9
        span["requests_per_s"] = span["requests"] / seconds if seconds > 0 else 0.0
        phases.append(Phase(name=name, first_interval=first, intervals=len(members), **span))
    return dataclasses.replace(result, interval_series=relabelled, phases=tuple(phases))


class _Released(Exception):
    """Rank 0 released the serving ranks."""


class _SplitRun:
    """Rank 0's handle on one split run, as :class:`cannonade.Benchmark` drives a Run:
    the MPI loop runs in a thread; ``poll`` returns the merged intervals."""

    def __init__(self, session: MpiSession, plan: Plan) -> None:
        self.session = session
        self._polled = 0
        self._result: Optional[Result] = None
        self._error: Optional[BaseException] = None
        session._stop_asked = False
        lost = [p.name for p in session.peers if p.final is None]
        if lost:
            raise RunError(
                f"{', '.join(lost)} was lost in the previous execution; the ranks cannot run "
                f"another without it (its execution is reported as it ended)"
            )
        begun = session._begin(lambda: plan, (), session.netns)
        assert begun is not None  # rank 0 raises instead
        self._handle, self._plan, self._run_start, skew, self._interval_ns, indices = begun
        self._thread = threading.Thread(
            target=self._main, args=(skew, indices), name="cannonade-mpi", daemon=True
        )
        self._thread.start()

    def _main(self, skew: int, indices: list[tuple[int, str]]) -> None:
        try:
            with self._handle:
                self._result = self.session._lead(
                    self._handle, self._plan, self._run_start, skew, self._interval_ns,
                    indices, None, _Stop(),
                )  # fmt: skip
        except BaseException as error:
            self._error = error

    def poll(self) -> list[Interval]:
        """The merged intervals since the last poll. Those before the driver's first
        mark landed (phase "main": the driver marks right after the start, and a rank
        may take an interval to hear of it) are left out: they belong to no phase the
        driver asked for."""
        merged = self.session.merged
        new, self._polled = merged[self._polled :], len(merged)
        return [i for i in new if i.phase != "main"]

    def mark_phase(self, name: str) -> int:
        if not self._thread.is_alive():
            raise RunError("the run has finished")
        session = self.session
        index = session.mark_index(self._run_start, self._interval_ns)
        current = (time.monotonic_ns() - self._run_start) // self._interval_ns
        done = False
        if index == current:
            # This interval: rank 0's own run is marked at once, from this thread (as a
            # single-host benchmark marks it); the other ranks hear of it as usual.
            got = self._handle.mark_phase(name)
            if got != index:
                session.peers[0].problems.append(
                    f"phase {name!r} landed on interval {got}, not {index}"
                )
            index, done = got, True
        told = session.MPI.Query_thread() == session.MPI.THREAD_MULTIPLE
        if told:  # tell the other ranks now rather than at the MPI thread's next turn
            session._broadcast(("mark", str(name), index))
        with session._lock:
            session._asked.append((index, str(name), done, told))
        return index

    @property
    def finished(self) -> bool:
        return not self._thread.is_alive()

    def stop(self) -> None:
        self.session._stop_asked = True

    def wait(self, timeout_s: Optional[float] = None) -> Optional[Result]:
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            return None
        if self._error is not None:
            raise self._error
        return self._result

    def close(self) -> None:
        self.stop()
        self._thread.join(60.0)


def finalize(timeout_s: float = _FINALIZE_WAIT_S) -> None:
    """End MPI on this rank, or end the process if that takes over ``timeout_s``.

    Open MPI's MPI_Finalize waits in a fence for every rank of the job. When a rank was
    killed (and mpirun runs with ``--enable-recovery``), that fence can wait for the dead
    rank for ever, on every surviving rank, after rank 0 has written the whole result
    (seen in 4 of 72 runs with Open MPI 4.1.4). MPI_Finalize holds the
    interpreter lock, so the watchdog is faulthandler's own thread, which needs none:
    it ends the process with status 1 (mpirun's status under ``--enable-recovery`` is 0
    whatever the ranks'). Output is flushed first. Call last, after everything is
    written (the CLI's ``--mpi`` does). After a session, the other ranks first wait for
    rank 0 to reach its own finalize (:func:`_goodbye`), so the bound starts when rank 0
    is done, not when they are.
    """
    try:
        from mpi4py import MPI
    except ImportError:  # nothing to end: the session could not begin
        return
    if not MPI.Is_initialized() or MPI.Is_finalized():
        return
    if _exit_comm is not None:
        _goodbye(MPI, _exit_comm)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    with open(os.devnull, "w") as sink:
        faulthandler.dump_traceback_later(timeout_s, exit=True, file=sink)
        try:
            MPI.Finalize()
        finally:
            faulthandler.cancel_dump_traceback_later()


#: The first session's communicator: finalize() says goodbye on it (see _goodbye).
_exit_comm: Any = None


def _finish_sends(MPI: Any, requests: list[Any]) -> None:
    """Waits up to ``_SEND_WAIT_S`` for ``requests`` (sends) to complete."""
    deadline = time.monotonic() + _SEND_WAIT_S
    pending = list(requests)
    while pending and time.monotonic() < deadline:
        try:
            pending = [r for r in pending if not r.Test()]
        except MPI.Exception:
            return  # the other side is gone; nothing more to do
        if pending:
            time.sleep(0.001)


def _bound_finalize_at_exit(comm: Any) -> None:
    """Have this process end MPI through :func:`finalize` when it exits.

    A script's ranks (``run_mpi``, ``MpiSession``) would otherwise end MPI through
    mpi4py's own exit hook, after Python's ``atexit`` handlers, with no bound: the same
    hang after a rank was killed. Registered once, on the first session; the hook finds
    MPI already ended when the CLI (or the script) has called :func:`finalize` itself.
    """
    global _exit_comm
    if _exit_comm is None:
        _exit_comm = comm
        # The grace read at exit, not now: a test shortens it.
        atexit.register(lambda: finalize(_FINALIZE_WAIT_S))


def _recovery() -> bool:
    """Whether this job goes on after a rank dies (Open MPI's ``mpirun --enable-recovery``,
    which mpirun passes to the ranks in their environment). Only then can a dead rank
    leave the others waiting, and only then is a rank that ends with status 1 no danger
    to the rest (without it, mpirun ends the whole job at the first such rank)."""
    value = os.environ.get("OMPI_MCA_orte_enable_recovery", "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def _goodbye(MPI: Any, comm: Any) -> None:
    """Rank 0 tells the other ranks that it is done; they wait for that.

    So the bound of :func:`finalize` counts from the moment rank 0, which holds the
    result, has finished its own work (writing files, a script's analysis after the
    run): a rank that entered the fence first would otherwise run out its grace waiting
    for a rank 0 that is merely busy, and its status 1 makes mpirun end the whole job.
    That wait has no end unless the job survives a dead rank (:func:`_recovery`): then
    rank 0 itself may be the dead one, and the wait ends after the grace (an early
    status 1 does no harm there). The wait is in Python, so a signal still ends it.
    """
    try:
        if comm.Get_rank() == 0:
            _finish_sends(
                MPI, [comm.isend(None, dest=r, tag=_BYE) for r in range(1, comm.Get_size())]
            )
        else:
            deadline = time.monotonic() + _FINALIZE_WAIT_S if _recovery() else math.inf
            while not comm.Iprobe(source=0, tag=_BYE):
                if time.monotonic() >= deadline:
                    return
                time.sleep(0.01)
            comm.recv(source=0, tag=_BYE)
    except MPI.Exception:
        pass  # a peer is gone: the bounded MPI_Finalize is all that is left


def run_mpi(
    plan: Plan,
    *,
    marks: Sequence[tuple[float, str]] = (),
    decide: Optional[Decide] = None,
    comm: Any = None,
    netns: Optional[str] = None,
) -> Optional[Result]:
    """Run ``plan`` split across the ranks of ``comm`` (MPI.COMM_WORLD); call on every rank.

    Start the script with ``mpirun -n K``. Rank 0's ``plan`` is the one that runs (the
    others' is ignored); it returns the merged Result, whose ``ranks`` lists each rank;
    the other ranks return None. ``marks``: ``(seconds, phase name)`` pairs, each
    rounded to an interval boundary and marked there on every rank. ``decide``: called
    on rank 0 with each merged interval; a phase name it returns is marked on every rank
    at the next interval boundary (e.g. ``"measure"`` once the merged series is steady).
    ``netns``: see :meth:`MpiSession.run`.
    """
    if not isinstance(plan, Plan):
        raise PlanError(f"run_mpi() takes a cannonade.Plan, got {type(plan).__name__}")
    return MpiSession(comm).run(lambda: plan, marks=marks, decide=decide, netns=netns)


# --- the CLI's --mpi ---------------------------------------------------------------------


def cli_run(args: Any, benchmark: bool = False) -> int:
    """``python -m cannonade ... --mpi`` on one rank; only rank 0 prints and writes.

    With ``--warmup`` (a benchmark) rank 0 runs the warm-up driver on the merged series
    (``Benchmark(start=session.start)``) while the other ranks serve its runs.
    """
    from . import _cli

    try:
        return _cli_run(MpiSession(), args, benchmark)
    except CannonadeError as error:
        _cli._fail(str(error))  # said before the finalize, which may end the process
    finally:
        finalize()


def _cli_run(session: MpiSession, args: Any, benchmark: bool) -> int:
    from . import _cli

    session.netns = args.netns
    if benchmark:
        if session.rank != 0:
            session.serve(args.netns)
            return 0
        try:
            return _cli._benchmark(args, start=session.start)
        finally:
            session.release()

    def prepare() -> Plan:
        for option in ("json", "hlog", "html"):
            _cli._check_writable(f"--{option}", getattr(args, option))
        return _cli._plan(args)

    partial = f"{args.json}.partial" if args.json and session.rank == 0 else None
    progress = _cli._Progress(args.quiet or session.rank != 0)

    def decide(interval: Interval) -> Optional[str]:
        progress(interval.phase, interval)
        if partial is not None:
            with open(partial, "a", encoding="utf-8") as out:
                out.write(json.dumps(interval.to_dict()) + "\n")
        return None

    if partial is not None and os.path.exists(partial):
        os.unlink(partial)
    result = session.run(prepare, decide=decide, netns=args.netns)
    progress.clear()
    if result is None:
        return 0
    try:
        if args.json:
            _cli._write(args.json, result.to_json() + "\n")
            if partial is not None and os.path.exists(partial):
                os.unlink(partial)
        if args.hlog:
            session.write_interval_log(args.hlog, result)
        if args.html:
            from ._html import write_html

            write_html(result, args.html, intervals=list(result.interval_series))
    except OSError as error:
        _cli._print(result.format())
        _cli._fail(f"cannot write {error.filename}: {error.strerror or error}")
    _cli._print(result.format())
    troubled = [r for r in result.ranks if r.status in ("lost", "failed")]
    for r in troubled:
        _cli._say(f"{_cli._PROG}: error: {r.name} {r.status}: {r.problem}")
    if result.stopped_by == "interrupted":
        return 130
    return 2 if troubled else 0
