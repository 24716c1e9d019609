"""Load from several MPI ranks at once (``mpirun -n K python -m cannonade ... --mpi``).

Real Open MPI and mpi4py (``.ci/bootstrap`` installs both), real ranks against the
native testee on loopback. Rank 0 splits the plan, starts every rank at one instant,
adds their interval histograms and writes the result; the checks read each rank's own
intervals back from the interval log (tagged ``rankN-PHASE``) and add them
independently (tests/support.py's decoder). A rank killed mid-run must be reported
and the others kept; several hosts are simulated with network namespaces and veth
pairs made by the test, each rank's load leaving from its own namespace (``--netns``)
and the server in another.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import pytest

import cannonade
from cannonade import PlanError
from test_format import _assert_valid
from test_merge import _check_latency

from support import RUST_TESTEE, Server, decode_histogram, stop_process

MPIRUN = shutil.which("mpirun")
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(
    MPIRUN is None or not HAVE_MPI4PY,
    reason="needs Open MPI's mpirun and mpi4py in this interpreter (.ci/bootstrap installs "
    "openmpi-bin, libopenmpi-dev and mpi4py)",
)
# Every mpirun is bounded; the runs themselves last a few seconds.
MPIRUN_TIMEOUT_S = 90.0
MPIRUN_ARGS = ["--oversubscribe", "--allow-run-as-root"]
# Without it Open MPI aborts the whole job when a rank dies; with it the others go on
# (and mpirun exits 0 whatever the ranks' exit statuses: rank 0's report says more).
RECOVERY = "--enable-recovery"


def _mpirun(
    ranks: int, *args: str, timeout: float = MPIRUN_TIMEOUT_S
) -> subprocess.CompletedProcess:
    assert MPIRUN is not None
    return subprocess.run(
        [MPIRUN, *MPIRUN_ARGS, "-n", str(ranks), sys.executable, "-m", "cannonade", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
        stdin=subprocess.DEVNULL,
    )


def _hlog_rows(path: Path) -> dict[str, list[tuple[float, bytes]]]:
    """Interval log lines by tag ("" for untagged): (start offset, histogram bytes)."""
    rows: dict[str, list[tuple[float, bytes]]] = {}
    for line in path.read_text().splitlines():
        if line.startswith("#") or line.startswith('"'):
            continue
        tag = ""
        if line.startswith("Tag="):
            tag, line = line[4:].split(",", 1)
        start, _, _, payload = line.split(",")
        rows.setdefault(tag, []).append((float(start), base64.b64decode(payload)))
    return rows


# --- splitting a plan (no MPI needed) -----------------------------------------------------


def test_split_plan_gives_remainders_to_the_first_ranks_and_adds_up() -> None:
    plan = cannonade.Plan("127.0.0.1:9", connections=10, rate_per_s=1000.0, requests=101,
                          idle_connections=5, connection_rate_per_s=30.0, threads=4)  # fmt: skip
    shares = cannonade.split_plan(plan, 3)
    assert [s.connections for s in shares] == [4, 3, 3]
    assert [s.requests for s in shares] == [34, 34, 33]
    assert [s.idle_connections for s in shares] == [2, 2, 1]
    assert [s.threads for s in shares] == [4, 3, 3]
    assert sum(s.rate_per_s or 0 for s in shares) == pytest.approx(1000.0)
    assert shares[0].rate_per_s == pytest.approx(400.0)
    assert sum(s.connection_rate_per_s or 0 for s in shares) == pytest.approx(30.0)
    closed = cannonade.split_plan(cannonade.Plan("127.0.0.1:9", connections=2, duration_s=1), 2)
    assert [s.rate_per_s for s in closed] == [None, None]
    with pytest.raises(PlanError, match="3 ranks need at least 3 connections"):
        cannonade.split_plan(cannonade.Plan("127.0.0.1:9", connections=2, duration_s=1), 3)
    with pytest.raises(PlanError, match="at least 3 requests"):
        cannonade.split_plan(cannonade.Plan("127.0.0.1:9", connections=5, requests=2), 3)


def test_split_plan_gives_each_rank_its_own_draws_of_a_seeded_mix() -> None:
    entries = [cannonade.Entry(label="a", path="/a"), cannonade.Entry(label="b", path="/b")]
    for seed in (7, (1 << 64) - 1):
        plan = cannonade.Plan(
            "http://127.0.0.1:9/",
            connections=3,
            duration_s=1,
            protocol=cannonade.Http(requests=entries, seed=seed),
        )
        seeds = [s.protocol.seed for s in cannonade.split_plan(plan, 3)]
        assert seeds[0] == seed and len(set(seeds)) == 3
        assert all(0 <= s < 1 << 64 for s in seeds)
    unseeded = cannonade.Plan("http://127.0.0.1:9/", connections=2, duration_s=1,
                              protocol=cannonade.Http(requests=entries))  # fmt: skip
    assert [s.protocol.seed for s in cannonade.split_plan(unseeded, 2)] == [None, None]


def test_a_result_with_ranks_loads_and_one_without_still_does(tmp_path: Path) -> None:
    rank = cannonade.Rank(rank=1, host="gen-2", status="lost", connections=3, rate_per_s=None,
                          requests=10, errors=0, intervals=2, clock_offset_ns=-5,
                          clock_rtt_ns=40, start_skew_ns=7, problem="lost: ...")  # fmt: skip
    assert cannonade.Rank.from_dict(rank.to_dict()) == rank
    assert rank.name == "rank 1 on gen-2"


# --- real ranks on loopback ---------------------------------------------------------------


@pytest.fixture(scope="module")
def three_ranks(rust_echo: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if MPIRUN is None or not HAVE_MPI4PY:
        pytest.skip("needs mpirun and mpi4py")
    tmp = tmp_path_factory.mktemp("mpi")
    proc = _mpirun(3, "tcp", rust_echo.address, "-c", "7", "-R", "600", "-d", "3",
                   "--json", str(tmp / "run.json"), "--hlog", str(tmp / "run.hlog"),
                   "--html", str(tmp / "run.html"), "--mpi")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (tmp / "stdout.txt").write_text(proc.stdout)
    yield tmp


@needs_mpi
def test_ranks_merge_to_the_sum_of_their_parts(three_ranks: Path) -> None:
    result = cannonade.load(three_ranks / "run.json")
    assert isinstance(result, cannonade.Result)
    assert [r.rank for r in result.ranks] == [0, 1, 2]
    assert [r.connections for r in result.ranks] == [3, 2, 2]
    assert sum(r.rate_per_s or 0 for r in result.ranks) == pytest.approx(600.0)
    assert result.connections == 7 and result.rate_per_s == pytest.approx(600.0)
    assert all(r.status in ("ok", "behind") for r in result.ranks), result.ranks
    assert result.requests == sum(r.requests for r in result.ranks)
    assert result.errors.total == sum(r.errors for r in result.ranks)
    for r in result.ranks:
        assert r.requests > 0 and r.intervals >= 3
        # One host, one monotonic clock: the ping-pong's offset is within half its round trip.
        assert abs(r.clock_offset_ns) <= r.clock_rtt_ns // 2 + 1, r
    # Interval by interval, the merged histogram is the ranks' own histograms added.
    rows = _hlog_rows(three_ranks / "run.hlog")
    assert set(rows) == {"", "rank0-main", "rank1-main", "rank2-main"}, set(rows)
    merged = result.interval_series
    assert len(rows[""]) == len(merged)
    for k, interval in enumerate(merged):
        parts = [rows[f"rank{r}-main"][k][1] for r in range(3) if k < len(rows[f"rank{r}-main"])]
        assert len(parts) >= 2
        added = sum(decode_histogram(p).total for p in parts)
        assert interval.latency.count == added == decode_histogram(rows[""][k][1]).total
        if interval.latency.count:
            _check_latency(interval.latency, parts)
    # The whole run's percentiles are those of every rank's intervals added.
    _check_latency(result.latency, [blob for r in range(3) for _, blob in rows[f"rank{r}-main"]])
    report = (three_ranks / "stdout.txt").read_text()
    assert "Ranks: 3 generators" in report, report
    assert report.count(" tcp run @ ") == 1  # only rank 0 prints
    # The file validates against the run schema, and the HTML report has a row per rank.
    _assert_valid(three_ranks / "run.json")
    page = (three_ranks / "run.html").read_text()
    assert all(f"rank {r.rank} on {r.host}" in page for r in result.ranks)


MARKS_SCRIPT = """
import json, sys
import cannonade

plan = cannonade.Plan(sys.argv[1], connections=4, duration_s=3.0, interval_s=0.5)
seen = []

def decide(interval):
    seen.append(interval.index)
    return "steady" if interval.index == 2 else None

result = cannonade.run_mpi(plan, marks=[(1.0, "measure")], decide=decide)
if result is not None:
    with open(sys.argv[2], "w") as out:
        out.write(result.to_json())
"""


@needs_mpi
def test_phase_marks_reach_every_rank_at_the_same_boundary(
    rust_echo: Server, tmp_path: Path
) -> None:
    # From the Python API: a mark planned at 1 s (interval 2 of 0.5 s) and one that
    # rank 0 decides on, from the merged series, while the load runs.
    script = tmp_path / "marks.py"
    script.write_text(MARKS_SCRIPT)
    out = tmp_path / "run.json"
    assert MPIRUN is not None
    proc = subprocess.run(
        [MPIRUN, *MPIRUN_ARGS, "-n", "2", sys.executable, str(script), rust_echo.address,
         str(out)],
        capture_output=True, text=True, timeout=MPIRUN_TIMEOUT_S, cwd="/",
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = cannonade.Result.from_file(out)
    # The merge refuses parts whose phases differ, and each rank checks the engine's
    # index: both ranks are in, with no problem reported.
    assert [r.status for r in result.ranks] == ["ok", "ok"], result.ranks
    assert [r.problem for r in result.ranks] == ["", ""], result.ranks
    names = [p.name for p in result.phases]
    assert names[:2] == ["main", "measure"] and "steady" in names, names
    assert result.phases[1].first_interval == 2
    steady = result.phase("steady")
    assert steady.first_interval > 2
    for interval in result.interval_series:
        expected = "main" if interval.index < 2 else "measure"
        if interval.index >= steady.first_interval:
            expected = "steady"
        assert interval.phase == expected, interval.index
    assert result.requests == sum(r.requests for r in result.ranks)


@needs_mpi
@pytest.mark.once
def test_a_benchmark_warms_up_and_judges_on_the_merged_series(
    rust_echo: Server, tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    proc = _mpirun(3, "tcp", rust_echo.address, "-c", "6", "--warmup", "--warmup-min", "2s",
                   "--window", "2s", "--warmup-max", "4s", "--measure", "2s", "--json",
                   str(out), "--mpi", "--quiet")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _assert_valid(out)
    bench = cannonade.load(out)
    assert isinstance(bench, cannonade.BenchmarkResult)
    execution = bench.executions[0]
    run = execution.result
    # The driver saw the merged series: every rank is in the execution's result, and the
    # intervals it analysed are the merged ones (their counts are the ranks' sums).
    assert len(run.ranks) == 3
    assert all(r.status in ("ok", "behind") for r in run.ranks), run.ranks
    assert run.connections == 6 and run.requests == sum(r.requests for r in run.ranks)
    analysed = sum(i.requests for i in execution.intervals)
    assert 0 < analysed <= run.requests
    assert bench.classification


@needs_mpi
def test_a_rank_whose_marks_landed_late_is_realigned_on_rank_0s_boundaries(
    three_ranks: Path,
) -> None:
    from cannonade._mpi import _realign

    result = cannonade.Result.from_file(three_ranks / "run.json")
    layout = [("main", 0), ("measure", 2)]
    realigned = _realign(result, layout, "rank 1")
    assert realigned is not None
    assert [(p.name, p.first_interval) for p in realigned.phases] == layout
    assert sum(p.requests for p in realigned.phases) == result.requests
    measured = [i for i in realigned.interval_series if i.index >= 2]
    assert all(i.phase == "measure" for i in measured)
    _check_latency(realigned.phase("measure").latency, [i.histogram for i in measured])
    assert _realign(result, [("main", 0), ("late", 99)], "rank 1") is None


@needs_mpi
def test_more_ranks_than_connections_is_refused_on_every_rank(rust_echo: Server) -> None:
    proc = _mpirun(3, "tcp", rust_echo.address, "-c", "2", "-d", "1", "--mpi")
    assert proc.returncode != 0
    assert "3 ranks need at least 3 connections" in proc.stderr, proc.stderr
    assert " tcp run @ " not in proc.stdout


def _rank_pid(parent: int, rank: int) -> Optional[int]:
    """The pid of MPI rank ``rank`` among ``parent``'s children (read from /proc)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != parent:
                continue
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if f"OMPI_COMM_WORLD_RANK={rank}".encode() in environ:
            return int(entry)
    return None


@needs_mpi
@pytest.mark.once
def test_a_rank_killed_mid_run_is_reported_and_the_rest_kept(
    rust_echo: Server, tmp_path: Path
) -> None:
    assert MPIRUN is not None
    out = tmp_path / "run.json"
    partial = Path(f"{out}.partial")
    proc = subprocess.Popen(
        [MPIRUN, *MPIRUN_ARGS, RECOVERY, "-n", "3", sys.executable, "-m", "cannonade", "tcp",
         rust_echo.address, "-c", "6", "-d", "4", "--json", str(out), "--mpi"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/",
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        # Kill rank 2 once rank 0 has merged an interval (it keeps them in FILE.partial).
        while time.monotonic() < deadline and proc.poll() is None:
            if partial.exists() and partial.read_text().count("\n") >= 1:
                break
            time.sleep(0.05)
        victim = _rank_pid(proc.pid, 2)
        assert victim is not None, "rank 2 not found among mpirun's children"
        os.kill(victim, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=MPIRUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    result = cannonade.load(out)
    assert isinstance(result, cannonade.Result)
    lost = result.ranks[2]
    assert lost.status == "lost" and lost.problem.startswith("lost:"), lost
    assert f"{lost.name} lost" in stderr, stderr
    assert lost.intervals >= 1 and lost.requests > 0  # what it sent before it died is kept
    kept = result.ranks[:2]
    assert all(r.status in ("ok", "behind") for r in kept), kept
    assert result.requests == sum(r.requests for r in kept) > 0
    assert result.connections == sum(r.connections for r in kept)
    assert not partial.exists()  # the final result replaced it
    assert " tcp run @ " in stdout


FINALIZE_SCRIPT = """
import sys, time
from mpi4py import MPI
from cannonade._mpi import finalize

if MPI.COMM_WORLD.Get_rank() == 0:
    print("rank 0 wrote everything", end="")  # no newline: only a flush shows it
    finalize(timeout_s=1.0)
    print("rank 0 finalized")  # never: rank 1 is not in the fence
else:
    time.sleep(float(sys.argv[1]))  # a rank that never reaches MPI_Finalize
"""


def _mpirun_script(
    path: Path, text: str, *args: str, recovery: bool = False
) -> subprocess.CompletedProcess[str]:
    """Runs the script ``text`` (written to ``path``) on two ranks, within mpirun's timeout."""
    path.write_text(text)
    assert MPIRUN is not None
    flags = [*MPIRUN_ARGS, RECOVERY] if recovery else MPIRUN_ARGS
    return subprocess.run(
        [MPIRUN, *flags, "-n", "2", sys.executable, str(path), *args],
        capture_output=True, text=True, timeout=MPIRUN_TIMEOUT_S, cwd="/",
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


@needs_mpi
def test_a_finalize_that_waits_for_a_missing_rank_ends_after_its_grace(tmp_path: Path) -> None:
    # MPI_Finalize's fence waits for every rank: after a rank is killed it can wait for
    # ever (the test above hung so in 4 of 72 runs, until the CLI bounded it). Rank 1
    # stands for the dead rank: it stays out of the fence for far longer than mpirun is
    # given here, so only rank 0's watchdog can end the job in time.
    proc = _mpirun_script(tmp_path / "finalize.py", FINALIZE_SCRIPT, str(MPIRUN_TIMEOUT_S * 4))
    assert "rank 0 wrote everything" in proc.stdout, proc.stdout + proc.stderr
    assert "rank 0 finalized" not in proc.stdout
    assert proc.returncode != 0  # rank 0 ended with status 1; mpirun says so
    assert "Exit code:    1" in proc.stderr or "exit code" in proc.stderr, proc.stderr


SESSION_EXIT_SCRIPT = """
import sys, time
from mpi4py import MPI
import cannonade._mpi as cannonade_mpi

if MPI.COMM_WORLD.Get_rank() == 0:
    cannonade_mpi._FINALIZE_WAIT_S = 1.0
    cannonade_mpi.MpiSession()  # what run_mpi makes; the script then just ends
    print("rank 0 wrote everything", end="")
else:
    time.sleep(float(sys.argv[1]))  # a rank that never reaches MPI_Finalize
"""


@needs_mpi
def test_a_script_that_ends_with_a_rank_missing_ends_after_the_grace(tmp_path: Path) -> None:
    # The same fence for a script (run_mpi, MpiSession) that never calls finalize():
    # the session has it run at exit, before mpi4py's own unbounded MPI_Finalize.
    script = tmp_path / "session_exit.py"
    proc = _mpirun_script(script, SESSION_EXIT_SCRIPT, str(MPIRUN_TIMEOUT_S * 4))
    assert "rank 0 wrote everything" in proc.stdout, proc.stdout + proc.stderr
    assert proc.returncode != 0  # rank 0 ended with status 1; mpirun says so


SLOW_LEAD_SCRIPT = """
import time
from mpi4py import MPI
import cannonade._mpi as cannonade_mpi

cannonade_mpi._FINALIZE_WAIT_S = 1.0
cannonade_mpi.MpiSession()
if MPI.COMM_WORLD.Get_rank() == 0:
    time.sleep(4.0)  # rank 0's own work after the run, four times the grace
    print("rank 0 wrote everything")
"""


@needs_mpi
def test_a_rank_0_busy_after_the_run_for_longer_than_the_grace_is_not_cut_off(
    tmp_path: Path,
) -> None:
    # Rank 1 reaches its exit at once; its grace must not start until rank 0 is done,
    # or its status 1 would make mpirun end the job with rank 0's work unfinished.
    proc = _mpirun_script(tmp_path / "slow_lead.py", SLOW_LEAD_SCRIPT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "rank 0 wrote everything" in proc.stdout


DEAD_LEAD_SCRIPT = """
import os, signal
from mpi4py import MPI
import cannonade._mpi as cannonade_mpi

cannonade_mpi._FINALIZE_WAIT_S = 1.0
cannonade_mpi.MpiSession()
if MPI.COMM_WORLD.Get_rank() == 0:
    os.kill(os.getpid(), signal.SIGKILL)  # rank 0 dies before its goodbye
print("rank 1 reached its exit", flush=True)
"""


@needs_mpi
def test_the_other_ranks_end_when_rank_0_dies_before_its_goodbye(tmp_path: Path) -> None:
    # With --enable-recovery the job outlives rank 0: the others must not wait for its
    # goodbye for ever (nor MPI_Finalize for it): mpirun ends within its timeout.
    proc = _mpirun_script(tmp_path / "dead_lead.py", DEAD_LEAD_SCRIPT, recovery=True)
    assert "rank 1 reached its exit" in proc.stdout, proc.stdout + proc.stderr


@needs_mpi
@pytest.mark.once
def test_a_rank_that_falls_behind_is_reported_and_its_data_kept(
    rust_echo: Server, tmp_path: Path
) -> None:
    # SIGSTOP freezes rank 1 (its host "falls behind") for longer than the deadline of
    # an interval's report (two intervals, at least 2 s); then it goes on.
    assert MPIRUN is not None
    out = tmp_path / "run.json"
    partial = Path(f"{out}.partial")
    proc = subprocess.Popen(
        [MPIRUN, *MPIRUN_ARGS, "-n", "2", sys.executable, "-m", "cannonade", "tcp",
         rust_echo.address, "-c", "4", "-d", "6", "--json", str(out), "--mpi"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/",
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    victim: Optional[int] = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if partial.exists() and partial.read_text().count("\n") >= 1:
                break
            time.sleep(0.05)
        victim = _rank_pid(proc.pid, 1)
        assert victim is not None, "rank 1 not found among mpirun's children"
        os.kill(victim, signal.SIGSTOP)
        time.sleep(3.5)
        os.kill(victim, signal.SIGCONT)
        victim = None
        stdout, stderr = proc.communicate(timeout=MPIRUN_TIMEOUT_S)
    finally:
        if victim is not None:
            os.kill(victim, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, stdout + stderr
    result = cannonade.load(out)
    assert isinstance(result, cannonade.Result)
    late = result.ranks[1]
    assert late.status == "behind" and "reached rank 0 after its deadline" in late.problem, late
    assert f"{late.name}: behind" in stdout
    # Its data is kept: the merged totals count both ranks, interval by interval.
    assert result.requests == sum(r.requests for r in result.ranks)
    assert result.connections == 4 and late.requests > 0


# --- several hosts, simulated with network namespaces -------------------------------------


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def _can_make_namespaces() -> Optional[str]:
    if os.geteuid() != 0:
        return "needs root to make network namespaces"
    if shutil.which("ip") is None:
        return "needs iproute2's ip"
    probe = f"cn-probe-{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except (subprocess.CalledProcessError, OSError) as error:
        return f"ip netns add fails here: {error}"
    _ip("netns", "del", probe)
    return None


@needs_mpi
@pytest.mark.once
def test_ranks_in_their_own_namespaces_load_a_server_in_another(tmp_path: Path) -> None:
    why = _can_make_namespaces()
    if why:
        pytest.skip(why)
    assert MPIRUN is not None
    tag = str(os.getpid())
    server_ns = f"cn-srv-{tag}"
    # RFC 2544's benchmarking range, only inside these namespaces: the server is
    # 198.19.0.1 (on its loopback), rank r's host is 198.18.r.2 behind its own veth.
    target = "198.19.0.1"
    ranks = 3
    made: list[str] = []
    server: Optional[subprocess.Popen] = None
    try:
        _ip("netns", "add", server_ns)
        made.append(server_ns)
        _ip("-n", server_ns, "link", "set", "lo", "up")
        _ip("-n", server_ns, "addr", "add", f"{target}/32", "dev", "lo")
        for r in range(ranks):
            ns = f"cn-gen{r}-{tag}"
            _ip("netns", "add", ns)
            made.append(ns)
            host_end, server_end = f"cng{r}", f"cns{r}"
            _ip("link", "add", host_end, "netns", ns, "type", "veth", "peer", "name",
                server_end, "netns", server_ns)  # fmt: skip
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", f"198.18.{r}.2/24", "dev", host_end)
            _ip("-n", ns, "link", "set", host_end, "up")
            _ip("-n", server_ns, "addr", "add", f"198.18.{r}.1/24", "dev", server_end)
            _ip("-n", server_ns, "link", "set", server_end, "up")
            _ip("-n", ns, "route", "add", f"{target}/32", "via", f"198.18.{r}.1")
        server = subprocess.Popen(
            ["ip", "netns", "exec", server_ns, str(RUST_TESTEE), "echo", "--host", target,
             "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert server.stdout is not None
        line = server.stdout.readline().decode()
        assert line.startswith("listening on "), line
        address = line.split()[-1]
        out = tmp_path / "run.json"
        # MPI itself talks through the root namespace (PMIx listens on its loopback); each
        # rank's load leaves from its own namespace (--netns, entered before the load).
        proc = _mpirun(ranks, "tcp", address, "-c", "6", "-d", "2", "--json", str(out),
                       "--mpi", "--netns", f"cn-gen{{rank}}-{tag}")  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        result = cannonade.load(out)
        assert isinstance(result, cannonade.Result)
        assert len(result.ranks) == ranks and result.errors.total == 0
        assert result.requests == sum(r.requests for r in result.ranks)
        for r in result.ranks:
            # Rank r's requests left through its own veth: one segment each at least.
            stats = subprocess.run(
                ["ip", "-n", f"cn-gen{r.rank}-{tag}", "-j", "-s", "link", "show",
                 f"cng{r.rank}"],
                capture_output=True, text=True, timeout=10, check=True,
            )  # fmt: skip
            sent = json.loads(stats.stdout)[0]["stats64"]["tx"]["packets"]
            assert r.requests > 0 and sent >= r.requests, (r, sent)
    finally:
        if server is not None:
            stop_process(server)
        for ns in reversed(made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
