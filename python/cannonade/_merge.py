"""Merging runs from several processes or machines into one result.

Runs of the same plan that ran side by side (one per process or machine, against one
server) merge by *adding their histograms*, interval by interval and phase by phase;
percentiles are then read off the added histograms, never averaged (an average of
p99s is not the p99 of anything). Counts, bytes, errors, status codes and rates add.

How intervals are aligned: by their index. Each run's intervals are counted from its
own start, so interval ``k`` of one run is matched with interval ``k`` of the others;
they must have the same phase and the same length (within a tenth of an interval, the
last one excepted: the stop cuts it short). Runs that cannot be aligned so are
refused, with the reason: another target, protocol, connection count or load model
(closed loop or a rate), another number of intervals or phases, or histograms of
another layout.

What cannot be added exactly is said so, not made up: the means and standard
deviations combine exactly from the parts' counts; percentiles come only from added
histograms, so a latency kept without a histogram (the uncorrected latency of an
open loop, the send lag or gap, connect and handshake times) keeps its count, min,
max, mean and stdev but no percentiles.

Results without their interval series (``Result.interval_series``; the CLI's
``--json`` keeps it) merge phase by phase instead: phases are whole intervals, and
each carries its histogram.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Optional, Union

from ._errors import ResultError
from ._hlog import Histogram, add_histograms, decode_histogram, encode_histogram
from ._result import (
    SCHEMA_VERSION,
    ErrorMessage,
    Errors,
    IdleConnections,
    Interval,
    Labels,
    LabelStats,
    Latency,
    Phase,
    Result,
    TlsHandshakes,
)

__all__ = ["merge", "merge_note"]

#: ``stopped_by`` of a merged result whose parts stopped for different reasons.
MIXED = "mixed"


def _histogram(blob: bytes, where: str) -> Optional[Histogram]:
    if not blob:
        return None
    try:
        return decode_histogram(blob)
    except ValueError as error:
        raise ResultError(f"{where}: {error}") from None


def _added(blobs: Sequence[bytes], labels: Sequence[str], where: str) -> Optional[Histogram]:
    """The sum of the histograms ``blobs`` (None if any is missing)."""
    decoded = [_histogram(blob, f"{label}: {where}") for blob, label in zip(blobs, labels)]
    known = [h for h in decoded if h is not None]
    if len(known) != len(decoded):
        return None
    try:
        return add_histograms(known)
    except ValueError as error:
        raise ResultError(f"cannot merge {labels[-1]}: {where}: {error}") from None


def _latency(parts: Sequence[Latency], histogram: Optional[Histogram]) -> Latency:
    """The parts' latency merged: exact moments, percentiles from ``histogram`` only."""
    quantiles = [q for q, _ in parts[0].percentiles]
    n = sum(p.count for p in parts)
    counted = [p for p in parts if p.count]
    if n == 0 or not counted:
        return Latency(0, 0, 0.0, 0.0, 0, tuple((q, 0) for q in quantiles))
    mean = math.fsum(p.count * p.mean_ns for p in counted) / n
    variance = math.fsum(p.count * (p.stdev_ns**2 + (p.mean_ns - mean) ** 2) for p in counted) / n
    if histogram is not None and histogram.total == n:
        percentiles = tuple((q, histogram.value_at_percentile(q)) for q in quantiles)
    else:
        percentiles = ()
    return Latency(
        count=n,
        min_ns=min(p.min_ns for p in counted),
        mean_ns=mean,
        stdev_ns=math.sqrt(max(variance, 0.0)),
        max_ns=max(p.max_ns for p in counted),
        percentiles=percentiles,
    )


def _optional_latency(parts: Sequence[Optional[Latency]]) -> Optional[Latency]:
    known = [p for p in parts if p is not None]
    return _latency(known, None) if known else None


def _tls(parts: Sequence[Optional[TlsHandshakes]]) -> Optional[TlsHandshakes]:
    """The parts' TLS handshakes added: counts and rates summed, times as for connect."""
    known = [p for p in parts if p is not None]
    if not known:
        return None
    handshakes = sum(p.handshakes for p in known)
    resumed = sum(p.resumed for p in known)
    return TlsHandshakes(
        handshakes=handshakes,
        resumed=resumed,
        resumed_fraction=resumed / handshakes if handshakes else 0.0,
        handshakes_per_s=math.fsum(p.handshakes_per_s for p in known),
        handshake=_latency([p.handshake for p in known], None),
    )


def _errors(parts: Sequence[Errors]) -> Errors:
    totals = {name: 0 for name in Errors().to_dict()}
    for errors in parts:
        for name, count in errors.to_dict().items():
            totals[name] += count
    return Errors(**totals)


def _codes(parts: Sequence[tuple[tuple[int, int], ...]]) -> tuple[tuple[int, int], ...]:
    counts: dict[int, int] = {}
    for codes in parts:
        for code, n in codes:
            counts[code] = counts.get(code, 0) + n
    return tuple(sorted(counts.items()))


def _messages(parts: Sequence[tuple[ErrorMessage, ...]]) -> tuple[ErrorMessage, ...]:
    merged: dict[str, ErrorMessage] = {}
    for messages in parts:
        for m in messages:
            seen = merged.get(m.kind)
            merged[m.kind] = (
                ErrorMessage(m.kind, seen.count + m.count, seen.first) if seen is not None else m
            )
    order = list(Errors().to_dict())
    return tuple(
        sorted(
            merged.values(),
            key=lambda m: (order.index(m.kind) if m.kind in order else len(order), m.kind),
        )
    )


def _uncorrected(
    parts: Sequence[Latency], corrected: Sequence[Latency], merged: Latency
) -> Latency:
    # Closed loop: the uncorrected latency is the corrected one, histogram included.
    if all(u == c for u, c in zip(parts, corrected)):
        return merged
    return _latency(parts, None)


def _labels(parts: Sequence[Labels], labels: Sequence[str], what: str) -> Labels:
    """The parts' mix labels added up label by label (by name, in first-seen order)."""
    names: list[str] = []
    for part in parts:
        names += [stats.label for stats in part if stats.label not in names]
    merged = []
    for name in names:
        found = [(stats, label) for part, label in zip(parts, labels) if (stats := part.get(name))]
        stats_list = [stats for stats, _ in found]
        histogram = _added(
            [stats.histogram for stats in stats_list],
            [label for _, label in found],
            f"{what} label {name!r}",
        )
        latency = _latency([stats.latency for stats in stats_list], histogram)
        merged.append(
            LabelStats(
                label=name,
                requests=sum(stats.requests for stats in stats_list),
                errors=_errors([stats.errors for stats in stats_list]),
                latency=latency,
                uncorrected_latency=_uncorrected(
                    [stats.uncorrected_latency for stats in stats_list],
                    [stats.latency for stats in stats_list],
                    latency,
                ),
                status_codes=_codes([stats.status_codes for stats in stats_list]),
                histogram=encode_histogram(histogram) if histogram is not None else b"",
            )
        )
    return Labels(merged)


def _span(
    parts: Sequence[Union[Interval, Phase]], labels: Sequence[str], what: str
) -> dict[str, Any]:
    """What an interval and a phase have in common, added up: times, counts, errors and
    latencies (from the added histogram), as keyword arguments for either."""
    histogram = _added([p.histogram for p in parts], labels, what)
    latency = _latency([p.latency for p in parts], histogram)
    return {
        "start_ns": min(p.start_ns for p in parts),
        "end_ns": max(p.end_ns for p in parts),
        "requests": sum(p.requests for p in parts),
        "requests_per_s": math.fsum(p.requests_per_s for p in parts),
        "bytes_sent": sum(p.bytes_sent for p in parts),
        "bytes_received": sum(p.bytes_received for p in parts),
        "connections_opened": sum(p.connections_opened for p in parts),
        "errors": _errors([p.errors for p in parts]),
        "latency": latency,
        "uncorrected_latency": _uncorrected(
            [p.uncorrected_latency for p in parts], [p.latency for p in parts], latency
        ),
        "histogram": encode_histogram(histogram) if histogram is not None else b"",
        "labels": _labels([p.labels for p in parts], labels, what),
        "tls": _tls([p.tls for p in parts]),
    }


def _interval(parts: Sequence[Interval], labels: Sequence[str]) -> Interval:
    first = parts[0]
    return Interval(
        index=first.index,
        phase=first.phase,
        **_span(parts, labels, f"interval {first.index}"),
    )


def _phase(parts: Sequence[Phase], labels: Sequence[str]) -> Phase:
    first = parts[0]
    return Phase(
        name=first.name,
        first_interval=first.first_interval,
        intervals=max(p.intervals for p in parts),
        send_lag=_optional_latency([p.send_lag for p in parts]),
        send_gap=_optional_latency([p.send_gap for p in parts]),
        status_codes=_codes([p.status_codes for p in parts]),
        non_2xx_3xx=sum(p.non_2xx_3xx for p in parts),
        error_messages=_messages([p.error_messages for p in parts]),
        **_span(parts, labels, f"phase {first.name!r}"),
    )


def _length_s(interval: Interval) -> float:
    return (interval.end_ns - interval.start_ns) / 1e9


def _check(results: Sequence[Result], labels: Sequence[str], shares: bool = False) -> bool:
    """Refuse results that cannot be merged; return whether to merge interval by interval."""
    base, base_label = results[0], labels[0]
    for result, label in zip(results[1:], labels[1:]):

        def refuse(why: str, label: str = label) -> ResultError:
            return ResultError(f"cannot merge {label} with {base_label}: {why}")

        for name in ("target", "protocol") if shares else ("target", "protocol", "connections"):
            mine, theirs = getattr(result, name), getattr(base, name)
            if mine != theirs:
                raise refuse(f"its {name} is {mine!r}, not {theirs!r} (another plan)")
        if (result.rate_per_s is None) != (base.rate_per_s is None) or (
            result.rate_per_s != base.rate_per_s and not shares
        ):

            def loop(r: Result) -> str:
                return "a closed loop" if r.rate_per_s is None else f"{r.rate_per_s:g} requests/s"

            raise refuse(f"it ran {loop(result)}, not {loop(base)} (another plan)")
        names = [(p.name, p.first_interval, p.intervals) for p in result.phases]
        theirs = [(p.name, p.first_interval, p.intervals) for p in base.phases]
        # The last phase may hold one interval more: the short one a stop cut off.
        if [n[:2] for n in names] != [t[:2] for t in theirs] or any(
            n[2] != t[2] and (k != len(names) - 1 or abs(n[2] - t[2]) > 1)
            for k, (n, t) in enumerate(zip(names, theirs))
        ):

            def show(phases: list[tuple[str, int, int]]) -> str:
                return ", ".join(f"{n} ({k} intervals from {f})" for n, f, k in phases) or "none"

            raise refuse(f"its phases are {show(names)}, not {show(theirs)}")
    series = [bool(r.interval_series) for r in results]
    if not all(series):
        if any(series):
            missing = labels[series.index(False)]
            raise ResultError(
                f"cannot merge {missing}: it has no interval series and "
                f"{labels[series.index(True)]} has one; save every run with the CLI's --json "
                f"(which keeps the intervals), or merge results without them"
            )
        return False
    base_series = base.interval_series
    step = _length_s(base_series[0])
    for result, label in zip(results[1:], labels[1:]):
        mine = result.interval_series
        # One interval more or less: the short last one, which a stop may or may not cut.
        if abs(len(mine) - len(base_series)) > 1:
            raise ResultError(
                f"cannot merge {label} with {base_label}: it has {len(mine)} intervals, not "
                f"{len(base_series)}; runs merge interval by interval, so they must have run "
                f"as long (the same -d, not -n)"
            )
        common = min(len(mine), len(base_series))
        for k, (a, b) in enumerate(zip(base_series, mine)):
            if a.index != b.index or a.phase != b.phase:
                raise ResultError(
                    f"cannot merge {label} with {base_label}: its interval {k} is "
                    f"{b.index} ({b.phase}), not {a.index} ({a.phase})"
                )
            last = k >= common - 1
            if not last and abs(_length_s(a) - _length_s(b)) > max(0.1 * step, 0.005):
                raise ResultError(
                    f"cannot merge {label} with {base_label}: its interval {k} lasted "
                    f"{_length_s(b):.3f} s, not {_length_s(a):.3f} s (another --interval)"
                )
    return True


def merge(
    results: Sequence[Result], labels: Optional[Sequence[str]] = None, *, shares: bool = False
) -> Result:
    """One result of runs that ran side by side: histograms added, counts summed.

    ``labels`` name the results in error messages (e.g. their file names). Raises
    ResultError naming the result that cannot be merged and why; see the module
    docstring for how intervals are aligned. ``shares``: the results are the shares of
    one plan split across generators (``--mpi``), so their connection counts and rates
    may differ (both are summed).
    """
    results = list(results)
    if len(results) < 2:
        raise ResultError(f"merge needs at least two results, got {len(results)}")
    for k, r in enumerate(results):
        if not isinstance(r, Result):
            raise ResultError(
                f"merge takes cannonade.Result objects (runs), got {type(r).__name__} "
                f"at position {k}; a benchmark's executions were each warmed up and judged "
                f"on their own and do not merge"
            )
    labels = (
        [str(x) for x in labels]
        if labels is not None
        else [f"result {k + 1}" for k in range(len(results))]
    )
    if len(labels) != len(results):
        raise ResultError(f"merge got {len(labels)} labels for {len(results)} results")
    by_interval = _check(results, labels, shares)
    series: tuple[Interval, ...] = ()
    if by_interval:
        longest = max(len(r.interval_series) for r in results)
        series = tuple(
            _interval(
                [r.interval_series[k] for r in results if k < len(r.interval_series)],
                [x for x, r in zip(labels, results) if k < len(r.interval_series)],
            )
            for k in range(longest)
        )
    phases = tuple(_phase(list(parts), labels) for parts in zip(*(r.phases for r in results)))
    histogram = _added([r.histogram for r in results], labels, "the run's histogram")
    latency = _latency([r.latency for r in results], histogram)
    uncorrected = [r.uncorrected_latency or r.latency for r in results]
    reasons = {r.stopped_by for r in results}
    rates = [r.rate_per_s for r in results]
    handshakes = [r.handshake for r in results]
    return Result(
        schema_version=SCHEMA_VERSION,
        target=results[0].target,
        protocol=results[0].protocol,
        connections=sum(r.connections for r in results),
        threads=sum(r.threads for r in results),
        stopped_by=reasons.pop() if len(reasons) == 1 else MIXED,
        duration_ns=max(r.duration_ns for r in results),
        requests=sum(r.requests for r in results),
        requests_per_s=math.fsum(r.requests_per_s for r in results),
        bytes_sent=sum(r.bytes_sent for r in results),
        bytes_received=sum(r.bytes_received for r in results),
        connections_opened=sum(r.connections_opened for r in results),
        errors=_errors([r.errors for r in results]),
        latency=latency,
        rate_per_s=None if rates[0] is None else math.fsum(r or 0.0 for r in rates),
        uncorrected_latency=_uncorrected(uncorrected, [r.latency for r in results], latency),
        send_lag=_optional_latency([r.send_lag for r in results]),
        send_gap=_optional_latency([r.send_gap for r in results]),
        intervals=max(r.intervals for r in results),
        status_codes=_codes([r.status_codes for r in results]),
        non_2xx_3xx=sum(r.non_2xx_3xx for r in results),
        connect=_latency([r.connect for r in results], None),
        handshake=_optional_latency(handshakes),
        idle_connections=IdleConnections(
            requested=sum(r.idle_connections.requested for r in results),
            opened=sum(r.idle_connections.opened for r in results),
            held=sum(r.idle_connections.held for r in results),
        ),
        phases=phases,
        histogram=encode_histogram(histogram) if histogram is not None else b"",
        error_messages=_messages([r.error_messages for r in results]),
        interval_series=series,
        tls=_tls([r.tls for r in results]),
        # Each part drew its own choices; the first part's mix says how.
        mix=results[0].mix,
        labels=_labels([r.labels for r in results], labels, "the run"),
    )


def merge_note(results: Sequence[Result], merged: Result) -> str:
    """One line saying how ``merged`` was made from ``results``."""
    n = len(results)
    if merged.interval_series:
        first = merged.interval_series[0]
        step = (first.end_ns - first.start_ns) / 1e9
        return (
            f"merged {n} runs interval by interval: {len(merged.interval_series)} intervals of "
            f"{step:g} s aligned by index, histograms added, counts, errors and rates summed"
        )
    return (
        f"merged {n} runs phase by phase (they kept no interval series): "
        f"{len(merged.phases)} phase(s), histograms added, counts, errors and rates summed"
    )
