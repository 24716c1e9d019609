"""Constant-rate load (coordinated omission) and interval snapshots, from Python."""

from __future__ import annotations

import subprocess
import sys

import pytest

import cannonade
from cannonade import PlanError

from support import Server


def _plan(server: Server, **kwargs: object) -> cannonade.Plan:
    options: dict[str, object] = {"connections": 4, "threads": 2}
    options.update(kwargs)
    return cannonade.Plan(server.address, cannonade.Tcp(payload_bytes=32), **options)  # type: ignore[arg-type]


def test_intervals_are_polled_while_running_and_add_up(echo_server: Server) -> None:
    with cannonade.start(_plan(echo_server, duration_s=1.0, interval_s=0.2)) as run:
        seen: list[cannonade.Interval] = []
        while run.wait(timeout_s=0.05) is None:
            seen.extend(run.poll())
        result = run.result()
        seen.extend(run.poll())
    assert [iv.index for iv in seen] == list(range(len(seen)))
    assert len(seen) == result.intervals
    assert sum(iv.requests for iv in seen) == result.requests
    assert all(iv.latency.count == iv.requests for iv in seen)
    assert seen[0].start_ns == 0 and seen[1].start_s == pytest.approx(0.2)
    assert all(iv.histogram[:4] == b"\x1c\x84\x93\x14" for iv in seen)


def test_constant_rate_result_has_both_latencies(echo_server: Server) -> None:
    result = cannonade.run(_plan(echo_server, requests=60, rate_per_s=300.0))
    assert result.requests == 60
    assert result.rate_per_s == 300.0
    assert result.uncorrected_latency is not None
    assert result.uncorrected_latency.count == 60
    assert result.send_lag is not None and result.send_lag.count == 60
    text = result.format()
    assert "corrected for coordinated omission" in text
    assert "uncorrected" in text


def test_coordinated_omission_against_a_stalling_server(
    server_factory: object,
) -> None:
    # The Rust testee stalls every reply for 400 ms out of each 1000 ms. At 2000
    # requests/s two fifths of the requests are due during a stall, so the corrected p99
    # is near 400 ms; only the few in flight as a stall begins (one per connection
    # per stall, about 0.2% here) carry it in their uncorrected latency, whose p99 has
    # a 100 ms margin against the pauses of a loaded machine.
    stall_ns = 400_000_000
    server = server_factory("rust", "--stall-ms", "400", "--stall-every-ms", "1000")  # type: ignore[operator]
    for _attempt in range(3):
        result = cannonade.run(_plan(server, duration_s=2.5, rate_per_s=2000.0))
        # A run in which the generator fell behind its schedule, or a reply was held, by
        # more than a stall and a margin (the machine paused the generator or the
        # server) is no test of the correction.
        pause_ns = stall_ns + 100_000_000
        lag, unc = result.send_lag, result.uncorrected_latency
        if (lag is None or lag.max_ns <= pause_ns) and (unc is None or unc.max_ns <= pause_ns):
            break
    assert result.requests > 2000
    assert result.latency.percentile(99.0) >= stall_ns // 2
    assert result.uncorrected_latency is not None
    assert result.uncorrected_latency.percentile(99.0) < stall_ns // 4
    assert result.uncorrected_latency.max_ns >= stall_ns // 2


def test_rate_and_interval_are_checked() -> None:
    with pytest.raises(PlanError, match="rate_per_s"):
        cannonade.Plan("127.0.0.1:9", requests=1, rate_per_s=0)
    with pytest.raises(PlanError, match="rate_per_s"):
        cannonade.Plan("127.0.0.1:9", requests=1, rate_per_s=float("nan"))
    with pytest.raises(PlanError, match="interval_s"):
        cannonade.Plan("127.0.0.1:9", requests=1, interval_s=0.001)


def test_cli_rate(rust_echo: Server) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cannonade", "tcp", rust_echo.address, "-c", "2", "-n", "20"]
        + ["-R", "200"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "constant rate 200 requests/s" in proc.stdout


def test_churn_opens_a_connection_every_k_requests(echo_server: Server) -> None:
    # 120 requests over 4 connections, 5 per socket: 24 sockets, each timed.
    result = cannonade.run(_plan(echo_server, requests=120, requests_per_connection=5))
    assert result.requests == 120
    assert result.errors.total == 0
    assert result.connections_opened == 24
    assert result.connect.count == 24


def test_churn_at_a_connection_rate(echo_server: Server) -> None:
    result = cannonade.run(
        _plan(echo_server, requests=20, requests_per_connection=1, connection_rate_per_s=200.0)
    )
    assert (result.requests, result.connections_opened) == (20, 20)
    # The 20th connection is due at 95 ms: the schedule holds the run back that long.
    assert result.duration_ns >= 95_000_000


def test_idle_connections_are_held(echo_server: Server) -> None:
    result = cannonade.run(_plan(echo_server, duration_s=1.5, idle_connections=50))
    assert result.requests > 0
    assert result.idle_connections == cannonade.IdleConnections(50, 50, 50)
    assert result.connections_opened == 4
    assert "Idle connections: 50 held of 50" in result.format()


def test_churn_and_idle_are_checked() -> None:
    with pytest.raises(PlanError, match="requests_per_connection"):
        cannonade.Plan("127.0.0.1:9", requests=1, requests_per_connection=0)
    with pytest.raises(PlanError, match="connection_rate_per_s"):
        cannonade.Plan("127.0.0.1:9", requests=1, connection_rate_per_s=-1)
    with pytest.raises(PlanError, match="idle_connections"):
        cannonade.Plan("127.0.0.1:9", requests=1, idle_connections=-1)


def test_too_many_sockets_for_the_limit_are_refused_by_the_engine(rust_echo: Server) -> None:
    with pytest.raises(PlanError, match="ulimit -n|at most"):
        cannonade.Plan(rust_echo.address, requests=1, idle_connections=1_000_000)


def test_cli_churn_and_idle(rust_echo: Server) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cannonade", "tcp", rust_echo.address, "-c", "2", "-d", "1"]
        + ["--requests-per-connection", "3", "--idle", "10"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Idle connections: 10 held of 10" in proc.stdout


def test_replies_framed_by_a_delimiter(echo_server: Server) -> None:
    # Both echo testees send the line back; each reply ends at its newline.
    protocol = cannonade.Tcp(payload=b"one line\n", reply_delimiter=b"\n")
    plan = cannonade.Plan(echo_server.address, protocol, connections=4, requests=200)
    result = cannonade.run(plan)
    assert (result.requests, result.errors.total) == (200, 0)
    assert result.bytes_received == 200 * len(b"one line\n")


def test_think_time_paces_each_connection(echo_server: Server) -> None:
    result = cannonade.run(_plan(echo_server, requests=12, think_time_s=0.05))
    assert (result.requests, result.errors.total) == (12, 0)
    # 4 connections, 3 requests each, two 50 ms pauses before the last: at least 100 ms.
    assert result.duration_ns >= 100_000_000


def test_delimiter_and_think_time_are_checked() -> None:
    with pytest.raises(PlanError, match="reply_delimiter"):
        cannonade.Tcp(reply_delimiter=b"")
    with pytest.raises(PlanError, match="not both"):
        cannonade.Tcp(reply_bytes=3, reply_delimiter=b"\n")
    with pytest.raises(PlanError, match="think_time_s"):
        cannonade.Plan("127.0.0.1:9", requests=1, think_time_s=0.1, rate_per_s=5)


@pytest.mark.parametrize("field", ["rate_per_s", "connection_rate_per_s"])
def test_a_rate_too_small_to_schedule_is_refused_by_the_engine(
    echo_server: Server, field: str
) -> None:
    # 1e9 / 1e-300 ns is infinite: such a rate once ran at full speed.
    extra: dict[str, object] = {field: 1e-300}
    if field == "connection_rate_per_s":
        extra["requests_per_connection"] = 1
    with pytest.raises(PlanError) as caught:
        cannonade.run(_plan(echo_server, duration_s=1.0, **extra))
    message = str(caught.value)
    assert field in message and "smallest rate is" in message


def test_closed_loop_and_its_phases_report_the_generators_turnaround(
    echo_server: Server,
) -> None:
    result = cannonade.run(_plan(echo_server, requests=200))
    assert result.send_lag is None
    assert result.send_gap is not None and result.send_gap.count == 200 - 4
    assert result.phases[0].send_gap is not None
    assert result.phases[0].send_gap.count == 200 - 4
    assert "Send gap" in result.format()
    again = cannonade.Result.from_json(result.to_json())
    assert again.send_gap == result.send_gap
    assert again.phases[0].send_gap == result.phases[0].send_gap
    open_loop = cannonade.run(_plan(echo_server, requests=20, rate_per_s=400.0))
    assert open_loop.send_gap is None and open_loop.phases[0].send_lag is not None
