"""The machine-stall sampler: a process that wants a CPU and does not get one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from cannonade._stalls import STALL_LIMIT, StallSampler

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")

_SPIN = "import time\nwhile True: pass\n"


def _spinner(nice: int) -> subprocess.Popen[bytes]:
    """A busy loop on CPU 0 alone, at the given niceness (util-linux's taskset)."""
    taskset = shutil.which("taskset")
    if taskset is None:
        pytest.skip("needs taskset (util-linux)")
    command = [taskset, "-c", "0", "nice", "-n", str(nice), sys.executable, "-c", _SPIN]
    return subprocess.Popen(command)


def _watch(pid: int, seconds: float) -> list[float]:
    sampler = StallSampler(lambda: [pid])
    sampler.start()
    t0 = time.monotonic()
    time.sleep(seconds)
    sampler.stop()
    edges = [t0 + 0.1 * k for k in range(int(seconds * 10))]
    return [stall.server_s / 0.1 for stall in sampler.stalled(edges)]


def test_a_process_starved_of_cpu_is_seen_stalled_and_a_sleeping_one_is_not() -> None:
    # The "server" spins at nice 19 beside a spinner at nice 0, both on CPU 0: the
    # scheduler gives it about 1.5 % of that CPU, so it is runnable and not running.
    hog, starved = _spinner(0), _spinner(19)
    try:
        time.sleep(0.3)  # both placed and spinning
        shares = _watch(starved.pid, 2.0)
    finally:
        for proc in (hog, starved):
            proc.kill()
            proc.wait()
    stalled = [s for s in shares if s > STALL_LIMIT]
    assert len(stalled) >= len(shares) // 2, shares
    # A process that sleeps wants no CPU: never stalled.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.3)
        shares = _watch(sleeper.pid, 1.0)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert not [s for s in shares if s > STALL_LIMIT], shares


def test_the_stalled_time_of_an_interval_is_the_overlap_of_its_spans() -> None:
    sampler = StallSampler(lambda: [])
    runnable, asleep = (True, 0, 0, 0), (False, 0, 0, 0)
    # 0.00-0.05: the server runnable and not running; 0.05-0.10: asleep;
    # 0.10-0.30, a gap in the sampler's own samples: the generator runnable at one end.
    sampler._add_span(0.00, 0.05, asleep, asleep, runnable, runnable)
    sampler._add_span(0.05, 0.10, asleep, asleep, asleep, asleep)
    sampler._add_span(0.10, 0.30, runnable, asleep, asleep, asleep)
    stalls = sampler.stalled([0.0, 0.1, 0.2, 0.3])
    assert [round(s.server_s, 3) for s in stalls] == [0.05, 0.0, 0.0]
    assert [round(s.generator_s, 3) for s in stalls] == [0.0, 0.1, 0.1]
    assert [round(s.share, 2) for s in stalls] == [0.5, 1.0, 1.0]


def test_the_wait_of_a_wake_up_is_the_run_queue_time_over_the_times_scheduled_in() -> None:
    sampler = StallSampler(lambda: [])
    # (runnable, ran ns, times scheduled in, run-queue wait ns) at 0.0, 0.1 and 0.2 s:
    # 10 wake-ups waiting 2 ms in all, then 4 waiting 8 ms; the server 5 waiting 50 us.
    sampler._times = [0.0, 0.1, 0.2]
    sampler._gen = [(False, 0, 0, 0), (False, 0, 10, 2_000_000), (False, 0, 14, 10_000_000)]
    sampler._srv = [(False, 0, 0, 0), (False, 0, 5, 50_000), None]
    stalls = sampler.stalled([0.0, 0.1, 0.2])
    assert [round(s.generator_wait_s * 1e6) for s in stalls] == [200, 2000]
    # Unreadable at the end (None): the nearest sample that was read, no wake-up: 0.
    assert [round(s.server_wait_s * 1e6) for s in stalls] == [10, 0]
