"""The wrk-like text summary of a result."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._result import Latency, Result

__all__ = [
    "format_benchmark",
    "format_bytes",
    "format_comparison",
    "format_ns",
    "format_result",
    "sparkline",
]


def format_ns(ns: float) -> str:
    """A duration in the largest unit that keeps it >= 1 (ns, µs, ms, s)."""
    if ns < 1e3:
        return f"{ns:.0f}ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f}µs"
    if ns < 1e9:
        return f"{ns / 1e6:.2f}ms"
    return f"{ns / 1e9:.2f}s"


def format_bytes(n: float) -> str:
    """A byte count in binary units, as wrk prints them."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.2f}{unit}" if unit != "B" else f"{n:.0f}B"
        n /= 1024
    return f"{n:.2f}TiB"


def _p50_p99(latency: Latency) -> str:
    cells = []
    for label, percentile in (("p50", 50.0), ("p99", 99.0)):
        for q, value_ns in latency.percentiles:
            if q == percentile:
                cells.append(f"{label} {format_ns(value_ns)}")
    if not cells:  # merged without histograms: only the moments are known
        cells.append(f"mean {format_ns(latency.mean_ns)}")
    cells.append(f"max {format_ns(latency.max_ns)}")
    return ", ".join(cells)


def format_result(result: Result) -> str:
    lat = result.latency
    seconds = result.duration_ns / 1e9
    lines: list[str] = [
        f"{seconds:.2f}s {result.protocol} run @ {result.target}",
        f"  {result.threads} threads and {result.connections} connections, "
        f"stopped by {result.stopped_by}",
    ]
    open_loop = result.rate_per_s is not None
    if open_loop:
        lines.append(
            f"  constant rate {result.rate_per_s:g} requests/s; latency counted from the "
            f"intended send time (corrected for coordinated omission)"
        )
    if lat.count:
        lines.append(f"  {'Latency':<10}{'Min':>10}{'Avg':>10}{'Stdev':>10}{'Max':>10}")
        cells = (lat.min_ns, lat.mean_ns, lat.stdev_ns, lat.max_ns)
        lines.append(" " * 12 + "".join(f"{format_ns(v):>10}" for v in cells))
        unc = result.uncorrected_latency
        if open_loop and unc is not None:
            lines.append("  Latency Distribution    corrected  uncorrected")
            raw = dict(unc.percentiles)  # empty when merged without its histograms
            for percentile, value_ns in lat.percentiles:
                raw_ns = raw.get(percentile)
                shown = format_ns(raw_ns) if raw_ns is not None else "-"
                cells = f"{format_ns(value_ns):>10}   {shown:>10}"
                lines.append(f"  {percentile:>7g}%          {cells}")
        else:
            lines.append("  Latency Distribution")
            for percentile, value_ns in lat.percentiles:
                lines.append(f"  {percentile:>7g}%  {format_ns(value_ns):>10}")
        if result.send_lag is not None and result.send_lag.count:
            lines.append(f"  Send lag (generator behind its schedule): {_p50_p99(result.send_lag)}")
        if result.send_gap is not None and result.send_gap.count:
            lines.append(
                f"  Send gap (generator's turnaround, reply to next request): "
                f"{_p50_p99(result.send_gap)}"
            )
    else:
        lines.append("  no request completed, so no latency")
    lines.append(
        f"  {result.requests} requests in {seconds:.2f}s, "
        f"{format_bytes(result.bytes_sent)} sent, {format_bytes(result.bytes_received)} read"
    )
    kinds = [f"{kind} {n}" for kind, n in result.errors.to_dict().items() if n]
    lines.append(f"  Errors: {', '.join(kinds) if kinds else 'none'}")
    for message in result.error_messages:
        kind = message.kind.replace("_", " ")
        lines.append(f"    {kind} errors: {message.count}, first: {message.first}")
    if result.status_codes:
        counts = ", ".join(f"{code} {n}" for code, n in result.status_codes)
        lines.append(f"  Status codes: {counts}")
    if result.non_2xx_3xx:
        lines.append(f"  Non-2xx or 3xx responses: {result.non_2xx_3xx}")
    lines.append(f"  Connections opened: {result.connections_opened}")
    idle = result.idle_connections
    if idle.requested:
        lines.append(
            f"  Idle connections: {idle.held} held of {idle.requested} asked ({idle.opened} opened)"
        )
    if result.connect.count:
        lines.append(f"  Connect time:   {_p50_p99(result.connect)}")
    if result.handshake is not None and result.handshake.count:
        lines.append(f"  Handshake time: {_p50_p99(result.handshake)}")
    if result.tls is not None:
        tls = result.tls
        lines.append(
            f"  TLS handshakes: {tls.handshakes} ({tls.resumed} resumed, "
            f"{tls.resumed_fraction:.1%}), {tls.handshakes_per_s:.2f}/s"
        )
        if tls.handshake.count:
            lines.append(f"  TLS handshake time: {_p50_p99(tls.handshake)}")
    lines.extend(_rank_lines(result))
    transfer = result.bytes_received / seconds if seconds > 0 else 0.0
    lines.append(f"Requests/sec: {result.requests_per_s:>10.2f}")
    lines.append(f"Transfer/sec: {format_bytes(transfer):>10}")
    return "\n".join(lines)


def _rank_lines(result: Result) -> list[str]:
    """A run over MPI ranks: one line per rank, its own counts beside the merged totals."""
    if not result.ranks:
        return []
    lines = [
        f"  Ranks: {len(result.ranks)} generators, merged interval by interval (histograms added)",
        f"    {'rank':<6}{'host':<16}{'status':<8}{'conns':>6}{'requests':>11}{'errors':>8}"
        f"{'p50':>10}{'p99':>10}{'offset':>11}{'skew':>10}",
    ]
    for r in result.ranks:
        p50 = format_ns(r.latency_p50_ns) if r.latency_p50_ns is not None else "-"
        p99 = format_ns(r.latency_p99_ns) if r.latency_p99_ns is not None else "-"
        offset = f"{r.clock_offset_ns / 1e6:+.3f}ms"
        skew = format_ns(abs(r.start_skew_ns))
        lines.append(
            f"    {r.rank:<6}{r.host[:15]:<16}{r.status:<8}{r.connections:>6}{r.requests:>11}"
            f"{r.errors:>8}{p50:>10}{p99:>10}{offset:>11}{skew:>10}"
        )
        if r.problem:
            lines.append(f"      {r.name}: {r.problem}")
    return lines


_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 40, low: float = 0.0, high: float = 0.0) -> str:
    """Values as block characters, averaged down to at most ``width`` characters.

    The scale runs from ``low`` to ``high`` (the values' own range if both are 0).
    """
    if not values:
        return ""
    if len(values) > width:
        step = len(values) / width
        values = [
            sum(chunk) / len(chunk)
            for chunk in (values[int(k * step) : int((k + 1) * step)] for k in range(width))
            if chunk
        ]
    if low == high == 0.0:
        low, high = min(values), max(values)
    span = high - low
    if span <= 0:
        return _BARS[3] * len(values)
    return "".join(_BARS[min(7, max(0, int((v - low) / span * 7.999)))] for v in values)


def _count(n: float) -> str:
    return f"{n:,.0f}"


def _metric_value(metric: str, value: float) -> str:
    return _count(value) if metric == "requests_per_s" else format_ns(value)


_METRIC_LABELS = {"requests_per_s": "requests/s"}


def _execution_lines(execution: Any) -> list[str]:
    e = execution
    lines = []
    if e.error:
        head = f"stopped early: {e.error.splitlines()[0]}"
    elif not e.reached_steady:
        head = f"no steady state reached in {e.warmup_s:.1f} s of warm-up; measured anyway"
    elif e.classification == "no steady state":
        tries = len(getattr(e, "attempts", ())) or 1
        head = (
            f"looked steady after {e.warmup_s:.1f} s of warm-up, but no measurement was "
            f"({tries} tried)"
        )
    else:
        head = f"steady after {e.warmup_s:.1f} s of warm-up"
    lines.append(f"execution {e.index}: {e.classification}; {head}")
    times = e.changepoints_s
    changes = ", ".join(f"{t:.1f} s" for t in times[:8])
    if len(times) > 8:
        changes += f", ... {times[-1]:.1f} s ({len(times)} in all)"
    lines.append(f"  changepoints at: {changes or 'none'}")
    reasons = getattr(e, "reasons", ())
    if reasons:
        lines.append("  why this verdict:")
        lines.extend(f"    - {reason}" for reason in reasons)
    attempts = getattr(e, "attempts", ())
    if len(attempts) > 1:
        tried = "; ".join(
            f"{a.phase} at {e.intervals[a.first].start_s:.1f} s: {a.classification}"
            for a in attempts
            if a.first < len(e.intervals)
        )
        lines.append(f"  measured {len(attempts)} times: {tried}")
    rates = [i.requests_per_s for i in e.intervals]
    if rates:
        low, high = min(rates), max(rates)
        warm = sparkline(rates[: len(e.warmup)], 40, low, high)
        measured = sparkline(rates[len(e.warmup) :], 20, low, high)
        lines.append(
            f"  requests/s {_count(low)}..{_count(high)}:  {warm} | {measured}"
            f"   (warm-up | measured)"
        )
    if e.measured:
        m = e.measure
        lines.append(
            f"  measured {m.duration_s:.1f} s: {_count(m.requests_per_s)} requests/s, "
            f"p50 {format_ns(m.latency.percentile(50.0))}, "
            f"p99 {format_ns(m.latency.percentile(99.0))}, "
            f"max {format_ns(m.latency.max_ns)}, errors {m.errors.total or 'none'}"
        )
    measured_server = [s for s in e.server[len(e.warmup) :] if s is not None]
    if measured_server:
        cpu = [s.cpu_percent for s in measured_server if s.cpu_percent == s.cpu_percent]
        rss = measured_server[-1].rss_bytes
        cpu_text = f"cpu {sum(cpu) / len(cpu):.0f}% of a core, " if cpu else ""
        lines.append(f"  server while measured: {cpu_text}rss {format_bytes(rss)}")
    events = [ev for ev in e.events[len(e.warmup) :] if ev is not None]
    if events:
        # HotSpot's per-interval events carry c1/c2 counts; PyPy's carry GC sections.
        runtime = "hotspot" if hasattr(events[0], "c2") else "pypy"
        lines.append(f"  {runtime} while measured: " + _events_text(events))
    share = getattr(e, "jit_share", None)
    if share is not None:
        busy = any(r.startswith("the JIT was still busy") for r in reasons)
        lines.append(
            f"  jit while measured: {share:.1%} of the time compiling"
            + ("  << the JIT was still busy" if busy else "")
        )
    noise = getattr(e, "generator_noise", None)
    if noise is not None:
        what = (
            "send lag (behind schedule)"
            if noise.kind == "send_lag"
            else ("send gap (reply to next write)")
        )
        flag = "  << generator noise over 10% of p50" if noise.flagged else ""
        lines.append(
            f"  generator {what}: p50 {format_ns(noise.p50_ns)}, p99 {format_ns(noise.p99_ns)}"
            f" = {noise.share:.1%} of the measured p50{flag}"
        )
    if e.server_log:
        lines.append(f"  server output: {e.server_log}")
    return lines


def _events_text(events: list[Any]) -> str:
    """GC and JIT activity summed over intervals (``IntervalEvents`` objects)."""
    parts = []
    for label, attr in (
        ("minor gc", "gc_minor"),
        ("major gc steps", "gc_major"),
        ("jit tracing" if not hasattr(events[0], "c2") else "jit compilations", "jit"),
    ):
        stats = [getattr(ev, attr, None) for ev in events]
        stats = [s for s in stats if s is not None and s.count]
        if not stats:
            continue
        count = sum(s.count for s in stats)
        total = sum(s.total_s for s in stats)
        peak = max(s.max_s for s in stats)
        parts.append(
            f"{count} {label} ({format_ns(total * 1e9)} total, {format_ns(peak * 1e9)} max)"
        )
    return ", ".join(parts) if parts else "no gc or jit events"


def _interval_text(executions: Any) -> str:
    for e in executions:
        for i in e.intervals:
            return f"; intervals of {(i.end_ns - i.start_ns) / 1e6:g} ms"
    return ""


def format_benchmark(result: Any) -> str:
    """The report of a benchmark: each execution, the classification, the estimates."""
    executions = result.executions
    first = executions[0].result
    w = result.warmup
    lines = [
        f"cannonade benchmark: {first.protocol} @ {first.target}, "
        f"{first.connections} connections, {first.threads} threads",
        f"warm-up: {w.min_s:g} s to {w.max_s:g} s, until no changepoint for "
        f"{w.steady_window_s:g} s in {', '.join(w.metrics)}; then measure {result.measure_s:g} s"
        + _interval_text(executions),
        "",
    ]
    for e in executions:
        lines.extend(_execution_lines(e))
        lines.append("")
    classes = [e.classification for e in executions]
    tally = ", ".join(f"{classes.count(c)} {c}" for c in dict.fromkeys(classes))
    lines.append(f"classification: {result.classification} ({tally})")
    if result.steady:
        n = len(result.steady_executions)
        lines.append(
            f"steady state over {n} execution{'s' if n != 1 else ''}: mean of the measured "
            f"intervals, {result.confidence:.0%} confidence interval (bootstrap)"
        )
        for metric, est in result.steady.items():
            label = _METRIC_LABELS.get(metric, metric)
            lines.append(
                f"  {label:<12}{_metric_value(metric, est.mean):>12}   "
                f"[{_metric_value(metric, est.low)}, {_metric_value(metric, est.high)}]"
            )
    else:
        lines.append("steady state: none reached; no steady-state estimate")
    return "\n".join(lines)


def format_comparison(comparison: Any) -> str:
    """Two results side by side: ``b / a`` per metric, with its interval."""
    c = comparison
    lines = [
        f"{c.b_label} relative to {c.a_label} ({c.confidence:.0%} confidence interval, bootstrap)",
        f"  {'metric':<12}{c.a_label:>12}{c.b_label:>12}{'b/a':>9}  interval",
    ]
    for m in c.metrics:
        label = _METRIC_LABELS.get(m.metric, m.metric)
        verdict = "significant" if m.significant else "not significant"
        lines.append(
            f"  {label:<12}{_metric_value(m.metric, m.a):>12}{_metric_value(m.metric, m.b):>12}"
            f"{m.ratio:>9.3f}  [{m.low:.3f}, {m.high:.3f}] {verdict}"
        )
    return "\n".join(lines)
