"""The HTML report: self-contained, rendered by headless Chromium, and inert data.

The browser tests open the written file in Debian's ``chromium`` (installed by
.ci/bootstrap), let its scripts run under a virtual time budget, and read the DOM
back: the page marks ``<body data-rendered="ok">`` once every chart is drawn, and
lists any script error in ``#errors``.
"""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import cannonade
from cannonade import Benchmark, Warmup
from cannonade._hlog import decode_histogram
from cannonade._html import render_html

from support import run_bounded, rust_testee_argv

# Long runs against real servers (or a browser), the same whatever the backend:
# .ci/run runs them in its first pytest pass only.
pytestmark = pytest.mark.once

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/bootstrap installs it)"
)
# Both: a script element closed early, and markup that runs code when it is parsed.
HOSTILE = (
    '<script>document.documentElement.dataset.pwned="script"</script>'
    "</script><img src=x onerror=\"document.documentElement.dataset.pwned='img'\">"
)


def _chromium(tmp_path: Path, page: Path, *extra: str) -> str:
    assert CHROMIUM is not None
    out = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--virtual-time-budget=5000",
            *extra,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def _dom(tmp_path: Path, page: Path) -> str:
    return _chromium(tmp_path, page, "--dump-dom")


def _assert_rendered(dom: str, charts: int) -> None:
    errors = re.search(r'<ul id="errors">(.*?)</ul>', dom, re.S)
    assert errors is not None and errors.group(1) == "", errors and errors.group(1)
    assert 'data-rendered="ok"' in dom
    assert len(re.findall(r'data-chart="', dom)) == charts
    # uPlot draws each chart on a canvas of its own.
    assert len(re.findall(r"<canvas ", dom)) == charts


def _plan(target: str = "127.0.0.1:9", **overrides: Any) -> cannonade.Plan:
    settings: dict[str, Any] = dict(
        connections=8, threads=1, duration_s=1, interval_s=0.25, rate_per_s=400.0
    )
    settings.update(overrides)
    # The benchmark driver replaces the address with its server's.
    return cannonade.Plan(target, cannonade.Tcp(payload_bytes=32), **settings)


@pytest.fixture(scope="module")
def benchmark() -> cannonade.BenchmarkResult:
    server = cannonade.Server([*rust_testee_argv(), "--port", "{port}"])
    bench = Benchmark(
        _plan(), server, warmup=Warmup(min_s=2, max_s=5, steady_window_s=2), measure_s=3
    )
    with bench:
        return bench.run()


def _model(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="cannonade-data">(.*?)</script>', html)
    assert found is not None
    return json.loads(found.group(1))


def test_the_page_is_self_contained_and_its_data_cannot_close_the_script() -> None:
    data = {
        "schema_version": 2,
        "target": HOSTILE,
        "protocol": "tcp",
        "requests_per_s": 1.0,
        "phases": [],
        "latency_ns": {"count": 0},
    }
    html = render_html(data, title="a\u2028b & c", source="x</script>.json")
    assert "\u2028" not in html
    model_text = re.search(r'id="cannonade-data">(.*?)</script>', html, re.S)
    assert model_text is not None
    assert not re.search(r"[<>&]", model_text.group(1))
    model = _model(html)
    assert model["summary"][0]["rows"][0] == ["target", HOSTILE]
    assert model["title"] == "a\u2028b & c" and model["subtitle"] == "from x</script>.json"
    # Nothing to fetch: no external script, stylesheet, image or font.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(http" not in html
    assert html.count("<script") == 3  # the data, uPlot, the page's own script


def test_the_spectrum_is_taken_from_the_histogram_in_nines(benchmark) -> None:  # type: ignore[no-untyped-def]
    (execution,) = benchmark.executions
    phase = execution.measure
    model = _model(render_html(benchmark))
    spectrum = model["spectrum"]
    xs, (corrected, uncorrected) = spectrum["x"], spectrum["series"]
    assert corrected["label"] == "e1 measure corrected" and uncorrected["dash"]
    histogram = decode_histogram(phase.histogram)
    # The last point is the maximum, at the 1-in-N point (x = log10 N); p50 at x = 0.3.
    points = [(x, y) for x, y in zip(xs, corrected["values"]) if y is not None]
    assert points[-1][1] * 1e6 == pytest.approx(histogram.value_at_percentile(100.0))
    assert points[-1][0] == pytest.approx(math.log10(histogram.total), abs=1e-6)
    p50 = next(y for x, y in points if x >= math.log10(2) - 1e-9)
    assert p50 * 1e6 == pytest.approx(phase.latency.percentile(50.0))
    assert all(a[1] <= b[1] for a, b in zip(points, points[1:]))
    # The uncorrected curve has the exported percentiles of the phase.
    unc = {x: y for x, y in zip(xs, uncorrected["values"]) if y is not None}
    assert unc[2.0] * 1e6 == pytest.approx(phase.uncorrected_latency.percentile(99.0))
    # Phases shaded, one point per interval on one time axis.
    kinds = [band["kind"] for band in model["bands"]]
    assert kinds[:2] == ["warmup", "measure"]
    assert len(model["time_charts"][0]["x"]) == len(execution.intervals)


@needs_chromium
def test_a_benchmark_report_renders_in_chromium(tmp_path, benchmark) -> None:  # type: ignore[no-untyped-def]
    page = cannonade.write_html(benchmark, tmp_path / "report.html")
    dom = _dom(tmp_path, page)
    # Throughput, latency, server CPU, and the spectrum (the Rust testee has no GC).
    _assert_rendered(dom, charts=4)
    assert "Latency percentile spectrum" in dom and "e1 measure uncorrected" in dom
    # The same from the JSON file's dict.
    data = json.loads(benchmark.to_json())
    again = cannonade.write_html(data, tmp_path / "again.html", source="bench.json")
    _assert_rendered(_dom(tmp_path, again), charts=4)
    shot = tmp_path / "report.png"
    _chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1200,1600")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


@needs_chromium
def test_hostile_labels_and_urls_stay_text(tmp_path, rust_echo) -> None:  # type: ignore[no-untyped-def]
    data = run_bounded(_plan(rust_echo.address)).to_dict()
    data["target"] = HOSTILE
    for phase in data["phases"]:
        phase["name"] = HOSTILE
    page = cannonade.write_html(data, tmp_path / "hostile.html", title=HOSTILE, source=HOSTILE)
    dom = _dom(tmp_path, page)
    _assert_rendered(dom, charts=3)  # throughput, latency, spectrum
    opening = re.search(r"<html[^>]*>", dom)
    assert opening is not None and "pwned" not in opening.group(0)  # no script set the mark
    assert "data-pwned" not in dom and "<img" not in dom
    assert "&lt;script&gt;document.documentElement" in dom  # shown, as text
    compare = cannonade.write_compare_html(
        data, data, tmp_path / "hostile-compare.html", labels=(HOSTILE, "b</script>")
    )
    dom = _dom(tmp_path, compare)
    assert 'data-rendered="ok"' in dom and "data-pwned" not in dom and "<img" not in dom


@needs_chromium
def test_two_runs_are_compared_with_ratios(tmp_path, rust_echo) -> None:  # type: ignore[no-untyped-def]
    a = run_bounded(_plan(rust_echo.address, rate_per_s=200.0))
    b = run_bounded(_plan(rust_echo.address, rate_per_s=400.0))
    page = cannonade.write_compare_html(a, b, tmp_path / "compare.html", labels=("slow", "fast"))
    model = _model(page.read_text())
    ratios = {row["metric"]: row for row in model["ratios"]["rows"]}
    assert ratios["requests_per_s"]["ratio"] == pytest.approx(b.requests_per_s / a.requests_per_s)
    assert ratios["p99"]["b"] == b.latency.percentile(99.0)
    labels = [s["label"] for s in model["spectrum"]["series"]]
    assert labels == ["slow", "fast"]
    dom = _dom(tmp_path, page)
    _assert_rendered(dom, charts=3)
    assert "Ratios, fast / slow" in dom


def test_benchmark_results_are_compared_with_bootstrap_intervals(benchmark) -> None:  # type: ignore[no-untyped-def]
    from cannonade._html import render_compare_html

    model = _model(render_compare_html(benchmark, benchmark, labels=("x", "y")))
    rows = model["ratios"]["rows"]
    assert rows and all(row["ratio"] == pytest.approx(1.0) for row in rows)
    if benchmark.steady_executions:  # cannonade.compare's intervals, around 1
        assert all(row["low"] <= 1.0 <= row["high"] for row in rows)
        assert "bootstrap" in model["ratios"]["note"]
    else:
        assert "plain ratios" in model["ratios"]["note"].lower()


def test_bad_input_is_refused_clearly(tmp_path, rust_echo) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match="Result, a BenchmarkResult"):
        cannonade.write_html(42, tmp_path / "x.html")
    # A corrupt histogram is left out; the page still renders from the summaries.
    data = run_bounded(_plan(rust_echo.address, duration_s=0.5)).to_dict()
    for phase in data["phases"]:
        phase["histogram_v2_base64"] = base64.b64encode(b"garbage").decode()
    model = _model(render_html(data))
    assert model["spectrum"]["series"]


def test_the_vendored_chart_library_is_installed_with_its_licence() -> None:
    from cannonade._html import UPLOT_VERSION

    vendor = Path(cannonade.__file__).parent / "_vendor" / "uplot"
    assert (vendor / "VERSION").read_text().strip() == UPLOT_VERSION
    assert "MIT License" in (vendor / "LICENSE").read_text()
    script = (vendor / "uPlot.iife.min.js").read_text()
    assert f"(v{UPLOT_VERSION})" in script.splitlines()[0]
    assert (vendor / "uPlot.min.css").is_file()


def test_a_run_is_plotted_from_the_intervals_it_delivered(rust_echo) -> None:  # type: ignore[no-untyped-def]
    with cannonade.start(_plan(rust_echo.address, duration_s=1.0)) as run:
        result = run.wait(60)
        assert result is not None
        intervals = run.poll()  # what the CLI printed, one line each
    assert len(intervals) >= 3
    model = _model(render_html(result, intervals=intervals))
    throughput, latency = model["time_charts"][:2]
    assert len(throughput["x"]) == len(intervals) and not model["notes"]
    assert throughput["series"][0]["values"] == [i.requests_per_s for i in intervals]
    p99 = [s for s in latency["series"] if s["label"] == "p99"][0]["values"]
    assert p99 == [i.latency.percentile(99.0) / 1e6 if i.latency.count else None for i in intervals]
    assert "cannonade run" in model["title"] and model["text"] == result.format()
    # Without them, one step per phase, and the page says so.
    assert "one step per phase" in _model(render_html(result))["notes"][0]
