"""The HTML report: one self-contained file with plots, for a run or a benchmark.

The page inlines uPlot (vendored in ``_vendor/uplot``, MIT) and fetches nothing, so
it opens offline and can be mailed around. Everything that comes from a result
(targets, labels, phase names, server output) travels as JSON data inside a
``<script type="application/json">`` element, with ``<``, ``>``, ``&`` and the line
separators escaped, and the page's script puts it on screen with ``textContent``
only: a result cannot inject markup. Pure Python, so it works under PyPy too.

Plots: throughput and p50/p99 over time with the phases shaded and changepoints
marked, PyPy GC and JIT time per interval when they were collected, all on one time
axis; and the latency percentile spectrum (HdrHistogram style: x is the number of
nines, -log10(1 - p/100)), corrected and uncorrected together for an open loop.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, Union

from ._errors import InternalError
from ._hlog import Histogram, decode_histogram, measured_tags

__all__ = ["render_compare_html", "render_html", "write_compare_html", "write_html"]

UPLOT_VERSION = "1.6.32"
_VENDOR = Path(__file__).resolve().parent / "_vendor" / "uplot"


def _vendored(name: str) -> str:
    path = _VENDOR / name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InternalError(
            f"the vendored chart library is missing ({path}: {error.strerror}); reinstall cannonade"
        ) from None
    # Inlined as is: it must not be able to close its own element.
    if "</script" in text.lower() or "</style" in text.lower():
        raise InternalError(f"{path} holds a closing tag and cannot be inlined (reinstall)")
    return text


# --- reading results (objects or their to_dict() shapes) ---------------------------


def _as_dict(result: Any) -> dict[str, Any]:
    if isinstance(result, Mapping):
        return dict(result)
    to_dict = getattr(result, "to_dict", None)
    if callable(to_dict):
        data = to_dict()
        if isinstance(data, Mapping):
            return dict(data)
    raise TypeError(
        f"expected a Result, a BenchmarkResult or the dict of one, got {type(result).__name__}"
    )


def _is_benchmark(data: Mapping[str, Any]) -> bool:
    return data.get("kind") == "benchmark" or isinstance(data.get("executions"), list)


def _num(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _percentile(latency: Any, p: float) -> Optional[float]:
    """``p`` from a ``latency_ns`` object (None if absent or nothing was counted)."""
    if not isinstance(latency, Mapping) or not latency.get("count"):
        return None
    for pair in latency.get("percentiles") or ():
        if isinstance(pair, (list, tuple)) and len(pair) == 2 and _num(pair[0]) == p:
            return _num(pair[1])
    return None


def _histogram(b64: Any) -> Optional[Histogram]:
    if not isinstance(b64, str) or not b64:
        return None
    try:
        histogram = decode_histogram(base64.b64decode(b64))
    except (ValueError, binascii.Error):
        return None
    return histogram if histogram.total else None


def _merge(histograms: Sequence[Histogram]) -> Optional[Histogram]:
    """Add histograms of one layout bucket by bucket (None if there are none)."""
    if not histograms:
        return None
    first = histograms[0]
    layout = (first.significant_figures, first.lowest_discernible)
    counts: dict[int, int] = {}
    for h in histograms:
        if (h.significant_figures, h.lowest_discernible) != layout:
            return first  # different layouts cannot be added; show the first
        for index, count in h.counts:
            counts[index] = counts.get(index, 0) + count
    return Histogram(
        first.significant_figures,
        first.lowest_discernible,
        max(h.highest_trackable for h in histograms),
        tuple(sorted(counts.items())),
    )


def _nines(percentile: float, total: int) -> float:
    # The maximum (100%) sits at the 1-in-total point, where the tail of the data ends.
    rest = max(1.0 - percentile / 100.0, 1.0 / max(total, 1))
    return -math.log10(rest) if rest < 1.0 else 0.0


def _spectrum_points(histogram: Histogram) -> list[list[float]]:
    """``[nines, latency_ms]`` per bucket, starting at the minimum (0th percentile)."""
    total = histogram.total
    first_low = next(histogram.buckets())[0]
    points = [[0.0, first_low / 1e6]]
    for p, value in histogram.spectrum():
        points.append([round(_nines(p, total), 6), value / 1e6])
    return points


def _summary_points(latency: Any) -> Optional[list[list[float]]]:
    """The exported percentiles of a latency object as spectrum points."""
    if not isinstance(latency, Mapping) or not latency.get("count"):
        return None
    total = int(latency.get("count") or 0)
    points = []
    low = _num(latency.get("min"))
    if low is not None:
        points.append([0.0, low / 1e6])
    for pair in latency.get("percentiles") or ():
        if isinstance(pair, (list, tuple)) and len(pair) == 2:
            p, v = _num(pair[0]), _num(pair[1])
            if p is not None and v is not None:
                points.append([round(_nines(p, total), 6), v / 1e6])
    high = _num(latency.get("max"))
    if high is not None:
        points.append([round(_nines(100.0, total), 6), high / 1e6])
    return sorted(points) or None


def _fmt_ns(value: Optional[float]) -> str:
    if value is None:
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.0f} ns"


def _fmt(value: Any) -> str:
    number = _num(value)
    if number is None:
        return "-" if value is None else str(value)
    return f"{number:,.0f}" if abs(number) >= 100 or number == int(number) else f"{number:.3g}"


def _measured_phase(phases: Sequence[Mapping[str, Any]]) -> Optional[Mapping[str, Any]]:
    """The last measurement attempt among a run's phases, else None."""
    names = measured_tags(str(p.get("name")) for p in phases)
    for phase in reversed(phases):
        if str(phase.get("name")) in names:
            return phase
    return None


def _band_kind(phase: str, measured: set[str]) -> str:
    if phase in measured:
        return "measure"
    if phase.startswith("warmup"):
        return "warmup"
    if phase.startswith("measure"):
        return "discarded"
    return "other"


def _seconds(value: Any) -> Optional[float]:
    if isinstance(value, Mapping):
        return _num(value.get("total_s"))
    return _num(value)


class _Source:
    """One result, flattened into what the page plots."""

    def __init__(self, data: Mapping[str, Any], intervals: Optional[Sequence[Any]] = None):
        self.data = data
        self.rows: list[dict[str, Any]] = []  # t, rps, p50, p99 (ms), gc, jit (ms), cpu
        self.bands: list[dict[str, Any]] = []
        self.marks: list[dict[str, Any]] = []
        self.spectra: list[dict[str, Any]] = []
        self.summary: list[list[str]] = []
        self.notes: list[str] = []
        if _is_benchmark(data):
            self._benchmark(data)
        else:
            self._run(data, intervals)

    # A run: its intervals when the caller kept them, else one step per phase.
    def _run(self, data: Mapping[str, Any], intervals: Optional[Sequence[Any]]) -> None:
        phases = [p for p in data.get("phases") or () if isinstance(p, Mapping)]
        spans: list[Mapping[str, Any]]
        if intervals:
            spans = [_interval_dict(i) for i in intervals]
        else:
            spans = phases
            if phases:
                self.notes.append(
                    "The run's intervals were not kept: the time plots show one step per phase."
                )
        measured = measured_tags(str(p.get("name")) for p in phases)
        self._add_rows(spans, offset_s=0.0)
        self._add_bands(spans, 0.0, measured, prefix="")
        phase = _measured_phase(phases)
        source = phase if phase is not None else data
        key = "histogram_v2_base64" if phase is not None else "histogram_base64"
        what = f"phase {phase.get('name')}" if phase is not None else "whole run"
        self._add_spectrum(source, key, what, open_loop=data.get("rate_per_s") is not None)
        self.target = str(data.get("target", ""))
        self.summary = _run_summary(data, phase)

    def _benchmark(self, data: Mapping[str, Any]) -> None:
        executions = [e for e in data.get("executions") or () if isinstance(e, Mapping)]
        starts = [_num(e.get("started_unix_s")) for e in executions]
        known = [s for s in starts if s]
        origin = min(known) if known else None
        end_s = 0.0
        first_result: Mapping[str, Any] = {}
        for n, execution in enumerate(executions):
            rows = [r for r in execution.get("intervals") or () if isinstance(r, Mapping)]
            start = starts[n]
            offset = start - origin if start and origin is not None else end_s
            label = f"e{execution.get('index', n + 1)}"
            measured = measured_tags(str(r.get("phase")) for r in rows)
            self._add_rows(rows, offset)
            self._add_bands(rows, offset, measured, prefix=f"{label} ")
            self._add_changepoints(execution, rows, offset, label)
            if rows:
                end_s = max(end_s, offset + (_num(rows[-1].get("end_ns")) or 0.0) / 1e9)
            result = execution.get("result")
            if isinstance(result, Mapping):
                first_result = first_result or result
                phases = [p for p in result.get("phases") or () if isinstance(p, Mapping)]
                phase = _measured_phase(phases)
                if phase is not None:
                    self._add_spectrum(
                        phase,
                        "histogram_v2_base64",
                        f"{label} {phase.get('name')}",
                        open_loop=result.get("rate_per_s") is not None,
                    )
        self.target = str(first_result.get("target", ""))
        self.summary = _benchmark_summary(data, executions, first_result)

    def _add_rows(self, spans: Sequence[Mapping[str, Any]], offset_s: float) -> None:
        for span in spans:
            t0, t1 = _num(span.get("start_ns")), _num(span.get("end_ns"))
            if t0 is None or t1 is None:
                continue
            events = span.get("events") or span.get("pypy")
            events = events if isinstance(events, Mapping) else {}
            gc = [_seconds(events.get(k)) for k in ("gc_minor", "gc_major")]
            gc_s = sum(g for g in gc if g is not None) if any(g is not None for g in gc) else None
            jit_s = _seconds(events.get("jit", span.get("jit")))
            server = span.get("server")
            cpu = _num(server.get("cpu_percent")) if isinstance(server, Mapping) else None
            latency = span.get("latency_ns")
            p50, p99 = _percentile(latency, 50.0), _percentile(latency, 99.0)
            self.rows.append(
                {
                    "t": round(offset_s + (t0 + t1) / 2e9, 6),
                    "rps": _num(span.get("requests_per_s")),
                    "p50": None if p50 is None else p50 / 1e6,
                    "p99": None if p99 is None else p99 / 1e6,
                    "gc": None if gc_s is None else gc_s * 1e3,
                    "jit": None if jit_s is None else jit_s * 1e3,
                    "cpu": cpu,
                }
            )

    def _add_bands(
        self, spans: Sequence[Mapping[str, Any]], offset_s: float, measured: set[str], prefix: str
    ) -> None:
        for span in spans:
            name = str(span.get("phase", span.get("name", "main")))
            t0, t1 = _num(span.get("start_ns")), _num(span.get("end_ns"))
            if t0 is None or t1 is None:
                continue
            start, end = offset_s + t0 / 1e9, offset_s + t1 / 1e9
            last = self.bands[-1] if self.bands else None
            label = prefix + name
            if last is not None and last["label"] == label and abs(last["end"] - start) < 1e-3:
                last["end"] = end
            else:
                kind = _band_kind(name, measured)
                self.bands.append({"label": label, "start": start, "end": end, "kind": kind})

    def _add_changepoints(
        self,
        execution: Mapping[str, Any],
        rows: Sequence[Mapping[str, Any]],
        offset: float,
        label: str,
    ) -> None:
        analyses = execution.get("analyses")
        if not isinstance(analyses, Mapping):
            return
        at: dict[int, list[str]] = {}
        for metric, analysis in analyses.items():
            if isinstance(analysis, Mapping):
                for c in analysis.get("changepoints") or ():
                    if isinstance(c, int) and 0 <= c < len(rows):
                        at.setdefault(c, []).append(str(metric))
        for c, metrics in sorted(at.items()):
            t = _num(rows[c].get("start_ns"))
            if t is not None:
                self.marks.append(
                    {"t": offset + t / 1e9, "label": f"{label} changepoint: {', '.join(metrics)}"}
                )

    def _add_spectrum(
        self, source: Mapping[str, Any], key: str, label: str, open_loop: bool
    ) -> None:
        histogram = _histogram(source.get(key))
        corrected = _spectrum_points(histogram) if histogram is not None else None
        if corrected is None:
            corrected = _summary_points(source.get("latency_ns"))
        if corrected is None:
            return
        entry: dict[str, Any] = {"label": label, "corrected": corrected, "uncorrected": None}
        if open_loop:
            entry["uncorrected"] = _summary_points(source.get("uncorrected_latency_ns"))
        self.spectra.append(entry)

    def merged_spectrum(self) -> Optional[list[list[float]]]:
        """The measured phases of every execution added together, for comparisons."""
        histograms = []
        for execution in self.data.get("executions") or ():
            result = execution.get("result") if isinstance(execution, Mapping) else None
            if isinstance(result, Mapping):
                phase = _measured_phase(
                    [p for p in result.get("phases") or () if isinstance(p, Mapping)]
                )
                h = _histogram(phase.get("histogram_v2_base64")) if phase else None
                if h is not None:
                    histograms.append(h)
        merged = _merge(histograms)
        if merged is not None:
            return _spectrum_points(merged)
        return self.spectra[0]["corrected"] if self.spectra else None


def _interval_dict(interval: Any) -> Mapping[str, Any]:
    if isinstance(interval, Mapping):
        return interval
    latency = getattr(interval, "latency", None)
    return {
        "phase": getattr(interval, "phase", "main"),
        "start_ns": getattr(interval, "start_ns", None),
        "end_ns": getattr(interval, "end_ns", None),
        "requests_per_s": getattr(interval, "requests_per_s", None),
        "latency_ns": latency.to_dict() if latency is not None else None,
    }


def _latency_rows(latency: Any, prefix: str = "latency") -> list[list[str]]:
    rows = []
    for p in (50.0, 90.0, 99.0, 99.9):
        value = _percentile(latency, p)
        if value is not None:
            rows.append([f"{prefix} p{p:g}", _fmt_ns(value)])
    if isinstance(latency, Mapping) and latency.get("count"):
        rows.append([f"{prefix} max", _fmt_ns(_num(latency.get("max")))])
    return rows


def _errors_total(errors: Any) -> Any:
    if isinstance(errors, Mapping):
        return sum(int(v) for v in errors.values() if isinstance(v, int))
    return errors


def _run_summary(data: Mapping[str, Any], phase: Optional[Mapping[str, Any]]) -> list[list[str]]:
    rows = [
        ["target", str(data.get("target", "-"))],
        ["protocol", str(data.get("protocol", "-"))],
        ["connections", _fmt(data.get("connections"))],
        ["threads", _fmt(data.get("threads"))],
        [
            "rate asked (req/s)",
            _fmt(data.get("rate_per_s")) if data.get("rate_per_s") else "closed loop",
        ],
        ["duration", _fmt_ns(_num(data.get("duration_ns")))],
        ["stopped by", str(data.get("stopped_by", "-"))],
        ["requests", _fmt(data.get("requests"))],
        ["requests/s", _fmt(data.get("requests_per_s"))],
        ["errors", _fmt(_errors_total(data.get("errors")))],
    ]
    rows += _latency_rows(data.get("latency_ns"))
    if data.get("rate_per_s") is not None:
        rows += _latency_rows(data.get("uncorrected_latency_ns"), "uncorrected")
    rows += _connection_rows(data)
    if phase is not None:
        name = str(phase.get("name"))
        rows.append([f"{name}: requests/s", _fmt(phase.get("requests_per_s"))])
        rows += _latency_rows(phase.get("latency_ns"), f"{name}: latency")
    for r in data.get("ranks") or ():  # a run over MPI ranks: one row per rank
        rows.append(
            [
                f"rank {r.get('rank')} on {r.get('host')}",
                f"{r.get('status')}: {_fmt(r.get('connections'))} connections, "
                f"{_fmt(r.get('requests'))} requests, {_fmt(r.get('errors'))} errors, "
                f"p99 {_fmt_ns(_num(r.get('latency_p99_ns')))}"
                + (f"; {r.get('problem')}" if r.get("problem") else ""),
            ]
        )
    rows += _label_rows(data)
    return rows


def _p50_p99_rows(latency: Any, prefix: str) -> list[list[str]]:
    return [row for row in _latency_rows(latency, prefix) if row[0].endswith((" p50", " p99"))]


def _connection_rows(data: Mapping[str, Any]) -> list[list[str]]:
    """Connect, WebSocket upgrade and TLS handshake times (p50, p99), as the text report."""
    rows: list[list[str]] = []
    for key, name in (("connect_ns", "connect"), ("handshake_ns", "upgrade")):
        latency = data.get(key)
        if isinstance(latency, Mapping) and latency.get("count"):
            rows += _p50_p99_rows(latency, name)
    tls = data.get("tls")
    if isinstance(tls, Mapping):
        rows.append(
            [
                "TLS handshakes",
                f"{_fmt(tls.get('handshakes'))} ({_fmt(tls.get('resumed'))} resumed), "
                f"{_fmt(tls.get('handshakes_per_s'))}/s",
            ]
        )
        latency = tls.get("handshake_ns")
        if isinstance(latency, Mapping) and latency.get("count"):
            rows += _p50_p99_rows(latency, "TLS handshake")
    return rows


def _label_rows(data: Mapping[str, Any]) -> list[list[str]]:
    """A mix's labels: each one's share, errors and p50 / p99 / max (absent without a mix)."""
    labels = data.get("labels") or []
    if not isinstance(labels, list) or not labels:
        return []
    mix = data.get("mix") or {}
    rows = [["mix", f"{mix.get('order', '-')}, seed {mix.get('seed', '-')}"]]
    total = sum(int(item.get("requests") or 0) for item in labels) or 1
    for item in labels:
        name = str(item.get("label"))
        count = int(item.get("requests") or 0)
        latency = item.get("latency_ns")
        cells = [_fmt_ns(_percentile(latency, p)) for p in (50.0, 99.0)]
        cells.append(_fmt_ns(_num(latency.get("max")) if isinstance(latency, Mapping) else None))
        errors = _errors_total(item.get("errors"))
        rows.append([f"label {name}: requests", f"{count} ({count / total:.1%}), errors {errors}"])
        rows.append([f"label {name}: p50 / p99 / max", " / ".join(cells)])
    return rows


def _benchmark_summary(
    data: Mapping[str, Any], executions: Sequence[Mapping[str, Any]], first: Mapping[str, Any]
) -> list[list[str]]:
    rows = [
        ["target", str(first.get("target", "-"))],
        ["protocol", str(first.get("protocol", "-"))],
        ["classification", str(data.get("classification", "-"))],
        ["executions", _fmt(len(executions))],
        ["measure (s)", _fmt(data.get("measure_s"))],
    ]
    reasons = data.get("reasons")
    if isinstance(reasons, (list, tuple)):
        rows += [["reason", str(r)] for r in reasons]
    steady = data.get("steady")
    if isinstance(steady, Mapping):
        for metric, estimate in steady.items():
            if not isinstance(estimate, Mapping):
                continue
            mean, low, high = (_num(estimate.get(k)) for k in ("mean", "low", "high"))
            if str(metric) == "requests_per_s":
                text = f"{_fmt(mean)} [{_fmt(low)}, {_fmt(high)}]"
            else:
                text = f"{_fmt_ns(mean)} [{_fmt_ns(low)}, {_fmt_ns(high)}]"
            rows.append([f"steady {metric}", text])
    for n, e in enumerate(executions):
        label = f"e{e.get('index', n + 1)}"
        text = f"{e.get('classification', '-')}, warm-up {_fmt(e.get('warmup_s'))} s"
        if e.get("attempts") is not None:
            text += f", {_fmt(e.get('attempts'))} measurement attempt(s)"
        if e.get("error"):
            text += f", error: {e.get('error')}"
        rows.append([label, text])
        for r in e.get("reasons") or () if isinstance(e.get("reasons"), (list, tuple)) else ():
            rows.append([f"{label} reason", str(r)])
    return rows


# --- the page ---------------------------------------------------------------------


def _series_table(
    sources: Sequence[tuple[str, _Source]], key: str, unit_label: str, xs: list[float]
) -> Optional[dict[str, Any]]:
    """One y column per source and metric over ``xs`` (seconds), None where no value."""
    columns = []
    for group, (label, source) in enumerate(sources):
        for variant, metric in enumerate(key.split("+")):
            values = {r["t"]: r[metric] for r in source.rows if r[metric] is not None}
            if values:
                name = {"rps": "req/s", "gc": "GC", "jit": "JIT", "cpu": "CPU %"}.get(
                    metric, metric
                )
                columns.append((f"{label}{name}".strip(), values, group, variant))
    if not columns:
        return None
    return {
        "x": xs,
        "series": [
            {"label": name, "values": [values.get(x) for x in xs], "group": g, "variant": v}
            for name, values, g, v in columns
        ],
        "ylabel": unit_label,
    }


def _spectrum_table(
    entries: Sequence[tuple[str, list[list[float]], bool]],
) -> Optional[dict[str, Any]]:
    columns = []
    for label, points, dashed in entries:
        values: dict[float, float] = {}
        for x, y in points:
            values[x] = max(values.get(x, y), y)
        columns.append((label, values, dashed))
    if not columns:
        return None
    xs = sorted({x for _, values, _ in columns for x in values})
    return {
        "x": xs,
        "series": [
            {"label": label, "values": [values.get(x) for x in xs], "dash": dashed}
            for label, values, dashed in columns
        ],
        "ylabel": "latency (ms)",
    }


def _time_charts(sources: Sequence[tuple[str, _Source]]) -> list[dict[str, Any]]:
    # One x for every chart, so that the charts line up and their cursors move together.
    xs = sorted({r["t"] for _, source in sources for r in source.rows})
    charts = []
    for title, key, unit in (
        ("Throughput", "rps", "requests/s"),
        ("Latency p50 and p99", "p50+p99", "latency (ms)"),
        ("PyPy GC and JIT time per interval", "gc+jit", "ms per interval"),
        ("Server CPU", "cpu", "% of one core"),
    ):
        table = _series_table(sources, key, unit, xs)
        if table is not None:
            table["title"] = title
            charts.append(table)
    return charts


def _time_range(
    bands: Sequence[Mapping[str, Any]], charts: Sequence[Mapping[str, Any]]
) -> list[float]:
    ends = [b["end"] for b in bands] + [x for c in charts for x in c["x"][-1:]]
    return [0.0, max(ends, default=1.0)]


def _clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _script_json(model: Mapping[str, Any]) -> str:
    text = json.dumps(_clean(model), ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _load_benchmark(data: Mapping[str, Any]) -> Any:
    """A BenchmarkResult rebuilt from its dict, if this version of the package can."""
    from ._benchmark import BenchmarkResult

    try:
        from_dict = getattr(BenchmarkResult, "from_dict", None)
        if from_dict is not None:
            return from_dict(data)
        from_json = getattr(BenchmarkResult, "from_json", None)
        if from_json is not None:
            return from_json(json.dumps(data))
    except Exception:  # an older or partial dict: the plots still show it
        return None
    return None


def _text_report(result: Any, data: Mapping[str, Any]) -> Optional[str]:
    """The wrk-like text summary, from the object or rebuilt from its dict."""
    fmt = getattr(result, "format", None)
    if not callable(fmt) or isinstance(result, Mapping):
        try:
            if _is_benchmark(data):
                loaded = _load_benchmark(data)
                if loaded is None:
                    return None
                fmt = loaded.format
            else:
                from ._result import Result

                fmt = Result.from_dict(data).format
        except Exception:  # an older or partial dict: the plots still show it
            return None
    try:
        text = fmt()
    except Exception:
        return None
    return text if isinstance(text, str) else None


def _page(model: Mapping[str, Any]) -> str:
    from ._version import __version__

    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="cannonade {__version__}, uPlot {UPLOT_VERSION}">\n'
        "<title>cannonade report</title>\n"
        f"<style>\n{_vendored('uPlot.min.css')}\n{_CSS}</style>\n"
        "</head>\n<body>\n"
        '<header><h1 id="title"></h1><p id="subtitle"></p></header>\n'
        '<ul id="errors"></ul>\n'
        '<section id="summary"></section>\n'
        '<section id="charts"></section>\n'
        '<section id="text"></section>\n'
        f'<script type="application/json" id="cannonade-data">{_script_json(model)}</script>\n'
        f"<script>\n{_vendored('uPlot.iife.min.js')}\n</script>\n"
        f"<script>\n{_JS}</script>\n"
        "</body>\n</html>\n"
    )


def render_html(
    result: Any,
    *,
    title: Optional[str] = None,
    source: Optional[str] = None,
    intervals: Optional[Sequence[Any]] = None,
) -> str:
    """The report page for ``result`` (a Result, a BenchmarkResult or the dict of one)."""
    data = _as_dict(result)
    src = _Source(data, intervals)
    kind = "benchmark" if _is_benchmark(data) else "run"
    spectra = []
    for s in src.spectra:
        name = f"{s['label']} corrected" if s["uncorrected"] else s["label"]
        spectra.append((name, s["corrected"], False))
        if s["uncorrected"]:
            spectra.append((f"{s['label']} uncorrected", s["uncorrected"], True))
    charts = _time_charts([("", src)])
    model = {
        "title": title or f"cannonade {kind}: {src.target}",
        "subtitle": f"from {source}" if source else "",
        "summary": [{"label": "", "rows": src.summary}],
        "time_charts": charts,
        "time_range": _time_range(src.bands, charts),
        "bands": [dict(b, group=0) for b in src.bands],
        "marks": src.marks,
        "spectrum": _spectrum_table(spectra),
        "ratios": None,
        "notes": src.notes,
        "text": _text_report(result, data),
    }
    return _page(model)


def write_html(
    result: Any,
    path: Union[str, Path],
    *,
    title: Optional[str] = None,
    source: Optional[str] = None,
    intervals: Optional[Sequence[Any]] = None,
) -> Path:
    """Write the HTML report of ``result`` to ``path``; return the path.

    ``result`` is a :class:`Result`, a :class:`BenchmarkResult`, or the dict their
    ``to_dict()`` (or a JSON file of theirs) gives. ``title`` replaces the default
    heading; ``source`` (e.g. the JSON file's name) is shown under it, as text.
    ``intervals`` (the :class:`Interval` objects a run delivered, or their dicts)
    gives a run's time plots; without them a run shows one step per phase.
    """
    out = Path(path)
    out.write_text(render_html(result, title=title, source=source, intervals=intervals), "utf-8")
    return out


_COMPARED = ("requests_per_s", "p50", "p90", "p99", "p99.9")


def _plain_values(data: Mapping[str, Any]) -> dict[str, Optional[float]]:
    """Per metric, the steady mean (benchmark) or the measured phase's value (run)."""
    steady = data.get("steady") if _is_benchmark(data) else None
    if isinstance(steady, Mapping) and steady:
        out = {}
        for metric in _COMPARED:
            estimate = steady.get(metric)
            out[metric] = _num(estimate.get("mean")) if isinstance(estimate, Mapping) else None
        return out
    if _is_benchmark(data):
        phases = []
        for e in data.get("executions") or ():
            result = e.get("result") if isinstance(e, Mapping) else None
            if isinstance(result, Mapping):
                phase = _measured_phase(
                    [p for p in result.get("phases") or () if isinstance(p, Mapping)]
                )
                if phase is not None:
                    phases.append(phase)
        if not phases:
            return {m: None for m in _COMPARED}

        # Without steady estimates: the mean over executions of each measured phase.
        def mean(values: list[Optional[float]]) -> Optional[float]:
            known = [v for v in values if v is not None]
            return sum(known) / len(known) if known else None

        out = {"requests_per_s": mean([_num(p.get("requests_per_s")) for p in phases])}
        for metric in _COMPARED[1:]:
            out[metric] = mean(
                [_percentile(p.get("latency_ns"), float(metric[1:])) for p in phases]
            )
        return out
    phase = _measured_phase([p for p in data.get("phases") or () if isinstance(p, Mapping)])
    source = phase if phase is not None else data
    out = {"requests_per_s": _num(source.get("requests_per_s"))}
    for metric in _COMPARED[1:]:
        out[metric] = _percentile(source.get("latency_ns"), float(metric[1:]))
    return out


def _ratios(a: Any, b: Any, labels: tuple[str, str]) -> tuple[list[dict[str, Any]], str]:
    from ._benchmark import BenchmarkResult, compare
    from ._errors import CannonadeError

    objects = []
    for r in (a, b):
        if isinstance(r, BenchmarkResult):
            objects.append(r)
        elif isinstance(r, Mapping) and _is_benchmark(r):
            objects.append(_load_benchmark(r))
        else:
            objects.append(None)
    if objects[0] is not None and objects[1] is not None:
        try:
            comparison = compare(objects[0], objects[1], labels=labels)
        except CannonadeError as error:
            note = f"No bootstrap comparison ({error}): plain ratios of the measured values."
        else:
            rows = [
                {
                    "metric": m.metric,
                    "a": m.a,
                    "b": m.b,
                    "ratio": m.ratio,
                    "low": m.low,
                    "high": m.high,
                    "significant": m.significant,
                }
                for m in comparison.metrics
            ]
            note = (
                f"b/a with {comparison.confidence:.0%} bootstrap confidence intervals over the "
                f"measured intervals of the steady executions."
            )
            return rows, note
    else:
        note = (
            "Plain ratios b/a of the measured values: a run has one value per metric, so no "
            "confidence intervals (benchmarks are compared with bootstrap intervals)."
        )
    va, vb = _plain_values(_as_dict(a)), _plain_values(_as_dict(b))
    rows = []
    for metric in _COMPARED:
        x, y = va.get(metric), vb.get(metric)
        if x is None or y is None:
            continue
        rows.append(
            {
                "metric": metric,
                "a": x,
                "b": y,
                "ratio": y / x if x else None,
                "low": None,
                "high": None,
                "significant": None,
            }
        )
    return rows, note


def render_compare_html(
    a: Any, b: Any, *, labels: tuple[str, str] = ("a", "b"), title: Optional[str] = None
) -> str:
    """The comparison page of two results, ``b`` relative to ``a``."""
    labels = (str(labels[0]), str(labels[1]))
    sources = []
    for label, result in zip(labels, (a, b)):
        data = _as_dict(result)
        # Each result on its own clock: seconds from its own start.
        sources.append((label, _Source(data)))
    bands = [
        dict(band, label=f"{label}: {band['label']}", group=group)
        for group, (label, src) in enumerate(sources)
        for band in src.bands
        if band["kind"] == "measure"
    ]
    rows, note = _ratios(a, b, labels)
    charts = _time_charts([(f"{label} ", src) for label, src in sources])
    spectra = []
    for label, src in sources:
        points = src.merged_spectrum()
        if points is not None:
            spectra.append((label, points, False))
    model = {
        "title": title or f"cannonade comparison: {labels[1]} relative to {labels[0]}",
        "subtitle": "",
        "summary": [{"label": label, "rows": src.summary} for label, src in sources],
        "time_charts": charts,
        "time_range": _time_range([b for _, src in sources for b in src.bands], charts),
        "bands": bands,
        "marks": [],
        "spectrum": _spectrum_table(spectra),
        "ratios": {"labels": list(labels), "rows": rows, "note": note},
        "notes": [],
        "text": None,
    }
    return _page(model)


def write_compare_html(
    a: Any,
    b: Any,
    path: Union[str, Path],
    labels: tuple[str, str] = ("a", "b"),
    *,
    title: Optional[str] = None,
) -> Path:
    """Write a page comparing two results (``b`` relative to ``a``) to ``path``.

    Both results' curves and spectra are overlaid, with a table of ``b / a`` per
    metric: :func:`cannonade.compare`'s bootstrap intervals when both are
    benchmark results with steady executions, plain ratios of the measured values
    otherwise. ``a`` and ``b`` are results or their dicts, as for :func:`write_html`.
    """
    out = Path(path)
    out.write_text(render_compare_html(a, b, labels=labels, title=title), "utf-8")
    return out


_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 16px; margin: 20px 0 6px; }
#subtitle, .note { color: #555; margin: 0 0 8px; overflow-wrap: anywhere; }
#errors { color: #b00; }
table.kv, table.ratios { border-collapse: collapse; margin: 4px 16px 8px 0; }
table.kv td, table.ratios td, table.ratios th { padding: 2px 10px; border-bottom: 1px solid #eee;
  text-align: left; vertical-align: top; overflow-wrap: anywhere; max-width: 60em; }
.summaries { display: flex; flex-wrap: wrap; }
.legend-bands span { display: inline-block; margin-right: 14px; font-size: 12px; }
.legend-bands i { display: inline-block; width: 12px; height: 12px; margin-right: 4px;
  vertical-align: middle; }
.chart { margin: 8px 0 16px; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 12px; }
.sig { font-weight: bold; }
"""

_JS = r"""
"use strict";
(function () {
  var errors = document.getElementById("errors");
  var failed = false;
  function fail(message) {
    failed = true;
    document.body.dataset.rendered = "error";
    var item = document.createElement("li");
    item.textContent = "report error: " + message;
    errors.appendChild(item);
  }
  window.addEventListener("error", function (event) { fail(event.message || String(event)); });
  var data;
  try {
    data = JSON.parse(document.getElementById("cannonade-data").textContent);
  } catch (error) {
    fail("cannot read the report data: " + error);
    return;
  }
  var PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
                 "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
  var BAND = {warmup: "rgba(255,165,0,0.13)", measure: "rgba(0,160,0,0.11)",
              discarded: "rgba(128,128,128,0.15)", other: "rgba(80,80,255,0.08)"};
  var GROUP_BAND = ["rgba(31,119,180,0.10)", "rgba(214,39,40,0.10)"];

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function bandColor(band) {
    return data.ratios ? GROUP_BAND[band.group % 2] : (BAND[band.kind] || BAND.other);
  }
  function fmtNum(v, digits) {
    if (v === null || v === undefined) return "-";
    return Number(v).toPrecision(digits || 4);
  }

  document.title = data.title;
  document.getElementById("title").textContent = data.title;
  document.getElementById("subtitle").textContent = data.subtitle || "";

  var summary = document.getElementById("summary");
  var boxes = el("div", null, "summaries");
  data.summary.forEach(function (block) {
    var box = el("div");
    if (block.label) box.appendChild(el("h2", block.label));
    var table = el("table", null, "kv");
    block.rows.forEach(function (row) {
      var tr = el("tr");
      tr.appendChild(el("td", row[0]));
      tr.appendChild(el("td", row[1]));
      table.appendChild(tr);
    });
    box.appendChild(table);
    boxes.appendChild(box);
  });
  summary.appendChild(boxes);
  data.notes.forEach(function (note) { summary.appendChild(el("p", note, "note")); });

  if (data.ratios) {
    var names = data.ratios.labels;
    summary.appendChild(el("h2", "Ratios, " + names[1] + " / " + names[0]));
    summary.appendChild(el("p", data.ratios.note, "note"));
    var table = el("table", null, "ratios");
    var head = el("tr");
    ["metric", data.ratios.labels[0], data.ratios.labels[1], "ratio", "interval", "significant"]
      .forEach(function (h) { head.appendChild(el("th", h)); });
    table.appendChild(head);
    data.ratios.rows.forEach(function (r) {
      var tr = el("tr");
      var latency = r.metric !== "requests_per_s";
      var unit = latency ? " ms" : "";
      var scale = latency ? 1e-6 : 1;
      tr.appendChild(el("td", r.metric));
      tr.appendChild(el("td", r.a === null ? "-" : fmtNum(r.a * scale) + unit));
      tr.appendChild(el("td", r.b === null ? "-" : fmtNum(r.b * scale) + unit));
      tr.appendChild(el("td", fmtNum(r.ratio, 3)));
      var interval = "[" + fmtNum(r.low, 3) + ", " + fmtNum(r.high, 3) + "]";
      tr.appendChild(el("td", r.low === null ? "-" : interval));
      tr.appendChild(el("td", r.significant === null ? "-" : (r.significant ? "yes" : "no"),
                        r.significant ? "sig" : ""));
      table.appendChild(tr);
    });
    summary.appendChild(table);
  }

  var charts = document.getElementById("charts");
  var width = Math.max(600, Math.min(1400, (charts.clientWidth || 1100) - 10));

  function shade(u) {
    var ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
    ctx.save();
    data.bands.forEach(function (band) {
      var x0 = u.valToPos(band.start, "x", true), x1 = u.valToPos(band.end, "x", true);
      var left = Math.max(x0, u.bbox.left), right = Math.min(x1, u.bbox.left + u.bbox.width);
      if (right <= left) return;
      ctx.fillStyle = bandColor(band);
      ctx.fillRect(left, top, right - left, height);
    });
    ctx.restore();
  }
  function markLines(u) {
    var ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = "rgba(120,0,160,0.8)";
    ctx.setLineDash([4, 3]);
    ctx.lineWidth = 1.5 * (window.devicePixelRatio || 1);
    data.marks.forEach(function (mark) {
      var x = u.valToPos(mark.t, "x", true);
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
    });
    ctx.restore();
  }
  function nines(n) {
    if (n <= 0) return "0%";
    return (100 - Math.pow(10, 2 - n)).toFixed(Math.max(0, n - 2)) + "%";
  }
  function plot(spec, options) {
    var box = el("div", null, "chart");
    box.dataset.chart = options.id;
    charts.appendChild(box);
    var series = [{label: options.xlabel}];
    spec.series.forEach(function (s, i) {
      // In a comparison each result keeps its colour; its second metric is dashed.
      var byGroup = data.ratios && s.group !== undefined;
      series.push({
        label: s.label, width: 1.5, spanGaps: true, points: {show: spec.x.length < 60},
        stroke: byGroup ? PALETTE[s.group % 2] : PALETTE[i % PALETTE.length],
        dash: (s.dash || (byGroup && s.variant)) ? [6, 4] : undefined
      });
    });
    var values = [spec.x].concat(spec.series.map(function (s) { return s.values; }));
    var opts = {
      title: spec.title, width: width, height: options.height || 260, series: series,
      scales: {x: {time: false}},
      axes: [{label: options.xlabel}, {label: spec.ylabel, size: 70}],
      cursor: options.sync ? {sync: {key: "time"}} : {},
      hooks: options.sync ? {drawClear: [shade], draw: [markLines]} : {}
    };
    if (options.sync) opts.scales.x.range = data.time_range;
    if (options.nines) {
      var top = Math.max(1, Math.ceil(spec.x[spec.x.length - 1] || 1));
      opts.scales.x.range = [0, top];
      opts.axes[0].splits = function () {
        var s = [];
        for (var i = 0; i <= top; i++) s.push(i);
        return s;
      };
      opts.axes[0].values = function (u, splits) { return splits.map(nines); };
    }
    new uPlot(opts, values, box);
    return box;
  }

  if (data.time_charts.length) {
    charts.appendChild(el("h2", "Over time"));
    var legend = el("div", null, "legend-bands");
    var seen = {};
    data.bands.forEach(function (band) {
      var key = data.ratios ? band.label : band.kind;
      if (seen[key]) return;
      seen[key] = true;
      var item = el("span");
      var swatch = el("i");
      swatch.style.background = bandColor(band);
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(
        data.ratios ? band.label : {warmup: "warm-up", measure: "measured",
          discarded: "discarded measurement", other: "other phase"}[band.kind] || band.kind));
      legend.appendChild(item);
    });
    if (data.marks.length) {
      var markItem = el("span", "\u2506 changepoint (" + data.marks.length + ")");
      markItem.style.color = "rgb(120,0,160)";
      legend.appendChild(markItem);
    }
    charts.appendChild(legend);
    data.time_charts.forEach(function (spec, i) {
      plot(spec, {id: "time-" + i, xlabel: "seconds", sync: true});
    });
    if (data.marks.length) {
      var list = el("ul", null, "note");
      data.marks.forEach(function (mark) {
        list.appendChild(el("li", mark.t.toFixed(2) + " s: " + mark.label));
      });
      charts.appendChild(list);
    }
  }
  if (data.spectrum) {
    charts.appendChild(el("h2", "Latency by percentile"));
    var spec = data.spectrum;
    spec.title = "Latency percentile spectrum";
    plot(spec, {id: "spectrum", xlabel: "percentile", nines: true, height: 320});
  }
  if (data.text) {
    var section = document.getElementById("text");
    section.appendChild(el("h2", "Text report"));
    section.appendChild(el("pre", data.text));
  }
  setTimeout(function () {
    if (!failed) document.body.dataset.rendered = "ok";
  }, 0);
})();
"""
