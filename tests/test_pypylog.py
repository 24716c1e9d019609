"""PYPYLOG: parsing GC/JIT sections, calibrating PyPy's log clock, per-interval summaries."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cannonade._errors import CannonadeError
from cannonade._pypylog import (
    DEFAULT_SECTIONS,
    ClockPoint,
    ClockProbe,
    EventStats,
    JitSummary,
    PypyClock,
    PypyLogEvent,
    PypyLogReader,
    parse_pypylog,
    pypylog_value,
    summarize_intervals,
)
from cannonade._server import Server

from support import pypy_argv, twisted_testee_argv

# 1000 ticks per second, tick 0 at monotonic 100 s: tick t is at 100 + t / 1000.
CLOCK = PypyClock("tsc", 1000.0, 0, 100.0)


def marker(ticks: int, text: str) -> str:
    return f"[{ticks:x}] {text}\n"


HANDCRAFTED = "".join(
    [
        marker(10, "{gc-minor"),
        marker(12, "{gc-minor-walkroots"),
        marker(14, "gc-minor-walkroots}"),
        "minor collect, total memory used: 0\n",
        marker(20, "gc-minor}"),
        marker(100, "{jit-tracing"),
        marker(110, "{gc-minor"),
        marker(118, "gc-minor}"),
        marker(130, "{jit-backend"),  # never stopped: dropped when jit-tracing stops
        marker(150, "jit-tracing}"),
        marker(160, "bogus}"),  # a stop without a start: ignored
        marker(200, "{gc-collect-step"),
        "starting gc state:  SWEEPING\n",
        marker(210, "{gc-collect-done"),
        "arenas:                14  =>  18\n",
        marker(220, "gc-collect-done}"),
        marker(230, "gc-collect-step}"),
        marker(300, "{jit-summary"),
        "Tracing:      \t2\t0.013489\n",
        "Backend:      \t2\t0.010052\n",
        "TOTAL:      \t\t0.840369\n",
        "ops:             \t459\n",
        "abort: trace too long:\t0\n",
        marker(310, "jit-summary}"),
        marker(1200, "{gc-minor"),  # still running when the log was read
        "[4b",  # truncated mid-line
    ]
)

EXPECTED = [
    PypyLogEvent("gc-minor-walkroots", 100.012, 0.002, 1, "gc-minor"),
    PypyLogEvent("gc-minor", 100.010, 0.010, 0, None),
    PypyLogEvent("gc-minor", 100.110, 0.008, 1, "jit-tracing"),
    PypyLogEvent("jit-tracing", 100.100, 0.050, 0, None),
    PypyLogEvent("gc-collect-done", 100.210, 0.010, 1, "gc-collect-step"),
    PypyLogEvent("gc-collect-step", 100.200, 0.030, 0, None),
    PypyLogEvent("jit-summary", 100.300, 0.010, 0, None),
]


def assert_events(actual: list[PypyLogEvent], expected: list[PypyLogEvent]) -> None:
    assert [(e.name, e.depth, e.parent) for e in actual] == [
        (e.name, e.depth, e.parent) for e in expected
    ]
    for got, want in zip(actual, expected):
        assert got.start_s == pytest.approx(want.start_s, abs=1e-9)
        assert got.duration_s == pytest.approx(want.duration_s, abs=1e-9)
        assert got.end_s == pytest.approx(want.start_s + want.duration_s, abs=1e-9)


def test_parse_handcrafted_truncated_log(tmp_path: Path) -> None:
    path = tmp_path / "pypylog"
    path.write_text(HANDCRAFTED)
    log = parse_pypylog(path, CLOCK)
    assert_events(log.events, EXPECTED)
    assert log.unfinished == [("gc-minor", pytest.approx(101.2))]
    summary = log.jit_summary
    assert summary is not None
    assert (summary.tracing_count, summary.tracing_s) == (2, 0.013489)
    assert (summary.backend_count, summary.backend_s) == (2, 0.010052)
    assert summary.total_s == 0.840369
    assert summary.values["ops"] == (459.0,)
    assert summary.values["abort: trace too long"] == (0.0,)


def test_reader_is_incremental(tmp_path: Path) -> None:
    path = tmp_path / "pypylog"
    reader = PypyLogReader(path, CLOCK)
    assert reader.read() == []  # PyPy creates the file at its first section
    data = HANDCRAFTED.encode()
    cut = data.index(b"[96] jit-tracing}") + 3  # in the middle of a marker line
    path.write_bytes(data[:cut])
    first = reader.read()
    assert [e.name for e in first] == ["gc-minor-walkroots", "gc-minor", "gc-minor"]
    assert [name for name, _ in reader.unfinished] == ["jit-tracing", "jit-backend"]
    with open(path, "ab") as log:
        log.write(data[cut:])
    assert_events(first + reader.read(), EXPECTED)
    assert reader.read() == []
    assert reader.jit_summary is not None
    # A log written anew (a restarted server) is read from its start.
    path.write_text(marker(5, "{gc-minor") + marker(6, "gc-minor}"))
    assert [e.name for e in reader.read()] == ["gc-minor"]


def test_summarize_intervals() -> None:
    events = [
        PypyLogEvent("gc-minor", 0.1, 0.001),
        PypyLogEvent("gc-minor", 0.5, 0.003),
        PypyLogEvent("gc-collect-step", 0.99, 0.02),  # counted whole where it starts
        PypyLogEvent("gc-collect-done", 1.2, 0.001, 1, "gc-collect-step"),
        PypyLogEvent("gc-collect-step", 1.19, 0.004),
        PypyLogEvent("jit-tracing", 1.5, 0.05),
        PypyLogEvent("gc-minor", 1.51, 0.002, 1, "jit-tracing"),
        PypyLogEvent("gc-minor-walkroots", 1.511, 0.001, 2, "gc-minor"),
        PypyLogEvent("gc-minor", 5.0, 0.5),  # outside every interval
        PypyLogEvent("gc-minor", -1.0, 0.5),
    ]
    first, second, third = summarize_intervals(events, [0.0, 1.0, 2.0, 3.0])
    assert (first.start_s, first.end_s) == (0.0, 1.0)
    assert first.gc_minor == EventStats(2, pytest.approx(0.004), 0.003)
    assert first.gc_major == EventStats(1, 0.02, 0.02)
    assert first.gc_major_done == 0 and first.jit == EventStats()
    assert first.gc_pause_s == pytest.approx(0.024)
    assert second.gc_minor == EventStats(1, 0.002, 0.002)
    assert second.gc_major == EventStats(1, 0.004, 0.004) and second.gc_major_done == 1
    assert second.jit == EventStats(1, 0.05, 0.05)
    assert third == summarize_intervals([], [2.0, 3.0])[0]
    assert summarize_intervals(events, [1.0]) == []
    with pytest.raises(ValueError, match="increasing"):
        summarize_intervals(events, [0.0, 2.0, 1.0])


def test_jit_summary_without_numbers() -> None:
    summary = JitSummary.parse(["garbage", "Tracing: x y", "TOTAL: 1.5"])
    assert (summary.tracing_count, summary.tracing_s, summary.total_s) == (0, 0.0, 1.5)


def test_pypylog_value() -> None:
    assert pypylog_value(DEFAULT_SECTIONS, "/x/log") == (
        "gc-minor,gc-collect,jit-tracing,jit-summary:/x/log"
    )
    for bad in ([], ["gc minor"], ["a,b"], ["a:b"]):
        with pytest.raises(ValueError):
            pypylog_value(bad, "log")
    with pytest.raises(ValueError, match="%d"):
        pypylog_value(["gc"], "log.%d")


def test_clock_from_points() -> None:
    clock = PypyClock.from_points(ClockPoint(1000, 10.0, 3), ClockPoint(3000, 11.0, 3))
    assert clock.ticks_per_s == 2000.0
    assert clock.to_monotonic(5000) == pytest.approx(12.0)
    assert clock.to_seconds(500) == 0.25
    with pytest.raises(CannonadeError, match="calibrate"):
        PypyClock.from_points(ClockPoint(1000, 10.0, 3), ClockPoint(1000, 10.0, 3))


def test_clock_probe_refuses_a_non_pypy(tmp_path: Path) -> None:
    with pytest.raises(CannonadeError, match="not a working PyPy"):
        ClockProbe("true").result()
    with pytest.raises(CannonadeError, match="calibrate"):
        ClockProbe(str(tmp_path / "missing"))


def test_clock_probes_agree() -> None:
    pypy = pypy_argv()[0]
    here = ClockProbe(None if sys.implementation.name == "pypy" else pypy, span_s=0.1)
    there = ClockProbe(pypy, span_s=0.1)
    first, second = here.result(), there.result()
    assert first.unit == second.unit == "tsc"
    assert first.ticks_per_s == pytest.approx(second.ticks_per_s, rel=1e-5)
    # Both lines put the same tick on the same monotonic time, to a few microseconds.
    for ticks in (first.ref_ticks, second.ref_ticks):
        assert abs(first.to_monotonic(ticks) - second.to_monotonic(ticks)) < 20e-6
    assert abs(second.to_monotonic(second.ref_ticks) - time.monotonic()) < 5.0


# Brackets a marker section and forced collections with time.monotonic() readings
# taken in the logging process itself, then prints them.
ALIGN = textwrap.dedent(
    """
    import gc, sys, time
    import __pypy__

    rows, junk = [], []

    def hot(n):
        total = 0
        for i in range(n):
            total += i % 7
        return total

    for i in range(int(sys.argv[1])):
        junk.append([[j] for j in range(20000)])
        hot(20000)
        a = time.monotonic()
        __pypy__.debug_start("cannonade-mark")
        b = time.monotonic()
        __pypy__.debug_stop("cannonade-mark")
        c = time.monotonic()
        gc.collect()
        d = time.monotonic()
        rows.append((a, b, c, d))
        time.sleep(float(sys.argv[2]))
    for row in rows:
        print(*row)
    """
)


@pytest.fixture(scope="module")
def real_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PypyClock, list[tuple]]:
    """A real PYPYLOG with brackets, and the clock calibrated from this process."""
    directory = tmp_path_factory.mktemp("pypylog")
    script, log = directory / "align.py", directory / "pypylog"
    script.write_text(ALIGN)
    probe = ClockProbe(pypy_argv()[0])
    sections = [*DEFAULT_SECTIONS, "cannonade-mark"]
    env = dict(os.environ, PYPYLOG=pypylog_value(sections, log))
    out = subprocess.run(
        [*pypy_argv(), str(script), "12", "0.15"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    rows = [tuple(float(word) for word in line.split()) for line in out.splitlines()]
    assert len(rows) == 12
    return log, probe.result(), rows


def test_real_log_lines_up_with_monotonic(real_log: tuple[Path, PypyClock, list[tuple]]) -> None:
    path, clock, rows = real_log
    log = parse_pypylog(path, clock)
    names = {event.name for event in log.events}
    assert {"gc-minor", "gc-collect-step", "gc-collect-done", "jit-tracing"} <= names
    assert log.unfinished == []
    marks = [event for event in log.events if event.name == "cannonade-mark"]
    assert len(marks) == len(rows)
    # Each marker starts between the readings a and b taken around debug_start, and
    # stops between b and c; allow 50 us for the calibration (measured: 0).
    slack = 50e-6
    for (a, b, c, _), mark in zip(rows, marks):
        assert a - slack <= mark.start_s <= b + slack
        assert b - slack <= mark.end_s <= c + slack
    # gc.collect() completes a major collection: a gc-collect-done inside its bracket.
    done = [event.start_s for event in log.events if event.name == "gc-collect-done"]
    for _, _, c, d in rows:
        assert any(c - slack <= start <= d + slack for start in done)
    # Per-interval summary, intervals cut at the brackets: the major collections fall
    # into the intervals holding a gc.collect().
    edges = sorted({row[2] - 0.001 for row in rows} | {rows[-1][3] + 0.001})
    intervals = summarize_intervals(log.events, edges)
    assert all(interval.gc_major_done >= 1 for interval in intervals)
    assert all(interval.gc_major.count >= 1 for interval in intervals)
    assert log.jit_summary is not None and log.jit_summary.tracing_count >= 1
    assert log.jit_summary.tracing_s > 0 and log.jit_summary.total_s > 0


def test_real_log_truncated_anywhere(
    real_log: tuple[Path, PypyClock, list[tuple]], tmp_path: Path
) -> None:
    path, clock, _ = real_log
    data = path.read_bytes()
    full = parse_pypylog(path, clock).events
    cut_path = tmp_path / "cut"
    for cut in (len(data) // 3, len(data) // 2 + 1, len(data) - 2):
        cut_path.write_bytes(data[:cut])
        events = parse_pypylog(cut_path, clock).events
        assert 0 < len(events) <= len(full)
        assert all(event in full for event in events)


def test_server_collects_pypylog(tmp_path: Path) -> None:
    log_path = tmp_path / "pypylog"
    before = time.monotonic()
    server = Server(
        [*twisted_testee_argv(), "--port", "{port}"],
        pypylog=True,
        pypylog_path=log_path,
        startup_timeout_s=60,
    )
    with server:
        reader = server.pypylog
        assert reader is not None and server.pypylog_path == log_path
        assert reader.clock.unit == "tsc"
        host, port = server.host, server.port
        with socket.create_connection((host, port or 0), timeout=5) as sock:
            for _ in range(2000):
                sock.sendall(b"x" * 512)
                received = 0
                while received < 512:
                    received += len(sock.recv(4096))
        running = reader.read()
        assert running and all(before <= e.start_s <= time.monotonic() for e in running)
        server.stop()
        after = time.monotonic()
        rest = reader.read()
    events = running + rest
    assert all(before <= event.start_s <= event.end_s <= after for event in events)
    assert any(event.name == "gc-minor" for event in events)
    assert reader.jit_summary is not None  # printed at the clean exit on SIGINT
    (interval,) = summarize_intervals(events, [before, after])
    assert interval.gc_minor.count == sum(event.name == "gc-minor" for event in events)
    assert interval.jit.count == sum(event.name == "jit-tracing" for event in events) > 0
    assert log_path.exists()  # a given path is kept


def test_server_pypylog_temporary_file_removed() -> None:
    server = Server([*twisted_testee_argv(), "--port", "0"], pypylog="gc-minor")
    with server:
        path = server.pypylog_path
        assert path is not None and path.name.startswith("cannonade-pypylog-")
    assert not path.exists()
