"""Phases: one continuous load stream, labelled at interval boundaries."""

from __future__ import annotations

import time

import pytest

import cannonade

from support import RUN_TIMEOUT_S, Server


def _plan(server: Server, duration_s: float = 1.5) -> cannonade.Plan:
    return cannonade.Plan(
        server.address,
        cannonade.Tcp(payload_bytes=16),
        connections=4,
        threads=2,
        duration_s=duration_s,
        interval_s=0.1,
    )


def test_marks_split_the_stream_into_phases(rust_echo: Server) -> None:
    with cannonade.start(_plan(rust_echo)) as run:
        assert run.mark_phase("warmup") == 0
        seen: list[cannonade.Interval] = []
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while len(seen) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
            seen.extend(run.poll())
        first = run.mark_phase("measure")
        assert first >= len(seen)
        result = run.wait(RUN_TIMEOUT_S)
        assert result is not None
        seen.extend(run.poll())
        with pytest.raises(cannonade.RunError, match="has finished"):
            run.mark_phase("late")
    assert [i.phase for i in seen] == ["warmup"] * first + ["measure"] * (len(seen) - first)
    assert [p.name for p in result.phases] == ["warmup", "measure"]
    warm, measure = result.phase("warmup"), result.phase("measure")
    assert (warm.first_interval, measure.first_interval) == (0, first)
    assert warm.requests + measure.requests == result.requests
    assert measure.requests == sum(i.requests for i in seen if i.phase == "measure")
    assert measure.latency.count == measure.requests > 0
    assert measure.histogram[:4] == bytes([0x1C, 0x84, 0x93, 0x14])
    assert warm.end_ns == measure.start_ns
    again = cannonade.Result.from_json(result.to_json())
    assert again.phases == result.phases
    with pytest.raises(KeyError, match="warmup"):
        result.phase("cooldown")


def test_an_unmarked_run_has_one_main_phase(rust_echo: Server) -> None:
    result = cannonade.run(_plan(rust_echo, duration_s=0.3))
    assert [p.name for p in result.phases] == ["main"]
    assert result.phases[0].requests == result.requests


@pytest.mark.parametrize(
    ("name", "match"),
    [("", "empty"), ("x" * 65, "65 bytes"), ("a\nb", "control"), ("a\0b", "NUL")],
)
def test_bad_phase_names_are_refused(rust_echo: Server, name: str, match: str) -> None:
    with cannonade.start(_plan(rust_echo, duration_s=5)) as run:
        with pytest.raises(cannonade.PlanError, match=match):
            run.mark_phase(name)
        run.stop()
