"""The shape the code keeps (docs/architecture.md): small modules, short functions, and
layers that import only downward. A change that breaks one of these is a design change
to make on purpose, not by drift."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "chant"
MODULES = sorted(SRC.rglob("*.py"))
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def test_there_are_modules_to_check() -> None:
    assert len(MODULES) > 40


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_is_over_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(SRC)} has {lines} lines"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_function_is_over_60_lines(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [
        f"{fn.name} (line {fn.lineno}): {fn.end_lineno - fn.lineno + 1} lines"
        for fn in _functions(tree)
        if fn.end_lineno is not None and fn.end_lineno - fn.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


LAYERS = {
    # A module of a layer may import its own layer and those below it, never above.
    "core": 0,  # ir, errors, events, names, profiles, dsl, builders, planned, plan, walk, …
    "activities": 1,
    "local": 2,
    "temporal": 2,
    "render": 2,
    "project": 3,  # see _PROJECT
    "cli": 4,
}


_PROJECT = frozenset(
    [
        "config",
        "tomlfile",
        "clusters",
        "discover",
        "imports",
        "project",
        "files",
        "testing",
        "fakes",
        "api",
    ]
)


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 2 and parts[1] in ("activities", "local", "temporal", "render", "cli"):
        return parts[1]
    name = parts[1] if len(parts) > 1 else ""
    if name == "__main__":
        return "cli"
    if name in _PROJECT:
        return "project"
    return "core"


def test_the_walk_and_the_plan_import_no_executor_and_no_cli() -> None:
    """The pure core (the walk, the plan, the IR, events) imports nothing of the
    executors, activities or CLI at module level: the Temporal sandbox and the local
    executor share it."""
    wrong = []
    for path in MODULES:
        module = "chant." + ".".join(path.relative_to(SRC).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        if _layer(module) != "core" or module == "chant":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only: a lazy import inside a function is fine
            imported = node.module if isinstance(node, ast.ImportFrom) else None
            if imported and imported.startswith("chant") and LAYERS[_layer(imported)] > 0:
                wrong.append(f"{module} imports {imported}")
    assert wrong == []
