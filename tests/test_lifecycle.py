"""Run lifetimes: stop, close, context managers, Ctrl-C."""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import cannonade
import cannonade._run as cannonade_run
from cannonade import Plan, RunError

from support import Server

LONG_S = 3600.0  # long enough that finishing on its own would mean stop() failed
BOUND_S = 60.0


def long_plan(server: Server) -> Plan:
    return Plan(server.address, connections=2, duration_s=LONG_S)


def test_stop_ends_a_long_run(rust_echo: Server) -> None:
    with cannonade.start(long_plan(rust_echo)) as run:
        assert run.wait(0.3) is None
        assert not run.finished
        with pytest.raises(RunError, match="not finished"):
            run.result()
        run.stop()
        run.stop()  # idempotent
        result = run.wait(BOUND_S)
        assert result is not None, "stop() did not end the run"
        assert result.stopped_by == "stop"
        assert result.requests > 0
        assert run.result() is result
        assert run.finished


def test_stop_from_another_thread(rust_echo: Server) -> None:
    with cannonade.start(long_plan(rust_echo)) as run:
        timer = threading.Timer(0.3, run.stop)
        timer.start()
        try:
            result = run.wait(BOUND_S)
        finally:
            timer.cancel()
        assert result is not None and result.stopped_by == "stop"


def test_close_twice_is_harmless(rust_echo: Server) -> None:
    run = cannonade.start(Plan(rust_echo.address, connections=1, requests=10))
    result = run.wait(BOUND_S)
    assert not run.closed
    run.close()
    run.close()
    assert run.closed
    run.stop()  # harmless after close
    assert run.result() is result  # kept from before close
    assert run.wait() is result


def test_close_without_wait_stops_the_run(rust_echo: Server) -> None:
    run = cannonade.start(long_plan(rust_echo))
    _bounded(run.close)
    assert run.closed
    with pytest.raises(RunError, match="closed"):
        run.result()
    with pytest.raises(RunError, match="closed"):
        run.wait(0)


def _bounded(fn: Any) -> None:
    """Call fn in a thread; fail (instead of hanging the session) if it does not return."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as error:  # noqa: BLE001 - re-raised in the test thread
            errors.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(BOUND_S)
    assert not thread.is_alive(), f"{fn} did not return within {BOUND_S}s"
    if errors:
        raise errors[0]


def test_exception_inside_with_stops_the_run(rust_echo: Server) -> None:
    runs: list[cannonade.Run] = []

    def body() -> None:
        with cannonade.start(long_plan(rust_echo)) as run:
            runs.append(run)
            raise ZeroDivisionError("boom")

    # If __exit__ did not stop the run, freeing it would wait out the hour.
    with pytest.raises(ZeroDivisionError):
        _bounded(body)
    assert runs[0].closed


@pytest.fixture
def alarm() -> Iterator[None]:
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_ctrl_c_during_run_stops_it(rust_echo: Server, alarm: None) -> None:
    # A 20 s run: if the interrupt were only seen when the run ends, run()
    # would return a result instead of raising, and the test would fail.
    plan = Plan(rust_echo.address, connections=2, duration_s=20)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    with pytest.raises(KeyboardInterrupt):
        cannonade.run(plan)


def test_ctrl_c_during_wait_closes_the_run(rust_echo: Server, alarm: None) -> None:
    run = cannonade.start(Plan(rust_echo.address, connections=2, duration_s=20))
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    with pytest.raises(KeyboardInterrupt):
        run.wait()
    assert run.closed


def test_the_server_still_works_after_stopped_runs(rust_echo: Server) -> None:
    result = cannonade.run(Plan(rust_echo.address, connections=1, requests=5))
    assert result.requests == 5 and result.errors.total == 0


def test_repr_is_short(rust_echo: Server) -> None:
    with cannonade.start(Plan(rust_echo.address, connections=1, requests=5)) as run:
        run.wait(BOUND_S)
        assert rust_echo.address in repr(run)
        assert "histogram" not in repr(run.result())


def test_close_while_another_thread_waits(rust_echo: Server) -> None:
    # The C ABI forbids freeing a run while another call on it is in flight; each
    # backend must make close() wait for such calls instead of freeing under them.
    for _ in range(20):
        run = cannonade.start(long_plan(rust_echo))
        outcome: list[object] = []

        def waiter(run: cannonade.Run, outcome: list[object]) -> None:
            try:
                outcome.append(run.wait(BOUND_S))
            except RunError as error:
                outcome.append(error)

        thread = threading.Thread(target=waiter, args=(run, outcome))
        thread.start()
        run.close()
        thread.join(BOUND_S)
        assert not thread.is_alive(), "a wait() outlived close() of its run"
        assert run.closed
        (got,) = outcome
        # Either the wait saw the stop close() made, or it found the run closed.
        assert isinstance(got, RunError) or getattr(got, "stopped_by", None) == "stop", got


def test_validate_is_the_engines_and_does_not_connect(unused_port: int) -> None:
    from cannonade import _backend

    # Nothing listens on unused_port: validating a plan never connects.
    plan = Plan(f"127.0.0.1:{unused_port}", requests=1)
    _backend.validate(plan.to_json())
    bad = plan.to_json().replace('"connections": 10', '"connections": 0')
    with pytest.raises(cannonade.PlanError, match="connections"):
        _backend.validate(bad)


@pytest.mark.parametrize("ended_first", [False, True], ids=["running", "ended"])
def test_threads_calling_a_run_all_end_at_close(rust_echo: Server, ended_first: bool) -> None:
    # Threads wait, poll and mark phases on one run until it is closed, whether it
    # still runs then (an hour: only close ends it) or ended on its own first. After
    # close, wait() gives the Result kept from before close, if there is one, and every
    # other call is refused: a thread looping until its call raises would never end
    # in the second case (that loop once hung the valgrind smoke in .ci/sanitize).
    duration_s = 0.3 if ended_first else LONG_S
    run = cannonade.start(Plan(rust_echo.address, connections=2, duration_s=duration_s))
    errors: list[BaseException] = []

    def hammer(call: Any) -> None:
        try:
            while not run.closed:
                try:
                    call()
                except RunError:
                    pass  # closed, or (mark_phase) finished
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    calls = [lambda: run.wait(5), lambda: run.wait(None), run.poll, lambda: run.mark_phase("p")]
    threads = [threading.Thread(target=hammer, args=(call,), daemon=True) for call in calls]
    for thread in threads:
        thread.start()
    if ended_first:
        assert run.wait(BOUND_S) is not None
    else:
        assert run.wait(0.3) is None
    _bounded(run.close)
    for thread in threads:
        thread.join(BOUND_S)
        assert not thread.is_alive(), "a thread still calls the run after close"
    assert not errors, errors
    with pytest.raises(RunError, match="closed"):
        run.poll()
    with pytest.raises(RunError, match="closed"):
        run.mark_phase("late")
    if ended_first:
        result = run.wait(0)
        assert result is not None and result.stopped_by == "duration"
    else:
        with pytest.raises(RunError, match="closed"):
            run.wait(0)


class _SleepingNative:
    """A native run that never finishes: each wait sleeps what it is given (at least)."""

    def __init__(self) -> None:
        self.slices: list[int] = []

    def wait(self, timeout_ms: int) -> bool:
        self.slices.append(timeout_ms)
        time.sleep(timeout_ms / 1000)
        return False

    def close(self) -> None:
        pass


@pytest.mark.parametrize("timeout_s", [0.1, 0.25])
def test_a_timed_wait_sleeps_to_its_deadline_without_spinning(timeout_s: float) -> None:
    # The last slice before the deadline was rounded down, and the slices after it were
    # 0 ms: a caller waiting 100 ms at a time (the CLI) spun for up to a millisecond per
    # call, 2-3 % of a core under PyPy. Each slice is now at least what is left.
    native = _SleepingNative()
    run = cannonade.Run(native)  # type: ignore[arg-type]
    assert run.wait(timeout_s) is None
    assert 0 not in native.slices, native.slices
    slice_s = cannonade_run._WAIT_SLICE_MS / 1000
    assert len(native.slices) == math.ceil(timeout_s / slice_s), native.slices
    run.close()
