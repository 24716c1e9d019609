"""Runs: the native run handle behind a context manager."""

from __future__ import annotations

import json
import threading
import time
from types import TracebackType
from typing import Any, Optional

from . import _native
from ._errors import PlanError, RunError
from ._plan import Plan
from ._result import Interval, Result

__all__ = ["Run", "run", "start", "start_json"]

# Native waits are cut into slices this long so that a signal (Ctrl-C) raised in
# the Python thread is seen between slices instead of after the whole run.
_WAIT_SLICE_MS = 100


class Run:
    """A running load run; owns the native handle until :meth:`close`.

    Use it as a context manager. Leaving the ``with`` block closes the run; if
    the block is left by an exception, the run is stopped first. :meth:`stop`
    may be called from any thread; :meth:`close` must not be called while
    another thread is inside :meth:`wait`.
    """

    def __init__(self, handle: Any, plan: Optional[Plan] = None) -> None:
        """Wrap a started native handle; use :func:`start` or :meth:`from_json` instead."""
        # ffi.gc is only a backstop: PyPy collects late, so close() frees explicitly.
        self._handle: Any = _native.ffi.gc(handle, _native.lib.cn_run_free)
        self._lock = threading.Lock()
        self._result: Optional[Result] = None
        self.plan = plan

    @classmethod
    def from_json(cls, plan_json: str, plan: Optional[Plan] = None) -> Run:
        """Start a run from raw plan JSON, passed to the engine unchanged."""
        if "\0" in plan_json:
            raise PlanError("plan JSON contains a NUL character")
        out = _native.ffi.new("CnRun **")
        _native.check(_native.lib.cn_run_start(plan_json.encode("utf-8"), out))
        return cls(out[0], plan)

    @property
    def closed(self) -> bool:
        return self._handle is None

    @property
    def finished(self) -> bool:
        """True once the run has ended and its result is available."""
        return self._result is not None or self.wait(0) is not None

    def _live_handle(self) -> Any:
        handle = self._handle
        if handle is None:
            raise RunError("the run is closed")
        return handle

    def wait(self, timeout_s: Optional[float] = None) -> Optional[Result]:
        """Wait for the run to end; return its Result, or None if ``timeout_s`` passed first.

        If anything interrupts the wait (KeyboardInterrupt included), the run is
        stopped and closed before the exception propagates.
        """
        if self._result is not None:
            return self._result
        deadline = None if timeout_s is None else time.monotonic() + max(timeout_s, 0.0)
        try:
            while True:
                slice_ms = _WAIT_SLICE_MS
                if deadline is not None:
                    left_ms = int((deadline - time.monotonic()) * 1000)
                    slice_ms = max(0, min(slice_ms, left_ms))
                status = _native.lib.cn_run_wait(self._live_handle(), slice_ms)
                if status == _native.OK:
                    return self._fetch_result()
                if status != _native.TIMEOUT:
                    _native.raise_for(status)
                if deadline is not None and time.monotonic() >= deadline:
                    return None
        except BaseException:
            self._abort()
            raise

    def _fetch_result(self) -> Result:
        handle = self._live_handle()
        buf = _native.ffi.new("CnBuf *")
        _native.check(_native.lib.cn_run_result_json(handle, buf))
        text = _native.take_buf(buf)
        _native.check(_native.lib.cn_run_histogram(handle, buf))
        histogram = _native.take_buf(buf)
        self._result = Result.from_json(text, histogram)
        return self._result

    def poll(self) -> list[Interval]:
        """The intervals finished since the last poll, oldest first ([] if none).

        Works while the run goes on and after it has finished. The engine keeps at
        most an hour of unpolled intervals (at 1 s each); older ones are dropped.
        """
        buf = _native.ffi.new("CnBuf *")
        with self._lock:
            _native.check(_native.lib.cn_run_poll(self._live_handle(), buf))
            text = _native.take_buf(buf)
        return [Interval.from_dict(item) for item in json.loads(text)]

    def mark_phase(self, name: str) -> int:
        """Start phase ``name`` with the next interval to finish; return that interval's index.

        Intervals finished before the call keep their phase, polled or not, so what
        was decided on stays on its side of the mark. Phases appear in
        ``Result.phases`` and in each ``Interval.phase``. Raises PlanError for a bad
        name (empty, over 64 bytes, control characters) and RunError once the run
        has finished.
        """
        if not isinstance(name, str):
            raise PlanError(f"phase name must be a str, got {type(name).__name__}")
        if "\0" in name:
            raise PlanError("phase name contains a NUL character")
        out = _native.ffi.new("uint64_t *")
        with self._lock:
            _native.check(
                _native.lib.cn_run_mark_phase(self._live_handle(), name.encode("utf-8"), out)
            )
        return int(out[0])

    def result(self) -> Result:
        """The Result of a finished run; raises RunError while it is still running."""
        result = self.wait(0)
        if result is None:
            raise RunError("the run has not finished; call wait() (or stop() then wait()) first")
        return result

    def stop(self) -> None:
        """Ask the run to stop at once (it then finishes with stopped_by "stop").

        Returns without waiting; idempotent; harmless after close().
        """
        with self._lock:
            if self._handle is not None:
                _native.check(_native.lib.cn_run_stop(self._handle))

    def close(self) -> None:
        """Stop the run if needed and free the native handle; a second call does nothing."""
        with self._lock:
            handle, self._handle = self._handle, None
            if handle is not None:
                # Runs the ffi.gc destructor (cn_run_free: stop, join, free) now.
                _native.ffi.release(handle)

    def _abort(self) -> None:
        # Runs while another exception propagates; a failing stop must not mask
        # it, and close() stops the run anyway.
        try:
            self.stop()
        except Exception:
            pass
        self.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc_type is not None:
            self._abort()
        else:
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("finished" if self._result else "open")
        target = self.plan.target if self.plan is not None else "?"
        return f"<cannonade.Run {target} {state}>"


def start(plan: Plan) -> Run:
    """Start ``plan`` in the background and return its Run (a context manager)."""
    if not isinstance(plan, Plan):
        raise PlanError(f"start() takes a cannonade.Plan, got {type(plan).__name__}")
    return Run.from_json(plan.to_json(), plan)


def start_json(plan_json: str) -> Run:
    """Start a run from raw plan JSON (no Python-side validation)."""
    return Run.from_json(plan_json)


def run(plan: Plan) -> Result:
    """Run ``plan`` to the end and return its Result.

    On KeyboardInterrupt the native run is stopped and freed, then the
    interrupt propagates.
    """
    with start(plan) as handle:
        result = handle.wait()
    if result is None:  # wait() without a timeout only returns a Result
        raise RunError("the run ended without a result")
    return result
