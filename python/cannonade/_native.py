"""The only module that touches cffi: loads the native library and maps its errors.

The library is built by setuptools-rust (``Binding.NoBinding``) and copied next to
this file as ``_libcannonade<EXTENSION_SUFFIX>``; it is a plain C ABI library, so it
is opened with ``ffi.dlopen`` (cffi ABI mode), never imported.
"""

from __future__ import annotations

import importlib.machinery
import os
from pathlib import Path
from typing import Any, NoReturn

from cffi import FFI

from ._errors import (
    AbiMismatchError,
    CannonadeError,
    ConnectError,
    InternalError,
    PlanError,
    RunError,
)
from ._version import ABI_VERSION

_HERE = Path(__file__).resolve().parent
_HEADER = _HERE / "cannonade.h"
_LIBRARY_NAME = "_libcannonade"
_LIBRARY_ENV = "CANNONADE_LIBRARY"

# The one mapping from native status codes to exceptions. Keyed by the header's
# names so the numbers come from the header, not from a second copy here.
_STATUS_ERRORS: dict[str, type[CannonadeError]] = {
    "CN_INVALID_ARGUMENT": PlanError,
    "CN_INVALID_PLAN": PlanError,
    "CN_ABI_MISMATCH": AbiMismatchError,
    "CN_CONNECT_FAILED": ConnectError,
    "CN_NOT_FINISHED": RunError,
    "CN_RUNTIME_ERROR": RunError,
    "CN_PANIC": InternalError,
}


def find_library() -> Path:
    """Return the path of the native library: ``$CANNONADE_LIBRARY`` or the packaged one."""
    override = os.environ.get(_LIBRARY_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise ImportError(f"{_LIBRARY_ENV}={override} is not a file; unset it or fix the path")
        return path
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = _HERE / (_LIBRARY_NAME + suffix)
        if path.is_file():
            return path
    raise ImportError(
        f"cannonade's native library {_LIBRARY_NAME}*.so was not found in {_HERE}; "
        f"install cannonade with `pip install .` (or `pypy3 setup.py install`), "
        f"or set {_LIBRARY_ENV} to a built libcannonade_capi.so"
    )


def _open() -> Any:
    header = _HEADER.read_text(encoding="utf-8")
    ffi.cdef(header)
    return ffi.dlopen(str(LIBRARY_PATH))


ffi = FFI()
LIBRARY_PATH = find_library()
lib = _open()

OK: int = lib.CN_OK
TIMEOUT: int = lib.CN_TIMEOUT
_ERROR_BY_STATUS: dict[int, type[CannonadeError]] = {
    getattr(lib, name): error for name, error in _STATUS_ERRORS.items()
}


def _text(chars: Any) -> str:
    """A NUL-terminated C string as text (the library writes UTF-8)."""
    raw = ffi.string(chars)
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def library_version() -> str:
    """The native library's own version string (e.g. ``"0.1.0"``)."""
    return _text(lib.cn_version())


def check_abi_version(expected: int = ABI_VERSION) -> None:
    """Raise :class:`AbiMismatchError` unless the loaded library speaks ``expected``."""
    actual = int(lib.cn_abi_version())
    if actual != expected:
        raise AbiMismatchError(
            f"cannonade's native library {LIBRARY_PATH} has ABI version {actual}, "
            f"but the Python package expects ABI version {expected}; "
            f"reinstall cannonade so the package and its native library match"
        )


def last_error() -> str:
    """The calling thread's last native error message ('' if none)."""
    length = lib.cn_last_error(ffi.NULL, 0)
    if length == 0:
        return ""
    buf = ffi.new("char[]", length + 1)
    lib.cn_last_error(buf, length + 1)
    return _text(buf)


def raise_for(status: int) -> NoReturn:
    """Raise the exception for a non-OK status, with the native message."""
    error = _ERROR_BY_STATUS.get(status, InternalError)
    message = last_error() or f"native call failed with status {status} and no message"
    raise error(message)


def check(status: int) -> None:
    """Raise unless ``status`` is ``CN_OK``."""
    if status != OK:
        raise_for(status)


def take_buf(buf: Any) -> bytes:
    """Copy a filled ``CnBuf *`` into Python bytes and free the native buffer."""
    try:
        if buf.len == 0:
            return b""
        return bytes(ffi.buffer(buf.ptr, buf.len))
    finally:
        lib.cn_buf_free(buf[0])
        # The CnBuf may be reused for the next call; never leave a freed pointer in it.
        buf.ptr = ffi.NULL
        buf.len = 0


check_abi_version()
