"""Layers run one way (lm_envs <- agents <- benchmarks); benchmarks has no import cycle and
no private name crosses one of its module boundaries."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bench_helpers import ROOT


def _modules(package: str) -> dict[str, Path]:
    modules = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def _imports(name: str, path: Path) -> list[tuple[str, str | None]]:
    """(module, imported name or None) of every import in the file, lazy ones included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found += [(module, alias.name) for alias in node.names]
    return found


@pytest.mark.parametrize(("package", "forbidden"), [("lm_envs", ("agents", "benchmarks")), ("agents", ("benchmarks",))])
def test_layers_run_one_way(package, forbidden):
    bad = [(name, module) for name, path in _modules(package).items() for module, _ in _imports(name, path)
           if module.split(".")[0] in forbidden]
    assert bad == []


def test_benchmarks_has_no_cycle_and_no_private_import():
    modules = _modules("benchmarks")
    graph: dict[str, set[str]] = {}
    private = []
    for name, path in modules.items():
        for module, imported in _imports(name, path):
            target = f"{module}.{imported}" if f"{module}.{imported}" in modules else module
            if target in modules and target != name:
                graph.setdefault(name, set()).add(target)
            if imported and imported.startswith("_") and not imported.startswith("__") and module in modules:
                private.append((name, module, imported))
    assert private == []

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and (seen.add(nxt) or reaches(nxt, goal, seen))):
                return True
        return False

    assert [name for name in modules if reaches(name, name, set())] == []
