"""Warm-up, then measurement: decide from the data when a JIT server is warm.

One load stream runs against one server process. It starts in the phase
``"warmup"``; after every interval the warm-up series so far (throughput, p50 and
p99 by default) is analysed with PELT changepoints and classified the way of
Barrett et al., "Virtual Machine Warmup Blows Hot and Cold" (OOPSLA 2017). When no
changepoint lies in the last ``steady_window_s`` (and ``min_s`` has passed), the
server is warm: the phase ``"measure"`` starts at the next interval boundary and
lasts ``measure_s``. If ``max_s`` passes first, the execution is reported as "no
steady state reached"; it is still measured, and flagged, never silently averaged
in. A *process execution* (start the server, warm it, measure it, stop it) is the
unit of repetition; :meth:`Benchmark.run` does ``executions`` of them and
estimates the steady-state means with bootstrap confidence intervals.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Callable, Optional, Union
from urllib.parse import urlsplit, urlunsplit

from . import _stats, _steady
from ._errors import PlanError, RunError, ServerError
from ._plan import Plan, Tcp
from ._pypylog import summarize_intervals
from ._result import Interval, Phase, Result
from ._run import Run, start
from ._server import ProcessSample, Server

__all__ = [
    "METRICS",
    "Benchmark",
    "BenchmarkResult",
    "Comparison",
    "Execution",
    "MetricComparison",
    "ServerInterval",
    "Warmup",
    "compare",
]

#: Phase names the driver marks on the load stream.
WARMUP, MEASURE, AFTER = "warmup", "measure", "after"

_POLL_S = 0.05


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


@dataclass(frozen=True)
class Warmup:
    """When the server counts as warm.

    The warm-up lasts at least ``min_s`` and at most ``max_s``. It ends once the
    series named in ``metrics`` (keys of :data:`METRICS`) have had no changepoint
    for ``steady_window_s``. ``penalty`` (default 15·log n), ``delta`` (0.001 of the
    last segment's mean) and ``outlier_window`` (200 intervals) are Barrett et al.'s
    parameters; see :mod:`cannonade._steady`.
    """

    min_s: float = 10.0
    max_s: float = 120.0
    steady_window_s: float = 10.0
    metrics: tuple[str, ...] = ("requests_per_s", "p50", "p99")
    penalty: Optional[float] = None
    delta: float = 0.001
    outlier_window: int = 200

    def __post_init__(self) -> None:
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
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown:
            raise PlanError(f"Warmup.metrics: unknown {unknown}; choose from {list(METRICS)}")
        object.__setattr__(self, "metrics", tuple(self.metrics))

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


def _analyse(
    intervals: Sequence[Interval], warmup: Warmup, steady_window: int
) -> dict[str, _steady.SeriesAnalysis]:
    out = {}
    for name in warmup.metrics:
        value, higher_is_better = METRICS[name]
        out[name] = _steady.analyse(
            [value(i) for i in intervals],
            higher_is_better=higher_is_better,
            steady_window=steady_window,
            delta=warmup.delta,
            penalty=warmup.penalty,
            outlier_window=warmup.outlier_window,
        )
    return out


@dataclass(frozen=True)
class Execution:
    """One process execution: the server started, warmed up, measured, stopped.

    ``warmup`` and ``measured`` are the intervals of each phase (the short interval
    cut by the end of the run is in neither). ``classification`` is Barrett et
    al.'s over the whole series, with the measurement as the steady window: "flat",
    "warmup", "slowdown" or "no steady state". ``reached_steady`` is False when the
    warm-up hit ``max_s``; such an execution is classified "no steady state".
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
    #: The whole run's result; ``result.phase("measure")`` merges the measured intervals.
    result: Result
    #: Per metric: changepoints, segments, outliers and classification.
    analyses: Mapping[str, _steady.SeriesAnalysis]
    #: One per interval of ``intervals`` (None where no sample could be taken).
    server: tuple[Optional[ServerInterval], ...] = ()
    #: One per interval of ``intervals``, when PyPy GC and JIT events were collected.
    events: tuple[Any, ...] = ()
    server_log: Optional[str] = None
    #: Set when the execution stopped early (the server exited): what happened.
    error: Optional[str] = None
    started_unix_s: float = 0.0

    @property
    def intervals(self) -> tuple[Interval, ...]:
        """Warm-up then measured intervals, as analysed."""
        return self.warmup + self.measured

    @property
    def measure(self) -> Phase:
        """The measured phase, merged (histogram percentiles, not means of intervals)."""
        return self.result.phase(MEASURE)

    @property
    def steady(self) -> bool:
        return self.classification != _steady.NO_STEADY_STATE and self.error is None

    @property
    def changepoints_s(self) -> tuple[float, ...]:
        """Where any watched series changed, as seconds from the start of the run."""
        starts = sorted({c for a in self.analyses.values() for c in a.changepoints})
        return tuple(self.intervals[c].start_s for c in starts if c < len(self.intervals))

    def values(self, metric: str, measured_only: bool = True) -> list[float]:
        """The per-interval values of ``metric`` (a key of :data:`METRICS`)."""
        value = METRICS[metric][0]
        return [value(i) for i in (self.measured if measured_only else self.intervals)]

    def to_dict(self) -> dict[str, Any]:
        def interval(i: Interval, k: int) -> dict[str, Any]:
            row: dict[str, Any] = {
                "index": i.index,
                "phase": i.phase,
                "start_ns": i.start_ns,
                "end_ns": i.end_ns,
                "requests": i.requests,
                "requests_per_s": i.requests_per_s,
                "errors": i.errors.total,
                "latency_ns": i.latency.to_dict(),
                "histogram_v2_base64": base64.b64encode(i.histogram).decode("ascii"),
            }
            if k < len(self.server) and self.server[k] is not None:
                row["server"] = self.server[k].to_dict()  # type: ignore[union-attr]
            if k < len(self.events) and self.events[k] is not None:
                row["events"] = _jsonable(self.events[k])
            return row

        return {
            "index": self.index,
            "address": self.address,
            "classification": self.classification,
            "reached_steady": self.reached_steady,
            "warmup_s": self.warmup_s,
            "steady_start": self.steady_start,
            "error": self.error,
            "started_unix_s": self.started_unix_s,
            "server_log": self.server_log,
            "analyses": {name: _jsonable(a) for name, a in self.analyses.items()},
            "intervals": [interval(i, k) for k, i in enumerate(self.intervals)],
            "result": self.result.to_dict(),
        }


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
        return {
            "schema_version": 1,
            "kind": "benchmark",
            "classification": self.classification,
            "confidence": self.confidence,
            "warmup": self.warmup.to_dict(),
            "measure_s": self.measure_s,
            "steady": {name: _jsonable(e) for name, e in self.steady.items()},
            "executions": [e.to_dict() for e in self.executions],
        }

    def to_json(self, indent: Optional[int] = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

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

    def __init__(self, index: int, run: Run, server: Server, t0: float, unix0: float) -> None:
        self.index = index
        self.run = run
        self.server = server
        self.t0 = t0
        self.unix0 = unix0
        self.intervals: list[Interval] = []
        self.samples: list[Optional[ProcessSample]] = []
        self.reached_steady = False
        self.warmup_s = 0.0
        self.first_measured: Optional[int] = None


Progress = Callable[[str, Interval, Optional[ServerInterval]], None]


class Benchmark:
    """Warm a server up under load, then measure it, once or over several executions.

    ``server`` is a :class:`Server` that cannonade starts and stops (so executions
    restart it), or ``"HOST:PORT"`` of a server someone else runs, or None to use
    the plan's own target as such. The plan's target host and port are replaced by
    the server's address; its ``duration_s`` and ``requests`` are ignored, as the
    driver decides when to stop.

    Use the steps yourself::

        with Benchmark(plan, server) as bench:
            bench.warmup()             # returns once warm (or at warmup.max_s)
            execution = bench.measure()

    or :meth:`run` for every execution and the estimates across them.
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
        if isinstance(measure_s, bool) or not isinstance(measure_s, (int, float)):
            raise PlanError(f"measure_s must be a number of seconds, got {measure_s!r}")
        if not math.isfinite(measure_s) or measure_s < plan.interval_s:
            raise PlanError(
                f"measure_s must be at least one interval ({plan.interval_s} s), got {measure_s}"
            )
        if not 0.5 <= confidence < 1:
            raise PlanError(f"confidence must be in [0.5, 1), got {confidence}")
        self.plan = plan
        self.server = server
        self.settings = warmup if warmup is not None else Warmup()
        if self.settings.steady_window_s < 2 * plan.interval_s:
            raise PlanError(
                f"Warmup.steady_window_s ({self.settings.steady_window_s}) must span at least "
                f"two intervals of {plan.interval_s} s"
            )
        self.measure_s = float(measure_s)
        self.executions = executions
        self.confidence = confidence
        self.resamples = resamples
        self.progress = progress
        self._live: Optional[_Live] = None
        self._done: list[Execution] = []

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
        t0 = time.monotonic()
        run = start(plan)
        live = self._live = _Live(len(self._done) + 1, run, self.server, t0, unix0)
        try:
            run.mark_phase(WARMUP)
            window = self._intervals_for(settings.steady_window_s)
            least = max(self._intervals_for(settings.min_s), window)
            most = self._intervals_for(settings.max_s)
            while True:
                fresh = self._step(live, WARMUP)
                if not fresh:
                    continue
                n = len(live.intervals)
                if n >= least:
                    analyses = _analyse(live.intervals, settings, window)
                    overall, _ = _steady.combine(list(analyses.values()))
                    if overall != _steady.NO_STEADY_STATE:
                        live.reached_steady = True
                        break
                if n >= most:
                    break
            live.first_measured = run.mark_phase(MEASURE)
            live.warmup_s = live.intervals[-1].end_s
        except BaseException as error:
            self._abandon(error)
            raise
        return list(live.intervals)

    def measure(self) -> Execution:
        """Measure the warmed-up server for ``measure_s``, stop the load and the server.

        Runs :meth:`warmup` first if it has not run.
        """
        if self._live is None:
            self.warmup()
        live = self._live
        assert live is not None and live.first_measured is not None
        try:
            want = self._intervals_for(self.measure_s)
            while len(live.intervals) - live.first_measured < want:
                self._step(live, MEASURE)
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
                estimates[metric] = _stats.bootstrap_mean(
                    [e.values(metric) for e in steady_ones],
                    confidence=self.confidence,
                    resamples=self.resamples,
                    seed=0,
                )
        return BenchmarkResult(
            executions=executions,
            classification=classification,
            steady=estimates,
            confidence=self.confidence,
            warmup=self.settings,
            measure_s=self.measure_s,
        )

    # -- the loop -------------------------------------------------------------------

    def _step(self, live: _Live, phase: str) -> int:
        """Wait a little, take new intervals in, check the server; return how many came."""
        time.sleep(_POLL_S)
        fresh = live.run.poll()
        for interval in fresh:
            self._record(live, interval)
        live.server.check()
        if live.run.finished:
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

    def _finish(self, live: _Live, result: Result, error: Optional[str]) -> Execution:
        first = live.first_measured
        warm = tuple(i for i in live.intervals if first is None or i.index < first)
        measured = tuple(i for i in live.intervals if first is not None and i.index >= first)
        series = warm + measured
        # Barrett et al.: the measurement is the window that must hold no changepoint.
        window = len(measured) or self._intervals_for(self.settings.steady_window_s)
        analyses = _analyse(series, self.settings, window) if series else {}
        if analyses:
            classification, steady_start = _steady.combine(list(analyses.values()))
        else:
            classification, steady_start = _steady.NO_STEADY_STATE, None
        if not live.reached_steady:
            classification, steady_start = _steady.NO_STEADY_STATE, None
        server = tuple(self._server_interval(live, k) for k in range(len(live.samples)))
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
            events=self._events(live, series),
            server_log=str(live.server.log_path) if live.server.log_path else None,
            error=error,
            started_unix_s=live.unix0,
        )

    @staticmethod
    def _events(live: _Live, series: Sequence[Interval]) -> tuple[Any, ...]:
        reader = live.server.pypylog
        if reader is None or not series:
            return ()
        edges = [live.t0 + i.start_s for i in series] + [live.t0 + series[-1].end_s]
        return tuple(summarize_intervals(reader.read(), edges))

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
