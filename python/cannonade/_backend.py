"""The native backend: one small interface, two implementations, one chosen at import.

- ``cffi`` (``_native.py``): the C ABI library (rust/capi) opened with cffi's
  ``dlopen``. PyPy's JIT compiles cffi calls, which makes it the fast path there.
- ``pyo3`` (``_backend_pyo3.py``): the extension module ``cannonade._pyo3`` (rust/py),
  CPython's own way to call Rust. Under PyPy it would go through cpyext, PyPy's slower
  emulation of the CPython C API.

Both wrap the same engine and expose the same coarse calls: :class:`Backend` and
:class:`NativeRun` below. Both raise the exception classes of
:data:`cannonade._errors.STATUS_ERRORS`, which they import from ``_errors`` (never from
here: this module imports them, not the other way round).
Nothing above this module knows which backend is in use.

Which one loads (bench/RESULTS.md has the measurements behind the defaults):

- ``CANNONADE_BACKEND=cffi`` or ``=pyo3`` forces that backend. If it cannot be
  loaded, importing cannonade fails with an ImportError that names it and says why.
- Unset (or ``auto``): cffi under PyPy, and also when ``CANNONADE_LIBRARY`` names a
  C ABI library to load; PyO3 everywhere else. If that backend cannot be loaded (say,
  an install made before the PyO3 module existed), the other one is used and a
  RuntimeWarning says why.
- An :class:`AbiMismatchError` (a backend built from another version of cannonade)
  is never a reason to fall back: it is raised as is.
"""

from __future__ import annotations

import os
import platform
import warnings
from pathlib import Path
from typing import Optional, Protocol

from ._errors import STATUS_ERRORS, AbiMismatchError, abi_mismatch

__all__ = [
    "ENV",
    "NAMES",
    "STATUS_ERRORS",
    "Backend",
    "NativeRun",
    "abi_mismatch",
    "current",
    "load",
    "validate",
]

ENV = "CANNONADE_BACKEND"
NAMES = ("cffi", "pyo3")


class NativeRun(Protocol):
    """A started native run. Every failure raises its :data:`STATUS_ERRORS` class."""

    def wait(self, timeout_ms: int) -> bool:
        """Wait at most ``timeout_ms`` (GIL released); True once the run has finished."""
        ...

    def poll(self) -> bytes:
        """The intervals finished since the last poll, as a JSON array."""
        ...

    def mark_phase(self, name: str) -> int:
        """Start phase ``name`` with the next interval to finish; return its index."""
        ...

    def stop(self) -> None:
        """Ask the run to stop; return at once."""
        ...

    def result_json(self) -> bytes:
        """The finished run's summary as JSON (RunError while it goes on)."""
        ...

    def histogram(self) -> bytes:
        """The finished run's latency histogram, HdrHistogram V2 deflate."""
        ...

    def close(self) -> None:
        """Stop the run, wait for its threads and free it; a second call does nothing."""
        ...


class Backend(Protocol):
    """What a backend module provides (``_native`` and ``_backend_pyo3`` are two)."""

    NAME: str
    """``"cffi"`` or ``"pyo3"``."""
    LIBRARY_PATH: Path
    """The native file loaded: the C ABI library or the extension module."""

    def start(self, plan_json: str) -> NativeRun:
        """Validate a plan (JSON text), check its target accepts a connection, start it."""
        ...

    def validate(self, plan_json: str) -> None:
        """Check a plan (JSON text) as ``start`` would, without connecting; PlanError if not."""
        ...

    def abi_version(self) -> int:
        """The native side's ABI version."""
        ...

    def library_version(self) -> str:
        """The native side's own version string (e.g. ``"0.1.0"``)."""
        ...


def preferred() -> str:
    """The backend used when ``CANNONADE_BACKEND`` is unset."""
    if platform.python_implementation() == "PyPy" or os.environ.get("CANNONADE_LIBRARY"):
        return "cffi"
    return "pyo3"


def _import(name: str) -> Backend:
    if name == "cffi":
        from . import _native

        return _native  # type: ignore[return-value]
    from . import _backend_pyo3

    return _backend_pyo3  # type: ignore[return-value]


def load(name: Optional[str] = None) -> Backend:
    """Load a backend: ``name``, else ``$CANNONADE_BACKEND``, else the default.

    Raises ImportError when a named backend cannot be loaded (or the name is not one),
    and when neither can be loaded by default.
    """
    if name is None:
        name = os.environ.get(ENV, "").strip().lower()
    if name in ("", "auto"):
        return _load_default()
    if name not in NAMES:
        raise ImportError(
            f"{ENV}={name!r} names no cannonade backend; use cffi or pyo3, or unset it"
        )
    try:
        return _import(name)
    except AbiMismatchError:
        raise
    except ImportError as error:
        raise ImportError(
            f"{ENV}={name} asks for cannonade's {name} backend, which cannot be loaded: "
            f"{error}. Reinstall cannonade, or unset {ENV} to let cannonade choose"
        ) from error


def _load_default() -> Backend:
    first = preferred()
    other = "pyo3" if first == "cffi" else "cffi"
    try:
        return _import(first)
    except AbiMismatchError:
        raise
    except ImportError as error:
        reason = error
    try:
        backend = _import(other)
    except AbiMismatchError:
        raise
    except ImportError as error:
        raise ImportError(
            f"cannonade cannot load a native backend: {first}: {reason}; {other}: {error}. "
            f"Reinstall cannonade (`pip install .` or `setup.py install`)"
        ) from error
    warnings.warn(
        f"cannonade's {first} backend cannot be loaded ({reason}); using {other} instead. "
        f"Reinstall cannonade to build both, or set {ENV}={other} to choose it explicitly",
        RuntimeWarning,
        stacklevel=2,
    )
    return backend


_current: Optional[Backend] = None


def current() -> Backend:
    """The backend in use, loaded on first call (when cannonade is imported)."""
    global _current
    if _current is None:
        _current = load()
    return _current


def library_version() -> str:
    """The native library's own version string (e.g. ``"0.1.0"``)."""
    return current().library_version()


def validate(plan_json: str) -> None:
    """Check a plan (JSON text) in the engine, as a run would, without connecting.

    The engine is the one home of the plan's rules (limits, URLs, combinations of
    fields); raises :class:`PlanError` naming the field.
    """
    current().validate(plan_json)
