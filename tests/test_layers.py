"""The import rules of `src/learningtool`: no two packages import each other, directly or
through others, and the context (assembled at the top) is imported by nothing below it.

A "package" is a first-level name under `learningtool` (a folder or a module). Imports count
where they run: at module level or inside a function. Imports under `if TYPE_CHECKING:` are
for annotations only and add no dependency at import time; they are exempt.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "src" / "learningtool"
TOP = {"main", "cli", "__main__", "api", "context", "health", "graphs"}  # assemble the app


def imports(root: Path) -> dict[str, dict[str, set[str]]]:
    """package -> imported package -> the files that import it."""
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in root.rglob("*.py"):
        relative = path.relative_to(root)
        if "migrations" in relative.parts:
            continue
        package = relative.parts[0].removesuffix(".py")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for module in _runtime_imports(tree):
            parts = module.split(".")
            if parts[0] == root.name and len(parts) > 1 and parts[1] != package:
                found[package][parts[1]].add(str(relative))
    return found


def _runtime_imports(tree: ast.Module) -> list[str]:
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for statement in node.body
        for inner in ast.walk(statement)
    }
    modules: list[str] = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.append(node.module)
        elif isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
    return modules


def cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """Strongly connected groups of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_no_package_cycles() -> None:
    graph = imports(ROOT)
    loops = cycles(graph)
    detail = {
        f"{a} -> {b}": sorted(files)
        for group in loops
        for a in group
        for b, files in graph[a].items()
        if b in group
    }
    assert loops == [], detail


def test_the_context_is_imported_only_from_the_top() -> None:
    graph = imports(ROOT)
    below = {package: sorted(files["context"]) for package, files in graph.items()}
    assert {p: f for p, f in below.items() if f and p not in TOP} == {}


def test_the_rule_sees_a_cycle_and_ignores_type_only_imports(tmp_path: Path) -> None:
    """The check itself can fail: a two-package loop is found, through a function-level
    import too, and an annotation-only import is not one."""
    root = tmp_path / "learningtool"
    (root / "alpha").mkdir(parents=True)
    (root / "beta").mkdir()
    (root / "alpha" / "a.py").write_text("from learningtool.beta import b\n")
    (root / "beta" / "b.py").write_text("def f():\n    from learningtool.alpha import a\n")
    (root / "gamma.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from learningtool import alpha\n"
    )
    (root / "alpha" / "c.py").write_text("import learningtool.gamma\n")
    assert cycles(imports(root)) == [["alpha", "beta"]]
