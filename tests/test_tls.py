"""TLS through the Python API and the CLI, against the testees' ``--tls`` (a CA and
certificate made at start-up), the native one and the PyPy ones (twisted.web and
Autobahn, TLS by pyOpenSSL): https://, wss:// and TCP with ``tls``, the testee's CA
trusted with ``cacert``, another CA refused and counted by kind, ``insecure``, and
session resumption on and off under churn."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import jsonschema  # installed into both test venvs by .ci/bootstrap
import pytest

import cannonade
from cannonade import Plan, PlanError, Result, Tcp, Ws
from cannonade._html import render_html

from support import (
    RUN_TIMEOUT_S,
    Server,
    cli,
    pypy_argv,
    run_bounded,
    rust_testee_argv,
    start_server,
    stop_process,
)

TlsTestee = Callable[..., tuple[Server, Path]]
RUN_SCHEMA = Path(cannonade.__file__).resolve().parent / "schemas" / "run.schema.json"


def _assert_valid(path: Path) -> dict:
    """A run's JSON, checked against the run schema (which knows the TLS fields)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    schema = json.loads(RUN_SCHEMA.read_text(encoding="utf-8"))
    problems = [e.message[:160] for e in jsonschema.Draft202012Validator(schema).iter_errors(data)]
    assert not problems, problems[:5]
    return data


# The PyPy testee of each mode.
PYPY_TESTEES = {"http": "twisted", "ws": "autobahn", "echo": "twisted"}


@pytest.fixture
def tls_testee(tmp_path: Path) -> Iterator[TlsTestee]:
    """Start a testee of ``mode`` with ``--tls``, native (``impl="rust"``) or under PyPy;
    gives the server and its CA file."""
    started: list[Server] = []

    def start(mode: str, impl: str = "rust") -> tuple[Server, Path]:
        ca = tmp_path / f"ca-{len(started)}.pem"
        if impl == "rust":
            argv = [rust_testee_argv()[0], mode]
        else:
            assert PYPY_TESTEES[mode] == impl, (mode, impl)
            argv = [*pypy_argv(), "-m", f"cannonade.testees.{mode}"]
        server = start_server(
            f"{impl} {mode} testee (TLS)", [*argv, "--tls", "--cert-out", str(ca)]
        )
        started.append(server)
        return server, ca

    yield start
    for server in started:
        stop_process(server.process)


@pytest.mark.parametrize("impl", ["rust", "twisted"])
def test_https_with_the_testees_ca(tls_testee: TlsTestee, impl: str) -> None:
    server, ca = tls_testee("http", impl)
    plan = Plan(f"https://{server.address}/", connections=4, requests=400, cacert=ca)
    with cannonade.start(plan) as run:
        result = run.wait(RUN_TIMEOUT_S)
        assert result is not None, "the run did not finish"
        result = dataclasses.replace(result, interval_series=tuple(run.poll()))
    assert (result.requests, result.errors.total) == (400, 0), result.errors
    assert result.status_code_counts == {200: 400}
    assert result.tls is not None
    assert result.tls.handshakes == 4 == result.tls.handshake.count
    assert result.tls.resumed == 0, "resumption is off unless asked for"
    assert result.connect.count == 4
    assert result.handshake is None, "no WebSocket upgrade over HTTP"
    assert Result.from_json(result.to_json()).tls == result.tls
    assert "TLS handshake time: p50" in result.format()
    # Merged with itself (two generators side by side), interval by interval: the TLS
    # handshakes add up in the run, in its phases and in its intervals alike.
    merged = cannonade.merge([result, result])
    assert merged.tls is not None and merged.tls.handshakes == 8
    assert [p.tls.handshakes for p in merged.phases if p.tls] == [
        2 * p.tls.handshakes for p in result.phases if p.tls
    ]
    assert sum(p.tls.handshakes for p in merged.phases if p.tls) == 8
    assert sum(i.tls.handshakes for i in merged.interval_series if i.tls) == 8
    # The HTML report's summary shows them as the text report does.
    page = render_html(result)
    found = re.search(r'<script type="application/json" id="cannonade-data">(.*?)</script>', page)
    assert found is not None
    rows = dict(map(tuple, json.loads(found.group(1))["summary"][0]["rows"]))
    assert rows["TLS handshakes"].startswith("4 (0 resumed)"), rows
    assert "TLS handshake p50" in rows and "TLS handshake p99" in rows and "connect p50" in rows


@pytest.mark.parametrize("impl", ["rust", "autobahn"])
def test_wss_times_connect_tls_and_upgrade_apart(tls_testee: TlsTestee, impl: str) -> None:
    server, ca = tls_testee("ws", impl)
    plan = Plan(
        f"wss://{server.address}/echo", Ws(message=b"hi"), connections=3, requests=300, cacert=ca
    )
    result = run_bounded(plan)
    assert (result.requests, result.errors.total) == (300, 0), result.errors
    assert result.tls is not None and result.handshake is not None
    assert result.connect.count == result.tls.handshake.count == result.handshake.count == 3


@pytest.mark.parametrize("impl", ["rust", "twisted"])
def test_tcp_echo_over_tls_with_insecure(tls_testee: TlsTestee, impl: str) -> None:
    server, _ = tls_testee("echo", impl)
    plan = Plan(server.address, Tcp(payload=b"ping", tls=True), requests=200, insecure=True)
    result = run_bounded(plan)
    assert (result.requests, result.errors.total) == (200, 0), result.errors
    assert result.bytes_received == 200 * 4


@pytest.mark.parametrize("mode, impl", [("http", "rust"), ("http", "twisted"), ("ws", "autobahn")])
def test_another_ca_is_refused_and_counted_and_insecure_accepts(
    tls_testee: TlsTestee, mode: str, impl: str
) -> None:
    server, _ = tls_testee(mode, impl)
    _, other_ca = tls_testee("http")
    url = f"{'https' if mode == 'http' else 'wss'}://{server.address}/"
    protocol = Ws(message=b"hi") if mode == "ws" else None
    refused = run_bounded(Plan(url, protocol, connections=2, duration_s=0.3, cacert=other_ca))
    assert refused.requests == 0
    assert refused.errors.tls_certificate > 0, refused.errors
    assert refused.errors.total == refused.errors.tls_certificate
    (message,) = refused.error_messages
    assert message.kind == "tls_certificate"
    assert "UnknownIssuer" in message.first and "--cacert" in message.first
    assert "tls certificate errors" in refused.format()
    accepted = run_bounded(Plan(url, protocol, connections=2, requests=50, insecure=True))
    assert (accepted.requests, accepted.errors.total) == (50, 0)


@pytest.mark.parametrize("impl, version", [("rust", "1.2"), ("rust", "1.3"), ("twisted", "1.3")])
def test_churn_with_and_without_resumption(tls_testee: TlsTestee, impl: str, version: str) -> None:
    server, ca = tls_testee("http", impl)

    def churn(resume: bool) -> Result:
        plan = Plan(
            f"https://{server.address}/",
            connections=2,
            requests=100,
            requests_per_connection=1,
            cacert=ca,
            tls_resume=resume,
            tls_version=version,
        )
        return run_bounded(plan)

    full = churn(False)
    assert (full.requests, full.errors.total) == (100, 0), full.errors
    assert full.tls is not None
    assert (full.tls.handshakes, full.tls.resumed) == (100, 0)
    assert full.tls.handshakes_per_s > 0
    resumed = churn(True)
    assert (resumed.requests, resumed.errors.total) == (100, 0), resumed.errors
    assert resumed.tls is not None and resumed.tls.handshakes == 100
    # Only the first handshakes, before a session is kept, cannot resume.
    assert resumed.tls.resumed >= 90, resumed.tls
    assert resumed.tls.resumed_fraction >= 0.9


@pytest.mark.parametrize("impl", ["rust", "autobahn"])
def test_wss_churn_with_and_without_resumption_and_insecure(
    tls_testee: TlsTestee, impl: str
) -> None:
    server, _ = tls_testee("ws", impl)

    def churn(resume: bool) -> Result:
        plan = Plan(
            f"wss://{server.address}/",
            Ws(message=b"hi"),
            connections=2,
            requests=60,
            requests_per_connection=3,
            insecure=True,
            tls_resume=resume,
        )
        return run_bounded(plan)

    full = churn(False)
    assert (full.requests, full.errors.total) == (60, 0), full.errors
    assert full.tls is not None and full.handshake is not None
    assert (full.tls.handshakes, full.tls.resumed) == (20, 0)
    assert full.handshake.count == 20, "an upgrade on every new connection"
    resumed = churn(True)
    assert (resumed.requests, resumed.errors.total) == (60, 0), resumed.errors
    assert resumed.tls is not None and resumed.tls.handshakes == 20
    assert resumed.tls.resumed >= 20 - 2, resumed.tls


def test_cli_https_with_cacert_and_resumption(tls_testee: TlsTestee, tmp_path: Path) -> None:
    server, ca = tls_testee("http")
    out = tmp_path / "run.json"
    done = cli(
        "http",
        f"https://{server.address}/",
        "--cacert",
        str(ca),
        "-c",
        "2",
        "-n",
        "60",
        "--requests-per-connection",
        "1",
        "--tls-resume",
        "--json",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "TLS handshakes: 60" in done.stdout, done.stdout
    assert "TLS handshake time: p50" in done.stdout
    data = _assert_valid(out)
    tls = data["tls"]
    assert tls["handshakes"] == 60 and tls["resumed"] >= 50, tls
    # Each interval and phase has its own count, and they add up to the run's.
    assert sum(i["tls"]["handshakes"] for i in data["interval_series"]) == 60
    assert sum(p["tls"]["handshakes"] for p in data["phases"]) == 60
    again = Result.from_file(out)
    assert again.tls is not None and again.tls.handshakes == 60
    assert sum(i.tls.handshakes for i in again.interval_series if i.tls) == 60
    done = cli("http", f"https://{server.address}/", "--insecure", "--no-tls-resume", "-n", "20")
    assert done.returncode == 0, done.stderr
    assert "TLS handshakes: " in done.stdout and "(0 resumed" in done.stdout, done.stdout
    done = cli(
        "http", f"https://{server.address}/", "--sni", "localhost", "--cacert", str(ca), "-n", "20"
    )
    assert done.returncode == 0, done.stderr


def test_cli_tcp_tls_and_a_wrong_ca(tls_testee: TlsTestee, tmp_path: Path) -> None:
    server, _ = tls_testee("echo")
    _, other_ca = tls_testee("echo")
    done = cli("tcp", server.address, "--tls", "--insecure", "-n", "30", "--payload-bytes", "8")
    assert done.returncode == 0, done.stderr
    assert "30 requests" in done.stdout, done.stdout
    out = tmp_path / "refused.json"
    done = cli(
        "tcp", server.address, "--tls", "--cacert", str(other_ca), "-d", "300ms", "--json", str(out)
    )
    assert "tls_certificate" in done.stdout, done.stdout
    data = _assert_valid(out)
    assert data["errors"]["tls_certificate"] > 0
    assert "tls_certificate" in data["error_messages"]


def test_merged_tls_runs_add_their_handshakes(tls_testee: TlsTestee) -> None:
    server, ca = tls_testee("http")
    plan = Plan(
        f"https://{server.address}/",
        connections=2,
        requests=40,
        requests_per_connection=2,
        cacert=ca,
        tls_resume=True,
    )
    parts = [run_bounded(plan), run_bounded(plan)]
    merged = cannonade.merge(parts)
    assert merged.tls is not None and all(p.tls is not None for p in parts)
    assert merged.tls.handshakes == 40 == sum(p.tls.handshakes for p in parts if p.tls)
    assert merged.tls.resumed == sum(p.tls.resumed for p in parts if p.tls)
    assert merged.tls.handshake.count == 40
    assert 0 < merged.tls.resumed_fraction <= 1


def test_plan_tls_fields_are_type_checked_and_the_engine_names_the_rest(tmp_path: Path) -> None:
    url = "https://127.0.0.1:9/"
    with pytest.raises(PlanError, match="insecure must be True or False"):
        Plan(url, requests=1, insecure="yes")  # type: ignore[arg-type]
    with pytest.raises(PlanError, match="cacert must be a file path"):
        Plan(url, requests=1, cacert=3)  # type: ignore[arg-type]
    with pytest.raises(PlanError, match="tls_resume must be True or False"):
        Plan(url, requests=1, insecure=True, tls_resume=1)  # type: ignore[arg-type]
    with pytest.raises(PlanError, match=r"cacert: .*no-such\.pem"):
        Plan(url, requests=1, cacert=tmp_path / "no-such.pem")
    empty = tmp_path / "empty.pem"
    empty.write_text("nothing\n")
    with pytest.raises(PlanError, match="holds no certificate"):
        Plan(url, requests=1, cacert=empty)
    with pytest.raises(PlanError, match=r"insecure: .*https://"):
        Plan("http://127.0.0.1:9/", requests=1, insecure=True)
    with pytest.raises(PlanError, match=r"tls_version: .*1\.3"):
        Plan(url, requests=1, insecure=True, tls_version="1.0")
    plan = Plan(url, requests=1, insecure=True, sni="localhost", tls_resume=True)
    data = plan.to_dict()
    assert (data["insecure"], data["sni"], data["tls_resume"]) == (True, "localhost", True)
    assert "cacert" not in data
    assert Plan("127.0.0.1:9", Tcp(tls=True), requests=1, insecure=True).to_dict()["protocol"][
        "tls"
    ]
