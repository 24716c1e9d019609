"""The installed package: data files, versions, public names."""

from __future__ import annotations

import importlib.machinery
import os
import re
import subprocess
import sys
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


def test_import_loads_the_library_and_little_else() -> None:
    """`import cannonade` loads the native library (an ABI mismatch fails there) and
    imports the rest of the package on first use of a name; a name that is not public
    is an AttributeError, as for any module."""
    code = (
        "import sys, cannonade\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('cannonade.'))\n"
        "print(' '.join(loaded))\n"
        "cannonade.Benchmark, cannonade.write_html\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('cannonade.'))))\n"
        "try:\n"
        "    cannonade.Banchmark\n"
        "except AttributeError as e:\n"
        "    print(e)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd="/"
    )
    assert proc.returncode == 0, proc.stderr
    first, then, error = proc.stdout.splitlines()
    assert "cannonade._benchmark" not in first.split()
    assert "cannonade._html" not in first.split()
    assert cannonade._backend.current().__name__ in first.split()
    assert {"cannonade._benchmark", "cannonade._html"} <= set(then.split())
    assert error == "module 'cannonade' has no attribute 'Banchmark'"
    assert set(dir(cannonade)) >= set(cannonade.__all__)


def test_the_cffi_declarations_are_emitted_at_build_time_and_match_the_header() -> None:
    """setup.py emits the header's declarations (cffi's out-of-line ABI mode) so that
    import does not parse the header; they declare what parsing it now declares."""
    assert (PACKAGE / "_cffi_abi.py").is_file()
    assert _native.ffi is _native.declarations()
    assert type(_native.ffi).__module__ != "cffi.api"  # not a parsed FFI()
    parsed = _native.parse_header()
    emitted = _native.ffi
    names = {name for name in dir(parsed.dlopen(str(_native.LIBRARY_PATH)))}
    assert names == set(dir(_native.lib))
    for struct in ("CnBuf", "CnRun *"):
        assert emitted.sizeof(struct) == parsed.sizeof(struct)
    assert [name for name, _ in emitted.typeof("CnBuf").fields] == [
        name for name, _ in parsed.typeof("CnBuf").fields
    ]
