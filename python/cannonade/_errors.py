"""Exceptions raised by cannonade.

Every error cannonade raises derives from :class:`CannonadeError`, and also from
the standard exception a caller would naturally catch (``ValueError`` for a bad
plan, ``ConnectionError`` for an unreachable target, ``ImportError`` for a
mismatched native library), so both styles of ``except`` work.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Optional

__all__ = [
    "AbiMismatchError",
    "AnalysisError",
    "AnalysisTypeError",
    "CannonadeError",
    "ConnectError",
    "InternalError",
    "PlanError",
    "ResultError",
    "RunError",
    "ServerError",
    "STATUS_ERRORS",
    "abi_mismatch",
]


class CannonadeError(Exception):
    """Base class of every error raised by cannonade."""


class PlanError(CannonadeError, ValueError):
    """The plan cannot run as written; the message names the field to change."""


class ConnectError(CannonadeError, ConnectionError):
    """The target could not be reached before the run started.

    Constructed with the message as the only argument, so ``str(error)`` is the
    message (``OSError`` would otherwise format ``errno`` and ``strerror``).
    """


class ResultError(CannonadeError, ValueError):
    """A result (JSON and histograms) cannot be read: empty, truncated, corrupted, of
    the wrong type or written by a newer cannonade. The message names the file, when
    there is one, and what is wrong in it."""


class AnalysisError(CannonadeError, ValueError):
    """A series or setting the steady-state analysis cannot use (empty, not finite, negative)."""


class AnalysisTypeError(AnalysisError, TypeError):
    """A value of the wrong type given to the steady-state analysis (also a ``TypeError``)."""


class RunError(CannonadeError, RuntimeError):
    """The run could not be carried out or queried (for example, not finished yet)."""


class InternalError(CannonadeError):
    """A bug in cannonade (a caught panic in the native library); please report it."""


class AbiMismatchError(CannonadeError, ImportError):
    """The native library and the Python package were built from different versions."""


class ServerError(CannonadeError, RuntimeError):
    """The server under test failed to start, exited unexpectedly or could not be stopped.

    The message names the command, the exit status, the log file and the server's
    last output lines; the same facts are attributes.

    Attributes:
        output: The server's last output lines (stdout and stderr interleaved).
        returncode: The exit status (negative: killed by that signal), or ``None``
            while the process still runs or when it is not known.
    """

    def __init__(
        self, message: str, output: Sequence[str] = (), returncode: Optional[int] = None
    ) -> None:
        super().__init__(message)
        self.output: list[str] = list(output)
        self.returncode: Optional[int] = returncode


# The one mapping from native status codes to exceptions, for both backends. Keyed by
# the C header's names (the PyO3 module exports the same names with the same numbers:
# both come from rust/binding), so the numbers come from the native side, not from a
# second copy here.
STATUS_ERRORS: dict[str, type[CannonadeError]] = {
    "CN_INVALID_ARGUMENT": PlanError,
    "CN_INVALID_PLAN": PlanError,
    "CN_ABI_MISMATCH": AbiMismatchError,
    "CN_CONNECT_FAILED": ConnectError,
    "CN_NOT_FINISHED": RunError,
    "CN_RUNTIME_ERROR": RunError,
    "CN_PANIC": InternalError,
}


def abi_mismatch(path: Path, actual: int, expected: int) -> AbiMismatchError:
    """The error for a native file of the wrong ABI version (both backends raise it)."""
    return AbiMismatchError(
        f"cannonade's native library {path} has ABI version {actual}, "
        f"but the Python package expects ABI version {expected}; "
        f"reinstall cannonade so the package and its native library match"
    )
