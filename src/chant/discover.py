"""Find and import ``*.op.py`` files and collect every module-level ``Op``.

Import failures become ``Problem``s naming the file and line, so one pass reports
every broken file together.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from chant.config import Config
from chant.errors import ChantError, Problem
from chant.ir import Op

# Virtualenvs are recognised by their pyvenv.cfg, whatever their folder is called.
SKIP_DIRS = frozenset({"dist", "build", "node_modules", "__pycache__", "site-packages"})


@dataclass(frozen=True)
class Discovered:
    """The Ops found (with the file each came from) and the files that failed to load."""

    ops: tuple[tuple[Op, str], ...]
    problems: tuple[Problem, ...]


def shown_path(path: Path | str) -> str:
    """``path`` relative to the current directory when it lies beneath it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def find_op_files(config: Config) -> list[Path]:
    """Every ``*.op.py`` under the configured folders, skipping hidden folders,
    virtualenvs, ``dist``, ``build`` and ``node_modules``; sorted for stable order."""
    found: set[Path] = set()
    for folder in config.ops:
        base = (config.root / folder).resolve()
        if base.is_file() and base.name.endswith(".op.py"):
            found.add(base)
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [
                d
                for d in dirnames
                if not d.startswith(".")
                and d not in SKIP_DIRS
                and not os.path.exists(os.path.join(dirpath, d, "pyvenv.cfg"))
            ]
            found.update(Path(dirpath, f) for f in filenames if f.endswith(".op.py"))
    return sorted(found)


def load_op_file(path: Path) -> tuple[list[Op], Problem | None]:
    """Import ``path`` and return its module-level Ops, or the problem that stopped it."""
    module_name = "chant_ops." + path.stem.replace(".", "_") + f"_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # an *.op.py may raise anything: report it
        return [], _import_problem(exc, path, "every *.op.py", "to find its Ops")
    ops = [v for v in vars(module).values() if isinstance(v, Op)]
    return ops, None


def load_activity_module(name: str) -> Problem | None:
    """Import project module ``name`` (listed in ``[project] activities``) so that its
    ``@activity`` functions register; report why it could not be imported."""
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            return Problem(
                f'activity module "{name}" listed in [project] activities was not found',
                "chant.toml",
                hint=f"create {name.replace('.', '/')}.py in the project root, or fix the name",
            )
        return _import_problem(exc, None, "this module", "to find its activities")
    except (Exception, SystemExit) as exc:
        return _import_problem(exc, None, "this module", "to find its activities")
    return None


def _import_problem(exc: BaseException, path: Path | None, what: str, why: str) -> Problem:
    """Where and why importing ``path`` (or a module) failed; the line is the last one of
    ``path`` on the traceback, or of the failing module when ``path`` is None."""
    if isinstance(exc, SyntaxError):
        file = shown_path(exc.filename) if exc.filename else None
        where = f"{file}:{exc.lineno}" if file and exc.lineno else file
        return Problem(
            f"SyntaxError: {exc.msg}", where, hint=f"fix the syntax; chant imports {what}"
        )
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if (Path(f.filename) == path if path is not None else "importlib" not in f.filename)
    ]
    where = f"{shown_path(frames[-1].filename)}:{frames[-1].lineno}" if frames else None
    detail = exc.message if isinstance(exc, ChantError) else str(exc)
    return Problem(
        f"{type(exc).__name__} while importing: {detail}",
        where or (shown_path(path) if path is not None else None),
        hint=f"fix the error above; chant imports {what} {why}",
    )


def discover(config: Config) -> Discovered:
    """Import every op file of the project and collect its Ops and problems."""
    root = str(config.root)
    if root not in sys.path:
        # Let op files import the project's own helper modules.
        sys.path.insert(0, root)
    ops: list[tuple[Op, str]] = []
    problems: list[Problem] = [
        Problem(
            f'folder "{folder}" listed in [project] ops does not exist',
            shown_path(config.file) if config.file else None,
            hint=f"create {folder}/ or remove it from the list",
        )
        for folder in config.ops
        if not (config.root / folder).exists()
    ]
    for module in config.activities:
        problem = load_activity_module(module)
        if problem:
            problems.append(problem)
    for path in find_op_files(config):
        found, problem = load_op_file(path)
        if problem:
            problems.append(problem)
        ops.extend((op, shown_path(path)) for op in found)
    return Discovered(tuple(ops), tuple(problems))
