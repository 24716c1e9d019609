"""Every Python snippet in README.md runs, against the Rust testees (echo, HTTP, WebSocket)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import REPO, Server, rust_testee_argv, start_server, stop_process

README = (REPO / "README.md").read_text(encoding="utf-8")
SNIPPETS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


@pytest.fixture(scope="module")
def rust_web() -> Iterator[dict[str, Server]]:
    """The Rust testee in HTTP and in WebSocket mode, for the snippets' URLs."""
    servers = {
        mode: start_server(f"rust {mode}", [rust_testee_argv()[0], mode]) for mode in ("http", "ws")
    }
    yield servers
    for server in servers.values():
        stop_process(server.process)


def test_readme_has_python_snippets() -> None:
    assert len(SNIPPETS) >= 4
    assert any("http://127.0.0.1:8080" in s for s in SNIPPETS)
    assert any("ws://127.0.0.1:8081" in s for s in SNIPPETS)


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_snippet_runs(
    index: int,
    rust_echo: Server,
    rust_web: dict[str, Server],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The snippets build on each other (the second uses the first's plan); run all up
    # to this one, aimed at the testees and kept short.
    code = "\n".join(SNIPPETS[: index + 1])
    code = code.replace("127.0.0.1:9000", rust_echo.address)
    code = code.replace("http://127.0.0.1:8080", f"http://{rust_web['http'].address}")
    code = code.replace("ws://127.0.0.1:8081", f"ws://{rust_web['ws'].address}")
    code = re.sub(r"duration_s=\d+", "duration_s=0.5", code)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "readme"}
    exec(compile(code, f"README.md snippet {index}", "exec"), namespace)
    result = namespace["result"]
    assert result.requests > 0  # type: ignore[attr-defined]
    assert result.errors.total == 0  # type: ignore[attr-defined]
    assert (tmp_path / "latency.hdr").read_bytes()[:4] == b"\x1c\x84\x93\x14"
