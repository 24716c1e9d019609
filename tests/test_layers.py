"""The package's modules are layered: no module imports, at its top level, one that
imports it back (directly or through others). Imports made inside a function (the
backend chosen at run time, a testee's framework) and those under ``TYPE_CHECKING`` are
not module-level and do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import cannonade

PACKAGE = Path(cannonade.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If):
                test = ast.unparse(node.test)
                if "TYPE_CHECKING" not in test:
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
            elif isinstance(node, ast.ImportFrom) and node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
                for alias in node.names:
                    candidate = f"{target}.{alias.name}"
                    found.add(candidate if _exists(candidate) else target)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("cannonade"))

    visit(tree.body)
    found.discard(here)
    return {name for name in found if _exists(name)}


def _exists(name: str) -> bool:
    relative = Path(*name.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").is_file() or (
        PACKAGE / relative / "__init__.py"
    ).is_file()


def test_no_import_cycles() -> None:
    graph = {
        _module_name(path): _top_level_imports(path)
        for path in PACKAGE.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert len(graph) > 15, graph
    # Depth-first search for a back edge.
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def walk(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for child in sorted(graph.get(node, ())):
            if state.get(child) == "open":
                cycles.append(stack[stack.index(child) :] + [child])
            elif child not in state:
                walk(child, stack + [child])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
