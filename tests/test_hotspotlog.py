"""The HotSpot JIT log reader on a recorded log, and the Server's hotspot_log hook.

``data/hotspot-jit-compilation.log`` is two slices of a real log: the JDK 17 JSON testee
(``cannonade.testees.jdk_json``) under load, written with
``cannonade._hotspotlog.xlog_option``. It holds C1 and C2 tasks, native wrappers, an
on-stack-replacement compilation, a ``made not entrant`` line and, at its end, a C2
task still compiling. ``data/hotspot-jit-compilation-nontiered.log`` is the start of a log
of the same server with ``-XX:-TieredCompilation`` (C2 only, one unsegmented code cache).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import cannonade
from cannonade._hotspotlog import (
    HotSpotLogReader,
    parse_hotspot_log,
    summarize_intervals,
    xlog_option,
)

from support import rust_testee_argv

DATA = Path(__file__).resolve().parent / "data" / "hotspot-jit-compilation.log"
NONTIERED = DATA.with_name("hotspot-jit-compilation-nontiered.log")


def test_a_recorded_log_gives_each_task_with_its_duration() -> None:
    reader = HotSpotLogReader(DATA)
    tasks = reader.read()
    assert len(tasks) == 22
    natives = [t for t in tasks if t.native]
    compiled = [t for t in tasks if not t.native]
    assert len(natives) == 6 and all(t.tier == 0 and t.duration_s == 0.0 for t in natives)
    assert len(compiled) == 16 and all(t.tier == 3 for t in compiled)
    first = tasks[0]
    assert (first.compile_id, first.method, first.bytes) == (1, "java.lang.Object::<init>", 1)
    # From its start line to the first code cache summary of the same thread.
    assert first.start_s == 1093.978588572
    assert first.duration_s == pytest.approx((1093978960411 - 1093978588572) / 1e9, abs=1e-12)
    assert all(t.duration_s > 0 for t in compiled)
    (osr,) = [t for t in tasks if t.osr]
    assert (osr.compile_id, osr.method) == (427, "java.lang.StringCoding::hasNegatives")
    assert reader.durations_known
    # A state change is not a new task.
    (change,) = reader.state_changes
    assert (change.compile_id, change.message) == (352, "made not entrant")
    # The log ends while C2 compiles HashMap::putVal.
    assert reader.unfinished == [("java.util.HashMap::putVal", 1094.918627273)]
    assert reader.read() == []
    assert parse_hotspot_log(DATA) == tasks


def test_a_jvm_without_tiered_compilation_is_read_too() -> None:
    tasks = parse_hotspot_log(NONTIERED)
    compiled = [t for t in tasks if not t.native]
    assert [(t.compile_id, t.tier, t.method) for t in compiled] == [
        (7, None, "java.nio.Buffer::limit"),
        (9, None, "java.lang.String::isLatin1"),
        (10, None, "java.lang.String::charAt"),
    ]
    # Its code cache summary is one "CodeCache:" line, not one line per code heap.
    assert compiled[0].duration_s == pytest.approx((1782602360070 - 1782601898748) / 1e9)
    assert len(tasks) - len(compiled) == 7 and all(t.tier is None for t in tasks)
    (per,) = summarize_intervals(tasks, [tasks[0].start_s, tasks[-1].start_s + 1])
    # Without a tier neither C1 nor C2 can be told: only the total counts them.
    assert (per.jit.count, per.c1.count, per.c2.count) == (3, 0, 0)


def test_reading_a_growing_log_in_pieces_gives_the_same_tasks(tmp_path: Path) -> None:
    data = DATA.read_bytes()
    path = tmp_path / "hotspot.log"
    reader = HotSpotLogReader(path)
    assert reader.read() == []  # not created yet
    tasks = []
    # Cut inside lines: a partial line waits for its end.
    for cut in range(0, len(data), 997):
        with open(path, "ab") as log:
            log.write(data[cut : cut + 997])
        tasks.extend(reader.read())
    assert tasks == parse_hotspot_log(DATA)


def test_a_log_that_shrank_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "hotspot.log"
    path.write_bytes(DATA.read_bytes())
    reader = HotSpotLogReader(path)
    whole = reader.read()
    lines = DATA.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join(lines[:8]) + b"\n")  # a new JVM wrote a new log
    again = reader.read()
    assert again == whole[: len(again)] and 0 < len(again) < len(whole)


def test_without_end_of_task_summaries_durations_are_zero_not_invented(tmp_path: Path) -> None:
    path = tmp_path / "hotspot.log"
    path.write_bytes(
        b"\n".join(line for line in DATA.read_bytes().split(b"\n") if b"codecache" not in line)
    )
    reader = HotSpotLogReader(path)
    tasks = reader.read()
    assert not reader.durations_known
    assert len(tasks) == 21  # each task but the last of each thread is closed by the next
    assert all(t.duration_s == 0.0 for t in tasks)


def test_tasks_are_summed_per_interval_where_they_started() -> None:
    tasks = parse_hotspot_log(DATA)
    first = tasks[0].start_s
    edges = [first - 0.5, first + 0.1, first + 0.5, first + 1.0]
    per = summarize_intervals(tasks, edges)
    assert [(e.start_s, e.end_s) for e in per] == list(zip(edges, edges[1:]))
    assert per[0].jit.count == 11 and per[0].native_wrappers == 6
    assert per[0].c1.count == 11 and per[0].c2.count == 0
    assert per[0].jit.total_s == pytest.approx(
        sum(t.duration_s for t in tasks if not t.native and t.start_s < first + 0.1)
    )
    assert per[0].jit.max_s == max(t.duration_s for t in tasks[:17])
    assert per[1].jit.count == 0  # the gap between the two slices
    assert per[2].jit.count == 5
    # Tasks outside every interval are not counted.
    later = summarize_intervals(tasks, [first + 0.5, first + 1.0])
    assert [e.jit.count for e in later] == [5]
    with pytest.raises(ValueError, match="increasing"):
        summarize_intervals(tasks, [2.0, 1.0])


def test_the_xlog_option_refuses_paths_it_cannot_carry(tmp_path: Path) -> None:
    good = tmp_path / "jit.log"
    assert xlog_option(good) == (
        f"-Xlog:jit+compilation=debug,compilation+codecache=debug:file={good}"
        f":timenanos,tid,tags:filecount=0"
    )
    for bad in ("a:b.log", "a,b.log", "a b.log", "a=b.log", ""):
        with pytest.raises(ValueError, match="-Xlog"):
            xlog_option(bad)
    with pytest.raises(ValueError, match="-Xlog"):
        cannonade.Server(["java", "X"], hotspot_log=True, hotspot_log_path="a:b.log")


def test_a_command_not_named_java_gets_the_option_through_jdk_java_options() -> None:
    server = cannonade.Server(
        [*rust_testee_argv(), "--port", "{port}"],
        hotspot_log=True,
        env={"JDK_JAVA_OPTIONS": "-Xss1m"},
    )
    with server:
        assert server.hotspot_log is not None and server.hotspot_log_path is not None
        assert not any(arg.startswith("-Xlog") for arg in server.command)
        assert server.pid is not None
        environ = Path(f"/proc/{server.pid}/environ").read_bytes().split(b"\0")
        option = xlog_option(server.hotspot_log_path)
        assert f"JDK_JAVA_OPTIONS=-Xss1m {option}".encode() in environ
        assert server.hotspot_log.read() == []  # no JVM wrote to it
    assert os.path.exists(server.hotspot_log_path) is False  # a temporary file, removed
