"""The package layout: layers run one way (``lm_envs`` <- ``agents`` <- ``benchmarks``), no
module imports itself through a cycle, no private name crosses a module boundary, and every
module imports on its own."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lm_envs", "agents", "benchmarks")


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


MODULES = _modules()


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


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, str, str]]]:
    """Module -> the project modules it imports, and every private name imported across modules."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    private = []
    for name, path in MODULES.items():
        for module, imported in _imports(name, path):
            target = f"{module}.{imported}" if f"{module}.{imported}" in MODULES else module
            if target in MODULES and target != name:
                graph[name].add(target)
            if imported and imported.startswith("_") and not imported.startswith("__") and module in MODULES:
                private.append((name, module, imported))
    return graph, private


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, 1972)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize(("package", "forbidden"), [("lm_envs", ("agents", "benchmarks")), ("agents", ("benchmarks",))])
def test_layers_run_one_way(package, forbidden):
    bad = [(name, module) for name, path in MODULES.items() if name.split(".")[0] == package
           for module, _ in _imports(name, path) if module.split(".")[0] in forbidden]
    assert bad == []


def test_no_import_cycle():
    graph, _ = _graph()
    assert _cycles(graph) == []


def test_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_name_crosses_a_module():
    _, private = _graph()
    assert private == []


# Modules that are an optional extra's whole purpose import it at the top and, without it,
# raise an ImportError naming the install command; every other module keeps extras lazy.
EXTRA_MODULES = {"lm_envs.integrations.openenv": ("openenv", "lm-envs[serve]")}


@pytest.mark.slow
def test_every_module_imports():
    """Each module imports in a fresh interpreter (optional extras such as ray stay lazy)."""
    names = sorted(n for n in MODULES if not n.endswith("__main__")
                   and (n not in EXTRA_MODULES or importlib.util.find_spec(EXTRA_MODULES[n][0]) is not None))
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    result = subprocess.run([sys.executable, "-c", code, *names], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("module", sorted(EXTRA_MODULES))
def test_a_module_of_a_missing_extra_names_the_install_command(module):
    dependency, extra = EXTRA_MODULES[module]
    code = f"import sys\nsys.modules[{dependency!r}] = None\nimport {module}\n"  # as if it were not installed
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert f"pip install '{extra}'" in result.stderr
