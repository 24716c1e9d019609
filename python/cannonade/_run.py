"""Runs: the native run (from whichever backend is loaded) behind a context manager."""

from __future__ import annotations

import json
import math
import threading
import time
from types import TracebackType
from typing import Optional

from ._backend import NativeRun, current
from ._errors import PlanError, RunError
from ._plan import Plan
from ._result import Interval, Result

__all__ = ["Run", "run", "start", "start_json"]

# Native waits are cut into slices this long so that a signal (Ctrl-C) raised in
# the Python thread is seen between slices instead of after the whole run.
_WAIT_SLICE_MS = 100

# Loaded at import, so that a missing or mismatched native library fails `import cannonade`.
_BACKEND = current()


class Run:
    """A running load run; owns the native handle until :meth:`close`.

    Use it as a context manager. Leaving the ``with`` block closes the run; if
    the block is left by an exception, the run is stopped first. Every method may
    be called from any thread; :meth:`close` while another thread is inside
    :meth:`wait` stops the run, lets that wait return, and then frees the handle.
    """

    def __init__(self, native: NativeRun, plan: Optional[Plan] = None) -> None:
        """Wrap a started native run; use :func:`start` or :meth:`from_json` instead."""
        # Freed explicitly by close(): PyPy collects late. Each backend also frees a
        # forgotten run when it is collected, as a backstop.
        self._native: Optional[NativeRun] = native
        self._lock = threading.Lock()
        self._result: Optional[Result] = None
        self.plan = plan

    @classmethod
    def from_json(cls, plan_json: str, plan: Optional[Plan] = None) -> Run:
        """Start a run from raw plan JSON, passed to the engine unchanged."""
        if "\0" in plan_json:
            raise PlanError("plan JSON contains a NUL character")
        return cls(_BACKEND.start(plan_json), plan)

    @property
    def closed(self) -> bool:
        return self._native is None

    @property
    def finished(self) -> bool:
        """True once the run has ended and its result is available."""
        return self._result is not None or self.wait(0) is not None

    def _live(self) -> NativeRun:
        native = self._native
        if native is None:
            raise RunError("the run is closed")
        return native

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
                    # Rounded up: rounded down, the last slice ends just short of the
                    # deadline and the ones after it are 0 ms, a busy loop of up to a
                    # millisecond per call (the CLI, waiting 100 ms at a time, spent 3-7 %
                    # of the engine's CPU on it under PyPy).
                    left_ms = math.ceil((deadline - time.monotonic()) * 1000)
                    slice_ms = max(0, min(slice_ms, left_ms))
                if self._live().wait(slice_ms):
                    return self._fetch_result()
                if deadline is not None and time.monotonic() >= deadline:
                    return None
        except BaseException:
            self._abort()
            raise

    def _fetch_result(self) -> Result:
        native = self._live()
        text = native.result_json()
        histogram = native.histogram()
        self._result = Result.from_json(text, histogram)
        return self._result

    def poll(self) -> list[Interval]:
        """The intervals finished since the last poll, oldest first ([] if none).

        Works while the run goes on and after it has finished. The engine keeps at
        most an hour of unpolled intervals (at 1 s each); older ones are dropped.
        """
        with self._lock:
            text = self._live().poll()
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
        with self._lock:
            return self._live().mark_phase(name)

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
            if self._native is not None:
                self._native.stop()

    def close(self) -> None:
        """Stop the run if needed and free the native handle; a second call does nothing."""
        with self._lock:
            native, self._native = self._native, None
            if native is not None:
                native.close()  # stops the run, joins its threads, frees it

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
