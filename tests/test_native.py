"""The native boundary: ABI check, status -> exception mapping, Rust-side plan errors.

The behaviour tests go through the public API, so they check whichever backend is in
use (CI runs the suite once per backend); the cffi specifics use ``_native`` directly.
tests/test_backend.py checks both backends side by side.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import cannonade
from cannonade import (
    AbiMismatchError,
    CannonadeError,
    ConnectError,
    InternalError,
    Plan,
    PlanError,
    RunError,
    Tcp,
    _backend,
    _native,
)

from support import Server


def test_exception_hierarchy() -> None:
    assert issubclass(PlanError, ValueError)
    assert issubclass(ConnectError, ConnectionError)
    assert issubclass(RunError, RuntimeError)
    assert issubclass(AbiMismatchError, ImportError)
    for error in (PlanError, ConnectError, RunError, InternalError, AbiMismatchError):
        assert issubclass(error, CannonadeError)
    # OSError formats (errno, strerror) pairs; a ConnectError is just its message.
    assert str(ConnectError("cannot connect to 127.0.0.1:1")) == "cannot connect to 127.0.0.1:1"


def test_status_table_covers_every_error_status() -> None:
    names = [name for name in dir(_native.lib) if name.startswith("CN_")]
    statuses = {name for name in names if name not in ("CN_ABI_VERSION",)}
    assert statuses - {"CN_OK", "CN_TIMEOUT"} == set(_backend.STATUS_ERRORS)


def test_abi_version_matches() -> None:
    assert _native.lib.cn_abi_version() == cannonade.ABI_VERSION == _native.lib.CN_ABI_VERSION
    _native.check_abi_version()
    assert _backend.current().abi_version() == cannonade.ABI_VERSION


def test_import_time_abi_check_with_wrong_expected_version() -> None:
    with pytest.raises(AbiMismatchError) as info:
        _native.check_abi_version(expected=cannonade.ABI_VERSION + 1)
    message = str(info.value)
    assert f"ABI version {cannonade.ABI_VERSION}" in message
    assert f"ABI version {cannonade.ABI_VERSION + 1}" in message
    assert "reinstall cannonade so the package and its native library match" in message
    assert isinstance(info.value, ImportError)


def test_versions_agree() -> None:
    assert cannonade.library_version() == cannonade.__version__
    assert _native.library_version() == cannonade.__version__


def _plan_dict(server: Server) -> dict[str, Any]:
    return json.loads(
        Plan(server.address, Tcp(payload_bytes=8), connections=1, requests=1).to_json()
    )


def _start_raw(plan: dict[str, Any]) -> None:
    with cannonade.start_json(json.dumps(plan)) as run:
        run.wait(60)
    pytest.fail("the engine accepted a plan it should have refused")


def test_plan_with_abi_999_is_refused_by_rust(rust_echo: Server) -> None:
    plan = _plan_dict(rust_echo)
    plan["abi_version"] = 999
    with pytest.raises(AbiMismatchError) as info:
        _start_raw(plan)
    assert "999" in str(info.value)


def test_unknown_field_is_named_by_rust(rust_echo: Server) -> None:
    plan = _plan_dict(rust_echo)
    plan["conections"] = 3
    with pytest.raises(PlanError, match="conections"):
        _start_raw(plan)


def test_mistyped_field_is_named_by_rust(rust_echo: Server) -> None:
    plan = _plan_dict(rust_echo)
    plan["connections"] = "32"
    with pytest.raises(PlanError, match="connections"):
        _start_raw(plan)


def test_mistyped_nested_field_is_named_by_rust(rust_echo: Server) -> None:
    plan = _plan_dict(rust_echo)
    plan["protocol"]["reply"] = {"kind": "fixed", "bytes": "many"}
    with pytest.raises(PlanError, match=r"protocol\.reply\.bytes"):
        _start_raw(plan)


def test_rust_checks_ranges_too(rust_echo: Server) -> None:
    plan = _plan_dict(rust_echo)
    plan["connections"] = 0
    with pytest.raises(PlanError, match="connections"):
        _start_raw(plan)


def test_invalid_json_is_a_plan_error() -> None:
    with pytest.raises(PlanError):
        cannonade.start_json("{not json")


def test_unreachable_port_is_a_connect_error(unused_port: int) -> None:
    address = f"127.0.0.1:{unused_port}"
    with pytest.raises(ConnectError) as info:
        cannonade.run(Plan(address, connections=1, requests=1, connect_timeout_s=5))
    assert address in str(info.value)
    assert isinstance(info.value, ConnectionError)
