"""The shape of the package: import cycles, the kernel boundary, function length.

Read from the source with ``ast`` (nothing is imported), so a regression is caught the moment a
module imports upwards, the core imports IPython, or a function grows past 60 lines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "eliza_nb"
KERNEL_ONLY = ("IPython", "ipywidgets", "ipykernel", "traitlets")


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(path: Path) -> Iterator[str]:
    """Every module an import statement names, wherever it stands (TYPE_CHECKING, functions)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _resolve(name: str) -> str | None:
    while name not in MODULES:
        if "." not in name:
            return None
        name = name.rsplit(".", 1)[0]
    return name


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets = {_resolve(t) for t in _imports(path) if t.startswith("eliza_nb")}
        # A package's __init__ re-exports its modules; importing from it is not a cycle edge.
        graph[name] = {t for t in targets if t and t != name and t != "eliza_nb"}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected sets of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_joins_more_than_three_modules() -> None:
    big = [group for group in _cycles(_graph()) if len(group) > 3]
    assert big == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    "name", sorted(n for n in MODULES if not n.startswith(("eliza_nb.kernel", "eliza_nb.testing")))
)
def test_the_core_never_imports_the_kernel(name: str) -> None:
    imported = set(_imports(MODULES[name]))
    if name == "eliza_nb":  # load_ipython_extension imports the kernel when IPython calls it
        imported = {m for m in imported if not m.startswith("eliza_nb.kernel.magics")}
    assert not {m for m in imported if m.startswith("eliza_nb.kernel")}
    assert not {m for m in imported if m.split(".")[0] in KERNEL_ONLY}


def _functions() -> Iterator[tuple[str, int]]:
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}"
                yield where, node.end_lineno - node.lineno + 1


def test_no_function_is_longer_than_60_lines() -> None:
    assert [(where, n) for where, n in _functions() if n > 60] == []
