"""The server under test as a managed subprocess: start, wait until ready, watch, sample, stop.

::

    from cannonade import Server

    with Server([pypy, "-m", "cannonade.testees.echo", "--port", "{port}"],
                pypylog=True) as server:
        plan = cannonade.Plan(server.address, ...)
        ...
        server.check()             # raises ServerError if the server died
        print(server.sample())     # CPU seconds and RSS of its processes
        events = server.pypylog.read()   # GC/JIT events on the time.monotonic() line

    with Server(["java", "-cp", classes, "JsonServer", "--port", "{port}"],
                hotspot_log=True) as server:
        ...
        compiles = server.hotspot_log.read()   # HotSpot JIT compilations, same clock

The server runs in a new session (``start_new_session=True``), so stopping it
signals the whole process group: a shell wrapper's children stop too. Its stdout
and stderr go straight to a log file (no pipe that could fill up and block it).
Only loopback hosts are allowed. ``Server.external(host, port, pid)`` is a server
someone else runs, behind the same interface (checked and sampled, never started or
stopped): ``Server`` is the interface, :class:`ManagedServer` and :class:`ExternalServer`
the two kinds.

Linux only: readiness, stopping and sampling read ``/proc``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Optional, Union

from ._errors import CannonadeError, ServerError
from ._hotspotlog import HotSpotLogReader, xlog_option
from ._pypylog import DEFAULT_SECTIONS, ClockProbe, PypyLogReader, find_pypy, pypylog_value

__all__ = ["DEFAULT_READY_PATTERN", "ExternalServer", "ManagedServer", "ProcessSample", "Server"]

DEFAULT_READY_PATTERN = r"listening on (?P<host>\[[^\]\s]*\]|[^\s:\[\]]+):(?P<port>\d+)"
"""Matches the bundled testees' ``listening on 127.0.0.1:43121`` / ``listening on [::1]:8080``."""

OUTPUT_LINES = 20
"""How many of the server's last output lines an error message shows."""

_PORT_PLACEHOLDER = "{port}"
_HOST_PLACEHOLDER = "{host}"
_OUTPUT_TAIL_BYTES = 64 * 1024
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

PathArg = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class ProcessSample:
    """CPU time and memory of the server's processes at one moment.

    Attributes:
        t_s: When the sample was taken, in ``time.monotonic()`` seconds.
        cpu_s: User plus system CPU time of the processes so far, seconds, including
            that of their children which have exited and been waited for (so the sum
            does not drop when a worker process ends).
        rss_bytes: Sum of the processes' resident set sizes (pages shared between
            processes are counted in each).
        processes: How many processes were summed (zombies not counted).
    """

    t_s: float
    cpu_s: float
    rss_bytes: int
    processes: int


@dataclass(frozen=True)
class _ProcStat:
    pid: int
    ppid: int
    pgrp: int
    session: int
    zombie: bool
    cpu_ticks: int
    rss_pages: int


def _read_stat(pid: int) -> Optional[_ProcStat]:
    """``/proc/PID/stat``, or ``None`` if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after it.
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return _ProcStat(
            pid=pid,
            ppid=int(fields[1]),
            pgrp=int(fields[2]),
            session=int(fields[3]),
            zombie=fields[0] in (b"Z", b"X"),
            cpu_ticks=sum(int(value) for value in fields[11:15]),  # u, s, cu, cs time
            rss_pages=max(int(fields[21]), 0),
        )
    except (IndexError, ValueError):
        return None


def _all_processes() -> list[_ProcStat]:
    """Every process in ``/proc``; processes exiting meanwhile are skipped."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = _read_stat(int(name))
            if stat is not None:
                found.append(stat)
    return found


def _descendants(processes: Iterable[_ProcStat], root: int) -> list[_ProcStat]:
    """``root`` and all its descendants among ``processes``."""
    by_parent: dict[int, list[_ProcStat]] = {}
    selected: list[_ProcStat] = []
    for proc in processes:
        if proc.pid == root:
            selected.append(proc)
        else:
            by_parent.setdefault(proc.ppid, []).append(proc)
    index = 0
    while index < len(selected):
        selected.extend(by_parent.pop(selected[index].pid, ()))
        index += 1
    return selected


def _summarize(processes: Sequence[_ProcStat], t_s: float) -> Optional[ProcessSample]:
    live = [proc for proc in processes if not proc.zombie]
    if not live:
        return None
    return ProcessSample(
        t_s=t_s,
        cpu_s=sum(proc.cpu_ticks for proc in processes) / _CLK_TCK,
        rss_bytes=sum(proc.rss_pages for proc in live) * _PAGE_SIZE,
        processes=len(live),
    )


def _pid_alive(pid: int) -> bool:
    stat = _read_stat(pid)
    return stat is not None and not stat.zombie


def _loopback_host(host: str) -> str:
    """``host`` normalised (brackets removed), or ValueError if it is not loopback."""
    bare = host.strip()
    if bare.startswith("[") and bare.endswith("]"):
        bare = bare[1:-1]
    if bare.lower() == "localhost":
        return "localhost"
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ValueError(
            f"host {host!r} is not a loopback address: the server under test must listen on "
            f"127.0.0.0/8, ::1 or localhost"
        )
    return str(address)


def _format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _accepts(host: str, port: int, timeout_s: float) -> bool:
    """Whether ``host:port`` accepts a TCP connection (which is closed at once)."""
    try:
        with socket.create_connection((host, port), timeout=max(timeout_s, 0.01)):
            return True
    except OSError:
        return False


def _free_port(host: str) -> int:
    """A port nothing listens on now (bound to port 0, then released)."""
    bind_host = "127.0.0.1" if host == "localhost" else host
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((bind_host, 0))
        return int(sock.getsockname()[1])


def _describe_status(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name} (status {returncode})"
    return f"exited with status {returncode}"


def _pypylog_sections(pypylog: Union[None, bool, str, Sequence[str]]) -> Optional[list[str]]:
    """The PyPy log sections asked for by ``Server(pypylog=...)``, or ``None`` for none."""
    if pypylog is True:
        return list(DEFAULT_SECTIONS)
    if isinstance(pypylog, str):
        return [name.strip() for name in pypylog.split(",") if name.strip()]
    if pypylog:
        return list(pypylog)
    return None


class Server:
    """The server under test: the interface shared by a managed and an external server.

    ``Server(command, ...)`` makes a :class:`ManagedServer` (a subprocess cannonade
    starts, watches and stops; see there for the arguments), and
    :meth:`Server.external` an :class:`ExternalServer` (one someone else runs). Both
    are instances of ``Server``: code that takes a server takes either.
    """

    _host: str
    _port: Optional[int]
    # What only a managed server has; the class defaults say "none" for an external one.
    _command: tuple[str, ...] = ()
    _log_path: Optional[Path] = None
    _pypylog_path: Optional[Path] = None
    _reader: Optional[PypyLogReader] = None
    _hotspot_path: Optional[Path] = None
    _hotspot_reader: Optional[HotSpotLogReader] = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Server:
        # Server(...) is the managed kind, as it always was (pathlib.Path does the same).
        return super().__new__(ManagedServer if cls is Server else cls)

    def _init_address(self, host: str, port: Optional[int]) -> None:
        self._host = _loopback_host(host)
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"port {port} out of range 1..65535")
        self._port = port

    @classmethod
    def external(cls, host: str, port: int, pid: Optional[int] = None) -> ExternalServer:
        """A server started by someone else, with the same interface: an :class:`ExternalServer`."""
        return ExternalServer(host, port, pid)

    # --- properties ---------------------------------------------------------------

    @property
    def host(self) -> str:
        """The loopback host clients connect to (no brackets)."""
        return self._host

    @property
    def port(self) -> Optional[int]:
        """The port, once known (always after :meth:`start`)."""
        return self._port

    @property
    def address(self) -> str:
        """``HOST:PORT`` (``[::1]:PORT`` for IPv6), e.g. for :class:`cannonade.Plan`."""
        if self._port is None:
            raise ServerError("the server's port is not known yet: start() it first")
        return _format_address(self._host, self._port)

    @property
    def managed(self) -> bool:
        """Whether cannonade starts and stops this server (``False`` for :meth:`external`)."""
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """Whether the server is running, as far as cannonade knows."""
        raise NotImplementedError

    @property
    def pid(self) -> Optional[int]:
        """Process id of the server (the session leader), if known."""
        raise NotImplementedError

    @property
    def command(self) -> tuple[str, ...]:
        """The command as run (placeholders replaced once started); ``()`` if external."""
        return self._command

    @property
    def returncode(self) -> Optional[int]:
        """The exit status once the process has exited (negative: killed by a signal)."""
        return None

    @property
    def log_path(self) -> Optional[Path]:
        """The file holding the server's stdout and stderr (``None`` before start)."""
        return self._log_path

    @property
    def pypylog_path(self) -> Optional[Path]:
        """The PYPYLOG file, when ``pypylog`` was requested and the server started."""
        return self._pypylog_path

    @property
    def pypylog(self) -> Optional[PypyLogReader]:
        """Reader of the PyPy GC/JIT events (``None`` unless ``pypylog`` was requested).

        Its clock was calibrated while the server started; ``read()`` returns the
        events completed since the previous call, on the ``time.monotonic()`` line.
        """
        return self._reader

    @property
    def hotspot_log_path(self) -> Optional[Path]:
        """The HotSpot log file, when ``hotspot_log`` was requested and the server started."""
        return self._hotspot_path

    @property
    def hotspot_log(self) -> Optional[HotSpotLogReader]:
        """Reader of the HotSpot JIT compilations (``None`` unless ``hotspot_log`` was set).

        ``read()`` returns the compilations finished since the previous call, on the
        ``time.monotonic()`` line.
        """
        return self._hotspot_reader

    # --- the life cycle -----------------------------------------------------------------

    def start(self) -> Server:
        """Start the server and wait until it accepts connections; returns ``self``."""
        raise NotImplementedError

    def stop(self) -> Optional[int]:
        """Stop the server; returns its exit status (``None`` if there is none)."""
        raise NotImplementedError

    def close(self) -> Optional[int]:
        """:meth:`stop`, then release what the server left behind; returns the exit status."""
        return self.stop()

    def output(self, lines: int = OUTPUT_LINES) -> list[str]:
        """The last ``lines`` lines of the server's output (stdout and stderr)."""
        return []

    def poll(self) -> Optional[int]:
        """The exit status if the process has exited, else ``None``; never raises."""
        return self.returncode

    def check(self, probe: bool = False) -> None:
        """Raise :class:`ServerError` unless the server is still running.

        Cheap enough to call once per load interval.

        Args:
            probe: Also verify that the port still accepts a TCP connection (opens
                and closes one connection).
        """
        raise NotImplementedError

    def sample(self) -> Optional[ProcessSample]:
        """CPU time and RSS summed over the server's processes, from ``/proc``.

        A managed server's processes are those in its session (its own, and those
        of any wrapper's children); an external server's are its pid and
        descendants. Returns ``None`` if there is nothing to sample (not started,
        exited, or an external server without a pid).
        """
        pid = self.pid
        if pid is None:
            return None
        started = time.monotonic()
        selected = self._sampled(_all_processes(), pid)
        return _summarize(selected, (started + time.monotonic()) / 2)

    def _sampled(self, processes: list[_ProcStat], pid: int) -> list[_ProcStat]:
        """The processes :meth:`sample` sums, among all of ``processes``."""
        raise NotImplementedError

    def __enter__(self) -> Server:
        """Start the server (unless it is running or external)."""
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        """:meth:`close` the server."""
        self.close()


class ExternalServer(Server):
    """A server started by someone else, with the same interface: ``Server.external(...)``.

    :meth:`start`, :meth:`stop` and :meth:`close` do nothing; :meth:`check`
    verifies that ``pid`` is alive (or, without a pid, that the port accepts a
    connection); :meth:`sample` covers ``pid`` and its descendants (``None``
    without a pid).

    Raises:
        ValueError: A non-loopback host or a port out of range.
    """

    def __init__(self, host: str, port: int, pid: Optional[int] = None) -> None:
        self._init_address(host, port)
        self._pid = pid

    @property
    def managed(self) -> bool:
        """``False``: someone else starts and stops this server."""
        return False

    @property
    def running(self) -> bool:
        """Always ``True`` (use :meth:`check` to verify it)."""
        return True

    @property
    def pid(self) -> Optional[int]:
        """The process id given, if any."""
        return self._pid

    def __repr__(self) -> str:
        where = _format_address(self._host, self._port) if self._port else self._host
        return f"Server.external({where!r}, pid={self._pid})"

    def start(self) -> ExternalServer:
        """Nothing to do: someone else started it."""
        return self

    def stop(self) -> Optional[int]:
        """Nothing to do: someone else stops it; ``None``."""
        return None

    def check(self, probe: bool = False) -> None:
        """Raise :class:`ServerError` if ``pid`` is gone, or (without a pid, or with
        ``probe``) if the port refuses a TCP connection."""
        pid = self._pid
        if pid is not None and not _pid_alive(pid):
            raise ServerError(f"external server process {pid} is gone")
        if (pid is None or probe) and not _accepts(self._host, self._port or 0, 1.0):
            raise ServerError(
                f"external server on {self.address} does not accept connections any more"
            )

    def _sampled(self, processes: list[_ProcStat], pid: int) -> list[_ProcStat]:
        return _descendants(processes, pid)


class ManagedServer(Server):
    """The server under test as a subprocess started from ``command``: ``Server(command, ...)``.

    Args:
        command: The program and its arguments (a string is split with
            :func:`shlex.split`; no shell is involved). ``{port}`` and ``{host}`` in
            any argument are replaced by the port and host.
        host: The loopback address clients connect to (default ``127.0.0.1``;
            ``::1`` and ``localhost`` work too). Anything else is a ValueError.
        port: The port the server listens on. Without it, if the command contains
            ``{port}``, a free port is picked; otherwise the port is read from the
            server's output with ``ready_pattern``.
        env: Environment additions (``None`` as a value removes a variable).
            ``PYTHONUNBUFFERED=1`` is added unless given, so that a Python server's
            output reaches the log file at once.
        cwd: Working directory of the server.
        log_path: File for the server's stdout and stderr (truncated at the first
            start, appended to at restarts). Default: a new temporary file at each
            start, all deleted by :meth:`close` (so a failed start's log, named in
            the error, stays readable until then).
        ready_pattern: A regular expression that finds the port in the server's
            output (named group ``port``, else group 1; an optional group ``host``
            is used when ``host`` is not given). Used only when the port is not
            otherwise known. Default: :data:`DEFAULT_READY_PATTERN`.
        startup_timeout_s: How long :meth:`start` waits for the port to accept a
            connection.
        sigint_timeout_s: How long :meth:`stop` waits after SIGINT ...
        sigterm_timeout_s: ... after SIGTERM ...
        sigkill_timeout_s: ... and after SIGKILL.
        pypylog: Collect PyPy GC/JIT events: ``True`` for
            :data:`~cannonade._pypylog.DEFAULT_SECTIONS`, or section name prefixes
            (a sequence, or a comma-separated string). Sets ``PYPYLOG``; read the
            events with :attr:`pypylog`.
        pypylog_path: File for the PyPy log (emptied at each start). Default: a new
            temporary file at each start, all deleted by :meth:`close`.
        pypy: The PyPy interpreter used to calibrate the log's clock. Default: this
            process if it is PyPy, else the command's program if it is PyPy, else
            ``pypy3``/``pypy`` on ``PATH``.
        hotspot_log: Collect HotSpot JIT compilations (see :mod:`cannonade._hotspotlog`):
            the ``-Xlog`` option is inserted after the program when it is named
            ``java``, else appended to ``JDK_JAVA_OPTIONS`` (read by any ``java``
            launcher a wrapper starts). Read the compilations with :attr:`hotspot_log`.
        hotspot_log_path: File for the HotSpot log (emptied at each start; no ``:``,
            ``,``, ``=`` or spaces in it). Default: a new temporary file at each start,
            all deleted by :meth:`close`.

    Raises:
        ValueError: A non-loopback host, a bad pattern, or ``PYPYLOG`` given both in
            ``env`` and through ``pypylog``.
    """

    def __init__(
        self,
        command: Union[str, Sequence[str]],
        *,
        host: Optional[str] = None,
        port: Optional[int] = None,
        env: Optional[Mapping[str, Optional[str]]] = None,
        cwd: Optional[PathArg] = None,
        log_path: Optional[PathArg] = None,
        ready_pattern: Union[str, re.Pattern[str]] = DEFAULT_READY_PATTERN,
        startup_timeout_s: float = 30.0,
        sigint_timeout_s: float = 5.0,
        sigterm_timeout_s: float = 5.0,
        sigkill_timeout_s: float = 5.0,
        pypylog: Union[None, bool, str, Sequence[str]] = None,
        pypylog_path: Optional[PathArg] = None,
        pypy: Optional[str] = None,
        hotspot_log: bool = False,
        hotspot_log_path: Optional[PathArg] = None,
    ) -> None:
        self._init_address(host if host is not None else "127.0.0.1", port)
        self._host_given = host is not None
        self._host_requested = self._host
        self._port_requested = port
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not argv or not all(isinstance(arg, str) for arg in argv):
            raise ValueError(f"command must be a non-empty list of strings, not {command!r}")
        self._argv = argv
        self._command = tuple(argv)
        self._env = dict(env or {})
        self._cwd = cwd
        self._log_request = log_path
        self._pattern = re.compile(ready_pattern)
        if self._pattern.groups < 1:
            raise ValueError(f"ready_pattern {self._pattern.pattern!r} has no group for the port")
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeouts_s = (sigint_timeout_s, sigterm_timeout_s, sigkill_timeout_s)
        self._sections = _pypylog_sections(pypylog)
        if self._sections is not None:
            if "PYPYLOG" in self._env:
                raise ValueError("give PYPYLOG either in env or through pypylog=, not both")
            pypylog_value(self._sections, "check")  # validates the names now
        self._pypylog_request = pypylog_path
        self._pypy = pypy
        self._hotspot = bool(hotspot_log)
        self._hotspot_request = hotspot_log_path
        if self._hotspot and hotspot_log_path is not None:
            xlog_option(hotspot_log_path)  # validates the path now
        self._process: Optional[subprocess.Popen[bytes]] = None
        self._stopped = False
        self._returncode: Optional[int] = None
        self._restarted = False
        self._log_path = None
        self._log_start = 0  # where this start's output begins in the log file
        self._scan_offset = 0
        self._scan_partial = b""
        self._temp_files: list[Path] = []
        self._pypylog_path = None
        self._reader = None
        self._hotspot_path = None
        self._hotspot_reader = None

    # --- properties ---------------------------------------------------------------

    @property
    def managed(self) -> bool:
        """``True``: cannonade starts and stops this server."""
        return True

    @property
    def running(self) -> bool:
        """Whether the server was started and has neither exited nor been stopped."""
        return self._process is not None and not self._stopped and self.returncode is None

    @property
    def pid(self) -> Optional[int]:
        """Process id of the server (the session leader), once started."""
        return self._process.pid if self._process is not None else None

    @property
    def returncode(self) -> Optional[int]:
        """The exit status once the process has exited (negative: killed by a signal)."""
        if self._process is not None and self._returncode is None:
            self._returncode = self._process.poll()
        return self._returncode

    def __repr__(self) -> str:
        where = _format_address(self._host, self._port) if self._port else self._host
        state = "new" if self._process is None else ("stopped" if self._stopped else "started")
        return f"<Server {state} {where} pid={self.pid} {shlex.join(self._command)!r}>"

    # --- start ----------------------------------------------------------------------

    def start(self) -> ManagedServer:
        """Start the server and wait until its port accepts a TCP connection.

        After :meth:`stop` (or after the server exited), starting again runs a new
        process: a port picked for ``{port}`` or read from the output is found
        anew, and :attr:`pypylog` is a new reader.

        Returns:
            ``self``.

        Raises:
            ServerError: The process could not be started, exited first, or did not
                accept connections within ``startup_timeout_s`` (it is then stopped).
                The message has the command, exit status, log path and last output.
        """
        if self._process is not None:
            if self._process.poll() is None and not self._stopped:
                raise ServerError(f"the server is already running (pid {self._process.pid})")
            self.stop()  # exited by itself: make sure no process of its session is left
        self._reset()
        self._choose_port()
        self._command = tuple(self._substitute(arg) for arg in self._argv)
        environ = self._environment()
        self._log_path = self._make_file(self._log_request, "server")
        probe: Optional[ClockProbe] = None
        try:
            probe = self._prepare_pypylog(environ)
            self._prepare_hotspot_log(environ)
            self._spawn(environ)
            self._wait_ready()
            if probe is not None:
                self._reader = self._pypylog_reader(probe)
        except BaseException:
            if probe is not None:
                probe.close()
            if self._process is not None:
                self._abort()
            raise
        return self

    def _reset(self) -> None:
        """Forget the previous process (if any) before a start."""
        self._restarted = self._process is not None
        self._process = None
        self._stopped = False
        self._returncode = None
        self._host = self._host_requested
        self._port = self._port_requested
        self._reader = None
        self._hotspot_reader = None
        self._scan_partial = b""

    def _choose_port(self) -> None:
        """Pick a free port for ``{port}``, or make sure a given one is still free."""
        uses_placeholder = any(_PORT_PLACEHOLDER in arg for arg in self._argv)
        if self._port is None and uses_placeholder:
            self._port = _free_port(self._host)
        elif self._port is not None:
            if _accepts(self._host, self._port, 0.5):
                raise ServerError(
                    f"something already accepts connections on "
                    f"{_format_address(self._host, self._port)} before the server started"
                )

    def _substitute(self, arg: str) -> str:
        if self._port is not None:
            arg = arg.replace(_PORT_PLACEHOLDER, str(self._port))
        return arg.replace(_HOST_PLACEHOLDER, self._host)

    def _environment(self) -> dict[str, str]:
        """This process's environment with the server's additions and removals."""
        environ = dict(os.environ)
        environ["PYTHONUNBUFFERED"] = "1"
        for key, value in self._env.items():
            if value is None:
                environ.pop(key, None)
            else:
                environ[key] = value
        return environ

    def _make_file(self, requested: Optional[PathArg], kind: str) -> Path:
        """The given path, or a new temporary file (one per start, deleted by close())."""
        if requested is not None:
            return Path(requested)
        fd, name = tempfile.mkstemp(prefix=f"cannonade-{kind}-", suffix=".log")
        os.close(fd)
        self._temp_files.append(Path(name))
        return Path(name)

    def _prepare_pypylog(self, environ: dict[str, str]) -> Optional[ClockProbe]:
        """Set ``PYPYLOG`` when asked for, and start calibrating its clock."""
        if self._sections is None:
            return None
        self._pypylog_path = self._make_file(self._pypylog_request, "pypylog")
        # Emptied now: PyPy truncates it only when it logs its first section.
        self._pypylog_path.write_bytes(b"")
        environ["PYPYLOG"] = pypylog_value(self._sections, self._pypylog_path)
        pypy = self._pypy
        if pypy is None and not _running_on_pypy():
            pypy = find_pypy([self._command[0]])
        try:
            return ClockProbe(pypy)
        except CannonadeError as error:
            raise ServerError(str(error)) from None

    def _prepare_hotspot_log(self, environ: dict[str, str]) -> None:
        """Add HotSpot's ``-Xlog`` option to the command or ``JDK_JAVA_OPTIONS`` when asked for."""
        if not self._hotspot:
            return
        self._hotspot_path = self._make_file(self._hotspot_request, "hotspot")
        self._hotspot_path.write_bytes(b"")
        option = xlog_option(self._hotspot_path)
        if os.path.basename(self._command[0]) == "java":
            self._command = (self._command[0], option, *self._command[1:])
        else:
            given = environ.get("JDK_JAVA_OPTIONS", "").strip()
            environ["JDK_JAVA_OPTIONS"] = f"{given} {option}".strip()
        self._hotspot_reader = HotSpotLogReader(self._hotspot_path)

    def _spawn(self, environ: dict[str, str]) -> None:
        """Run the command in a new session, its output going to the log file."""
        assert self._log_path is not None
        # A given log is truncated at the first start and appended to at restarts.
        truncate = 0 if self._restarted else os.O_TRUNC
        log_fd = os.open(self._log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | truncate, 0o644)
        self._log_start = self._scan_offset = os.fstat(log_fd).st_size
        try:
            self._process = subprocess.Popen(
                self._command,
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=subprocess.STDOUT,
                env=environ,
                cwd=self._cwd,
                start_new_session=True,
            )
        except OSError as error:
            raise ServerError(
                f"cannot start the server: {error}\n  command: {shlex.join(self._command)}"
            ) from None
        finally:
            os.close(log_fd)

    def _pypylog_reader(self, probe: ClockProbe) -> PypyLogReader:
        """The PyPy log's reader, on the clock ``probe`` calibrated while the server started."""
        assert self._pypylog_path is not None
        try:
            clock = probe.result()
        except CannonadeError as error:
            self._abort()
            raise ServerError(str(error)) from None
        return PypyLogReader(self._pypylog_path, clock)

    def _wait_ready(self) -> None:
        """Wait until the port (read from the output if not known) accepts a connection."""
        assert self._process is not None
        started = time.monotonic()
        deadline = started + self.startup_timeout_s
        delay = 0.005
        while True:
            returncode = self._process.poll()
            if returncode is not None:
                self._returncode = returncode
                target = f"on {self.address}" if self._port is not None else "(port not announced)"
                raise self._error(
                    f"{_describe_status(returncode)} before accepting connections {target}",
                    returncode,
                )
            if self._port is None:
                self._scan_for_port()
            left = deadline - time.monotonic()
            if self._port is not None and _accepts(self._host, self._port, min(1.0, left)):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                waited = time.monotonic() - started
                if self._port is None:
                    what = f"printed no line matching {self._pattern.pattern!r}"
                else:
                    what = f"does not accept connections on {self.address}"
                # Stopped first: the output may then say more (a traceback on SIGINT, say).
                self._abort()
                raise self._error(f"was still running after {waited:.1f} s but {what}", None)
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.1)

    def _scan_for_port(self) -> None:
        """Look for ``ready_pattern`` in the new complete lines of the log."""
        assert self._log_path is not None
        try:
            with open(self._log_path, "rb") as log:
                log.seek(self._scan_offset)
                data = log.read()
        except OSError:
            return
        self._scan_offset += len(data)
        data = self._scan_partial + data
        lines = data.split(b"\n")
        self._scan_partial = lines.pop()
        for line in lines:
            match = self._pattern.search(line.decode("utf-8", "replace"))
            if match is None:
                continue
            groups = match.groupdict()
            port_text = groups["port"] if "port" in groups else match.group(1)
            try:
                port = int(port_text)
            except (TypeError, ValueError):
                continue
            if not 0 < port < 65536:
                continue
            printed = groups.get("host")
            if printed and not self._host_given:
                self._host = self._printed_host(printed)
            self._port = port
            return

    def _printed_host(self, printed: str) -> str:
        bare = printed.strip("[]")
        if bare in ("0.0.0.0", ""):
            return "127.0.0.1"
        if bare == "::":
            return "::1"
        try:
            return _loopback_host(bare)
        except ValueError:
            raise self._error(
                f"announced {printed!r}, which is not a loopback address", None
            ) from None

    def _abort(self) -> None:
        """Stop after a failed start, without raising over the original error."""
        try:
            self.stop()
        except ServerError:
            pass

    # --- watching ----------------------------------------------------------------------

    def output(self, lines: int = OUTPUT_LINES) -> list[str]:
        """The last ``lines`` lines of the server's output (stdout and stderr)."""
        if self._log_path is None:
            return []
        try:
            with open(self._log_path, "rb") as log:
                size = os.fstat(log.fileno()).st_size
                start = max(size - _OUTPUT_TAIL_BYTES, self._log_start)
                log.seek(start)
                data = log.read()
        except OSError:
            return []
        text = data.decode("utf-8", "replace").splitlines()
        if start > self._log_start and text:
            text = text[1:]  # probably a partial first line
        return text[-lines:] if lines > 0 else []

    def _error(self, what: str, returncode: Optional[int]) -> ServerError:
        output = self.output()
        parts = [f"server {what}"]
        if self._command:
            parts.append(f"  command: {shlex.join(self._command)}")
        if self._log_path is not None:
            parts.append(f"  log: {self._log_path}")
        if output:
            parts.append(f"  last {len(output)} lines of output:")
            parts.extend(f"    {line}" for line in output)
        else:
            parts.append("  (no output)")
        return ServerError("\n".join(parts), output, returncode)

    def check(self, probe: bool = False) -> None:
        """Raise :class:`ServerError` unless the server is still running.

        Cheap enough to call once per load interval (one ``waitpid``).

        Args:
            probe: Also verify that the port still accepts a TCP connection (opens
                and closes one connection).

        Raises:
            ServerError: The process exited (with its status and last output), was
                stopped, was never started, or (with ``probe``) refuses connections.
        """
        if self._process is None:
            raise ServerError("the server was not started")
        returncode = self.returncode
        if self._stopped:
            raise self._error("was stopped", returncode)
        if returncode is not None:
            raise self._error(f"{_describe_status(returncode)} unexpectedly", returncode)
        if probe and not _accepts(self._host, self._port or 0, 1.0):
            raise self._error(f"is running but refuses connections on {self.address}", None)

    def _sampled(self, processes: list[_ProcStat], pid: int) -> list[_ProcStat]:
        return self._session_members(processes, include_zombies=True)

    def _session_members(
        self, processes: Iterable[_ProcStat], include_zombies: bool = False
    ) -> list[_ProcStat]:
        assert self._process is not None
        leader = self._process.pid
        # Once the leader is reaped its pid may be reused by a new session leader.
        leader_reaped = self._process.returncode is not None
        return [
            proc
            for proc in processes
            if proc.session == leader
            and (include_zombies or not proc.zombie)
            and not (leader_reaped and proc.pid == leader)
        ]

    # --- stop ---------------------------------------------------------------------------

    def _gone(self) -> bool:
        assert self._process is not None
        return self._process.poll() is not None and not self._session_members(_all_processes())

    def _signal_all(self, sig: signal.Signals) -> None:
        assert self._process is not None
        try:
            os.killpg(self._process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        for proc in self._session_members(_all_processes()):
            if proc.pgrp != self._process.pid:  # moved to another group of the session
                try:
                    os.kill(proc.pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass

    def _wait_gone(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        delay = 0.002
        while True:
            if self._gone():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.05)

    def stop(self) -> Optional[int]:
        """Stop the server: SIGINT, then SIGTERM, then SIGKILL, to its whole session.

        Each signal is followed by a wait (``sigint_timeout_s`` ...) for every
        process of the session to exit; the next signal is sent only if some
        remain. Idempotent.

        Returns:
            The server's exit status (negative: killed by that signal), or ``None``
            if it was never started.

        Raises:
            ServerError: The process survived SIGKILL (e.g. stuck in the kernel).
        """
        if self._process is None:
            return None
        if self._stopped and self._returncode is not None:
            return self._returncode
        self._stopped = True
        signals = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
        for sig, timeout_s in zip(signals, self.stop_timeouts_s):
            if self._gone():
                break
            self._signal_all(sig)
            if self._wait_gone(timeout_s):
                break
        self._returncode = self._process.poll()
        if self._returncode is None:
            raise self._error(
                f"is still running {sum(self.stop_timeouts_s):.1f} s after SIGINT, SIGTERM "
                f"and SIGKILL",
                None,
            )
        return self._returncode

    def close(self) -> Optional[int]:
        """:meth:`stop`, then delete the temporary log files; returns the exit status."""
        try:
            return self.stop()
        finally:
            if self._process is None or self._process.poll() is not None:
                for path in self._temp_files:
                    try:
                        path.unlink()
                    except FileNotFoundError:
                        pass
                self._temp_files.clear()


def _running_on_pypy() -> bool:
    return sys.implementation.name == "pypy"
