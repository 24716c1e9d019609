"""The two native backends side by side: which one loads, and the same calls giving the
same results and the same exception classes in both (PyO3 under PyPy goes through cpyext).

The rest of the suite goes through the public API, so it checks whichever backend is in
use; CI runs it once per backend.
"""

from __future__ import annotations

import gc
import importlib.machinery
import json
import os
import platform
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

import cannonade
from cannonade import (
    AbiMismatchError,
    ConnectError,
    InternalError,
    Plan,
    PlanError,
    RunError,
    Tcp,
    _backend,
    _backend_pyo3,
    _native,
)

from support import RUN_TIMEOUT_S, Server

RUN_TIMEOUT_MS = int(RUN_TIMEOUT_S * 1000)
PYPY = platform.python_implementation() == "PyPy"
# What blocks each backend's import in a fresh interpreter (sys.modules[name] = None).
BLOCK = {"cffi": "cffi", "pyo3": "cannonade._pyo3"}


@pytest.fixture(params=_backend.NAMES)
def backend(request: pytest.FixtureRequest) -> Any:
    """Each backend in turn, whichever one the package itself uses."""
    return _backend.load(request.param)


def plan_json(server: Server, **fields: Any) -> str:
    fields.setdefault("connections", 2)
    return Plan(server.address, Tcp(payload_bytes=8), **fields).to_json()


def other(name: str) -> str:
    return "pyo3" if name == "cffi" else "cffi"


def block(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make loading backend ``name`` fail with ImportError, as a missing module would."""
    module = {"cffi": "_native", "pyo3": "_backend_pyo3"}[name]
    monkeypatch.setitem(sys.modules, f"cannonade.{module}", None)
    monkeypatch.delattr(cannonade, module, raising=False)


# --- which backend loads ------------------------------------------------------------


def test_the_default_is_cffi_under_pypy_and_pyo3_under_cpython(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CANNONADE_LIBRARY", raising=False)
    assert _backend.preferred() == ("cffi" if PYPY else "pyo3")


def test_a_c_library_override_means_cffi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANNONADE_LIBRARY", str(_native.LIBRARY_PATH))
    assert _backend.preferred() == "cffi"


def test_the_backend_in_use_follows_the_environment() -> None:
    forced = os.environ.get(_backend.ENV, "").strip().lower()
    expected = _backend.preferred() if forced in ("", "auto") else forced
    assert _backend.current().NAME == expected


@pytest.mark.parametrize("value", ["cffi", "pyo3", " PyO3 "])
def test_the_environment_variable_forces_a_backend(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(_backend.ENV, value)
    assert _backend.load().NAME == value.strip().lower()


def test_an_unknown_backend_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_backend.ENV, "ctypes")
    with pytest.raises(ImportError, match="'ctypes' names no cannonade backend; use cffi or pyo3"):
        _backend.load()


@pytest.mark.parametrize("name", _backend.NAMES)
def test_a_forced_backend_that_cannot_load_is_an_error(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    block(monkeypatch, name)
    monkeypatch.setenv(_backend.ENV, name)
    with pytest.raises(ImportError) as info:
        _backend.load()
    message = str(info.value)
    assert f"CANNONADE_BACKEND={name} asks for cannonade's {name} backend" in message
    assert "which cannot be loaded" in message
    assert "unset CANNONADE_BACKEND" in message


def test_the_default_falls_back_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_backend.ENV, raising=False)
    first = _backend.preferred()
    block(monkeypatch, first)
    with pytest.warns(RuntimeWarning, match=f"{first} backend cannot be loaded"):
        backend = _backend.load()
    assert backend.NAME == other(first)


def test_no_backend_at_all_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_backend.ENV, raising=False)
    for name in _backend.NAMES:
        block(monkeypatch, name)
    with pytest.raises(ImportError, match="cannot load a native backend"):
        _backend.load()


def test_a_missing_pyo3_module_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # Load _backend_pyo3 afresh, as if no _pyo3*.so had been installed beside it.
    monkeypatch.setitem(sys.modules, "cannonade._pyo3", None)
    monkeypatch.delitem(sys.modules, "cannonade._backend_pyo3")
    for name in ("_pyo3", "_backend_pyo3"):
        monkeypatch.delattr(cannonade, name, raising=False)
    monkeypatch.setattr(importlib.machinery, "EXTENSION_SUFFIXES", [".absent.so"])
    with pytest.raises(ImportError, match=r"PyO3 extension module _pyo3\*\.so is not in"):
        _backend.load("pyo3")


def test_an_abi_mismatch_is_never_a_reason_to_fall_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def stale(name: str) -> Any:
        raise _backend.abi_mismatch(_native.LIBRARY_PATH, 1, 2)

    monkeypatch.setattr(_backend, "_import", stale)
    for value in ("", *_backend.NAMES):
        monkeypatch.setenv(_backend.ENV, value)
        with pytest.raises(AbiMismatchError):
            _backend.load()


def import_cannonade(blocked: str, backend: str) -> subprocess.CompletedProcess:
    """Import cannonade in a fresh interpreter with one module blocked; print the backend."""
    code = (
        f"import sys; sys.modules[{blocked!r}] = None; import cannonade; "
        f"print(cannonade._backend.current().NAME)"
    )
    env = dict(os.environ)
    env.pop("CANNONADE_LIBRARY", None)
    env[_backend.ENV] = backend
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd="/", timeout=60
    )


def test_import_fails_clearly_when_the_forced_backend_is_missing() -> None:
    name = _backend.preferred()
    proc = import_cannonade(BLOCK[name], name)
    assert proc.returncode != 0
    assert f"CANNONADE_BACKEND={name} asks for cannonade's {name} backend" in proc.stderr


def test_import_falls_back_when_the_default_backend_is_missing() -> None:
    name = _backend.preferred()
    proc = import_cannonade(BLOCK[name], "")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == other(name)
    assert "RuntimeWarning" in proc.stderr
    assert f"cannonade's {name} backend cannot be loaded" in proc.stderr


# --- the same calls, the same answers -------------------------------------------------


def test_status_names_and_numbers_agree() -> None:
    module = _backend_pyo3._pyo3
    pyo3_names = {name for name in dir(module) if name.startswith("CN_")}
    cffi_names = {name for name in dir(_native.lib) if name.startswith("CN_")}
    assert pyo3_names == cffi_names
    for name in cffi_names:
        assert getattr(module, name) == getattr(_native.lib, name), name


def test_versions(backend: Any) -> None:
    assert backend.abi_version() == cannonade.ABI_VERSION
    assert backend.library_version() == cannonade.__version__
    assert backend.LIBRARY_PATH.is_file()
    backend.check_abi_version()
    with pytest.raises(AbiMismatchError) as info:
        backend.check_abi_version(expected=cannonade.ABI_VERSION + 1)
    assert str(backend.LIBRARY_PATH) in str(info.value)
    assert "reinstall cannonade so the package and its native library match" in str(info.value)


def test_plan_errors_map_alike(backend: Any, rust_echo: Server) -> None:
    with pytest.raises(PlanError, match="plan JSON"):
        backend.start("{not json")
    plan = json.loads(plan_json(rust_echo, requests=1))
    with pytest.raises(PlanError, match="connections"):
        backend.start(json.dumps({**plan, "connections": 0}))
    with pytest.raises(PlanError, match="conections"):
        backend.start(json.dumps({**plan, "conections": 1}))
    with pytest.raises(AbiMismatchError, match="999"):
        backend.start(json.dumps({**plan, "abi_version": 999}))


def test_text_that_is_not_utf8_is_refused_alike(backend: Any, rust_echo: Server) -> None:
    # A lone surrogate cannot be encoded: both refuse it before the engine sees it.
    with pytest.raises(UnicodeEncodeError):
        backend.start('{"target": "\ud800"}')
    native = backend.start(plan_json(rust_echo, duration_s=3600))
    try:
        with pytest.raises(UnicodeEncodeError):
            native.mark_phase("\ud800")
    finally:
        native.close()


def test_an_unreachable_target_is_a_connect_error(backend: Any, unused_port: int) -> None:
    address = f"127.0.0.1:{unused_port}"
    with pytest.raises(ConnectError, match=address):
        backend.start(Plan(address, connections=1, requests=1).to_json())


def test_a_whole_run(backend: Any, rust_echo: Server) -> None:
    native = backend.start(plan_json(rust_echo, requests=20))
    try:
        assert native.wait(RUN_TIMEOUT_MS) is True
        assert isinstance(json.loads(native.poll()), list)
        assert json.loads(native.poll()) == []  # drained
        summary = json.loads(native.result_json())
        assert summary["requests"] == 20
        assert native.histogram()[:4] == b"\x1c\x84\x93\x14"
        with pytest.raises(RunError, match="finished"):
            native.mark_phase("late")
        native.stop()  # harmless once finished
    finally:
        native.close()
    native.close()  # harmless twice


def test_a_running_run(backend: Any, rust_echo: Server) -> None:
    native = backend.start(plan_json(rust_echo, duration_s=3600, interval_s=0.1))
    try:
        assert native.wait(0) is False
        with pytest.raises(RunError, match="still going"):
            native.result_json()
        with pytest.raises(RunError, match="still going"):
            native.histogram()
        with pytest.raises(PlanError, match="empty"):
            native.mark_phase("")
        with pytest.raises(PlanError, match="limit is 64"):
            native.mark_phase("x" * 65)
        assert native.mark_phase("measure") >= 0
        native.stop()
        assert native.wait(RUN_TIMEOUT_MS) is True
        phases = [phase["name"] for phase in json.loads(native.result_json())["phases"]]
        assert phases[-1] == "measure"
    finally:
        native.close()


def test_wait_releases_the_gil(backend: Any, rust_echo: Server) -> None:
    # The waiter blocks in native code for up to RUN_TIMEOUT_S; the run only ends
    # because this thread gets to call stop() meanwhile, which needs the GIL.
    native = backend.start(plan_json(rust_echo, duration_s=3600))
    finished: list[bool] = []
    waiting = threading.Event()

    def wait() -> None:
        waiting.set()
        finished.append(native.wait(RUN_TIMEOUT_MS))

    waiter = threading.Thread(target=wait)
    waiter.start()
    try:
        waiting.wait()
        native.stop()
        waiter.join(RUN_TIMEOUT_S)
        assert finished == [True]
    finally:
        native.stop()
        waiter.join()
        native.close()


def engine_threads() -> int:
    """The engine's threads in this process (named cannonade-w0..., cannonade-collect).

    A new thread names itself once it runs, so a count may lag a start: see settled().
    """
    count = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as comm:
                count += comm.read().startswith("cannonade-")
        except FileNotFoundError:  # the thread ended meanwhile
            pass
    return count


def settled(expected: int) -> int:
    """The engine's thread count once it equals ``expected``, or after 10 s."""
    deadline = time.monotonic() + 10
    while engine_threads() != expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return engine_threads()


def collect_garbage() -> None:
    for _ in range(3):  # PyPy may need more than one collection to reach an object
        gc.collect()


def test_a_forgotten_run_is_freed_by_the_garbage_collector(backend: Any, rust_echo: Server) -> None:
    # The backstop behind close(): ffi.gc for cffi, the Run object's own drop for PyO3.
    collect_garbage()  # runs other tests forgot, first
    before = engine_threads()
    native = backend.start(plan_json(rust_echo, duration_s=3600, threads=1))
    assert settled(before + 2) == before + 2  # a worker and the collector
    del native
    collect_garbage()
    assert settled(before) == before


def test_pyo3_close_during_a_wait_in_another_thread_is_safe(rust_echo: Server) -> None:
    # cffi leaves this to the caller (Run documents it); the PyO3 Run keeps the engine
    # alive until the waiting call lets go of it.
    native = _backend.load("pyo3").start(plan_json(rust_echo, duration_s=3600))
    finished: list[bool] = []
    waiting = threading.Event()

    def wait() -> None:
        waiting.set()
        finished.append(native.wait(RUN_TIMEOUT_MS))

    waiter = threading.Thread(target=wait)
    waiter.start()
    waiting.wait()
    native.close()  # stops the run; the waiter sees it finish
    waiter.join(RUN_TIMEOUT_S)
    assert finished == [True]
    with pytest.raises(RunError, match="the run is closed"):
        native.poll()


def test_a_panic_is_an_internal_error() -> None:
    with pytest.raises(InternalError, match="internal error in cannonade .*: boom"):
        _backend_pyo3._pyo3._panic_for_tests("boom")
