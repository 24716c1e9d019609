"""Interval logs: the measured phase untagged, read back by the reference Java tool."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from pathlib import Path
from typing import Optional

import pytest

import cannonade
from cannonade import Benchmark, Warmup
from cannonade._hlog import decode_histogram, measured_tags, write_interval_log
from cannonade._result import Errors, Interval, Latency

from support import decode_histogram as reference_decode
from support import rust_testee_argv

# Long runs against real servers (or a browser), the same whatever the backend:
# .ci/run runs them in its first pytest pass only.
pytestmark = pytest.mark.once

_LATENCY = Latency(count=1, min_ns=1, mean_ns=1.0, stdev_ns=0.0, max_ns=2_000_000, percentiles=())


def _interval(index: int, phase: str) -> Interval:
    return Interval(
        index=index,
        start_ns=index * 250_000_000,
        end_ns=(index + 1) * 250_000_000,
        requests=1,
        requests_per_s=4.0,
        bytes_sent=1,
        bytes_received=1,
        connections_opened=0,
        errors=Errors(),
        latency=_LATENCY,
        uncorrected_latency=_LATENCY,
        phase=phase,
        histogram=b"HISTFAKE",
    )


def test_the_last_measurement_of_each_execution_is_the_measured_one() -> None:
    tags = ["e1-warmup", "e1-measure", "e1-measure-2", "e1-after", "e2-warmup", "e2-measure"]
    assert measured_tags(tags) == {"e1-measure-2", "e2-measure"}
    assert measured_tags(["warmup", "measure", "measure-3", "measure-2"]) == {"measure-3"}
    assert measured_tags(["main", "e1-measured", "remeasure"]) == set()


def test_measured_intervals_are_untagged_and_written_once(tmp_path: Path) -> None:
    phases = ["warmup", "warmup", "measure", "measure", "measure-2", "measure-2", "after"]
    rows = [(f"e1-{p}", 1000.0 + k / 4, _interval(k, p)) for k, p in enumerate(phases)]
    rows += [(f"e2-{p}", 2000.0 + k / 4, _interval(k, p)) for k, p in enumerate(phases[:4])]
    lines = write_interval_log(tmp_path / "x.hlog", rows).read_text().splitlines()
    data = [line for line in lines if not line.startswith(("#", '"'))]
    assert len(data) == len(rows)  # nothing dropped, nothing doubled
    untagged = [line for line in data if not line.startswith("Tag=")]
    # e1's second attempt and e2's only one, in time order.
    assert [line.split(",")[0] for line in untagged] == ["1.000", "1.250", "1000.500", "1000.750"]
    tags = [line.split(",")[0] for line in data if line.startswith("Tag=")]
    assert tags.count("Tag=e1-measure") == 2 and "Tag=e1-measure-2" not in tags
    assert tags.count("Tag=e2-warmup") == 2 and "Tag=e2-measure" not in tags
    assert "#[Measured: e1-measure-2 from 1.000 s to 1.500 s]" in lines
    assert "#[Measured: e2-measure from 1000.500 s to 1001.000 s]" in lines
    with pytest.raises(ValueError, match="commas"):
        write_interval_log(tmp_path / "y.hlog", [("a,b", 0.0, _interval(0, "a"))])


def _benchmark(executions: int) -> cannonade.BenchmarkResult:
    plan = cannonade.Plan(
        "127.0.0.1:9",
        cannonade.Tcp(payload_bytes=32),
        connections=8,
        threads=1,
        duration_s=1,
        interval_s=0.25,
        rate_per_s=400.0,
    )
    server = cannonade.Server([*rust_testee_argv(), "--port", "{port}"])
    bench = Benchmark(
        plan,
        server,
        warmup=Warmup(min_s=2, max_s=5, steady_window_s=2),
        measure_s=3,
        executions=executions,
    )
    with bench:
        return bench.run()


def _merged(intervals: list[Interval]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for interval in intervals:
        for index, count in decode_histogram(interval.histogram).counts:
            counts[index] = counts.get(index, 0) + count
    return counts


def test_the_decoder_agrees_with_the_engine_and_the_test_reader() -> None:
    result = _benchmark(1)
    (execution,) = result.executions
    for interval in execution.intervals:
        ours = decode_histogram(interval.histogram)
        ref = reference_decode(interval.histogram)
        assert dict(ours.counts) == ref.counts
        assert ours.total == interval.latency.count
        for p in (50.0, 90.0, 99.0):
            if interval.latency.count:
                assert ours.value_at_percentile(p) == interval.latency.percentile(p)
    merged = decode_histogram(execution.measure.histogram)
    assert dict(merged.counts) == _merged(list(execution.measured))
    assert merged.value_at_percentile(99.0) == execution.measure.latency.percentile(99.0)
    spectrum = merged.spectrum()
    assert spectrum[-1][0] == 100.0 and spectrum[-1][1] >= execution.measure.latency.max_ns
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(spectrum, spectrum[1:]))


def _java_tool() -> Optional[list[str]]:
    java = shutil.which("java")
    if java is None or shutil.which("dpkg") is None:
        return None
    listing = subprocess.run(
        ["dpkg", "-L", "libhdrhistogram-java"], capture_output=True, text=True, check=False
    ).stdout.split()
    jars = [p for p in listing if p.endswith("hdrhistogram.jar")]
    if not jars:
        return None
    return [java, "-cp", jars[0], "org.HdrHistogram.HistogramLogProcessor"]


def _within_resolution(value: float, low: int, high: int) -> bool:
    # Three significant digits: a bucket is at most 1/1024 of its value wide.
    return low * (1 - 2e-3) - 1 <= value <= high * (1 + 2e-3) + 1


def test_the_reference_java_tool_reads_the_measurement_without_flags(tmp_path: Path) -> None:
    tool = _java_tool()
    if tool is None:
        pytest.skip(
            "java or Debian's libhdrhistogram-java is missing (.ci/bootstrap installs both)"
        )
    result = _benchmark(2)
    path = result.write_hlog(tmp_path / "run.hlog")
    measured = [i for e in result.executions for i in e.measured if i.histogram]
    total = sum(decode_histogram(i.histogram).total for i in measured)
    assert total == sum(e.measure.latency.count for e in result.executions) > 0
    # As they are: no flags but the file; the percentile distribution goes to stdout.
    plain = subprocess.run(
        [*tool, "-i", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert plain.returncode == 0 and "Exception" not in plain.stderr, plain.stderr
    assert re.search(rf"Total count\s*=\s*{total}\]", plain.stdout), plain.stdout[-400:]
    # Values in nanoseconds (the ratio 1), so the tool's percentiles are exact values;
    # -o writes the interval table (one row per untagged line) as CSV.
    table = tmp_path / "java"
    out = subprocess.run(
        [*tool, "-csv", "-outputValueUnitRatio", "1", "-i", str(path), "-o", str(table)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0 and "Exception" not in out.stderr, out.stderr
    text = "\n".join(x for x in table.read_text().splitlines() if not x.startswith("#"))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(measured), text
    last = rows[-1]
    total = sum(decode_histogram(i.histogram).total for i in measured)
    assert int(float(last["Total_Count"])) == total
    # Our merge of the same intervals; the tool may round a percentile's rank the other
    # way, so its value lies between ours one rank below and one rank above.
    counts = sorted(_merged(measured).items())
    sigfigs = decode_histogram(measured[0].histogram)
    ranks = []
    for index, count in counts:
        low, high = sigfigs.value_range(index)
        ranks.append((count, low, high))

    def at_rank(rank: int) -> tuple[int, int]:
        seen = 0
        for count, low, high in ranks:
            seen += count
            if seen >= rank:
                return low, high
        return ranks[-1][1], ranks[-1][2]

    for column, p in (("Total_50%", 50.0), ("Total_99%", 99.0)):
        rank = p / 100 * total
        low = at_rank(max(1, int(rank) - 1))[0]
        high = at_rank(int(rank) + 2)[1]
        assert _within_resolution(float(last[column]), low, high), (column, last[column], low, high)
    # The warm-up is still there, under its tag.
    warm = subprocess.run(
        [*tool, "-csv", "-tag", "e1-warmup", "-i", str(path), "-o", str(tmp_path / "warm")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert warm.returncode == 0, warm.stderr
    lines = [x for x in (tmp_path / "warm").read_text().splitlines() if not x.startswith("#")]
    assert len(lines) - 1 == len([i for i in result.executions[0].warmup if i.histogram])
