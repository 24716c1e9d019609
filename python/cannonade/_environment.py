"""Where a benchmark ran: cannonade, the generator's interpreter, the server's, the machine.

Stored in the benchmark JSON (``environment``), so a result kept for months still
says what produced it. Each probe fails soft: a fact that cannot be had is None.
The server's interpreter is asked for its version only when its executable is one
this module knows (python, pypy, java, node): running an unknown program with
``--version`` could start it for real.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from typing import Any, Optional

__all__ = ["collect", "machine", "server_info"]

_PROBE_TIMEOUT_S = 10.0
_PYTHON = re.compile(r"(?:python|pypy)(?:\d+(?:\.\d+)*)?\Z")
_PYTHON_PROBE = (
    "import platform, sys; v = getattr(sys, 'pypy_version_info', None); "
    "print(platform.python_implementation(), platform.python_version(), "
    "'.'.join(map(str, v[:3])) if v else '')"
)


def _cpu_model() -> Optional[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                key, sep, value = line.partition(":")
                if sep and key.strip() in ("model name", "Model", "cpu model"):
                    return value.strip() or None
    except OSError:
        pass
    return platform.processor() or None


def machine() -> dict[str, Any]:
    """Cores, kernel, CPU model and architecture of this machine."""
    return {
        "cores": os.cpu_count(),
        "system": platform.system() or None,
        "kernel": platform.release() or None,
        "architecture": platform.machine() or None,
        "cpu_model": _cpu_model(),
    }


def generator() -> dict[str, Any]:
    """The interpreter running cannonade (the load generator's Python side)."""
    pypy = getattr(sys, "pypy_version_info", None)
    return {
        "implementation": platform.python_implementation(),
        "version": platform.python_version(),
        "implementation_version": ".".join(map(str, pypy[:3])) if pypy else None,
        "executable": sys.executable or None,
    }


def _probe(argv: Sequence[str]) -> Optional[str]:
    try:
        done = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = (done.stdout or done.stderr).decode("utf-8", "replace").strip()
    return text.splitlines()[0].strip() if text and done.returncode == 0 else None


def server_info(command: Sequence[str]) -> Optional[dict[str, Any]]:
    """The server's command, its executable and (for known interpreters) its version."""
    if not command:
        return None
    program = command[0]
    executable = shutil.which(program) or (program if os.path.exists(program) else None)
    name = os.path.basename(program)
    implementation = version = None
    if executable is not None:
        if _PYTHON.match(name):
            words = (_probe([executable, "-c", _PYTHON_PROBE]) or "").split()
            if len(words) >= 2:
                implementation, version = words[0], words[1]
                if len(words) >= 3:
                    version = f"{version} ({implementation} {words[2]})"
        elif name == "java":
            version = _probe([executable, "-version"])  # on stderr, like 'openjdk version "17"'
            implementation = "java" if version else None
        elif name in ("node", "nodejs"):
            version = _probe([executable, "--version"])
            implementation = "node" if version else None
    return {
        "command": list(command),
        "executable": executable,
        "implementation": implementation,
        "version": version,
    }


def collect(
    server_command: Sequence[str] = (), server_address: Optional[str] = None
) -> dict[str, Any]:
    """Everything above, as the benchmark JSON's ``environment`` object."""
    from ._version import ABI_VERSION, __version__

    try:
        from ._backend import current

        backend: Optional[str] = current().NAME
        library: Optional[str] = current().library_version()
    except Exception:  # facts, not a reason to fail a benchmark
        backend = library = None
    server = server_info(server_command)
    if server is None and server_address is not None:
        server = {"command": None, "executable": None, "implementation": None, "version": None}
    if server is not None:
        server["address"] = server_address
    return {
        "cannonade": {
            "version": __version__,
            "abi_version": ABI_VERSION,
            "backend": backend,
            "library_version": library,
        },
        "generator": generator(),
        "server": server,
        "machine": machine(),
    }
