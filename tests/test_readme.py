"""Every Python snippet in README.md runs, against the Rust echo testee."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from support import REPO, Server

README = (REPO / "README.md").read_text(encoding="utf-8")
SNIPPETS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def test_readme_has_python_snippets() -> None:
    assert len(SNIPPETS) >= 2


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_snippet_runs(
    index: int, rust_echo: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The snippets build on each other (the second uses the first's plan); run all up
    # to this one, aimed at the testee and kept short.
    code = "\n".join(SNIPPETS[: index + 1])
    code = code.replace("127.0.0.1:9000", rust_echo.address)
    code = re.sub(r"duration_s=\d+", "duration_s=0.5", code)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "readme"}
    exec(compile(code, f"README.md snippet {index}", "exec"), namespace)
    result = namespace["result"]
    assert result.requests > 0  # type: ignore[attr-defined]
    assert result.errors.total == 0  # type: ignore[attr-defined]
    assert (tmp_path / "latency.hdr").read_bytes()[:4] == b"\x1c\x84\x93\x14"
