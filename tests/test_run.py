"""Load runs against the reference echo servers (Rust testee and Twisted under PyPy)."""

from __future__ import annotations

from typing import Callable

from cannonade import Plan, Result, Tcp

from support import Server, decode_histogram, run_bounded

PAYLOAD_BYTES = 64


def check_latency(result: Result) -> None:
    lat = result.latency
    assert lat.count == result.requests
    p = dict(lat.percentiles)
    assert lat.min_ns <= p[50.0] <= p[90.0] <= p[99.0] <= lat.max_ns
    assert lat.min_ns <= lat.mean_ns <= lat.max_ns
    assert lat.stdev_ns >= 0
    assert lat.min_ns > 0


def test_requests_are_counted_exactly(echo_server: Server) -> None:
    plan = Plan(
        echo_server.address,
        Tcp(payload_bytes=PAYLOAD_BYTES),
        connections=4,
        threads=2,
        requests=3000,
    )
    result = run_bounded(plan)
    assert result.stopped_by == "requests"
    assert result.requests == 3000
    assert result.bytes_sent == 3000 * PAYLOAD_BYTES
    assert result.bytes_received == 3000 * PAYLOAD_BYTES
    assert result.errors.total == 0
    assert result.connections == 4 and result.threads == 2
    assert result.connections_opened == 4
    assert result.target == echo_server.address and result.protocol == "tcp"
    check_latency(result)


def test_run_by_duration(echo_server: Server) -> None:
    plan = Plan(
        echo_server.address, Tcp(payload_bytes=PAYLOAD_BYTES), connections=2, duration_s=0.5
    )
    result = run_bounded(plan)
    assert result.stopped_by == "duration"
    assert result.requests > 0
    assert result.duration_ns >= 500_000_000
    # Requests still in flight at the deadline were sent but not all answered.
    assert result.bytes_sent >= result.requests * PAYLOAD_BYTES
    assert result.bytes_received >= result.requests * PAYLOAD_BYTES
    assert result.errors.total == 0
    assert result.requests_per_s > 0
    check_latency(result)


def test_fixed_payload_and_fixed_reply(rust_echo: Server) -> None:
    # An echo server answers a 5-byte payload with 5 bytes; "fixed 5" must agree.
    plan = Plan(rust_echo.address, Tcp(payload=b"hello", reply_bytes=5), connections=1, requests=50)
    result = run_bounded(plan)
    assert result.requests == 50
    assert result.bytes_received == 250
    assert result.errors.total == 0


def test_histogram_decodes_to_the_request_count(echo_server: Server) -> None:
    plan = Plan(echo_server.address, connections=3, requests=1000)
    result = run_bounded(plan)
    hist = decode_histogram(result.histogram)
    assert hist.total == result.requests == 1000
    assert hist.significant_figures == 3
    buckets = sorted(hist.counts)
    low, high = hist.value_range(buckets[0])
    assert low <= result.latency.min_ns <= high
    low, high = hist.value_range(buckets[-1])
    assert low <= result.latency.max_ns <= high


def test_histogram_matches_the_hdrhistogram_package(rust_echo: Server) -> None:
    import base64

    import pytest

    hdrh = pytest.importorskip("hdrh.histogram", reason="PyPI hdrhistogram (CPython venv only)")
    result = run_bounded(Plan(rust_echo.address, connections=2, requests=500))
    hist = hdrh.HdrHistogram.decode(base64.b64encode(result.histogram))
    assert hist.get_total_count() == 500
    assert hist.get_value_at_percentile(100) >= result.latency.max_ns * 0.99


def test_server_closing_connections_is_data_not_an_exception(
    server_factory: Callable[..., Server],
) -> None:
    # 100 bytes is not a multiple of the 64-byte payload: the server closes in
    # the middle of the second reply, after reading all of the second request,
    # so the client sees a clean EOF (closed), not a reset.
    for kind in ("rust", "twisted"):
        server = server_factory(kind, "--close-after-bytes", "100")
        plan = Plan(server.address, Tcp(payload_bytes=64), connections=2, requests=40)
        result = run_bounded(plan)
        assert result.requests == 40, kind
        assert result.errors.closed > 0, (kind, result.errors)
        assert result.connections_opened > 2, kind
        check_latency(result)


def test_without_reconnect_the_run_ends_when_connections_are_lost(
    server_factory: Callable[..., Server],
) -> None:
    server = server_factory("rust", "--close-after-bytes", "100")
    plan = Plan(
        server.address, Tcp(payload_bytes=64), connections=2, requests=1000, reconnect=False
    )
    result = run_bounded(plan)
    assert result.stopped_by == "connections_lost"
    assert result.requests == 2  # one whole exchange per connection, then EOF mid-reply
    assert result.errors.closed == 2
    assert result.connections_opened == 2
