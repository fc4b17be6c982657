"""Layers point one way: no import cycle among the project's modules (imports inside functions included), the
agents core imports nothing of its run layer, the worlds import no torch and the metrics no gymnasium."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("flatland_env", "vae", "agents", "experiments", "acting")


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module an import statement anywhere in the file names (``from a import b``: a and a.b)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}
    return {m: {i for i in _imports(p) if i in files and i != m} for m, p in files.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_agents_core_imports_nothing_of_its_run_layer():
    graph = _graph()
    core = [m for m in graph if m.split(".")[0] == "agents" and not m.startswith("agents.training")]
    assert {m: sorted(i for i in graph[m] if i.startswith("agents.training")) for m in core} == {m: [] for m in core}


def test_the_worlds_import_no_torch_and_the_metrics_no_gymnasium():
    for pkg, banned in (("flatland_env", "torch"), ("vae/metrics", "gymnasium")):
        for path in (REPO / pkg).rglob("*.py"):
            assert not {i for i in _imports(path) if i.split(".")[0] == banned}, f"{path} imports {banned}"


def test_no_function_is_longer_than_80_lines():
    long = []
    for path in [p for pkg in (*PACKAGES, "scripts") for p in (REPO / pkg).rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80:
                long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}")
    assert long == []
