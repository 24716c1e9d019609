"""The installed package: data files, versions, public names."""

from __future__ import annotations

import importlib.machinery
import os
import re
from pathlib import Path

import cannonade
from cannonade import _backend_pyo3, _native

from support import REPO

PACKAGE = Path(cannonade.__file__).parent


def test_package_ships_header_and_py_typed() -> None:
    assert (PACKAGE / "cannonade.h").is_file()
    assert (PACKAGE / "py.typed").is_file()


def test_library_is_next_to_the_package() -> None:
    if os.environ.get("CANNONADE_LIBRARY"):
        return  # development override in use; nothing packaged to check
    assert _native.LIBRARY_PATH.parent == PACKAGE
    assert any(
        _native.LIBRARY_PATH.name == "_libcannonade" + suffix
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
    )


def test_pyo3_module_is_next_to_the_package() -> None:
    # Built on every interpreter, PyPy included (where cffi is the default).
    assert _backend_pyo3.LIBRARY_PATH.parent == PACKAGE
    assert any(
        _backend_pyo3.LIBRARY_PATH.name == "_pyo3" + suffix
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
    )


def test_version_matches_pyproject() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    match = re.search(r'^version = "([^"]+)"', pyproject, re.M)
    assert match and match.group(1) == cannonade.__version__


def test_public_names() -> None:
    for name in cannonade.__all__:
        assert hasattr(cannonade, name), name
    assert not [
        name for name in cannonade.__all__ if name.startswith("_") and name != "__version__"
    ]
