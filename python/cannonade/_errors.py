"""Exceptions raised by cannonade.

Every error cannonade raises derives from :class:`CannonadeError`, and also from
the standard exception a caller would naturally catch (``ValueError`` for a bad
plan, ``ConnectionError`` for an unreachable target, ``ImportError`` for a
mismatched native library), so both styles of ``except`` work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

__all__ = [
    "AbiMismatchError",
    "AnalysisError",
    "AnalysisTypeError",
    "CannonadeError",
    "ConnectError",
    "InternalError",
    "PlanError",
    "RunError",
    "ServerError",
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
