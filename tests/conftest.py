"""Fixtures: the reference echo servers (Rust testee and Twisted under PyPy) on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Callable

import pytest

from support import Server, rust_testee_argv, start_server, stop_process, twisted_testee_argv

TESTEES = {"rust": rust_testee_argv, "twisted": twisted_testee_argv}


def pytest_configure(config: pytest.Config) -> None:
    # .ci/run runs the suite three times (PyPy with cffi, CPython with PyO3, CPython with
    # cffi); the long ground-truth runs against real servers do not depend on the
    # backend, so the second and third passes leave them out (-m "not once").
    config.addinivalue_line(
        "markers",
        "once: a long run against real servers whose outcome does not depend on the "
        "backend; .ci/run runs it in its first pass only",
    )
    # The third pass (CPython with cffi) runs only the tests of the native boundary and
    # of runs through it: everything above the backend interface is plain Python, run
    # through cffi by the PyPy pass and under CPython by the PyO3 pass.
    config.addinivalue_line(
        "markers",
        "backend: a test of the native boundary or of runs through it (modules listed in "
        "conftest.BACKEND_MODULES); .ci/run's CPython-with-cffi pass runs only these",
    )


# The modules whose tests go through the native backend's own code: loading it, the
# status mapping, plan validation, runs, phases, intervals, lifetimes and file limits.
BACKEND_MODULES = frozenset(
    {
        "test_backend",
        "test_native",
        "test_packaging",
        "test_plan_engine",
        "test_run",
        "test_phases",
        "test_rate_intervals",
        "test_http_ws",
        "test_lifecycle",
        "test_fd_limits",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and module.__name__ in BACKEND_MODULES:
            item.add_marker(pytest.mark.backend)


@pytest.fixture
def server_factory() -> Iterator[Callable[..., Server]]:
    """Start testees with extra arguments; all are stopped at teardown."""
    started: list[Server] = []

    def start(kind: str, *extra: str) -> Server:
        server = start_server(kind, [*TESTEES[kind](), *extra])
        started.append(server)
        return server

    yield start
    for server in started:
        stop_process(server.process)


@pytest.fixture(scope="session")
def rust_echo() -> Iterator[Server]:
    server = start_server("rust", rust_testee_argv())
    yield server
    stop_process(server.process)


@pytest.fixture(scope="session")
def twisted_echo() -> Iterator[Server]:
    server = start_server("twisted", twisted_testee_argv())
    yield server
    stop_process(server.process)


@pytest.fixture(params=["rust", "twisted"])
def echo_server(request: pytest.FixtureRequest) -> Server:
    """Each reference echo server in turn (session-scoped, shared)."""
    return request.getfixturevalue(f"{request.param}_echo")


@pytest.fixture
def unused_port() -> int:
    """A loopback port with no listener (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
