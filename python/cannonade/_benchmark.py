"""Warm-up, then measurement: decide from the data when a JIT server is warm.

One load stream runs against one server process, with intervals of
``Warmup.interval_s`` (100 ms by default: a JIT server warms in about a second,
and one-second intervals average that away). It starts in the phase ``"warmup"``;
every twentieth of a steady window the recent part of the series (the steady
window and up to 50 intervals before it: throughput and p50 by default) is analysed with PELT
changepoints and classified the way of Barrett et al., "Virtual Machine Warmup
Blows Hot and Cold" (OOPSLA 2017), with the finer-grain guards of
:mod:`cannonade._steady`. When no changepoint lies in the last
``steady_window_s``, ``min_s`` has passed and, if the server's JIT activity is
known, the JIT spent at most ``jit_quiet`` of the window compiling, the server
is warm: the phase ``"measure"`` starts at the next interval boundary and lasts
``measure_s``. The whole series is then classified again, with the measurement
as the steady window; if it is not steady (a changepoint inside the
measurement, or a guard failed), the driver goes back to warming up
(``"warmup-2"``) and measures again (``"measure-2"``), for as long as ``max_s``
allows. Every attempt is kept; the last one gives the estimates. An execution
whose warm-up reached ``max_s`` is reported as "no steady state" (it is still
measured once, and flagged, never silently averaged in). A *process execution*
(start the server, warm it, measure it, stop it) is the unit of repetition;
:meth:`Benchmark.run` does ``executions`` of them and estimates the
steady-state means with bootstrap confidence intervals.

Intervals in which the machine stalled the generator or the server (a sampler
thread watches their scheduling: :mod:`cannonade._stalls`) are left out of every
analysis, kept and reported; a measurement more than half stalled is not steady.

The driver's clock, its sleep, the load (``start``), the server's JIT
events (``events``) and the stalls (``stalls``) can be injected: :class:`Replay`
plays a recorded series through the same decisions, deterministically.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Optional, Union
from urllib.parse import urlsplit, urlunsplit

from . import _hotspotlog, _server, _stats, _steady
from ._errors import PlanError, ResultError, RunError, ServerError
from ._plan import Plan, Tcp
from ._pypylog import JIT_TRACING, summarize_intervals
from ._result import (
    Errors,
    Interval,
    Latency,
    Phase,
    Result,
    _histogram_base64,
    _loader,
    _parse_json,
    _read_file,
)
from ._run import start as _run_start
from ._server import ProcessSample, Server
from ._stalls import STALL_LIMIT, Stall, StallSampler

__all__ = [
    "METRICS",
    "Benchmark",
    "BenchmarkResult",
    "Comparison",
    "Attempt",
    "Execution",
    "GeneratorNoise",
    "MetricComparison",
    "Replay",
    "ServerInterval",
    "Warmup",
    "compare",
]

#: The interval of the analysed series when neither the plan nor Warmup asks for a
#: fine one, and the coarsest plan interval kept as it is.
DEFAULT_INTERVAL_S, COARSEST_INTERVAL_S = 0.1, 0.25

#: Intervals before the steady window that the online analysis also looks at.
ONLINE_CONTEXT = 50

#: The benchmark format this version writes; every version listed after it still loads.
#: The changes from one to the next are in docs/format.md.
BENCHMARK_SCHEMA_VERSION = 3
READABLE_BENCHMARK_SCHEMAS = (1, 2, 3)


#: Phase names the driver marks on the load stream.
WARMUP, MEASURE, AFTER = "warmup", "measure", "after"

_POLL_S = 0.05


def _known_metric(name: object) -> bool:
    try:
        _series(str(name))
    except KeyError:
        return False
    return isinstance(name, str)


def _p(percentile: float) -> Callable[[Interval], float]:
    def get(interval: Interval) -> float:
        if interval.latency.count == 0:
            # No reply in the whole interval: every latency was at least this long.
            return float(interval.end_ns - interval.start_ns)
        return float(interval.latency.percentile(percentile))

    return get


#: The interval series the driver can watch: name -> (value of an interval, higher is
#: better). Latencies are in nanoseconds.
METRICS: Mapping[str, tuple[Callable[[Interval], float], bool]] = {
    "requests_per_s": (lambda i: i.requests_per_s, True),
    "p50": (_p(50.0), False),
    "p90": (_p(90.0), False),
    "p99": (_p(99.0), False),
    "p99.9": (_p(99.9), False),
}


def _series(name: str) -> tuple[Callable[[Interval], float], bool]:
    """A watchable series by name: a key of :data:`METRICS`, or ``METRIC@LABEL`` for one
    label of a request mix (``p99@search``: that label's p99 in each interval)."""
    if name in METRICS:
        return METRICS[name]
    base, _, label = name.partition("@")
    if base not in METRICS or not label:
        raise KeyError(name)
    higher_is_better = METRICS[base][1]

    def get(interval: Interval) -> float:
        stats = interval.labels.get(label)
        if stats is None:
            # Every interval of a mix names all its labels, with zero counts too.
            known = ", ".join(repr(n) for n in interval.labels.names()) or "none: no mix"
            raise PlanError(
                f"Warmup.metrics: {name!r} watches label {label!r}, which the plan's mix "
                f"does not have (its labels: {known})"
            )
        length_ns = float(interval.end_ns - interval.start_ns)
        if base == "requests_per_s":
            return stats.requests / (length_ns / 1e9) if length_ns > 0 else 0.0
        if stats.latency.count == 0:
            return length_ns  # as for the total: no reply, so at least this long
        return float(stats.latency.percentile(float(base[1:])))

    return get, higher_is_better


@dataclass(frozen=True)
class Warmup:
    """When the server counts as warm.

    The load runs with intervals of ``interval_s``, replacing the plan's own; None
    (the default) keeps the plan's when it is 250 ms or finer, and takes 100 ms
    otherwise (a JIT warms up within a second or two: coarser intervals average
    that away). The warm-up lasts at least ``min_s`` and at most
    ``max_s``. It ends once the series named in ``metrics`` (keys of
    :data:`METRICS`, or ``METRIC@LABEL`` for one label of a request mix) have had
    no changepoint for ``steady_window_s`` and, when the server's JIT activity is
    collected, the JIT spent at most ``jit_quiet`` (2 %) of that window compiling.
    ``penalty`` (default ``penalty_factor × log n``),
    ``min_effect`` (10 %: smaller level changes do not count), ``effect_sd`` (1: nor
    do changes within one robust standard deviation of the points, nor within the
    machine's measured noise, :func:`noise_floor`), ``max_halfwidth``
    (10 %: the measured mean's 99 % interval, relative), ``delta`` and
    ``outlier_window`` are the analysis's parameters; see :mod:`cannonade._steady`.
    ``machine_share`` (True) takes what the machine measurably took out of each level
    before a change between levels counts: the server's run-queue waits
    (:func:`server_delay`) and, in a closed loop, the connections the generator left
    idle (:func:`generator_idle`); False judges the series as measured (on a machine
    with nothing else running, or to see what the rule changed).
    """

    min_s: float = 10.0
    max_s: float = 120.0
    steady_window_s: float = 10.0
    metrics: tuple[str, ...] = ("requests_per_s", "p50")
    penalty: Optional[float] = None
    delta: float = 0.001
    outlier_window: int = 200
    interval_s: Optional[float] = None
    min_effect: float = _steady.MIN_EFFECT
    penalty_factor: float = _steady.PENALTY_FACTOR
    max_halfwidth: float = _steady.MAX_HALFWIDTH
    jit_quiet: float = 0.02
    effect_sd: float = _steady.EFFECT_SD
    machine_share: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.machine_share, bool):
            raise PlanError(
                f"Warmup.machine_share must be True or False, got {self.machine_share!r}"
            )
        for name in ("min_s", "max_s", "steady_window_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise PlanError(f"Warmup.{name} must be a number of seconds, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise PlanError(f"Warmup.{name} must be finite and not negative, got {value}")
        if self.steady_window_s <= 0:
            raise PlanError("Warmup.steady_window_s must be positive")
        if self.max_s < max(self.min_s, self.steady_window_s):
            raise PlanError(
                f"Warmup.max_s ({self.max_s}) must be at least min_s ({self.min_s}) and "
                f"steady_window_s ({self.steady_window_s})"
            )
        if isinstance(self.metrics, str) or not self.metrics:
            raise PlanError(f"Warmup.metrics must be a tuple of names from {list(METRICS)}")
        unknown = [m for m in self.metrics if not _known_metric(m)]
        if unknown:
            raise PlanError(
                f"Warmup.metrics: unknown {unknown}; choose from {list(METRICS)}, or "
                f"METRIC@LABEL for one label of a mix (e.g. 'p99@search')"
            )
        object.__setattr__(self, "metrics", tuple(self.metrics))
        if self.interval_s is not None:
            value = self.interval_s
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise PlanError(f"Warmup.interval_s must be seconds or None, got {value!r}")
            if not 0.01 <= value <= self.steady_window_s:
                raise PlanError(
                    f"Warmup.interval_s must be between 0.01 s and steady_window_s "
                    f"({self.steady_window_s}), got {value}"
                )
        for name in (
            "min_effect",
            "penalty_factor",
            "max_halfwidth",
            "jit_quiet",
            "delta",
            "effect_sd",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise PlanError(f"Warmup.{name} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise PlanError(f"Warmup.{name} must be finite and not negative, got {value}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ServerInterval:
    """The server process (its whole session) over one load interval."""

    cpu_s: float
    #: CPU time over wall time, in percent of one core (200 = two busy cores).
    cpu_percent: float
    rss_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _stalled_in(stalls: Optional[Sequence[Stall]]) -> list[int]:
    """Positions of the stalls (a share of their interval over STALL_LIMIT)."""
    return [k for k, stall in enumerate(stalls or ()) if stall.share > STALL_LIMIT]


def _analyse(
    intervals: Sequence[Interval],
    warmup: Warmup,
    steady_window: int,
    *,
    final: bool = False,
    excluded: Sequence[int] = (),
    stalls: Optional[Sequence[Stall]] = None,
    in_flight: Optional[int] = None,
) -> dict[str, _steady.SeriesAnalysis]:
    """Each watched metric's analysis; ``final`` also checks the steady mean's tightness.
    ``excluded``: positions in ``intervals`` to leave out (machine stalls); ``stalls``,
    one per interval when sampled, give the noise floor (:func:`noise_floor`) and the
    server's delay (:func:`server_delay`); ``in_flight``, the requests a closed loop
    keeps in flight (None otherwise), the generator's idle share of the throughput
    (:func:`generator_idle`)."""
    if len(excluded) >= len(intervals):
        excluded = ()  # nothing would be left: the caller refuses such a series
    noise = noise_floor(intervals, stalls)
    delay = server_delay(intervals, stalls) if warmup.machine_share else None
    idle = generator_idle(intervals, in_flight) if in_flight and warmup.machine_share else None
    out = {}
    for name in warmup.metrics:
        value, higher_is_better = _series(name)
        machine = delay
        if name == "requests_per_s" and idle is not None:
            # The throughput lost to both: connections left idle by the generator, and
            # replies the machine delayed.
            machine = [
                1.0 - (1.0 - gone) * (1.0 - (delay[k] if delay is not None else 0.0))
                for k, gone in enumerate(idle)
            ]
        out[name] = _steady.analyse(
            [value(i) for i in intervals],
            higher_is_better=higher_is_better,
            steady_window=steady_window,
            delta=warmup.delta,
            penalty=warmup.penalty,
            outlier_window=warmup.outlier_window,
            min_effect=warmup.min_effect,
            penalty_factor=warmup.penalty_factor,
            max_halfwidth=warmup.max_halfwidth if final else None,
            excluded=excluded,
            noise=noise,
            effect_sd=warmup.effect_sd,
            delay=machine,
        )
    return out


def generator_idle(intervals: Sequence[Interval], in_flight: int) -> list[float]:
    """Per interval of a closed loop that keeps ``in_flight`` requests in flight, the
    share of the connections' time in which none was: 1 − throughput × mean latency /
    ``in_flight`` (Little's law), 0 when nothing completed. The generator's turnaround
    between a reply and the next request (tens of microseconds) keeps it near 0; a
    generator that the machine left without a CPU sends nothing meanwhile, and the
    throughput of those intervals falls while every latency it measured stays the same.
    Such a fall is the generator's: the throughput analysis takes it out of each level
    as it takes out the server's delay (:func:`cannonade._steady.analyse`'s ``delay``)."""
    out = []
    for interval in intervals:
        busy = interval.requests_per_s * interval.latency.mean_ns / 1e9 / in_flight
        out.append(min(max(1.0 - busy, 0.0), 0.9) if interval.requests else 0.0)
    return out


def server_delay(
    intervals: Sequence[Interval], stalls: Optional[Sequence[Stall]] = None
) -> Optional[list[float]]:
    """Per interval, the share of its median latency that the machine made the server
    wait: the mean run-queue wait of one wake-up of the server's threads
    (:mod:`cannonade._stalls`), over the p50; None when not sampled. It is not a noise
    floor (a JIT's compiler threads make its request threads wait while it warms up):
    a level change is the machine's only when a change of this delay accounts for it
    (:func:`cannonade._steady.analyse`'s ``delay``). A flat server slowed for some
    seconds by other programs on a busy machine then stays flat."""
    if stalls is None or not any(stall.server_wait_s for stall in stalls):
        return None
    return _wait_shares(intervals, stalls, lambda stall: stall.server_wait_s)


def noise_floor(
    intervals: Sequence[Interval], stalls: Optional[Sequence[Stall]] = None
) -> list[float]:
    """Per interval, the share of its median latency that the generator itself added:
    the mean run-queue wait of one wake-up of its worker threads (a closed-loop reply
    waits for one before it is read, an open-loop send for one before it leaves;
    :mod:`cannonade._stalls`). A level change of the watched series smaller than this
    is not the server's. The server's own waits are left out: a JIT's compiler threads
    make its request threads wait, and that is the server warming up. (Corrected
    minus uncorrected latency is no measure of it: it also holds the time a request
    waited for a connection the server kept busy.) Closed loop, the same share applies
    to throughput (requests/s × latency is the number of connections)."""
    return _wait_shares(intervals, stalls, lambda stall: stall.generator_wait_s)


def _wait_shares(
    intervals: Sequence[Interval],
    stalls: Optional[Sequence[Stall]],
    wait: Callable[[Stall], float],
) -> list[float]:
    """Per interval, ``wait`` of its stall sample (seconds a wake-up) over its p50."""
    out = []
    for k, interval in enumerate(intervals):
        stall = stalls[k] if stalls is not None and k < len(stalls) else None
        waited = wait(stall) * 1e9 if stall is not None else 0.0
        p50 = _p(50.0)(interval)
        out.append(waited / p50 if p50 > 0 else 0.0)
    return out


def _reasons(analyses: Mapping[str, _steady.SeriesAnalysis]) -> list[str]:
    return [f"{name}: {reason}" for name, a in analyses.items() for reason in a.reasons]


@dataclass(frozen=True)
class Attempt:
    """One measurement of an execution (phase ``measure``, ``measure-2``, ...)."""

    phase: str
    #: Position of its first interval in ``Execution.intervals``, and how many.
    first: int
    count: int
    classification: str
    reasons: tuple[str, ...]
    #: Share of the attempt's time the server's JIT spent compiling (None: not known).
    jit_share: Optional[float] = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: Generator noise above this share of the measured p50 latency is flagged.
GENERATOR_NOISE_LIMIT = 0.10


@dataclass(frozen=True)
class GeneratorNoise:
    """What the load generator itself adds to the measured latency.

    ``kind`` is ``"send_lag"`` (open loop: how late requests left against their
    schedule) or ``"send_gap"`` (closed loop: from a reply's arrival to the next
    request's write). ``flagged`` when its p50 exceeds
    :data:`GENERATOR_NOISE_LIMIT` of the measured p50 latency.
    """

    kind: str
    p50_ns: float
    p99_ns: float
    latency_p50_ns: float
    share: float
    flagged: bool

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Execution:
    """One process execution: the server started, warmed up, measured, stopped.

    ``measured`` are the intervals of the last measurement attempt, ``warmup``
    every interval before it (earlier attempts included; the short interval cut
    by the end of the run is in neither). ``classification`` is Barrett et
    al.'s over the whole series, with the last measurement as the steady
    window: "flat", "warmup", "slowdown" or "no steady state"; ``reasons`` say
    why. ``reached_steady`` is False when the warm-up hit ``max_s``; such an
    execution is classified "no steady state".
    """

    index: int
    address: str
    classification: str
    reached_steady: bool
    warmup_s: float
    #: First interval of the steady state (index into ``intervals``), or None.
    steady_start: Optional[int]
    warmup: tuple[Interval, ...]
    measured: tuple[Interval, ...]
    #: The whole run's result; ``result.phase(measure_phase)`` merges the measured intervals.
    result: Result
    #: Per metric: changepoints, segments, outliers and classification.
    analyses: Mapping[str, _steady.SeriesAnalysis]
    #: One per interval of ``intervals`` (None where no sample could be taken).
    server: tuple[Optional[ServerInterval], ...] = ()
    #: One per interval of ``intervals``, when PyPy GC and JIT events were collected.
    events: tuple[Any, ...] = ()
    #: One per interval of ``intervals``, when the machine was sampled
    #: (:mod:`cannonade._stalls`): what a :class:`Replay` of this execution plays back.
    stalls: tuple[Optional[Stall], ...] = ()
    server_log: Optional[str] = None
    #: Set when the execution stopped early (the server exited): what happened.
    error: Optional[str] = None
    started_unix_s: float = 0.0
    #: Why the classification is what it is (the deciding reason first).
    reasons: tuple[str, ...] = ()
    #: Every measurement attempt, in order; the last one is ``measured``.
    attempts: tuple[Attempt, ...] = ()
    #: The phase of the last attempt (``"measure"``, ``"measure-2"``, ...).
    measure_phase: str = MEASURE
    #: The driver's decisions, one line each, in order (what it saw and did).
    decisions: tuple[str, ...] = ()

    @property
    def intervals(self) -> tuple[Interval, ...]:
        """Warm-up then measured intervals, as analysed."""
        return self.warmup + self.measured

    @property
    def measure(self) -> Phase:
        """The measured phase, merged (histogram percentiles, not means of intervals)."""
        return self.result.phase(self.measure_phase)

    @property
    def steady(self) -> bool:
        return self.classification != _steady.NO_STEADY_STATE and self.error is None

    @property
    def changepoints_s(self) -> tuple[float, ...]:
        """Where any watched series changed, as seconds from the start of the run."""
        starts = sorted({c for a in self.analyses.values() for c in a.changepoints})
        return tuple(self.intervals[c].start_s for c in starts if c < len(self.intervals))

    @property
    def jit_share(self) -> Optional[float]:
        """Share of the last measurement the server's JIT spent compiling, if known."""
        return self.attempts[-1].jit_share if self.attempts else None

    @property
    def generator_noise(self) -> Optional[GeneratorNoise]:
        """The generator's own noise over the measurement, when the engine reported it."""
        if not self.measured:
            return None
        try:
            phase = self.measure
        except KeyError:
            return None
        if self.result.rate_per_s is not None:
            kind, noise = "send_lag", phase.send_lag
        else:
            kind, noise = "send_gap", getattr(phase, "send_gap", None)
        if noise is None or not noise.count or not phase.latency.count:
            return None
        try:
            p50, p99 = float(noise.percentile(50.0)), float(noise.percentile(99.0))
            latency = float(phase.latency.percentile(50.0))
        except KeyError:
            return None
        share = p50 / latency if latency > 0 else math.inf
        return GeneratorNoise(kind, p50, p99, latency, share, share > GENERATOR_NOISE_LIMIT)

    def values(self, metric: str, measured_only: bool = True) -> list[float]:
        """The per-interval values of ``metric`` (a key of :data:`METRICS`)."""
        value = _series(metric)[0]
        return [value(i) for i in (self.measured if measured_only else self.intervals)]

    def to_dict(self) -> dict[str, Any]:
        def interval(i: Interval, k: int) -> dict[str, Any]:
            row = i.to_dict()
            if k < len(self.server) and self.server[k] is not None:
                row["server"] = _jsonable(self.server[k])
            if k < len(self.events) and self.events[k] is not None:
                row["events"] = _jsonable(self.events[k])
            if k < len(self.stalls) and self.stalls[k] is not None:
                row["stall"] = self.stalls[k].to_dict()
            return row

        noise = self.generator_noise
        return {
            "index": self.index,
            "address": self.address,
            "classification": self.classification,
            "reasons": list(self.reasons),
            "reached_steady": self.reached_steady,
            "warmup_s": self.warmup_s,
            "steady_start": self.steady_start,
            "measure_phase": self.measure_phase,
            "attempts": [a.to_dict() for a in self.attempts],
            "decisions": list(self.decisions),
            "generator_noise": _jsonable(noise) if noise is not None else None,
            "error": self.error,
            "started_unix_s": self.started_unix_s,
            "server_log": self.server_log,
            "analyses": {name: _jsonable(a) for name, a in self.analyses.items()},
            "warmup_intervals": len(self.warmup),
            "intervals": [interval(i, k) for k, i in enumerate(self.intervals)],
            "result": self.result.to_dict(),
        }

    @classmethod
    @_loader
    def from_dict(
        cls, data: Mapping[str, Any], version: int = BENCHMARK_SCHEMA_VERSION
    ) -> Execution:
        """Build from an execution's JSON object (of benchmark schema ``version``)."""
        rows = list(data["intervals"])
        intervals = tuple(_interval_from_row(row, version) for row in rows)
        measure_phase = data.get("measure_phase")
        if measure_phase is None:  # version 1: the last measurement phase in the series
            measured = [p for p in dict.fromkeys(i.phase for i in intervals) if _is_measure(p)]
            measure_phase = measured[-1] if measured else MEASURE
        measure_phase = str(measure_phase)
        if "warmup_intervals" in data:
            split = int(data["warmup_intervals"])
            if not 0 <= split <= len(intervals):
                raise ValueError(f"warmup_intervals {split} is not in 0..{len(intervals)}")
        else:  # versions 1 and 2: the measured intervals are the last phase's
            split = next(
                (k for k, i in enumerate(intervals) if i.phase == measure_phase), len(intervals)
            )
        server = tuple(
            _server_interval_from(row["server"]) if row.get("server") is not None else None
            for row in rows
        )
        events = tuple(
            _events_from(row["events"]) if row.get("events") is not None else None for row in rows
        )
        stalls = tuple(
            _stall_from(row["stall"]) if row.get("stall") is not None else None for row in rows
        )
        steady_start = data.get("steady_start")
        return cls(
            index=int(data["index"]),
            address=str(data["address"]),
            classification=str(data["classification"]),
            reached_steady=bool(data["reached_steady"]),
            warmup_s=float(data["warmup_s"]),
            steady_start=None if steady_start is None else int(steady_start),
            warmup=intervals[:split],
            measured=intervals[split:],
            result=Result.from_dict(data["result"]),
            analyses={
                str(name): _analysis_from(a) for name, a in (data.get("analyses") or {}).items()
            },
            server=server if any(s is not None for s in server) else (),
            events=events if any(e is not None for e in events) else (),
            stalls=stalls if any(st is not None for st in stalls) else (),
            server_log=_optional_str(data.get("server_log")),
            error=_optional_str(data.get("error")),
            started_unix_s=float(data.get("started_unix_s") or 0.0),
            reasons=tuple(str(r) for r in data.get("reasons") or ()),
            attempts=tuple(_attempt_from(a) for a in data.get("attempts") or ()),
            measure_phase=measure_phase,
            decisions=tuple(str(d) for d in data.get("decisions") or ()),
        )


# --- reading benchmark JSON back (the writers are the to_dict methods) -------------------


def _stall_from(data: Mapping[str, Any]) -> Stall:
    return Stall(
        generator_s=float(data["generator_s"]),
        server_s=float(data["server_s"]),
        share=float(data["share"]),
        generator_wait_s=float(data.get("generator_wait_s", 0.0)),
        server_wait_s=float(data.get("server_wait_s", 0.0)),
    )


def _is_measure(phase: str) -> bool:
    return phase == MEASURE or phase.startswith(f"{MEASURE}-")


def _optional_str(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def _float(value: Any) -> float:
    """A float the writer may have stored as null because it was not finite."""
    return math.nan if value is None else float(value)


def _interval_from_row(row: Mapping[str, Any], version: int) -> Interval:
    if version >= 3:
        return Interval.from_dict(row)
    # Versions 1 and 2 kept an interval's error total, not its kinds (read as io_other),
    # and neither its bytes nor its uncorrected latency (read as 0 and as the corrected).
    latency = Latency.from_dict(row["latency_ns"], "intervals[].latency_ns")
    return Interval(
        index=int(row["index"]),
        start_ns=int(row["start_ns"]),
        end_ns=int(row["end_ns"]),
        requests=int(row["requests"]),
        requests_per_s=float(row["requests_per_s"]),
        bytes_sent=0,
        bytes_received=0,
        connections_opened=0,
        errors=Errors(io_other=int(row["errors"])),
        latency=latency,
        uncorrected_latency=latency,
        phase=str(row.get("phase", "main")),
        histogram=_histogram_base64(row.get("histogram_v2_base64", ""), "histogram_v2_base64"),
    )


def _server_interval_from(data: Mapping[str, Any]) -> ServerInterval:
    return ServerInterval(
        cpu_s=_float(data["cpu_s"]),
        cpu_percent=_float(data["cpu_percent"]),
        rss_bytes=int(data["rss_bytes"]),
    )


def _event_stats(data: Any) -> Any:
    from ._pypylog import EventStats

    if data is None:
        return EventStats()
    return EventStats(int(data["count"]), _float(data["total_s"]), _float(data["max_s"]))


def _events_from(data: Mapping[str, Any]) -> Any:
    """A PyPy (``gc_minor``...) or HotSpot (``c1``, ``c2``...) interval's events."""
    if "c1" in data or "c2" in data:
        return _hotspotlog.HotSpotIntervalEvents(
            start_s=_float(data["start_s"]),
            end_s=_float(data["end_s"]),
            jit=_event_stats(data.get("jit")),
            c1=_event_stats(data.get("c1")),
            c2=_event_stats(data.get("c2")),
            native_wrappers=int(data.get("native_wrappers") or 0),
        )
    from ._pypylog import IntervalEvents

    return IntervalEvents(
        start_s=_float(data["start_s"]),
        end_s=_float(data["end_s"]),
        gc_minor=_event_stats(data.get("gc_minor")),
        gc_major=_event_stats(data.get("gc_major")),
        gc_major_done=int(data.get("gc_major_done") or 0),
        jit=_event_stats(data.get("jit")),
    )


def _analysis_from(data: Mapping[str, Any]) -> _steady.SeriesAnalysis:
    steady_start = data.get("steady_start")
    halfwidth = data.get("halfwidth")
    return _steady.SeriesAnalysis(
        classification=str(data["classification"]),
        changepoints=tuple(int(c) for c in data["changepoints"]),
        segments=tuple(
            _steady.Segment(
                start=int(s["start"]),
                end=int(s["end"]),
                mean=_float(s["mean"]),
                variance=_float(s["variance"]),
            )
            for s in data["segments"]
        ),
        outliers=tuple(int(o) for o in data["outliers"]),
        excluded=tuple(int(e) for e in data.get("excluded") or ()),
        steady_start=None if steady_start is None else int(steady_start),
        reasons=tuple(str(r) for r in data.get("reasons") or ()),
        halfwidth=None if halfwidth is None else float(halfwidth),
    )


def _attempt_from(data: Mapping[str, Any]) -> Attempt:
    share = data.get("jit_share")
    return Attempt(
        phase=str(data["phase"]),
        first=int(data["first"]),
        count=int(data["count"]),
        classification=str(data["classification"]),
        reasons=tuple(str(r) for r in data.get("reasons") or ()),
        jit_share=None if share is None else float(share),
    )


def _estimate_from(data: Mapping[str, Any]) -> _stats.Estimate:
    return _stats.Estimate(
        mean=_float(data["mean"]), low=_float(data["low"]), high=_float(data["high"])
    )


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class BenchmarkResult:
    """Every execution of a benchmark, and the steady-state estimates across them.

    ``steady`` maps each metric to a bootstrap estimate of its mean over the measured
    intervals of the steady executions (resampled within each execution), or is
    empty when no execution reached a steady state.
    """

    executions: tuple[Execution, ...]
    classification: str
    steady: Mapping[str, _stats.Estimate]
    confidence: float
    warmup: Warmup
    measure_s: float
    #: The plan as given, with the interval the driver uses, as its plan JSON
    #: (``Plan.to_dict()``; the driver aims it at the server's address and decides
    #: how long it runs); None if not known.
    plan: Optional[Mapping[str, Any]] = None
    #: Where it ran: cannonade, the generator's and the server's interpreters, the
    #: machine (see :mod:`cannonade._environment`); empty if not known.
    environment: Mapping[str, Any] = field(default_factory=dict)
    #: None when every execution ran to its end; ``"interrupted"`` (a signal) or
    #: ``"error"`` (e.g. the server exited) when the benchmark stopped early.
    stopped_by: Optional[str] = None
    #: What stopped it early, in words.
    error: Optional[str] = None
    #: The benchmark schema version this was read from (the writer writes the latest).
    schema_version: int = BENCHMARK_SCHEMA_VERSION

    @property
    def steady_executions(self) -> tuple[Execution, ...]:
        return tuple(e for e in self.executions if e.steady)

    def groups(self, metric: str) -> list[list[float]]:
        """Per steady execution, the measured values of ``metric``."""
        return [e.values(metric) for e in self.steady_executions]

    def format(self) -> str:
        from ._report import format_benchmark

        return format_benchmark(self)

    def to_dict(self) -> dict[str, Any]:
        """The benchmark JSON shape (schema: ``cannonade/schemas/benchmark.schema.json``)."""
        return {
            "schema_version": BENCHMARK_SCHEMA_VERSION,
            "kind": "benchmark",
            "classification": self.classification,
            "stopped_by": self.stopped_by,
            "error": self.error,
            "confidence": self.confidence,
            "plan": _jsonable(self.plan) if self.plan is not None else None,
            "environment": _jsonable(self.environment) if self.environment else None,
            "warmup": _jsonable(self.warmup),
            "measure_s": self.measure_s,
            "steady": {name: _jsonable(e) for name, e in self.steady.items()},
            "executions": [e.to_dict() for e in self.executions],
        }

    def to_json(self, indent: Optional[int] = 2) -> str:
        # Not finite floats were written as null above: the text is strict JSON.
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    @_loader
    def from_dict(cls, data: Mapping[str, Any]) -> BenchmarkResult:
        """Build from a benchmark JSON object of any schema version this package reads."""
        version = data["schema_version"]
        if isinstance(version, int) and not isinstance(version, bool):
            if version > BENCHMARK_SCHEMA_VERSION:
                raise ResultError(
                    f"benchmark schema_version {version} is newer than this cannonade reads "
                    f"({', '.join(map(str, READABLE_BENCHMARK_SCHEMAS))}); upgrade cannonade "
                    f"to read it"
                )
        if version not in READABLE_BENCHMARK_SCHEMAS or isinstance(version, bool):
            raise ResultError(
                f"benchmark schema_version {version!r} is not one of "
                f"{READABLE_BENCHMARK_SCHEMAS}; this is not a cannonade benchmark, or it was edited"
            )
        if data.get("kind", "benchmark") != "benchmark":
            raise ResultError(f"kind is {data['kind']!r}, not 'benchmark'")
        executions = tuple(Execution.from_dict(e, version) for e in data["executions"])
        if not executions:
            raise ResultError("a benchmark JSON must hold at least one execution; it has none")
        warmup = dict(data["warmup"])
        warmup["metrics"] = tuple(warmup.get("metrics", Warmup().metrics))
        plan = data.get("plan")
        return cls(
            executions=executions,
            classification=str(data["classification"]),
            steady={str(k): _estimate_from(v) for k, v in (data.get("steady") or {}).items()},
            confidence=float(data["confidence"]),
            warmup=Warmup(**warmup),
            measure_s=float(data["measure_s"]),
            plan=None if plan is None else dict(json.loads(json.dumps(plan))),
            environment=json.loads(json.dumps(data.get("environment") or {})),
            stopped_by=_optional_str(data.get("stopped_by")),
            error=_optional_str(data.get("error")),
            schema_version=version,
        )

    @classmethod
    def from_json(cls, text: Union[str, bytes]) -> BenchmarkResult:
        """Read benchmark JSON (a ``--json`` file's text); ResultError if it is bad."""
        return cls.from_dict(_parse_json(text, "benchmark"))

    @classmethod
    def from_file(cls, path: Union[str, os.PathLike[str]]) -> BenchmarkResult:
        """Read a benchmark saved with ``to_json()`` (or the CLI's ``--json``).

        Raises ResultError naming the file and what is wrong in it, or OSError if it
        cannot be opened.
        """
        return _read_file(path, cls.from_json)

    def write_hlog(self, path: Union[str, Path]) -> Path:
        """Write every interval as an HdrHistogram interval log (tags ``e1-warmup``...)."""
        from ._hlog import write_interval_log

        rows = []
        for e in self.executions:
            base = e.started_unix_s
            for i in e.intervals:
                rows.append((f"e{e.index}-{i.phase}", base + i.start_s, i))
        return write_interval_log(path, rows)


def _retarget(plan: Plan, address: str) -> Plan:
    """The plan aimed at ``address`` (HOST:PORT), keeping a URL's scheme and path."""
    if isinstance(plan.protocol, Tcp):
        return dataclasses.replace(plan, target=address)
    parts = urlsplit(plan.target)
    return dataclasses.replace(plan, target=urlunsplit(parts._replace(netloc=address)))


def _address_of(plan: Plan) -> str:
    if isinstance(plan.protocol, Tcp):
        return plan.target
    return urlsplit(plan.target).netloc


def _external(address: str) -> Server:
    """A server someone else runs, at ``HOST:PORT`` (``[::1]:PORT`` for IPv6)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise PlanError(f"server address must be HOST:PORT, got {address!r}")
    try:
        return Server.external(host.strip("[]"), int(port))
    except ValueError as error:
        raise PlanError(f"server address {address!r}: {error}") from None


class _Live:
    """The state of the execution under way."""

    def __init__(self, index: int, run: Any, server: Server, t0: float, unix0: float) -> None:
        self.index = index
        self.run = run
        self.server = server
        self.t0 = t0
        self.unix0 = unix0
        self.intervals: list[Interval] = []
        self.samples: list[Optional[ProcessSample]] = []
        self.reached_steady = False
        self.warmup_s = 0.0
        #: Name of the measurement phase under way (or about to start), and the
        #: warm-up phase before it.
        self.measure_phase = MEASURE
        self.warmup_phase = WARMUP
        self.attempts: list[Attempt] = []
        self.decisions: list[str] = []
        #: Intervals before this one are not looked at again by the online analysis.
        self.origin = 0
        #: The series looked steady but the JIT was busy (said once per wait).
        self.jit_waiting = False
        #: Length of the series at the last online analysis.
        self.analysed = 0
        #: Index of the latest interval polled.
        self.seen = -1
        self.raw_events: list[Any] = []
        self.jit_events: list[Any] = []
        self.final: Optional[tuple[str, Optional[int], dict[str, _steady.SeriesAnalysis]]] = None
        #: Watches the generator's and the server's scheduling for machine stalls.
        self.sampler: Optional[StallSampler] = None

    def decide(self, text: str) -> None:
        self.decisions.append(text)


Progress = Callable[[str, Interval, Optional[ServerInterval]], None]
#: Per-interval JIT activity: given ``n + 1`` interval edges (seconds from the start
#: of the load), ``n`` objects whose ``jit.total_s`` is the JIT's compile time in each
#: (None where unknown), or None when the server's JIT activity is not collected.
EventSource = Callable[[Sequence[float]], Optional[Sequence[Any]]]
#: Machine stalls per interval: given ``n + 1`` interval edges (seconds from the start
#: of the load), ``n`` :class:`cannonade._stalls.Stall`.
StallSource = Callable[[Sequence[float]], Sequence[Stall]]


def _server_pids(server: Server) -> list[int]:
    """The server's processes: its session if cannonade started it, else its pid's tree."""
    pid = server.pid
    if pid is None:
        return []
    processes = _server._all_processes()
    if server.managed:
        return [p.pid for p in server._session_members(processes)]
    return [p.pid for p in _server._descendants(processes, pid)]


def _jit_seconds(event: Any) -> Optional[float]:
    jit = getattr(event, "jit", None)
    total = getattr(jit, "total_s", None)
    return float(total) if isinstance(total, (int, float)) else None


class Benchmark:
    """Warm a server up under load, then measure it, once or over several executions.

    ``server`` is a :class:`Server` that cannonade starts and stops (so executions
    restart it), or ``"HOST:PORT"`` of a server someone else runs, or None to use
    the plan's own target as such. The plan's target host and port are replaced by
    the server's address, and its interval by ``Warmup.interval_s``; its
    ``duration_s`` and ``requests`` are ignored, as the driver decides when to stop.

    Use the steps yourself::

        with Benchmark(plan, server) as bench:
            bench.warmup()             # returns once warm (or at warmup.max_s)
            execution = bench.measure()

    or :meth:`run` for every execution and the estimates across them.

    For tests and replays, ``start`` (plan -> run, default :func:`cannonade.start`),
    ``clock`` (monotonic seconds), ``sleep``, ``events`` (the server's JIT
    activity per interval, default: its PyPy log when collected) and ``stalls``
    (the machine's stalls per interval, default: a :class:`cannonade._stalls.StallSampler`
    in real runs, none with an injected ``start``) can be given; see :class:`Replay`.
    """

    def __init__(
        self,
        plan: Plan,
        server: Union[Server, str, None] = None,
        *,
        warmup: Optional[Warmup] = None,
        measure_s: float = 30.0,
        executions: int = 1,
        confidence: float = 0.99,
        resamples: int = 10_000,
        progress: Optional[Progress] = None,
        start: Optional[Callable[[Plan], Any]] = None,
        clock: Optional[Callable[[], float]] = None,
        sleep: Optional[Callable[[float], None]] = None,
        events: Optional[EventSource] = None,
        stalls: Optional[StallSource] = None,
    ) -> None:
        if not isinstance(plan, Plan):
            raise PlanError(f"Benchmark takes a cannonade.Plan, got {type(plan).__name__}")
        if server is None:
            server = _external(_address_of(plan))
        elif isinstance(server, str):
            server = _external(server)
        elif not isinstance(server, Server):
            raise PlanError(
                f"server must be a cannonade.Server or 'HOST:PORT', got {type(server).__name__}"
            )
        if isinstance(executions, bool) or not isinstance(executions, int) or executions < 1:
            raise PlanError(f"executions must be a positive integer, got {executions!r}")
        if executions > 1 and not server.managed:
            raise PlanError(
                "executions > 1 restarts the server, but this server was started by someone "
                "else; give a cannonade.Server(command) to let cannonade restart it"
            )
        settings = warmup if warmup is not None else Warmup()
        labelled = [m for m in settings.metrics if "@" in m]
        if labelled and getattr(plan.protocol, "requests", None) is None:
            raise PlanError(
                f"Warmup.metrics: {labelled[0]!r} watches one label of a request mix, but "
                "the plan sends one request; give the protocol requests=[...] "
                "(--requests-file), or watch a metric of the total"
            )
        interval = settings.interval_s
        if interval is None and plan.interval_s > COARSEST_INTERVAL_S:
            interval = DEFAULT_INTERVAL_S
        if interval is not None:
            plan = dataclasses.replace(plan, interval_s=interval)
        interval_s = plan.interval_s
        if isinstance(measure_s, bool) or not isinstance(measure_s, (int, float)):
            raise PlanError(f"measure_s must be a number of seconds, got {measure_s!r}")
        if not math.isfinite(measure_s) or measure_s < interval_s:
            raise PlanError(
                f"measure_s must be at least one interval ({interval_s} s), got {measure_s}"
            )
        if not 0.5 <= confidence < 1:
            raise PlanError(f"confidence must be in [0.5, 1), got {confidence}")
        self.plan = plan
        self.server = server
        self.settings = settings
        longest = self._intervals_for(settings.max_s + measure_s)
        window_least = _steady.minimum_window(longest, factor=settings.penalty_factor)
        # The measurement is the final steady window, and its finer checks need points.
        measure_least = max(window_least, _steady.GUARD_MIN_POINTS)
        for name, seconds, least in (
            ("Warmup.steady_window_s", settings.steady_window_s, window_least),
            ("measure_s", measure_s, measure_least),
        ):
            held = self._intervals_for(seconds)
            if held < least:
                raise PlanError(
                    f"{name} ({seconds:g} s) holds {held} intervals of {interval_s:g} s, too "
                    f"few to show a changepoint at the analysis's penalty in a series of "
                    f"{longest}: use at least {least * interval_s:g} s ({least} intervals), "
                    f"or a shorter Warmup.interval_s"
                )
        self.measure_s = float(measure_s)
        self.executions = executions
        self.confidence = confidence
        self.resamples = resamples
        self.progress = progress
        self._start = start if start is not None else _run_start
        self._clock = clock if clock is not None else time.monotonic
        self._sleep = sleep if sleep is not None else time.sleep
        self._event_source = events
        # Machine stalls are watched in real runs; an injected load has none unless given.
        self._stall_source = stalls
        self._watch_stalls = stalls is None and start is None
        self._live: Optional[_Live] = None
        self._done: list[Execution] = []
        self._environment: Optional[dict[str, Any]] = None

    # -- steps --------------------------------------------------------------------

    def _intervals_for(self, seconds: float) -> int:
        return max(1, math.ceil(seconds / self.plan.interval_s - 1e-9))

    def warmup(self) -> list[Interval]:
        """Start the server (if cannonade manages it) and the load, and warm it up.

        Returns the warm-up intervals once the series is steady, or once
        ``Warmup.max_s`` has passed (then the execution will be reported as "no
        steady state reached"). The load keeps running: call :meth:`measure` next.
        """
        if self._live is not None:
            raise RunError("this execution is already warmed up; call measure() next")
        settings = self.settings
        if not self.server.running:
            self.server.start()
        duration_s = settings.max_s + self.measure_s + 10 * self.plan.interval_s + 30
        plan = dataclasses.replace(
            _retarget(self.plan, self.server.address), duration_s=duration_s, requests=None
        )
        unix0 = time.time()
        t0 = self._clock()
        run = self._start(plan)
        live = self._live = _Live(len(self._done) + 1, run, self.server, t0, unix0)
        try:
            if self._watch_stalls:
                server = self.server
                live.sampler = StallSampler(lambda: _server_pids(server))
                live.sampler.start()
            run.mark_phase(WARMUP)
            self._warm(live)
        except BaseException as error:
            self._abandon(error)
            raise
        return list(live.intervals)

    def _warm(self, live: _Live) -> None:
        """Take intervals in until the recent series is steady (or ``max_s`` is up), then
        mark the next measurement phase."""
        settings = self.settings
        window = self._intervals_for(settings.steady_window_s)
        least = max(self._intervals_for(settings.min_s), window)
        most = self._intervals_for(settings.max_s)
        # Analysing every twentieth of a window keeps the cost per interval low (see
        # bench/RESULTS.md) and the decision at most 5 % of a window late.
        every = max(1, window // 20)
        while True:
            if not self._step(live, live.warmup_phase):
                continue
            n = len(live.intervals)
            due = n - live.analysed >= every or n >= most
            if due and n >= least and n - live.origin >= window:
                live.analysed = n
                verdict = self._online(live, window)
                if verdict is not None:
                    live.reached_steady = True
                    live.decide(
                        f"interval {n - 1}: steady ({verdict}); {live.measure_phase} starts"
                    )
                    break
            if n >= most:
                live.reached_steady = False
                live.decide(
                    f"interval {n - 1}: max_s ({settings.max_s:g} s) reached without a steady "
                    f"state; {live.measure_phase} starts anyway"
                )
                break
        first = live.run.mark_phase(live.measure_phase)
        live.warmup_s = live.intervals[-1].end_s
        live.attempts.append(Attempt(live.measure_phase, first, 0, "", ()))

    def _online(self, live: _Live, window: int) -> Optional[str]:
        """The verdict on the recent series if it is steady and the JIT quiet, else None."""
        n = len(live.intervals)
        # The window, and before it enough context to see a change at its start.
        recent_from = max(live.origin, n - window - min(window, ONLINE_CONTEXT))
        recent = live.intervals[recent_from:]
        machine = self._machine(live, recent_from, n)
        stalled = _stalled_in(machine)
        if len([k for k in stalled if k >= len(recent) - window]) > window // 2:
            return None  # the machine stalled most of the window: nothing to judge
        analyses = _analyse(
            recent,
            self.settings,
            window,
            excluded=stalled,
            stalls=machine,
            in_flight=self._in_flight(),
        )
        overall, _ = _steady.combine(list(analyses.values()))
        if overall == _steady.NO_STEADY_STATE:
            return None
        share = self._jit_share(live, n - window, n)
        if share is not None and share > self.settings.jit_quiet:
            if not live.jit_waiting:  # said once per wait
                live.decide(
                    f"interval {n - 1}: the series is {overall} but the JIT spent "
                    f"{share:.1%} of the last {window} intervals compiling "
                    f"(limit {self.settings.jit_quiet:.0%}); still warming up"
                )
                live.jit_waiting = True
            return None
        live.jit_waiting = False
        jit = f", JIT {share:.1%} of the window" if share is not None else ""
        return f"{overall} over intervals {recent_from}-{n - 1}{jit}"

    def measure(self) -> Execution:
        """Measure the warmed-up server for ``measure_s``, stop the load and the server.

        Runs :meth:`warmup` first if it has not run. When the series turns out not to
        be steady over the measurement, warms up again and re-measures while
        ``Warmup.max_s`` allows.
        """
        if self._live is None:
            self.warmup()
        live = self._live
        assert live is not None
        try:
            want = self._intervals_for(self.measure_s)
            most = self._intervals_for(self.settings.max_s)
            while True:
                attempt = live.attempts[-1]
                while self._count(live, attempt.phase) < want:
                    self._step(live, attempt.phase)
                # The attempt is complete: what follows is the next warm-up (or the end,
                # which drops it). Judge exactly the intervals before the mark.
                number = len(live.attempts) + 1
                boundary = live.run.mark_phase(f"{WARMUP}-{number}")
                while live.seen < boundary - 1:
                    self._step(live, attempt.phase)
                verdict = self._judge(live)
                if verdict is not None or not live.reached_steady:
                    break
                n = len(live.intervals)
                if n >= most:
                    live.decide(
                        f"interval {n - 1}: max_s ({self.settings.max_s:g} s) is up; "
                        f"no steady state"
                    )
                    break
                live.warmup_phase = f"{WARMUP}-{number}"
                live.measure_phase = f"{MEASURE}-{number}"
                self._warm(live)
            # The interval the stop cuts short goes to a phase of its own.
            live.run.mark_phase(AFTER)
            live.run.stop()
            result = live.run.wait(60.0)
            if result is None:
                raise RunError("the load did not stop within 60 s of being asked to")
            for interval in live.run.poll():
                self._record(live, interval)
            # Stopped first, so that the server's PyPy log is complete on disk.
            self._close_live()
            execution = self._finish(live, result, None)
        except BaseException as error:
            self._abandon(error)
            raise
        self._done.append(execution)
        return execution

    @staticmethod
    def _count(live: _Live, phase: str) -> int:
        return sum(1 for i in live.intervals if i.phase == phase)

    def _judge(self, live: _Live) -> Optional[str]:
        """Classify the whole series with the last attempt as the steady window; record
        the attempt. Returns the class if steady; else None, with the driver's origin
        moved to where the series changed."""
        attempt = live.attempts[-1]
        positions = [k for k, i in enumerate(live.intervals) if i.phase == attempt.phase]
        first, count = positions[0], len(positions)
        series = live.intervals[: first + count]
        machine = self._machine(live, 0, first + count)
        stalled = _stalled_in(machine)
        analyses = _analyse(
            series,
            self.settings,
            count,
            final=True,
            excluded=stalled,
            stalls=machine,
            in_flight=self._in_flight(),
        )
        overall, steady_start = _steady.combine(list(analyses.values()))
        reasons = _reasons(analyses)
        in_measure = [k for k in stalled if k >= first]
        if in_measure:
            reasons.insert(
                0,
                f"{len(in_measure)} of the {count} measured intervals were machine stalls "
                f"(the generator or the server runnable and not running for over "
                f"{STALL_LIMIT:.0%} of the interval): left out of the analysis",
            )
        if len(in_measure) > count // 2 and overall != _steady.NO_STEADY_STATE:
            reasons.insert(0, f"(the series alone would be {overall})")
            reasons.insert(
                0,
                f"the machine stalled {len(in_measure)} of the {count} measured intervals: "
                f"too few left to judge",
            )
            overall, steady_start = _steady.NO_STEADY_STATE, None
        share = self._jit_share(live, first, first + count)
        if share is not None and share > self.settings.jit_quiet:
            # Not warm, whatever the series says: fail safe, and measure again.
            if overall != _steady.NO_STEADY_STATE:
                reasons.insert(0, f"(the series alone would be {overall})")
                overall, steady_start = _steady.NO_STEADY_STATE, None
            reasons.insert(
                0,
                f"the JIT was still busy: {share:.1%} of the measurement spent compiling "
                f"(limit {self.settings.jit_quiet:.0%})",
            )
        live.attempts[-1] = Attempt(attempt.phase, first, count, overall, tuple(reasons), share)
        live.final = (overall, steady_start, analyses)
        if overall != _steady.NO_STEADY_STATE:
            live.decide(f"interval {first + count - 1}: {attempt.phase} is {overall}")
            return overall
        inside = [
            c for a in analyses.values() for c in a.changepoints if first <= c < first + count
        ]
        live.origin = max(inside) if inside else first
        failing = [
            f"{name}: {a.reasons[0]}"
            for name, a in analyses.items()
            if a.classification == _steady.NO_STEADY_STATE and a.reasons
        ]
        if reasons and reasons[0].startswith(("the JIT was still busy", "the machine stalled")):
            failing.insert(0, reasons[0])
        cause = f"a change at interval {max(inside)}" if inside else failing[0]
        live.decide(
            f"interval {first + count - 1}: {attempt.phase} is not steady ({cause}); "
            f"warming up again from interval {live.origin}"
        )
        return None

    def execution(self) -> Execution:
        """One whole process execution: warm up, measure, stop."""
        self.warmup()
        return self.measure()

    def run(self) -> BenchmarkResult:
        """``executions`` process executions and the steady-state estimates across them."""
        for _ in range(self.executions - len(self._done)):
            self.execution()
        return self.result()

    def result(self) -> BenchmarkResult:
        """The executions done so far, summarised."""
        executions = tuple(self._done)
        if not executions:
            raise RunError("no execution has finished yet; call run() or measure() first")
        classification = _steady.combine_executions([e.classification for e in executions])
        steady_ones = [e for e in executions if e.steady]
        estimates: dict[str, _stats.Estimate] = {}
        if steady_ones:
            for metric in METRICS:  # every metric, not only those watched
                try:
                    groups = [e.values(metric) for e in steady_ones]
                except KeyError:  # a percentile the intervals do not carry
                    continue
                estimates[metric] = _stats.bootstrap_mean(
                    groups, confidence=self.confidence, resamples=self.resamples, seed=0
                )
        return BenchmarkResult(
            executions=executions,
            classification=classification,
            steady=estimates,
            confidence=self.confidence,
            warmup=self.settings,
            measure_s=self.measure_s,
            plan=self.plan.to_dict(),
            environment=self.environment(),
        )

    def environment(self) -> dict[str, Any]:
        """Where this benchmark runs (cannonade, interpreters, machine), probed once."""
        if self._environment is None:
            from ._environment import collect

            try:
                address: Optional[str] = self.server.address
            except ServerError:  # not started yet
                address = None
            self._environment = collect(self.server.command, address)
        return self._environment

    # -- the loop -------------------------------------------------------------------

    def _step(self, live: _Live, phase: str) -> int:
        """Wait a little, take new intervals in, check the server; return how many came."""
        self._sleep(_POLL_S)
        fresh = live.run.poll()
        for interval in fresh:
            live.seen = max(live.seen, interval.index)
            self._record(live, interval)
        live.server.check()
        # The intervals that came with the end still count (a replay's series ends as its
        # measurement does); the next step, with none, is the error.
        if live.run.finished and not fresh:
            raise RunError(
                f"the load stopped by itself during {phase} "
                f"(after {len(live.intervals)} intervals); the run's duration is too short"
            )
        return len(fresh)

    def _record(self, live: _Live, interval: Interval) -> None:
        if interval.phase == AFTER:
            return
        if interval.end_ns - interval.start_ns < 0.5 * self.plan.interval_s * 1e9:
            return  # cut short by the end of the run: too short to compare
        live.intervals.append(interval)
        sample = live.server.sample()
        live.samples.append(sample)
        if self.progress is not None:
            self.progress(interval.phase, interval, self._server_interval(live, -1))

    @staticmethod
    def _server_interval(live: _Live, k: int) -> Optional[ServerInterval]:
        k = k % len(live.samples)
        now = live.samples[k]
        before = live.samples[k - 1] if k > 0 else None
        if now is None:
            return None
        if before is None:
            # The first interval: from the server's start, as far as it is known.
            return ServerInterval(cpu_s=now.cpu_s, cpu_percent=math.nan, rss_bytes=now.rss_bytes)
        wall = now.t_s - before.t_s
        cpu = now.cpu_s - before.cpu_s
        percent = 100.0 * cpu / wall if wall > 0 else math.nan
        return ServerInterval(cpu_s=cpu, cpu_percent=percent, rss_bytes=now.rss_bytes)

    def _events_for(
        self, live: _Live, intervals: Sequence[Interval], jit_only: bool = False
    ) -> Optional[Sequence[Any]]:
        """Per-interval server events (JIT and GC; only JIT with ``jit_only``), or None."""
        if not intervals:
            return None
        edges = [i.start_s for i in intervals] + [intervals[-1].end_s]
        if self._event_source is not None:
            return self._event_source(edges)
        boundaries = [live.t0 + edge for edge in edges]
        hotspot = live.server.hotspot_log
        if hotspot is not None:
            # HotSpot's compilations are all JIT events; the shape of `jit` is PyPy's.
            live.jit_events.extend(hotspot.read())
            return _hotspotlog.summarize_intervals(live.jit_events, boundaries)
        reader = live.server.pypylog
        if reader is None:
            return None
        fresh = reader.read()
        live.raw_events.extend(fresh)
        live.jit_events.extend(e for e in fresh if e.name == JIT_TRACING)
        events = live.jit_events if jit_only else live.raw_events
        return summarize_intervals(events, boundaries)

    def _in_flight(self) -> Optional[int]:
        """Requests a closed loop keeps in flight (connections × pipeline), or None when
        the load is not a plain closed loop (a rate, think time, churn or a connection
        per request leaves the connections idle by design)."""
        plan = self.plan
        if self._start is not _run_start:
            # A replay: only one that recorded its intervals' mean latencies shows them.
            replay = getattr(self._start, "__self__", None)
            if not (isinstance(replay, Replay) and replay.means_recorded):
                return None
        churn = plan.requests_per_connection or plan.connection_rate_per_s
        if plan.rate_per_s is not None or plan.think_time_s or churn:
            return None
        if getattr(plan.protocol, "close", False):  # a new connection for every request
            return None
        return plan.connections * int(getattr(plan.protocol, "pipeline", 1) or 1)

    def _machine(self, live: _Live, lo: int, hi: int) -> Optional[Sequence[Stall]]:
        """The machine's stalls and waits, one per interval of ``[lo, hi)``, or None."""
        intervals = live.intervals[lo:hi]
        if not intervals:
            return None
        edges = [i.start_s for i in intervals] + [intervals[-1].end_s]
        if self._stall_source is not None:
            return self._stall_source(edges)
        if live.sampler is not None:
            return live.sampler.stalled([live.t0 + edge for edge in edges])
        return None

    def _jit_share(self, live: _Live, lo: int, hi: int) -> Optional[float]:
        """Share of intervals ``[lo, hi)``'s time the JIT spent compiling, or None."""
        intervals = live.intervals[max(lo, 0) : hi]
        rows = self._events_for(live, intervals, jit_only=True)
        if rows is None:
            return None
        seconds = [_jit_seconds(row) for row in rows]
        known = [s for s in seconds if s is not None]
        if not known:
            return None
        span = sum(i.end_s - i.start_s for i, s in zip(intervals, seconds) if s is not None)
        return math.fsum(known) / span if span > 0 else None

    def _finish(self, live: _Live, result: Result, error: Optional[str]) -> Execution:
        attempt = live.attempts[-1] if live.attempts else None
        measured_phase = attempt.phase if attempt is not None else None
        if attempt is not None and attempt.count == 0 and error is None:
            self._judge(live)
        measured = tuple(i for i in live.intervals if i.phase == measured_phase)
        first = (
            next(k for k, i in enumerate(live.intervals) if i.phase == measured_phase)
            if measured
            else len(live.intervals)
        )
        warm = tuple(live.intervals[:first])
        series = warm + measured
        if live.final is not None and error is None:
            classification, steady_start, analyses = live.final
        elif series:
            window = len(measured) or self._intervals_for(self.settings.steady_window_s)
            machine = self._machine(live, 0, len(series))
            analyses = _analyse(
                series,
                self.settings,
                window,
                final=True,
                excluded=_stalled_in(machine),
                stalls=machine,
                in_flight=self._in_flight(),
            )
            classification, steady_start = _steady.combine(list(analyses.values()))
        else:
            analyses, classification, steady_start = {}, _steady.NO_STEADY_STATE, None
        reasons = list(live.attempts[-1].reasons) if live.attempts and error is None else []
        if not reasons and analyses:
            reasons = _reasons(analyses)
        if error is not None:
            classification, steady_start = _steady.NO_STEADY_STATE, None
            reasons.insert(0, f"stopped early: {error.splitlines()[0] if error else error}")
        elif not live.reached_steady:
            classification, steady_start = _steady.NO_STEADY_STATE, None
            reasons.insert(
                0, f"the warm-up reached max_s ({self.settings.max_s:g} s) without a steady state"
            )
        elif classification == _steady.NO_STEADY_STATE:
            reasons.insert(
                0,
                f"max_s ({self.settings.max_s:g} s) ran out after {len(live.attempts)} "
                f"measurement attempt{'s' if len(live.attempts) != 1 else ''}",
            )
        # Intervals after the last measurement (taken while it was judged) are dropped,
        # as the one the stop cuts short is.
        server = tuple(self._server_interval(live, k) for k in range(len(series)))
        events = self._events_for(live, series) if series else None
        stalls = self._machine(live, 0, len(series))
        return Execution(
            index=live.index,
            address=live.server.address,
            classification=classification,
            reached_steady=live.reached_steady,
            warmup_s=live.warmup_s,
            steady_start=steady_start,
            warmup=warm,
            measured=measured,
            result=result,
            analyses=analyses,
            server=server,
            events=tuple(events) if events is not None else (),
            stalls=tuple(stalls) if stalls is not None else (),
            server_log=str(live.server.log_path) if live.server.log_path else None,
            error=error,
            started_unix_s=live.unix0,
            reasons=tuple(reasons),
            attempts=tuple(live.attempts),
            measure_phase=measured_phase or MEASURE,
            decisions=tuple(live.decisions),
        )

    def _abandon(self, error: BaseException) -> None:
        """Stop everything after ``error``; keep what was recorded on the error."""
        live = self._live
        if live is None:
            return
        try:
            live.run.stop()
            result = live.run.wait(30.0)
            if result is not None:
                for interval in live.run.poll():
                    self._record(live, interval)
            self._close_live()
            if result is not None:
                message = str(error) or type(error).__name__
                partial = self._finish(live, result, message)
                if isinstance(error, ServerError):
                    error.execution = partial  # type: ignore[attr-defined]
        except Exception:  # the original error matters more
            pass
        finally:
            self._close_live()

    def _close_live(self) -> None:
        live, self._live = self._live, None
        if live is None:
            return
        try:
            if live.sampler is not None:
                live.sampler.stop()
            live.run.close()
        finally:
            if live.server.managed:
                live.server.stop()

    def close(self) -> None:
        """Stop the load and the server if an execution is under way."""
        if self._live is not None:
            self._abandon(RunError("closed"))

    def __enter__(self) -> Benchmark:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()


class Replay:
    """A recorded interval series played through :class:`Benchmark`'s decisions.

    The driver's clock, sleep, load and JIT events all come from here, so a
    replay is deterministic and takes no time::

        replay = Replay.from_file("tests/data/hotspot-jdk-httpserver-100ms.json")
        bench = Benchmark(plan, replay.server(), warmup=..., **replay.hooks())

    Each interval carries the recorded throughput, p50 and p99 (its other
    percentiles are not known), and its mean latency (``mean_ns``, default the
    p50); ``jit_s`` is the JIT's compile time per interval, and ``stalls`` the
    machine's (:class:`cannonade._stalls.Stall`), if recorded. The load ends when
    the series does (the driver then fails as it does when a live run ends too
    soon). Merged phases in the result are approximate: their p50 and p99 are the
    medians of the intervals' values. :meth:`from_execution` replays a live
    execution, so that the same series can be judged again with other settings.
    """

    def __init__(
        self,
        requests_per_s: Sequence[float],
        p50_ns: Sequence[float],
        p99_ns: Optional[Sequence[float]] = None,
        *,
        interval_s: float,
        jit_s: Optional[Sequence[float]] = None,
        mean_ns: Optional[Sequence[float]] = None,
        stalls: Optional[Sequence[Stall]] = None,
    ) -> None:
        n = len(requests_per_s)
        if not n == len(p50_ns) == len(p99_ns or p50_ns) == len(mean_ns or p50_ns):
            raise PlanError("Replay: the recorded series must have the same length")
        for name, values in (("jit_s", jit_s), ("stalls", stalls)):
            if values is not None and len(values) != n:
                raise PlanError(f"Replay: {name} must have one value per interval")
        self.requests_per_s = [float(v) for v in requests_per_s]
        self.p50_ns = [float(v) for v in p50_ns]
        self.p99_ns = [float(v) for v in (p99_ns if p99_ns is not None else p50_ns)]
        self.mean_ns = [float(v) for v in (mean_ns if mean_ns is not None else p50_ns)]
        self.means_recorded = mean_ns is not None
        self.interval_s = float(interval_s)
        self.jit_s = None if jit_s is None else [float(v) for v in jit_s]
        self.stalls = None if stalls is None else list(stalls)
        self.now_s = 0.0
        self.runs: list[_ReplayRun] = []

    @classmethod
    def from_execution(cls, execution: Execution) -> Replay:
        """The series an execution recorded, with its mean latencies, the JIT's compile
        time and the machine's stalls when they were collected. A driver that would have
        warmed up for longer than the live one did runs out of series, and fails as a
        live run that ends too soon."""
        intervals = execution.intervals
        if not intervals:
            raise PlanError("Replay.from_execution: the execution recorded no interval")
        first = intervals[0]
        interval_s = round((first.end_ns - first.start_ns) / 1e9, 9)
        jit = None
        if len(execution.events) == len(intervals):
            seconds = [_jit_seconds(row) for row in execution.events]
            if any(v is not None for v in seconds):
                jit = [v or 0.0 for v in seconds]
        stalls = None
        if len(execution.stalls) == len(intervals):
            stalls = [st if st is not None else Stall(0.0, 0.0, 0.0) for st in execution.stalls]
        return cls(
            [i.requests_per_s for i in intervals],
            [i.latency.percentile(50.0) for i in intervals],
            [i.latency.percentile(99.0) for i in intervals],
            interval_s=interval_s,
            jit_s=jit,
            mean_ns=[i.latency.mean_ns for i in intervals],
            stalls=stalls,
        )

    @classmethod
    def from_file(cls, path: Union[str, Path]) -> Replay:
        """Read a recording: JSON with ``interval_s``, ``requests_per_s``, ``p50_ns``,
        ``p99_ns`` and optionally ``jit_s``."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(
            data["requests_per_s"],
            data["p50_ns"],
            data.get("p99_ns"),
            interval_s=data["interval_s"],
            jit_s=data.get("jit_s"),
        )

    def clock(self) -> float:
        return self.now_s

    def sleep(self, seconds: float) -> None:
        self.now_s += seconds

    def start(self, plan: Plan) -> _ReplayRun:
        if abs(plan.interval_s - self.interval_s) > 1e-9:
            raise PlanError(
                f"Replay: the recording has intervals of {self.interval_s} s, the plan "
                f"{plan.interval_s} s; use Warmup(interval_s={self.interval_s})"
            )
        run = _ReplayRun(self, plan, self.now_s)
        self.runs.append(run)
        return run

    def events(self, edges: Sequence[float]) -> Optional[list[Any]]:
        """The recorded JIT time of the intervals between ``edges`` (None if not recorded)."""
        if self.jit_s is None:
            return None
        from ._pypylog import EventStats, IntervalEvents

        rows = []
        for lo, hi in zip(edges, edges[1:]):
            k = int(round(lo / self.interval_s))
            seconds = self.jit_s[k] if 0 <= k < len(self.jit_s) else 0.0
            stats = EventStats(1, seconds, seconds) if seconds > 0 else EventStats()
            rows.append(IntervalEvents(lo, hi, jit=stats))
        return rows

    def stalled(self, edges: Sequence[float]) -> list[Stall]:
        """The recorded stalls of the intervals between ``edges`` (none where not recorded)."""
        out = []
        for lo in edges[:-1]:
            k = int(round(lo / self.interval_s))
            recorded = self.stalls is not None and 0 <= k < len(self.stalls)
            out.append(self.stalls[k] if recorded else Stall(0.0, 0.0, 0.0))  # type: ignore[index]
        return out

    def hooks(self) -> dict[str, Any]:
        """The keyword arguments that make a :class:`Benchmark` play this replay."""
        hooks = {
            "start": self.start,
            "clock": self.clock,
            "sleep": self.sleep,
            "events": self.events,
        }
        if self.stalls is not None:
            hooks["stalls"] = self.stalled
        return hooks

    @staticmethod
    def server() -> Server:
        """A stand-in for the server: this process, which is alive as long as the replay."""
        return Server.external("127.0.0.1", 9, pid=os.getpid())


def _replay_latency(count: int, p50: float, p99: float, mean: Optional[float] = None) -> Latency:
    return Latency(
        count=count,
        min_ns=int(min(p50, mean if mean is not None else p50)),
        mean_ns=p50 if mean is None else mean,
        stdev_ns=0.0,
        max_ns=int(max(p50, p99)),
        percentiles=((50.0, int(p50)), (99.0, int(p99))),
    )


class _ReplayRun:
    """The run of a :class:`Replay`: intervals come out as its clock passes their end."""

    def __init__(self, replay: Replay, plan: Plan, started_s: float) -> None:
        self.replay = replay
        self.plan = plan
        self.started_s = started_s
        self.given = 0
        self.marks: list[tuple[int, str]] = [(0, "main")]
        self.stopped = False
        self.intervals: list[Interval] = []

    def _due(self) -> int:
        elapsed = self.replay.now_s - self.started_s
        due = int(elapsed / self.replay.interval_s + 1e-9)
        return min(due, len(self.replay.requests_per_s))

    def _phase(self, k: int) -> str:
        return [name for first, name in self.marks if first <= k][-1]

    def poll(self) -> list[Interval]:
        due = self._due() if not self.stopped else self.given
        out = []
        step_ns = int(round(self.replay.interval_s * 1e9))
        for k in range(self.given, due):
            rate = self.replay.requests_per_s[k]
            count = int(round(rate * self.replay.interval_s))
            latency = _replay_latency(
                count, self.replay.p50_ns[k], self.replay.p99_ns[k], self.replay.mean_ns[k]
            )
            interval = Interval(
                index=k,
                start_ns=k * step_ns,
                end_ns=(k + 1) * step_ns,
                requests=count,
                requests_per_s=rate,
                bytes_sent=0,
                bytes_received=0,
                connections_opened=0,
                errors=Errors(),
                latency=latency,
                uncorrected_latency=latency,
                phase=self._phase(k),
            )
            out.append(interval)
            self.intervals.append(interval)
        self.given = max(self.given, due)
        return out

    def mark_phase(self, name: str) -> int:
        first = self._due()
        self.marks.append((first, name))
        return first

    @property
    def finished(self) -> bool:
        return self.stopped or self.given >= len(self.replay.requests_per_s)

    def stop(self) -> None:
        self.poll()
        self.stopped = True

    def wait(self, timeout_s: Optional[float] = None) -> Optional[Result]:
        if not self.finished:
            return None
        phases = []
        for name in dict.fromkeys(i.phase for i in self.intervals):
            members = [i for i in self.intervals if i.phase == name]
            requests = sum(i.requests for i in members)
            span = (members[-1].end_ns - members[0].start_ns) / 1e9
            latency = _replay_latency(
                requests,
                statistics.median(i.latency.percentile(50.0) for i in members),
                statistics.median(i.latency.percentile(99.0) for i in members),
            )
            phases.append(
                Phase(
                    name=name,
                    first_interval=members[0].index,
                    intervals=len(members),
                    start_ns=members[0].start_ns,
                    end_ns=members[-1].end_ns,
                    requests=requests,
                    requests_per_s=requests / span if span > 0 else 0.0,
                    bytes_sent=0,
                    bytes_received=0,
                    connections_opened=0,
                    errors=Errors(),
                    latency=latency,
                    uncorrected_latency=latency,
                )
            )
        requests = sum(i.requests for i in self.intervals)
        end_ns = self.intervals[-1].end_ns if self.intervals else 0
        return Result(
            schema_version=2,
            target=self.plan.target,
            protocol="replay",
            connections=self.plan.connections,
            threads=self.plan.threads or 1,
            stopped_by="stop",
            duration_ns=end_ns,
            requests=requests,
            requests_per_s=requests / (end_ns / 1e9) if end_ns else 0.0,
            bytes_sent=0,
            bytes_received=0,
            connections_opened=0,
            errors=Errors(),
            latency=phases[-1].latency if phases else _replay_latency(0, 0.0, 0.0),
            intervals=len(self.intervals),
            phases=tuple(phases),
        )

    def close(self) -> None:
        self.stopped = True


@dataclass(frozen=True)
class MetricComparison:
    """``b / a`` for one metric, with its confidence interval."""

    metric: str
    a: float
    b: float
    ratio: float
    low: float
    high: float
    #: The interval excludes 1: the difference is significant at this confidence.
    significant: bool


@dataclass(frozen=True)
class Comparison:
    """Two benchmark results side by side: ``b`` relative to ``a``, metric by metric."""

    a_label: str
    b_label: str
    confidence: float
    metrics: tuple[MetricComparison, ...] = field(default=())

    def format(self) -> str:
        from ._report import format_comparison

        return format_comparison(self)


def compare(
    a: BenchmarkResult,
    b: BenchmarkResult,
    *,
    labels: tuple[str, str] = ("a", "b"),
    metrics: Optional[Sequence[str]] = None,
    confidence: float = 0.99,
    resamples: int = 10_000,
) -> Comparison:
    """Compare two results (e.g. PyPy against CPython, or two versions): ``b / a``.

    Uses the measured intervals of the steady executions of each; raises RunError if
    either has none.
    """
    for label, r in zip(labels, (a, b)):
        if not r.steady_executions:
            raise RunError(f"{label} has no steady execution to compare")
    names = list(metrics) if metrics is not None else [m for m in a.steady if m in b.steady]
    rows = []
    for metric in names:
        if metric not in METRICS:
            raise PlanError(f"unknown metric {metric!r}; choose from {list(METRICS)}")
        ratio = _stats.compare(
            a.groups(metric), b.groups(metric), confidence=confidence, resamples=resamples, seed=0
        )
        rows.append(
            MetricComparison(
                metric=metric,
                a=a.steady[metric].mean,
                b=b.steady[metric].mean,
                ratio=ratio.ratio,
                low=ratio.low,
                high=ratio.high,
                significant=ratio.significant,
            )
        )
    return Comparison(labels[0], labels[1], confidence, tuple(rows))
