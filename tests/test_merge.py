"""Merging runs that ran side by side: histograms added, never percentiles averaged.

Two CLI processes load the native testee at once (as two machines would), each
keeping its intervals in its --json; ``cannonade merge`` and ``cannonade.merge``
add them. The merged counts must be the sums of the parts, and the merged
percentiles those of the parts' histograms added independently: with the PyPI
``hdrhistogram`` package where it is installed, and with the tests' own decoder
(tests/support.py) everywhere.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import cannonade
from cannonade import Result, ResultError

from support import Server, cli, decode_histogram

EXIT_TIMEOUT_S = 60.0


def _side_by_side(server: Server, paths: list[Path], *extra: str) -> None:
    """One CLI run per path, all at once, each writing its --json."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cannonade",
                "tcp",
                server.address,
                "-c",
                "2",
                "-d",
                "2",
                "--json",
                str(path),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd="/",
        )  # fmt: skip
        for path in paths
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=EXIT_TIMEOUT_S)
        assert proc.returncode == 0, err


@pytest.fixture(scope="module")
def parts(rust_echo: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Path]]:
    tmp = tmp_path_factory.mktemp("merge")
    paths = [tmp / "a.json", tmp / "b.json", tmp / "c.json"]
    _side_by_side(rust_echo, paths)
    yield paths


def _percentile(counts: dict[int, int], histogram: object, p: float) -> int:
    """HdrHistogram's value at ``p`` over bucket ``counts`` (the highest equivalent value)."""
    total = sum(counts.values())
    wanted = max(1, math.ceil(p / 100.0 * total))
    seen = 0
    for index in sorted(counts):
        seen += counts[index]
        if seen >= wanted:
            return histogram.value_range(index)[1]  # type: ignore[attr-defined]
    raise AssertionError("unreachable")


def _added_counts(blobs: list[bytes]) -> tuple[dict[int, int], object]:
    decoded = [decode_histogram(blob) for blob in blobs]
    counts: dict[int, int] = {}
    for h in decoded:
        for index, n in h.counts.items():
            counts[index] = counts.get(index, 0) + n
    return counts, decoded[0]


def _check_latency(latency: cannonade.Latency, blobs: list[bytes]) -> None:
    counts, layout = _added_counts(blobs)
    assert latency.count == sum(counts.values())
    for p, value in latency.percentiles:
        assert value == _percentile(counts, layout, p), p
    if importlib.util.find_spec("hdrh") is not None:
        from hdrh.histogram import HdrHistogram

        first, *rest = [HdrHistogram.decode(base64.b64encode(b)) for b in blobs]
        for other in rest:
            first.add(other)
        assert first.get_total_count() == latency.count
        # The package rounds a percentile's rank to the nearest count; the engine (Rust
        # hdrhistogram) takes the count at or above it: the engine's rule, on the
        # package's added buckets and their values.
        for p, value in latency.percentiles:
            wanted, seen = max(1, math.ceil(p / 100.0 * latency.count)), 0
            for index in range(first.counts_len):
                seen += first.get_count_at_index(index)
                if seen >= wanted:
                    top = first.get_highest_equivalent_value(first.get_value_from_index(index))
                    assert top == value, p
                    break


def test_merged_counts_are_sums_and_percentiles_those_of_added_histograms(
    parts: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "merged.json"
    proc = cli("merge", *map(str, parts), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("merged 3 runs interval by interval:"), proc.stdout
    runs = [Result.from_file(p) for p in parts]
    merged = Result.from_file(out)
    for name in ("requests", "bytes_sent", "bytes_received", "connections_opened", "connections"):
        assert getattr(merged, name) == sum(getattr(r, name) for r in runs), name
    assert merged.errors.total == sum(r.errors.total for r in runs)
    assert merged.requests_per_s == pytest.approx(sum(r.requests_per_s for r in runs))
    _check_latency(merged.latency, [r.histogram for r in runs])
    mean = sum(r.latency.mean_ns * r.latency.count for r in runs) / merged.latency.count
    assert merged.latency.mean_ns == pytest.approx(mean)
    assert merged.latency.min_ns == min(r.latency.min_ns for r in runs)
    assert merged.latency.max_ns == max(r.latency.max_ns for r in runs)
    # Interval by interval, aligned by index (one run may have one short interval more).
    assert len(merged.interval_series) == max(len(r.interval_series) for r in runs)
    for k, interval in enumerate(merged.interval_series):
        here = [r.interval_series[k] for r in runs if k < len(r.interval_series)]
        assert interval.index == k and interval.requests == sum(i.requests for i in here)
        assert interval.errors.total == sum(i.errors.total for i in here)
        if interval.latency.count:
            _check_latency(interval.latency, [i.histogram for i in here])
    for phase, *same in zip(merged.phases, *(r.phases for r in runs)):
        assert phase.requests == sum(p.requests for p in same)
        _check_latency(phase.latency, [p.histogram for p in same])
    # The Python API gives the same result as the command line.
    assert cannonade.merge(runs, labels=[p.name for p in parts]).to_dict() == merged.to_dict()


def test_results_without_intervals_merge_phase_by_phase(parts: list[Path]) -> None:
    import dataclasses

    runs = [dataclasses.replace(Result.from_file(p), interval_series=()) for p in parts[:2]]
    merged = cannonade.merge(runs)
    assert not merged.interval_series
    assert merged.requests == sum(r.requests for r in runs)
    _check_latency(merged.phases[0].latency, [r.phases[0].histogram for r in runs])
    note = cannonade._merge.merge_note(runs, merged)
    assert note.startswith("merged 2 runs phase by phase")


def test_runs_that_do_not_align_are_refused_with_one_line(
    parts: list[Path], rust_echo: Server, tmp_path: Path
) -> None:
    other = tmp_path / "three-connections.json"
    proc = cli("tcp", rust_echo.address, "-c", "3", "-d", "1", "--json", str(other))
    assert proc.returncode == 0, proc.stderr
    finer = tmp_path / "finer.json"
    proc = cli("tcp", rust_echo.address, "-c", "2", "-d", "2", "--interval", "500ms",
               "--json", str(finer))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"schema_version": 3, "kind": "benchmark", "executions": []}))
    # Runs of other intervals differ in their phases' lengths or, when those happen to
    # be within the one short interval a stop may add, in their intervals' lengths.
    cases = {
        other: ("connections is 3, not 2",),
        finer: ("phases are main (", "lasted 0.500 s, not 1.000 s (another --interval)"),
        bench: ("it is a benchmark", "a benchmark JSON must hold at least one execution"),
        tmp_path / "missing.json": ("cannot read",),
    }
    for path, words in cases.items():
        out = tmp_path / "out.json"
        proc = cli("merge", str(parts[0]), str(path), "-o", str(out))
        assert proc.returncode == 2, (path, proc.stdout)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and path.name in lines[0], lines
        assert any(w in lines[0] for w in words), lines
        assert not out.exists()
    proc = cli("merge", str(parts[0]), "-o", str(tmp_path / "out.json"))
    assert proc.returncode == 2 and "two or more" in proc.stderr
    with pytest.raises(ResultError, match="at least two"):
        cannonade.merge([Result.from_file(parts[0])])
    with pytest.raises(ResultError, match="cannot merge b with a: its connections is 3"):
        cannonade.merge([Result.from_file(parts[0]), Result.from_file(other)], labels=["a", "b"])


def test_merged_runs_stopped_differently_say_so(parts: list[Path]) -> None:
    import dataclasses

    a, b = (Result.from_file(p) for p in parts[:2])
    merged = cannonade.merge([a, dataclasses.replace(b, stopped_by="interrupted")])
    assert merged.stopped_by == "mixed"
