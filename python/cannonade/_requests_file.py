"""Request mixes from files: JSON Lines written by hand, and HAR files exported by
browsers' developer tools and proxies (``cannonade http --requests-file FILE``).

JSON Lines: one entry per line, the fields of :class:`cannonade.Entry`, e.g.
``{"label": "home", "weight": 3, "method": "GET", "path": "/home", "headers":
[["Accept", "*/*"]], "body": "..."}``; every field but ``path`` (HTTP) is optional.
Blank lines and lines starting with ``#`` are skipped.

HAR (HTTP Archive 1.2, a JSON object with ``log.entries``): each recorded request
becomes an entry; requests that are the same (method, path and query, headers, body)
become one entry whose weight is how many times it was recorded. Every request's
scheme, host and port must be the target's, and the target must be loopback: a HAR
file of someone else's site is not a plan to load it. Headers the engine writes itself
or that belong to one hop (``Host``, ``Content-Length``, ``Connection``, HTTP/2's
``:authority`` and the like) are left out.

Every error names the file, the line (JSON Lines) or entry (HAR), and the field.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from typing import Any, Union
from urllib.parse import urlsplit

from ._errors import PlanError
from ._plan import Entry, Http, Tcp, Ws

__all__ = ["load_requests_file"]

_PROTOCOLS = {"http": Http, "ws": Ws, "tcp": Tcp}
# Headers a HAR records that the engine writes itself, or that belong to one hop.
_DROPPED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "proxy-connection",
        "te",
        "trailer",
    }
)
_ENTRY_PATH = re.compile(r"^requests\[0\]\.?")


def _check_alone(entry: Entry, kind: str, where: str) -> None:
    """Have the engine check one entry alone, so that its error names its line."""
    try:
        _PROTOCOLS[kind](requests=[entry])
    except PlanError as error:
        message = _ENTRY_PATH.sub("", str(error))
        raise PlanError(f"{where}: {message}") from None


def _read_text(path: Union[str, os.PathLike[str]]) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise PlanError(f"--requests-file {os.fspath(path)}: {error.strerror or error}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PlanError(
            f"--requests-file {os.fspath(path)}: not UTF-8 (byte {error.start})"
        ) from None


def _json_lines(text: str, name: str, kind: str) -> list[Entry]:
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{name} line {number}"
        try:
            data = json.loads(line)
        except ValueError as error:
            raise PlanError(f"{where}: not JSON ({error})") from None
        try:
            entry = Entry.from_dict(data)
        except PlanError as error:
            raise PlanError(f"{where}: {error}") from None
        _check_alone(entry, kind, where)
        entries.append(entry)
    if not entries:
        raise PlanError(f"{name}: no entries (one JSON object per line)")
    return entries


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _authority(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme, 0)
    return scheme, (parts.hostname or "").lower(), port


def _har(data: dict[str, Any], name: str, target: str) -> list[Entry]:
    log = data.get("log")
    records = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(records, list):
        raise PlanError(f"{name}: a HAR file has log.entries, a list of recorded requests")
    scheme, host, port = _authority(target)
    if not _is_loopback(host):
        raise PlanError(
            f"{name}: requests from a HAR file only go to a loopback target (127.0.0.1, "
            f"::1, localhost), not {host!r}"
        )
    counted: dict[tuple[Any, ...], int] = {}
    for i, record in enumerate(records):
        where = f"{name} entry {i} (log.entries[{i}])"
        request = record.get("request") if isinstance(record, dict) else None
        if not isinstance(request, dict):
            raise PlanError(f"{where}: no request object")
        url, method = request.get("url"), request.get("method", "GET")
        if not isinstance(url, str) or not isinstance(method, str):
            raise PlanError(f"{where}: request.url and request.method must be strings")
        got = _authority(url)
        if got != (scheme, host, port):
            raise PlanError(
                f"{where}: request.url {url!r} is not on the target {target!r}; a HAR file "
                f"loads only requests to the target's scheme, host and port"
            )
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = []
        for header in request.get("headers") or ():
            if not isinstance(header, dict):
                raise PlanError(f"{where}: request.headers must be objects with name and value")
            hname, value = header.get("name"), header.get("value")
            if not isinstance(hname, str) or not isinstance(value, str):
                raise PlanError(f"{where}: request.headers need a string name and value")
            if hname.startswith(":") or hname.lower() in _DROPPED_HEADERS:
                continue
            headers.append((hname, value))
        post = request.get("postData")
        body = b""
        if isinstance(post, dict) and isinstance(post.get("text"), str):
            body = post["text"].encode("utf-8")
        key = (method.upper(), path, tuple(headers), body)
        if key not in counted:
            entry = Entry(path=path, method=key[0], headers=tuple(headers), body=body)
            _check_alone(entry, "http", where)
        counted[key] = counted.get(key, 0) + 1
    if not counted:
        raise PlanError(f"{name}: log.entries is empty; record some requests first")
    entries = []
    labels: dict[str, int] = {}
    for (method, path, headers, body), count in counted.items():
        label = path if method == "GET" else f"{method} {path}"
        # The same path recorded with other headers or bodies: numbered apart.
        labels[label] = labels.get(label, 0) + 1
        if labels[label] > 1:
            label = f"{label} #{labels[label]}"
        entries.append(
            Entry(label=label, weight=count, path=path, method=method, headers=headers, body=body)
        )
    return entries


def load_requests_file(
    path: Union[str, os.PathLike[str]], kind: str, target: str
) -> tuple[Entry, ...]:
    """The entries of a JSON Lines or HAR file, for a ``kind`` protocol aimed at
    ``target``; raises PlanError naming the file, the line or entry, and the field."""
    name = os.fspath(path)
    text = _read_text(path)
    stripped = text.lstrip()
    is_har = name.lower().endswith(".har")
    if stripped.startswith("{") and not is_har:
        # One JSON object over several lines is a HAR file, not JSON Lines.
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        is_har = isinstance(data, dict) and "log" in data
    if not is_har:
        return tuple(_json_lines(text, name, kind))
    if kind != "http":
        raise PlanError(f"{name}: a HAR file holds HTTP requests; use it with `cannonade http`")
    try:
        data = json.loads(text)
    except ValueError as error:
        raise PlanError(f"{name}: a HAR file must be JSON ({error})") from None
    if not isinstance(data, dict):
        raise PlanError(f"{name}: a HAR file is a JSON object with log.entries")
    return tuple(_har(data, name, target))
