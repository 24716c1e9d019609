"""The wrk-like text summary of a result."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._result import Latency, Result

__all__ = ["format_bytes", "format_ns", "format_result"]


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
            for (percentile, value_ns), (_, raw_ns) in zip(lat.percentiles, unc.percentiles):
                cells = f"{format_ns(value_ns):>10}   {format_ns(raw_ns):>10}"
                lines.append(f"  {percentile:>7g}%          {cells}")
        else:
            lines.append("  Latency Distribution")
            for percentile, value_ns in lat.percentiles:
                lines.append(f"  {percentile:>7g}%  {format_ns(value_ns):>10}")
        if result.send_lag is not None and result.send_lag.count:
            lag = result.send_lag
            lines.append(
                f"  Send lag (generator behind its schedule): p99 "
                f"{format_ns(lag.percentile(99.0))}, max {format_ns(lag.max_ns)}"
            )
    else:
        lines.append("  no request completed, so no latency")
    lines.append(
        f"  {result.requests} requests in {seconds:.2f}s, "
        f"{format_bytes(result.bytes_sent)} sent, {format_bytes(result.bytes_received)} read"
    )
    kinds = [f"{kind} {n}" for kind, n in result.errors.to_dict().items() if n]
    lines.append(f"  Errors: {', '.join(kinds) if kinds else 'none'}")
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
    transfer = result.bytes_received / seconds if seconds > 0 else 0.0
    lines.append(f"Requests/sec: {result.requests_per_s:>10.2f}")
    lines.append(f"Transfer/sec: {format_bytes(transfer):>10}")
    return "\n".join(lines)
