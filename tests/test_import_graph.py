"""No import cycles: the packages of kdpose form a layered graph (docs/design.md, "Layout and dependency direction"),
counting the imports made inside functions too (a lazy import is still a dependency), and every module imports on its
own, first, in an interpreter where no other kdpose module is loaded yet."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "kdpose"
# Known exceptions (lower package, higher package): none. (Static int8's synthetic calibration crops and the accuracy
# guard's val sets both come from kdpose.valset, below export and inference.)
ALLOWED: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _type_checking_only(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(name: str) -> set[str]:
    """Every kdpose module ``name`` imports, at module level or inside functions (not under ``TYPE_CHECKING``)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        for target in targets:
            while target not in MODULES and "." in target:
                target = target.rpartition(".")[0]
            if target in MODULES and target != name and target.startswith("kdpose"):
                found.add(target)
    return found


def unit(name: str) -> str:
    """The layer a module belongs to: ``kdpose.<package or top-level module>``."""
    return ".".join(name.split(".")[:2])


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name in MODULES:
        for target in imports_of(name):
            if unit(name) != unit(target):
                graph.setdefault(unit(name), set()).add(unit(target))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
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


def test_the_packages_form_no_cycle():
    graph = package_graph()
    for low, high in ALLOWED:  # a known exception: drop the upward edge, then nothing may remain
        graph.get(low, set()).discard(high)
    assert cycles(graph) == [], "import cycle between kdpose packages (lazy imports count)"


def test_the_checker_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "kdpose.tasks.base" in imports_of("kdpose.tasks.run") and "kdpose.layouts" not in imports_of(
        "kdpose.evaluation.pck_pr")  # a TYPE_CHECKING import is no dependency


@pytest.mark.slow
def test_every_module_imports_first_in_a_fresh_interpreter():
    """Each module first, with no other kdpose module loaded (third-party packages stay loaded, for speed): a
    module-level cycle fails here with a partially initialised module."""
    script = "\n".join([
        "import importlib, sys, traceback",
        "failed = []",
        f"for name in {sorted(m for m in MODULES if not m.endswith('__main__'))!r}:",  # __main__ runs the CLI
        "    for loaded in [m for m in sys.modules if m == 'kdpose' or m.startswith('kdpose.')]:",
        "        del sys.modules[loaded]",
        "    try:",
        "        importlib.import_module(name)",
        "    except ModuleNotFoundError as exc:",
        "        if not (exc.name or '').startswith('kdpose'):",
        "            continue  # an optional package (onnx, matplotlib) this environment lacks",
        "        failed.append(f'{name}: {exc!r}')",
        "    except Exception as exc:",
        "        failed.append(f'{name}: {exc!r}')",
        "print('\\n'.join(failed))",
    ])
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=280,
                            cwd=SRC.parents[1])
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "", result.stdout
