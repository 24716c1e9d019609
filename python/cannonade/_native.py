"""The cffi backend, and the only module that touches cffi: loads the C ABI library,
maps its statuses to exceptions, and wraps its calls in the backend interface
(``_backend.Backend``).

The library is built by setuptools-rust (``Binding.NoBinding``) and copied next to
this file as ``_libcannonade<EXTENSION_SUFFIX>``; it is a plain C ABI library, so it
is opened with ``ffi.dlopen`` (cffi ABI mode), never imported. Its declarations come
from ``_cffi_abi.py``, which setup.py emits from ``cannonade.h`` at build time (cffi's
out-of-line ABI mode: about 10 ms to load under PyPy, where parsing the header with
``ffi.cdef`` takes about 90 ms of every start); a tree without it parses the header.
"""

from __future__ import annotations

import importlib.machinery
import os
import threading
from pathlib import Path
from typing import Any, NoReturn

from cffi import FFI

from ._errors import STATUS_ERRORS, CannonadeError, InternalError, RunError, abi_mismatch
from ._version import ABI_VERSION

NAME = "cffi"

_HERE = Path(__file__).resolve().parent
_HEADER = _HERE / "cannonade.h"
_LIBRARY_NAME = "_libcannonade"
_LIBRARY_ENV = "CANNONADE_LIBRARY"


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


def declarations() -> Any:
    """The header's declarations: the ones emitted at build time, else parsed now."""
    try:
        from ._cffi_abi import ffi as emitted  # type: ignore[import-not-found]
    except ImportError:
        return parse_header()
    return emitted


def parse_header() -> FFI:
    """The declarations of ``cannonade.h``, parsed by ``ffi.cdef`` (slow under PyPy)."""
    parsed = FFI()
    parsed.cdef(_HEADER.read_text(encoding="utf-8"))
    return parsed


ffi = declarations()
LIBRARY_PATH = find_library()
lib = ffi.dlopen(str(LIBRARY_PATH))

OK: int = lib.CN_OK
TIMEOUT: int = lib.CN_TIMEOUT
_ERROR_BY_STATUS: dict[int, type[CannonadeError]] = {
    getattr(lib, name): error for name, error in STATUS_ERRORS.items()
}


def _text(chars: Any) -> str:
    """A NUL-terminated C string as text (the library writes UTF-8)."""
    raw = ffi.string(chars)
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def library_version() -> str:
    """The native library's own version string (e.g. ``"0.1.0"``)."""
    return _text(lib.cn_version())


def abi_version() -> int:
    """The library's ABI version (``cn_abi_version``)."""
    return int(lib.cn_abi_version())


def check_abi_version(expected: int = ABI_VERSION) -> None:
    """Raise :class:`AbiMismatchError` unless the loaded library speaks ``expected``."""
    actual = abi_version()
    if actual != expected:
        raise abi_mismatch(LIBRARY_PATH, actual, expected)


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


def validate(plan_json: str) -> None:
    """Check a plan (JSON text) as ``start`` would, without connecting (``cn_plan_validate``)."""
    check(lib.cn_plan_validate(plan_json.encode("utf-8")))


def start(plan_json: str) -> CffiRun:
    """Start a run from plan JSON (``cn_run_start``)."""
    out = ffi.new("CnRun **")
    check(lib.cn_run_start(plan_json.encode("utf-8"), out))
    return CffiRun(out[0])


class CffiRun:
    """A ``CnRun *`` behind the backend interface (``_backend.NativeRun``).

    The C ABI lets calls on one handle overlap from several threads, except
    ``cn_run_free``, which must not overlap any of them. So every call counts itself in
    and out, and :meth:`close` stops the run (a ``wait`` in another thread then returns
    at once), waits until no call is in flight, and only then frees the handle. A call
    that starts after ``close`` raises ``RunError`` instead of touching freed memory.
    """

    __slots__ = ("_handle", "_calls", "_idle")

    def __init__(self, handle: Any) -> None:
        # ffi.gc is only a backstop: PyPy collects late, so close() frees explicitly.
        self._handle: Any = ffi.gc(handle, lib.cn_run_free)
        self._calls = 0
        self._idle = threading.Condition(threading.Lock())

    def _enter(self) -> Any:
        with self._idle:
            if self._handle is None:
                raise RunError("the run is closed")
            self._calls += 1
            return self._handle

    def _leave(self) -> None:
        with self._idle:
            self._calls -= 1
            if self._calls == 0:
                self._idle.notify_all()

    def wait(self, timeout_ms: int) -> bool:
        handle = self._enter()
        try:
            status = lib.cn_run_wait(handle, timeout_ms)
        finally:
            self._leave()
        if status == OK:
            return True
        if status != TIMEOUT:
            raise_for(status)
        return False

    def _call(self, function: Any, *args: Any) -> None:
        handle = self._enter()
        try:
            status = function(handle, *args)
        finally:
            self._leave()
        check(status)

    def _bytes(self, function: Any) -> bytes:
        buf = ffi.new("CnBuf *")
        self._call(function, buf)
        return take_buf(buf)

    def poll(self) -> bytes:
        return self._bytes(lib.cn_run_poll)

    def mark_phase(self, name: str) -> int:
        out = ffi.new("uint64_t *")
        self._call(lib.cn_run_mark_phase, name.encode("utf-8"), out)
        return int(out[0])

    def stop(self) -> None:
        self._call(lib.cn_run_stop)

    def result_json(self) -> bytes:
        return self._bytes(lib.cn_run_result_json)

    def histogram(self) -> bytes:
        return self._bytes(lib.cn_run_histogram)

    def close(self) -> None:
        with self._idle:
            handle, self._handle = self._handle, None
            if handle is None:
                return
            # A call in flight in another thread may be a long wait: stop the run so
            # that it returns promptly, then wait for every call to leave.
            lib.cn_run_stop(handle)
            while self._calls:
                self._idle.wait()
        # Runs the ffi.gc destructor (cn_run_free: stop, join, free) now.
        ffi.release(handle)


check_abi_version()
