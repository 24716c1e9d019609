"""The PyO3 backend: the extension module ``cannonade._pyo3`` (rust/py), imported as usual.

The module's ``Run`` class already has the backend interface (``_backend.NativeRun``),
and its functions already raise the right exceptions once they are registered here
from ``_errors.STATUS_ERRORS``, so this module adds no layer of its own to the calls.
"""

from __future__ import annotations

import importlib.machinery
from pathlib import Path

from ._errors import STATUS_ERRORS, abi_mismatch
from ._version import ABI_VERSION

_HERE = Path(__file__).resolve().parent

try:
    from . import _pyo3  # type: ignore[attr-defined]
except ImportError as error:
    if not any((_HERE / ("_pyo3" + s)).is_file() for s in importlib.machinery.EXTENSION_SUFFIXES):
        raise ImportError(
            f"cannonade's PyO3 extension module _pyo3*.so is not in {_HERE}; it is built "
            f"with cannonade (`pip install .` or `setup.py install`), unless its build "
            f"failed: the install's output says why"
        ) from error
    raise

NAME = "pyo3"
LIBRARY_PATH = Path(_pyo3.__file__)

abi_version = _pyo3.abi_version
library_version = _pyo3.version
start = _pyo3.start
validate = _pyo3.validate


def check_abi_version(expected: int = ABI_VERSION) -> None:
    """Raise :class:`AbiMismatchError` unless the extension module speaks ``expected``."""
    actual = int(abi_version())
    if actual != expected:
        raise abi_mismatch(LIBRARY_PATH, actual, expected)


# First the version: a module of another version may not even have the names below.
check_abi_version()
_pyo3.set_error_classes({getattr(_pyo3, name): error for name, error in STATUS_ERRORS.items()})
