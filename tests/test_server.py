"""The server under test as a managed subprocess: start, readiness, failures, stop, sampling."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

import cannonade
from cannonade._errors import CannonadeError, ServerError
from cannonade._server import ExternalServer, ManagedServer, ProcessSample, Server

from support import rust_testee_argv, twisted_testee_argv

# A configurable stand-in server: MODE PORT. Listens on 127.0.0.1:PORT (0: any free
# port) and prints "pid N listening on 127.0.0.1:PORT"; the mode decides how it
# treats signals.
LISTENER = textwrap.dedent(
    """
    import os, signal, socket, sys, time

    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "stubborn":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    elif mode == "polite":
        def bye(signum, frame):
            print("got SIGINT", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGINT, bye)
    elif mode == "mortal":
        def die(signum, frame):
            print("dying", flush=True)
            os._exit(7)
        signal.signal(signal.SIGUSR1, die)
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen(16)
    print(f"pid {os.getpid()} listening on 127.0.0.1:{sock.getsockname()[1]}", flush=True)
    if mode == "busy":
        x = 0
        while True:
            x += 1
    while True:
        time.sleep(1)
    """
)

# Quick stop for the stand-ins, so the escalation tests stay short.
FAST_STOP = {"sigint_timeout_s": 0.5, "sigterm_timeout_s": 0.5, "sigkill_timeout_s": 5.0}


@pytest.fixture
def listener(tmp_path: Path) -> list[str]:
    """The argv prefix of the stand-in server; append MODE and the port."""
    script = tmp_path / "listener.py"
    script.write_text(LISTENER)
    return [sys.executable, str(script)]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except OSError:
        return False
    return data[data.rfind(b")") + 2 : data.rfind(b")") + 3] not in (b"Z", b"X")


def echo_once(address: str, payload: bytes = b"ping") -> bytes:
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host.strip("[]"), int(port)), timeout=5) as sock:
        sock.sendall(payload)
        data = b""
        while len(data) < len(payload):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data


def test_rust_testee_port_read_from_output() -> None:
    server = Server([*rust_testee_argv(), "--port", "0"])
    assert server.port is None
    with server:
        assert server.port is not None and server.address == f"127.0.0.1:{server.port}"
        assert echo_once(server.address) == b"ping"
        server.check()
        server.check(probe=True)
        assert server.poll() is None
        assert any("listening on" in line for line in server.output())
        log = server.log_path
        assert log is not None and log.is_file()
        assert server.stop() == 0
        assert server.stop() == 0  # idempotent
        assert not alive(server.pid or 0)
    assert server.returncode == 0
    assert not log.exists()  # the temporary log is removed by close()


def test_port_placeholder_is_replaced_by_a_free_port() -> None:
    with Server([*rust_testee_argv(), "--host", "{host}", "--port", "{port}"]) as server:
        assert server.command[-1] == str(server.port)
        assert server.command[-3] == "127.0.0.1"
        assert echo_once(server.address) == b"ping"


def test_given_port(unused_port: int, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with Server(
        [*rust_testee_argv(), "--port", str(unused_port)], port=unused_port, log_path=log
    ) as server:
        assert server.address == f"127.0.0.1:{unused_port}"
        assert echo_once(server.address) == b"ping"
    assert log.read_text().startswith("listening on")  # a given log file is kept


def test_given_port_already_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        server = Server([*rust_testee_argv(), "--port", str(port)], port=port)
        with pytest.raises(ServerError, match="already accepts connections"):
            server.start()
        assert server.pid is None


def test_ipv6_loopback_host_taken_from_output() -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with Server([*rust_testee_argv(), "--host", "::1", "--port", "0"]) as server:
        assert server.host == "::1"
        assert server.address == f"[::1]:{server.port}"
        assert echo_once(server.address) == b"ping"


def test_twisted_testee_starts_and_stops_cleanly() -> None:
    with Server([*twisted_testee_argv(), "--port", "0"], startup_timeout_s=60) as server:
        assert echo_once(server.address) == b"ping"
        sample = server.sample()
        assert sample is not None and sample.processes == 1
        assert sample.rss_bytes > 10 * 2**20  # PyPy plus Twisted
        assert server.stop() == 0  # SIGINT stops the reactor cleanly


def test_restart_after_stop(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    server = Server([*rust_testee_argv(), "--port", "{port}"], log_path=log)
    assert server.managed and not server.running
    with server:
        assert server.running
        first_pid, first_port = server.pid, server.port
        with pytest.raises(ServerError, match="already running"):
            server.start()
        assert server.stop() == 0 and not server.running
        server.start()  # a new process, on a newly picked port
        assert server.running and server.pid != first_pid and not alive(first_pid or 0)
        assert server.port != first_port and echo_once(server.address) == b"ping"
        # The given log keeps both runs; output() shows only the current one.
        assert server.output() == [f"listening on {server.address}"]
    assert log.read_text().count("listening on") == 2
    assert not server.running


def test_restart_after_exit_reads_the_new_port(listener: list[str]) -> None:
    with Server([*listener, "mortal", "0"], **FAST_STOP) as server:
        assert server.pid is not None and server.port is not None
        os.kill(server.pid, signal.SIGUSR1)
        with pytest.raises(ServerError, match="unexpectedly"):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                server.check()
                time.sleep(0.01)
        assert not server.running and server.returncode == 7
        temp_logs = [server.log_path]
        server.start()
        server.check()
        temp_logs.append(server.log_path)
        assert server.returncode is None and server.port is not None
        assert temp_logs[0] != temp_logs[1]  # a temporary log per start
    assert not any(path is not None and path.exists() for path in temp_logs)


def test_server_that_exits_at_once(tmp_path: Path) -> None:
    server = Server([sys.executable, "-c", "print('boom'); raise SystemExit(3)"])
    with pytest.raises(ServerError) as caught:
        server.start()
    error = caught.value
    message = str(error)
    assert "exited with status 3" in message and "boom" in message
    assert "raise SystemExit(3)" in message  # the command
    assert str(server.log_path) in message
    assert error.returncode == 3 and error.output == ["boom"]
    assert isinstance(error, CannonadeError) and isinstance(error, RuntimeError)
    assert server.log_path is not None and server.log_path.is_file()  # kept for reading
    assert server.close() == 3
    assert not server.log_path.exists()


def test_server_that_never_listens(unused_port: int) -> None:
    script = "import time; print('sleeping forever', flush=True); time.sleep(60)"
    server = Server([sys.executable, "-c", script], port=unused_port, startup_timeout_s=2.0)
    with pytest.raises(ServerError) as caught:
        server.start()
    message = str(caught.value)
    # The startup timeout ended the wait (the script itself would sleep for a minute).
    assert "was still running after 2" in message
    assert f"127.0.0.1:{unused_port}" in message and "sleeping forever" in message
    assert caught.value.returncode is None
    assert "sleeping forever" in caught.value.output
    assert server.pid is not None and not alive(server.pid)  # stopped after the failure
    server.close()


def test_server_that_never_announces_its_port() -> None:
    script = "import time; print('no port here', flush=True); time.sleep(60)"
    server = Server([sys.executable, "-c", script], startup_timeout_s=2.0)
    with pytest.raises(ServerError, match="printed no line matching") as caught:
        server.start()
    assert "no port here" in str(caught.value)
    server.close()


def test_custom_ready_pattern(listener: list[str], unused_port: int) -> None:
    with Server(
        [*listener, "plain", str(unused_port)], ready_pattern=r"pid \d+ listening on \S+?:(\d+)"
    ) as server:
        assert server.port == unused_port


def test_server_ignoring_sigint_and_sigterm_is_killed(listener: list[str]) -> None:
    server = Server([*listener, "stubborn", "{port}"], **FAST_STOP)
    with server:
        # Killed: SIGINT and SIGTERM were tried and ignored, then SIGKILL ended it.
        assert server.stop() == -signal.SIGKILL
    assert not alive(server.pid or 0)


def test_server_stopped_by_sigint_first(listener: list[str]) -> None:
    with Server([*listener, "polite", "{port}"], **FAST_STOP) as server:
        assert server.stop() == 0
        assert "got SIGINT" in server.output()


def test_check_detects_a_server_that_died(listener: list[str]) -> None:
    with Server([*listener, "mortal", "{port}"], **FAST_STOP) as server:
        server.check()
        assert server.pid is not None
        os.kill(server.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 10
        with pytest.raises(ServerError) as caught:
            while time.monotonic() < deadline:
                server.check()
                time.sleep(0.01)
        assert "exited with status 7 unexpectedly" in str(caught.value)
        assert caught.value.returncode == 7 and "dying" in caught.value.output
        assert server.poll() == 7
        assert server.stop() == 7


def test_check_after_stop_and_before_start(listener: list[str]) -> None:
    server = Server([*listener, "plain", "{port}"], **FAST_STOP)
    with pytest.raises(ServerError, match="not started"):
        server.check()
    assert server.sample() is None and server.stop() is None
    with server:
        server.stop()
        with pytest.raises(ServerError, match="was stopped"):
            server.check()
        assert server.sample() is None


def test_shell_wrapper_and_its_child_are_stopped(listener: list[str]) -> None:
    # A non-interactive shell starts background jobs with SIGINT ignored, so the child
    # outlives SIGINT and needs the SIGTERM sent to the whole process group.
    inner = f"{shlex.join([*listener, 'plain', '{port}'])} & echo wrapper $$; wait"
    with Server(["sh", "-c", inner], **FAST_STOP) as server:
        child = next(int(line.split()[1]) for line in server.output() if line.startswith("pid "))
        assert child != server.pid and alive(child)
        sample = server.sample()
        assert sample is not None and sample.processes == 2
        server.stop()
        assert not alive(child) and not alive(server.pid or 0)
        assert server.sample() is None


def test_sample_of_a_busy_server(listener: list[str]) -> None:
    with Server([*listener, "busy", "{port}"], **FAST_STOP) as server:
        first = server.sample()
        assert isinstance(first, ProcessSample)
        # A busy loop gains CPU time; how fast depends on what else the machine runs,
        # so wait for a quarter of a second of it (bounded), never for a share of a core.
        deadline = time.monotonic() + 60
        while True:
            time.sleep(0.2)
            second = server.sample()
            assert isinstance(second, ProcessSample)
            if second.cpu_s - first.cpu_s >= 0.25 or time.monotonic() > deadline:
                break
        assert second.t_s > first.t_s
        assert second.cpu_s - first.cpu_s >= 0.25, "the busy server gained no CPU time in 60 s"
        assert 1 * 2**20 < second.rss_bytes < 4 * 2**30
        assert second.processes == 1


def test_environment_and_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = (
        "import os, socket, sys, time; print('cwd', os.getcwd()); "
        "print('var', os.environ.get('CANNONADE_TEST_VAR'), os.environ.get('HOME'), flush=True); "
        "sock = socket.socket(); sock.bind(('127.0.0.1', int(sys.argv[1]))); sock.listen(); "
        "time.sleep(60)"
    )
    monkeypatch.setenv("HOME", str(tmp_path))
    with Server(
        [sys.executable, "-c", script, "{port}"],
        env={"CANNONADE_TEST_VAR": "hello", "HOME": None},
        cwd=tmp_path,
        **FAST_STOP,
    ) as server:
        assert f"cwd {tmp_path.resolve()}" in server.output()
        assert "var hello None" in server.output()


def test_external_server() -> None:
    with Server([*rust_testee_argv(), "--port", "0"]) as managed:
        assert managed.port is not None
        with_pid = Server.external(managed.host, managed.port, pid=managed.pid)
        without_pid = Server.external("127.0.0.1", managed.port)
        with with_pid, without_pid:
            assert with_pid.address == managed.address
            with_pid.check()
            with_pid.check(probe=True)
            without_pid.check()
            sample = with_pid.sample()
            assert sample is not None and sample.processes == 1 and sample.rss_bytes > 0
            assert without_pid.sample() is None
            assert with_pid.stop() is None and with_pid.poll() is None
            managed.stop()
            with pytest.raises(ServerError, match="is gone"):
                with_pid.check()
            with pytest.raises(ServerError, match="does not accept connections"):
                without_pid.check()


def test_the_two_kinds_share_one_interface() -> None:
    managed = Server(["true"], port=9)
    external = Server.external("127.0.0.1", 9, pid=os.getpid())
    assert type(managed) is ManagedServer and type(external) is ExternalServer
    assert isinstance(managed, Server) and isinstance(external, Server)
    assert managed.managed and not external.managed
    assert cannonade.Server is Server
    assert not managed.running and external.running
    assert managed.pid is None and external.pid == os.getpid()
    assert managed.command == ("true",) and external.command == ()
    assert external.log_path is None and external.pypylog is None and external.output() == []
    assert external.start() is external and external.close() is None
    assert repr(external) == f"Server.external('127.0.0.1:9', pid={os.getpid()})"
    assert repr(managed).startswith("<Server new 127.0.0.1:9 pid=None")


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "example.com", "192.168.0.1"])
def test_only_loopback_hosts(host: str) -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        Server(["true"], host=host)
    with pytest.raises(ValueError, match="not a loopback address"):
        Server.external(host, 80)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_hosts_accepted(host: str) -> None:
    assert Server(["true"], host=host).host == host.strip("[]")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        Server([])
    with pytest.raises(ValueError, match="no group"):
        Server(["true"], ready_pattern="listening")
    with pytest.raises(ValueError, match="either in env or through pypylog"):
        Server(["true"], env={"PYPYLOG": ":x"}, pypylog=True)
    with pytest.raises(ValueError, match="section prefix"):
        Server(["true"], pypylog="gc minor")
    assert Server("prog --port {port}").command == ("prog", "--port", "{port}")
