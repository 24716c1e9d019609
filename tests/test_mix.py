"""Request mixes against the native testee and twisted.web under PyPy: which entries
are sent (each entry asks for its own status with ``/status/NNN``, so the server's
answers tell the entries apart), in which proportions and order, and how they are
counted per label; bad entries and their messages; both backends alike."""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cannonade
from cannonade import Entry, Http, Plan, PlanError, Result, Tcp, Ws, _backend

from support import (
    Server,
    SharedTestees,
    cli,
    run_bounded,
    rust_testee_argv,
)

DATA = Path(__file__).parent / "data"

# Chi-square critical value at the 0.1% level for 2 degrees of freedom (3 entries).
CHI2_3_ENTRIES = 13.82


@pytest.fixture(scope="module")
def servers() -> Iterator[SharedTestees]:
    started = SharedTestees()
    yield started
    started.close()


@pytest.fixture(params=["rust", "twisted"])
def http_testee(request: pytest.FixtureRequest, servers: SharedTestees) -> Server:
    """The native HTTP testee, then twisted.web under PyPy."""
    return servers.get(request.param, "http")


@pytest.fixture
def rust_http(servers: SharedTestees) -> Server:
    return servers.get("rust", "http")


@pytest.fixture
def rust_ws(servers: SharedTestees) -> Server:
    return servers.get("rust", "ws")


# Three entries, each answered with its own status by both testees.
ENTRIES = [
    Entry(label="home", path="/status/200", weight=5),
    Entry(label="created", path="/status/201?x=1", method="POST", body=b"hello", weight=3),
    {"label": "missing", "path": "/status/404", "weight": 2},
]
STATUS = {"home": 200, "created": 201, "missing": 404}


def _assert_labels_add_up(result: Result) -> None:
    assert sum(result.labels.counts().values()) == result.requests
    for phase in result.phases:
        assert sum(s.requests for s in phase.labels) == phase.requests
    assert result.mix is not None
    assert result.mix.labels == tuple(result.labels.names())


def _chi_square(observed: list[int], weights: list[float]) -> float:
    total = sum(observed)
    expected = [total * w / sum(weights) for w in weights]
    return sum((o - e) ** 2 / e for o, e in zip(observed, expected))


def test_a_random_mix_follows_its_weights_and_each_label_gets_its_own_answers(
    http_testee: Server,
) -> None:
    plan = Plan(
        f"http://{http_testee.address}/",
        connections=4,
        requests=2000,
        protocol=Http(requests=ENTRIES, seed=1234),
    )
    result = run_bounded(plan)
    assert result.errors.total == 0 and result.requests == 2000
    assert result.mix is not None and (result.mix.order, result.mix.seed) == ("random", 1234)
    assert result.mix.weights == (5.0, 3.0, 2.0)
    _assert_labels_add_up(result)
    counts = result.labels.counts()
    chi2 = _chi_square([counts[n] for n in ("home", "created", "missing")], [5, 3, 2])
    assert chi2 < CHI2_3_ENTRIES, (chi2, counts)
    # The server's answers prove which entry each label sent: every response of a label
    # has that label's status, and the run's status counts are the labels' sums.
    for name, status in STATUS.items():
        stats = result.labels[name]
        assert stats.status_code_counts == {status: stats.requests}, name
        assert stats.latency.count == stats.requests
        assert 0 < stats.latency.min_ns <= stats.latency.max_ns <= result.latency.max_ns
        assert stats.histogram
    assert result.status_code_counts == {STATUS[n]: c for n, c in counts.items()}


def test_the_same_seed_draws_the_same_mix(rust_http: Server) -> None:
    def counts(seed: int) -> dict[str, int]:
        plan = Plan(
            f"http://{rust_http.address}/",
            connections=1,
            requests=300,
            protocol=Http(requests=ENTRIES, seed=seed),
        )
        return run_bounded(plan).labels.counts()

    first = counts(99)
    assert counts(99) == first
    # Another seed draws other choices: 300 draws coincide in their counts rarely, and
    # three seeds all coinciding would be a generator that ignores its seed.
    assert any(counts(seed) != first for seed in (100, 101, 102))


def test_round_robin_sends_each_entry_its_weight_in_turn(http_testee: Server) -> None:
    entries = [Entry(label=n, path=f"/status/{s}", weight=w) for n, s, w in ENTRY_TURNS]
    plan = Plan(
        f"http://{http_testee.address}/",
        connections=1,
        requests=6 * 25,
        protocol=Http(requests=entries, mix="round_robin"),
        interval_s=0.05,
    )
    result = run_bounded(plan)
    assert result.errors.total == 0
    # One connection, 25 whole turns of 1 + 2 + 3: the counts are exact.
    assert result.labels.counts() == {"a": 25, "b": 50, "c": 75}
    assert result.mix is not None and result.mix.order == "round_robin"
    for name, status, _ in ENTRY_TURNS:
        assert result.labels[name].status_code_counts == {status: result.labels[name].requests}


ENTRY_TURNS = [("a", 200, 1), ("b", 201, 2), ("c", 202, 3)]


def test_sessions_pipelined_with_head_requests(rust_http: Server) -> None:
    """HEAD and GET entries in a pipeline: each response is framed by its own request."""
    entries = [
        Entry(label="get", path="/status/200"),
        Entry(label="head", path="/status/203", method="HEAD"),
        Entry(label="post", path="/status/202", method="POST", body=b"x" * 100),
    ]
    plan = Plan(
        f"http://{rust_http.address}/",
        connections=2,
        requests=300,
        protocol=Http(requests=entries, mix="session", pipeline=4),
    )
    result = run_bounded(plan)
    assert result.errors.total == 0, result.error_messages
    assert result.labels.counts() == {"get": 100, "head": 100, "post": 100}
    assert result.labels["head"].status_code_counts == {203: 100}


def test_websocket_sizes_by_weight(rust_ws: Server) -> None:
    sizes = [Entry(size=16, weight=6), Entry(size=4096, weight=3), Entry(size=65536, weight=1)]
    plan = Plan(
        f"ws://{rust_ws.address}/",
        connections=2,
        requests=1000,
        protocol=Ws(requests=sizes, seed=3, binary=True),
    )
    result = run_bounded(plan)
    assert result.errors.total == 0, result.error_messages
    counts = result.labels.counts()
    assert list(counts) == ["16 B", "4096 B", "65536 B"]
    chi2 = _chi_square(list(counts.values()), [6, 3, 1])
    assert chi2 < CHI2_3_ENTRIES, (chi2, counts)
    # An echo of each message: the bytes read hold every label's messages once.
    payload = 16 * counts["16 B"] + 4096 * counts["4096 B"] + 65536 * counts["65536 B"]
    assert result.bytes_received >= payload
    assert result.bytes_received < payload + 16 * result.requests + 4096


def test_tcp_entries_with_their_own_payloads(servers: SharedTestees) -> None:
    echo = servers.get("rust", "echo")
    entries = [Entry(label="line", payload="ping\n"), Entry(label="block", payload=b"z" * 1000)]
    plan = Plan(echo.address, connections=2, requests=400, protocol=Tcp(requests=entries, seed=8))
    result = run_bounded(plan)
    counts = result.labels.counts()
    assert sum(counts.values()) == 400 and result.errors.total == 0
    assert result.bytes_sent == 5 * counts["line"] + 1000 * counts["block"]


def test_open_loop_labels_keep_both_latencies(rust_http: Server) -> None:
    plan = Plan(
        f"http://{rust_http.address}/",
        connections=2,
        requests=200,
        rate_per_s=2000,
        protocol=Http(requests=ENTRIES, seed=5),
    )
    result = run_bounded(plan)
    for stats in result.labels:
        assert stats.uncorrected_latency.count == stats.requests
        # From the intended send time, never shorter than from the actual one.
        assert stats.latency.max_ns >= stats.uncorrected_latency.max_ns * 0.99
    text = result.format()
    assert "Per label (random mix, seed 5):" in text and "p99 uncorr" in text
    for name in STATUS:
        assert f"    {name} " in text


def test_a_result_with_labels_round_trips_and_old_results_have_none(rust_http: Server) -> None:
    plan = Plan(
        f"http://{rust_http.address}/", connections=1, requests=50, protocol=Http(requests=ENTRIES)
    )
    result = run_bounded(plan)
    again = Result.from_json(result.to_json())
    assert again == result
    assert again.labels["missing"].requests == result.labels["missing"].requests
    with pytest.raises(KeyError, match=r"no label 'nope'.*\['home', 'created', 'missing'\]"):
        result.labels["nope"]
    old = json.loads(result.to_json())
    old["schema_version"] = 2
    for key in ("mix", "labels"):
        old.pop(key)
    for phase in old["phases"]:
        phase.pop("labels")
    loaded = Result.from_dict(old)
    assert loaded.mix is None and not loaded.labels and loaded.labels.counts() == {}


@pytest.mark.parametrize(
    "protocol, words",
    [
        (lambda: Http(requests=[]), "requests: the list is empty"),
        (
            lambda: Http(requests=[{"path": "/", "methd": "GET"}]),
            "requests[0]: unknown field 'methd'",
        ),
        (lambda: Http(requests=[Entry(path="/", weight=0)]), "requests[0].weight: must be"),
        (lambda: Http(requests=[Entry(path="/a"), Entry(path="/a")]), "requests[1].label:"),
        (
            lambda: Http(requests=[Entry(path=f"/{i}") for i in range(65)]),
            "requests: 65 entries; a mix has at most 64",
        ),
        (lambda: Http(requests=[Entry(method="GET")]), "requests[0]: missing field `path`"),
        (lambda: Http(requests=[Entry(path="/", size=3)]), "requests[0]: size does not apply"),
        (lambda: Ws(requests=[Entry(message=b"\xff")]), "requests[0].message: a text message"),
        (lambda: Tcp(requests=[Entry(payload=b"")]), "requests[0].payload: the payload is empty"),
        (lambda: Http(mix="round_robin"), "mix: applies to a mix"),
        (
            lambda: Http(requests=[Entry(path="/", weight=0.5)], mix="session"),
            "requests[0].weight: in a session mix",
        ),
        (lambda: Http(requests="/home"), "requests must be a list of cannonade.Entry"),
    ],
)
def test_bad_entries_are_refused_with_one_clear_message(protocol: Any, words: str) -> None:
    with pytest.raises(PlanError) as caught:
        protocol()
    assert words in str(caught.value), str(caught.value)


def test_both_backends_see_the_same_mix(rust_http: Server) -> None:
    plan = Plan(
        f"http://{rust_http.address}/",
        connections=1,
        requests=200,
        protocol=Http(requests=ENTRIES, seed=77),
    )
    seen = {}
    for name in _backend.NAMES:
        backend = _backend.load(name)
        native = backend.start(plan.to_json())
        try:
            assert native.wait(120_000)
            summary = json.loads(native.result_json())
        finally:
            native.close()
        seen[name] = (summary["mix"], [(s["label"], s["requests"]) for s in summary["labels"]])
    # One connection, one seed: the same draws whichever backend carried the plan.
    assert seen["cffi"] == seen["pyo3"], seen
    with pytest.raises(PlanError, match=r"plan field `protocol.requests\[0\].weight`"):
        _backend.load("cffi").validate(
            json.dumps(
                {
                    **plan.to_dict(),
                    "protocol": {
                        **plan.to_dict()["protocol"],
                        "requests": [{"path": "/", "weight": -1}],
                    },
                }
            )
        )


def test_labels_in_every_interval_of_a_run(rust_http: Server) -> None:
    plan = Plan(
        f"http://{rust_http.address}/",
        connections=2,
        duration_s=0.6,
        interval_s=0.1,
        protocol=Http(requests=ENTRIES, seed=2),
    )
    intervals = []
    with cannonade.start(plan) as run:
        while True:
            intervals.extend(run.poll())
            result = run.wait(0.05)
            if result is not None:
                intervals.extend(run.poll())
                break
    assert intervals
    totals = dict.fromkeys(STATUS, 0)
    for interval in intervals:
        assert sum(s.requests for s in interval.labels) == interval.requests
        for stats in interval.labels:
            totals[stats.label] += stats.requests
    assert totals == result.labels.counts()


# --- request files on the command line ---------------------------------------------


def _har_for(server: Server, tmp_path: Path) -> Path:
    """The recorded HAR, aimed at the testee's port (it was recorded on 8080)."""
    text = (DATA / "loopback-site.har").read_text(encoding="utf-8")
    path = tmp_path / "site.har"
    path.write_text(text.replace("127.0.0.1:8080", server.address), encoding="utf-8")
    return path


def test_a_har_file_becomes_a_weighted_mix(http_testee: Server, tmp_path: Path) -> None:
    har = _har_for(http_testee, tmp_path)
    out = tmp_path / "run.json"
    done = cli(
        "http", f"http://{http_testee.address}/", "-n", "700", "-c", "2",
        "--requests-file", str(har), "--seed", "11", "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    from test_format import _assert_valid

    data = _assert_valid(out)  # the run schema, with mix and labels
    assert data["schema_version"] == 3 and len(data["labels"]) == 4
    assert all(len(i["labels"]) == 4 for i in data["interval_series"] if i["requests"])
    result = Result.from_file(out)
    # Seven recorded requests, four different ones: "/" three times, "/?page=2" twice.
    assert result.mix is not None and result.mix.seed == 11
    assert result.mix.labels == ("/", "/status/404", "POST /status/201", "/?page=2")
    assert result.mix.weights == (3.0, 1.0, 1.0, 2.0)
    assert result.labels["POST /status/201"].status_code_counts == {
        201: result.labels["POST /status/201"].requests
    }
    assert result.labels["/status/404"].status_code_counts.keys() <= {404}
    _assert_labels_add_up(result)
    assert "Per label (random mix, seed 11):" in done.stdout
    assert "POST /status/201" in done.stdout


def test_a_json_lines_file_in_turn(rust_http: Server, tmp_path: Path) -> None:
    lines = tmp_path / "mix.jsonl"
    lines.write_text(
        "# label, weight, method, path, headers, body\n"
        '{"label": "home", "weight": 2, "path": "/status/200", "headers": [["Accept", "*/*"]]}\n'
        "\n"
        '{"label": "order", "method": "POST", "path": "/status/201", "body": "{\\"id\\": 1}"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "run.json"
    done = cli(
        "http", f"http://{rust_http.address}/", "-n", "90", "-c", "1",
        "--requests-file", str(lines), "--mix", "round_robin", "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = Result.from_file(out)
    assert result.labels.counts() == {"home": 60, "order": 30}
    assert result.labels["order"].status_code_counts == {201: 30}


@pytest.mark.parametrize(
    "text, words",
    [
        (
            '{"path": "/a"}\n{"path": "/b", "wieght": 2}\n',
            "mix.jsonl line 2: unknown field 'wieght'",
        ),
        ('{"path": "/a"}\nnot json\n', "mix.jsonl line 2: not JSON"),
        ('{"path": "/a", "weight": -1}\n', "mix.jsonl line 1: weight: must be a positive number"),
        ('{"path": "/a", "method": "G T"}\n', "mix.jsonl line 1: method:"),
        ('{"path": "/a"}\n{"path": "/a"}\n', 'requests[1].label: "/a" is the label of entry 0'),
        ("# nothing\n\n", "mix.jsonl: no entries"),
    ],
)
def test_bad_lines_are_named(text: str, words: str, tmp_path: Path) -> None:
    path = tmp_path / "mix.jsonl"
    path.write_text(text, encoding="utf-8")
    done = cli("http", "http://127.0.0.1:9/", "-n", "1", "--requests-file", str(path))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_har_file_for_another_host_is_refused(tmp_path: Path) -> None:
    har = tmp_path / "site.har"
    data = json.loads((DATA / "loopback-site.har").read_text(encoding="utf-8"))
    data["log"]["entries"][2]["request"]["url"] = "http://example.com/"
    har.write_text(json.dumps(data), encoding="utf-8")
    done = cli("http", "http://127.0.0.1:8080/", "-n", "1", "--requests-file", str(har))
    assert done.returncode == 2
    assert (
        "site.har entry 2 (log.entries[2]): request.url 'http://example.com/' is not on the target"
        in done.stderr
    )
    done = cli("http", "http://192.0.2.1:8080/", "-n", "1", "--requests-file", str(har))
    assert done.returncode == 2
    assert "only go to a loopback target" in done.stderr, done.stderr
    done = cli("http", "http://127.0.0.1:8080/", "-n", "1", "--seed", "3")
    assert done.returncode == 2 and "give --requests-file FILE too" in done.stderr


def test_the_interval_log_and_the_html_report_have_each_label(
    rust_http: Server, tmp_path: Path
) -> None:
    from cannonade._hlog import decode_histogram, write_interval_log

    plan = Plan(
        f"http://{rust_http.address}/",
        connections=2,
        requests=600,
        interval_s=0.05,
        protocol=Http(requests=ENTRIES, seed=4),
    )
    with cannonade.start(plan) as run:
        result = run.wait(120)
        assert result is not None
        intervals = run.poll()
    assert intervals
    log = write_interval_log(tmp_path / "run.hlog", [("e1-measure", 0.0, i) for i in intervals])
    per_tag: dict[str, int] = {}
    for line in log.read_text(encoding="ascii").splitlines():
        if line.startswith("Tag="):
            tag, _, _, _, payload = line[4:].split(",")
            count = decode_histogram(base64.b64decode(payload)).total
            per_tag[tag] = per_tag.get(tag, 0) + count
    assert per_tag == {f"e1-measure/{n}": c for n, c in result.labels.counts().items() if c}
    html = tmp_path / "run.html"
    cannonade.write_html(result, html)
    page = html.read_text(encoding="utf-8")
    for name in STATUS:
        assert f"label {name}: p50 / p99 / max" in page


def test_runs_side_by_side_merge_label_by_label(rust_http: Server) -> None:
    def one(seed: int) -> Result:
        plan = Plan(
            f"http://{rust_http.address}/",
            connections=1,
            requests=300,
            protocol=Http(requests=ENTRIES, seed=seed),
        )
        return run_bounded(plan)

    parts = [one(1), one(2)]
    merged = cannonade.merge(parts)
    for name in STATUS:
        stats = merged.labels[name]
        assert stats.requests == sum(p.labels[name].requests for p in parts)
        assert stats.latency.count == stats.requests
        assert stats.latency.max_ns == max(p.labels[name].latency.max_ns for p in parts)
        assert stats.status_code_counts == {STATUS[name]: stats.requests}
    assert sum(merged.labels.counts().values()) == merged.requests == 600
    assert sum(s.requests for s in merged.phases[0].labels) == 600


@pytest.mark.parametrize(
    "case, requests", [("9.2.1", 4), ("9.3.1", 2), ("9.5.1", 2), ("9.6.6", 3), ("9.8.6", 200)]
)
def test_autobahn_performance_cases_as_presets(case: str, requests: int, rust_ws: Server) -> None:
    protocol = Ws.autobahn(case)
    size, binary, frame, chunk = cannonade._plan._AUTOBAHN[case]
    assert (len(protocol.data), protocol.binary, protocol.frame_bytes, protocol.chunk_bytes) == (
        size,
        binary,
        frame,
        chunk,
    )
    plan = Plan(f"ws://{rust_ws.address}/", connections=1, requests=requests, protocol=protocol)
    result = run_bounded(plan)
    assert result.errors.total == 0, result.error_messages
    assert result.requests == requests
    assert result.bytes_received >= size * requests
    with pytest.raises(PlanError, match=r"9\.5\.1-9\.5\.6, 9\.6\.1-9\.6\.6"):
        Ws.autobahn("9.5.7")


@pytest.mark.skipif(
    shutil.which("strace") is None, reason="needs strace (.ci/bootstrap installs it)"
)
@pytest.mark.parametrize("impl", ["rust", "autobahn"])
def test_autobahn_chopped_writes_leave_in_pieces(
    impl: str, servers: SharedTestees, tmp_path: Path
) -> None:
    """9.5.N / 9.6.N write a 1 MiB message in chops, one system call each: counted by
    strace around the CLI; the same message at once takes a handful."""
    server = servers.get(impl, "ws")

    def sends(case: str) -> int:
        out = tmp_path / f"{case}.strace"
        proc = subprocess.run(
            ["strace", "-f", "-qq", "-c", "-e", "trace=sendto,write,writev", "-o", str(out),
             sys.executable, "-m", "cannonade", "ws", f"ws://{server.address}/",
             "--autobahn", case, "-c", "1", "-n", "2", "-q"],
            capture_output=True, text=True, timeout=120, cwd="/",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        counts = {}
        for line in out.read_text().splitlines():
            fields = line.split()
            if fields and fields[-1] in ("sendto", "write", "writev"):
                counts[fields[-1]] = int(fields[3])
        return counts.get("sendto", 0) + counts.get("writev", 0)

    message = 1 << 20
    chopped = sends("9.6.2")  # 1 MiB binary in chops of 128 bytes, twice
    assert 2 * message // 128 <= chopped < 2 * message // 128 + 20, chopped
    whole = sends("9.2.3")  # the same message at once
    assert whole < 20, (whole, chopped)


def test_an_autobahn_case_sets_the_shape_alone(rust_ws: Server) -> None:
    url = f"ws://{rust_ws.address}/"
    proc = cli("ws", url, "--autobahn", "9.5.1", "--chunk-bytes", "9", "-n", "1")
    assert proc.returncode == 2
    assert "--autobahn 9.5.1 sets the message's shape; leave out --chunk-bytes" in proc.stderr
    proc = cli("ws", url, "--autobahn", "9.9.1", "-n", "1")
    assert proc.returncode == 2
    assert "Autobahn case '9.9.1' is not one of" in proc.stderr
    with pytest.raises(PlanError, match="chunk_bytes: must be at least 1"):
        Ws(chunk_bytes=0)


@pytest.mark.parametrize("impl", ["rust", "autobahn"])
def test_websocket_messages_in_flight(impl: str, servers: SharedTestees) -> None:
    """A window of messages per connection, with sizes mixed: each echo is checked
    against its own message's length, in order."""
    server = servers.get(impl, "ws")
    sizes = [Entry(size=10), Entry(size=3000, weight=2), Entry(size=70000)]
    plan = Plan(
        f"ws://{server.address}/",
        connections=2,
        requests=400,
        protocol=Ws(requests=sizes, pipeline=8, seed=9),
    )
    result = run_bounded(plan)
    assert result.errors.total == 0, result.error_messages
    assert result.requests == 400 == sum(result.labels.counts().values())
    with pytest.raises(PlanError, match="pipeline: must be between 1 and 1024"):
        Ws(pipeline=0)


def test_the_warmup_can_watch_one_label_of_the_mix() -> None:
    server = cannonade.Server([rust_testee_argv()[0], "http", "--port", "{port}"])
    plan = Plan(
        "http://127.0.0.1:9/",
        connections=2,
        threads=1,
        duration_s=1,
        interval_s=0.25,
        rate_per_s=400,
        protocol=Http(requests=ENTRIES, seed=6),
    )
    warmup = cannonade.Warmup(
        min_s=1, max_s=3, steady_window_s=1, interval_s=0.1, metrics=("p50", "p99@missing")
    )
    bench = cannonade.Benchmark(plan, server, warmup=warmup, measure_s=1.5)
    with bench:
        execution = bench.execution()
    assert execution.error is None
    assert set(execution.analyses) == {"p50", "p99@missing"}
    # The watched series is the label's own p99, interval by interval.
    expected = [float(i.labels["missing"].latency.percentile(99.0)) for i in execution.measured]
    assert execution.values("p99@missing") == expected
    assert expected != [float(i.latency.percentile(99.0)) for i in execution.measured]
    for bad in ("p99@", "p77@missing", "@missing"):
        with pytest.raises(PlanError, match="METRIC@LABEL"):
            cannonade.Warmup(metrics=(bad,))


def test_watching_a_label_needs_a_mix_that_has_it() -> None:
    server = cannonade.Server([rust_testee_argv()[0], "http", "--port", "{port}"])
    warmup = cannonade.Warmup(
        min_s=1, max_s=3, steady_window_s=1, interval_s=0.1, metrics=("p50@nowhere",)
    )
    plain = Plan("http://127.0.0.1:9/", connections=1, duration_s=1, protocol=Http())
    with pytest.raises(PlanError, match="plan sends one request"):
        cannonade.Benchmark(plain, server, warmup=warmup)
    mixed = dataclasses.replace(plain, protocol=Http(requests=ENTRIES, seed=6))
    bench = cannonade.Benchmark(mixed, server, warmup=warmup, measure_s=1.5)
    with pytest.raises(PlanError, match="'nowhere', which the plan's mix does not have"):
        with bench:
            bench.execution()
