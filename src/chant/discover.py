"""Find and import ``*.op.py`` files and collect every module-level ``Op``.

Import failures become ``Problem``s naming the file and line, so one pass reports
every broken file together.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from chant.config import CONFIG_NAME, Config
from chant.errors import Problem
from chant.imports import IMPORT_TIMEOUT_ENV as IMPORT_TIMEOUT_ENV
from chant.imports import ImportEscape as ImportEscape
from chant.imports import guarded_import, import_problem, project_imports
from chant.imports import import_timeout as import_timeout
from chant.imports import shown_path as shown_path
from chant.ir import Op
from chant.names import relative

if TYPE_CHECKING:
    from chant.activities.registry import ActivityDef

# Virtualenvs are recognised by their pyvenv.cfg, whatever their folder is called.
SKIP_DIRS = frozenset({"dist", "build", "node_modules", "__pycache__", "site-packages", "venv"})
LOOSE_OPS = "ops"
"""Without a chant.toml, chant looks at ``./*.op.py`` and below ``./ops/`` only."""
SHOWN_FILES = 8
"""How many of the files considered an error names before it says "and N more"."""


class Discovered(NamedTuple):
    """The Ops found (with the file each came from) and the files that failed to load."""

    ops: tuple[tuple[Op, str], ...]
    problems: tuple[Problem, ...]
    searched: Search | None = None
    """Where chant looked, for the error that says no Op was found."""
    failed: tuple[tuple[str, Problem], ...] = ()
    """Each op file (shown path) that could not be imported, with why: its Ops are
    unknown."""
    activities: tuple[ActivityDef, ...] = ()
    """The activities the project's files declared with ``@activity`` while they were
    imported, in order."""


class Search(NamedTuple):
    """Where chant looked for op files, what it found and what it left alone (and why)."""

    root: Path
    patterns: tuple[str, ...]
    """What was searched, relative to the root: ``*.op.py``, ``ops/**/*.op.py``."""
    files: tuple[Path, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    """(path, why) for each nested project and each op file whose real path is outside."""
    problems: tuple[Problem, ...] = ()
    """``[project] ops`` entries that lead outside the project or into another one."""
    has_config: bool = True

    def describe(self) -> list[str]:
        """Lines saying where chant looked and what it found, for an error message."""
        where = " and ".join(self.patterns)
        config = (
            f" (as [project] ops of {CONFIG_NAME} says)"
            if self.has_config
            else f" (no {CONFIG_NAME} there or above)"
        )
        lines = [f"looked for {where} in {self.root}{config}"]
        shown = [shown_path(f) for f in self.files]
        if not shown:
            lines.append("found no such file")
        else:
            more = len(shown) - SHOWN_FILES
            lines.append(
                "considered "
                + ", ".join(shown[:SHOWN_FILES])
                + (f" and {more} more" if more > 0 else "")
            )
        lines += [f"skipped {path}: {why}" for path, why in self.skipped[:SHOWN_FILES]]
        return lines


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def search(config: Config) -> Search:
    """Find the op files of the project, bounded so that chant never runs code that is
    not the project's.

    With a ``chant.toml``: each ``[project] ops`` entry (a folder, searched
    recursively, or one ``*.op.py``). Without one: ``./*.op.py`` and ``./ops/**/*.op.py``
    of the root only. Either way chant never descends into hidden folders,
    ``SKIP_DIRS``, virtualenvs, or a folder with its own ``chant.toml`` (another
    project), and never takes a file whose real path is outside the root (a symlink out).
    Files are sorted for a stable order."""
    finder = _Finder(config.root.resolve())
    if config.file is None:
        return finder.loose()
    shown_config = ops_line(config)
    for folder in config.ops:
        base = config.root / folder
        if base.exists():  # else discover() reports it
            finder.listed(folder, base, shown_config)
    patterns = tuple(
        "**/*.op.py"
        if f in (".", "./")
        else f
        if f.endswith(".op.py")
        else f"{f.rstrip('/')}/**/*.op.py"
        for f in config.ops
    )
    return finder.result(patterns)


class _Finder:
    """The op files found under ``root`` so far, what was skipped and why, and the
    problems of ``[project] ops`` entries."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.found: set[Path] = set()
        self.skipped: list[tuple[str, str]] = []
        self.problems: list[Problem] = []

    def result(self, patterns: tuple[str, ...], has_config: bool = True) -> Search:
        return Search(
            self.root,
            patterns,
            tuple(sorted(self.found)),
            tuple(sorted(self.skipped)),
            tuple(self.problems),
            has_config=has_config,
        )

    def take(self, path: Path) -> None:
        real = path.resolve()
        if not real.is_file():  # a dangling link, a FIFO: nothing to import
            return
        if _inside(real, self.root):
            self.found.add(path)
        else:
            self.skipped.append((relative(path), f"a link to {real}, outside the project"))

    def walk(self, base: Path) -> None:
        for dirpath, dirnames, filenames in os.walk(base):
            kept = []
            for d in sorted(dirnames):
                sub = os.path.join(dirpath, d)
                if d.startswith(".") or d in SKIP_DIRS or os.path.exists(f"{sub}/pyvenv.cfg"):
                    continue
                if os.path.lexists(os.path.join(sub, CONFIG_NAME)):
                    self.skipped.append(
                        (shown_path(sub) + "/", f"another project (it has a {CONFIG_NAME})")
                    )
                    continue
                kept.append(d)
            dirnames[:] = kept
            for f in filenames:
                if f.endswith(".op.py"):
                    self.take(Path(dirpath, f))

    def loose(self) -> Search:
        """Without a chant.toml: ``./*.op.py`` and ``./ops/**/*.op.py``."""
        root = self.root
        for f in sorted(os.listdir(root)) if root.is_dir() else ():
            if f.endswith(".op.py") and (root / f).is_file():
                self.take(root / f)
        ops = root / LOOSE_OPS
        if ops.is_dir():
            real = ops.resolve()
            if not _inside(real, root):
                self.skipped.append((f"{LOOSE_OPS}/", f"a link to {real}, outside the project"))
            elif os.path.lexists(ops / CONFIG_NAME):
                self.skipped.append((f"{LOOSE_OPS}/", f"another project (it has a {CONFIG_NAME})"))
            else:
                self.walk(real)
        return self.result(("*.op.py", f"{LOOSE_OPS}/**/*.op.py"), has_config=False)

    def listed(self, folder: str, base: Path, where: str | None) -> None:
        """Search one ``[project] ops`` entry (it exists), or note why it cannot be."""
        real = base.resolve()
        if not _inside(real, self.root):
            why = f'"{folder}" listed in [project] ops is outside the project ({real})'
            hint = (
                "chant only imports files inside the project root; move it in, or make it a "
                "project of its own"
            )
        elif real.is_file():
            if real.name.endswith(".op.py"):
                self.found.add(base.parent.resolve() / base.name)
                return
            why = f'"{folder}" listed in [project] ops is a file but not an *.op.py'
            hint = (
                "list a folder (searched for *.op.py below it) or one *.op.py file; chant "
                "imports nothing else from [project] ops"
            )
        elif not real.is_dir():
            why = f'"{folder}" listed in [project] ops is neither a folder nor a file'
            hint = "list a folder or one *.op.py file"
        elif real != self.root and os.path.lexists(real / CONFIG_NAME):
            why = (
                f'folder "{folder}" listed in [project] ops is another project (it has a '
                f"{CONFIG_NAME})"
            )
            hint = f"run chant in {folder}/ for its Ops, or remove it from the list"
        else:
            self.walk(real)
            return
        self.problems.append(Problem(why, where, hint=hint))


def ops_line(config: Config) -> str | None:
    """``chant.toml:LINE`` of ``[project] ops`` (the file alone when that line is not
    found), for a problem with one of its entries."""
    if config.file is None:
        return None
    shown = shown_path(config.file)
    try:
        lines = config.file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return shown
    table = ""
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if text.startswith("["):
            table = text.strip("[] \t").split("]")[0].strip()
        elif table == "project" and text.split("=", 1)[0].strip() in ("ops", '"ops"'):
            return f"{shown}:{number}"
    return shown


def _missing(folder: str, where: str | None) -> Problem:
    """The problem of a ``[project] ops`` entry that names nothing."""
    if any(c in folder for c in "*?["):
        return Problem(
            f'"{folder}" listed in [project] ops is a pattern, and chant does not expand patterns',
            where,
            hint="list the folder instead (every *.op.py below it is found), e.g. "
            f'"{folder.split("*")[0].split("?")[0].split("[")[0].rstrip("/") or "."}"',
        )
    if folder.endswith(".op.py"):
        return Problem(
            f'file "{folder}" listed in [project] ops does not exist',
            where,
            hint=f"create {folder} or remove it from the list",
        )
    return Problem(
        f'folder "{folder}" listed in [project] ops does not exist',
        where,
        hint=f"create {folder.rstrip('/')}/ or remove it from the list",
    )


def find_op_files(config: Config) -> list[Path]:
    """Every op file of the project, as ``search`` bounds it; sorted for stable order."""
    return list(search(config).files)


def load_op_file(path: Path, timeout: float | None = None) -> tuple[list[Op], Problem | None]:
    """Import ``path`` and return its module-level Ops, or the problem that stopped it.
    ``timeout`` bounds the import (default: ``import_timeout()``)."""
    seconds = import_timeout() if timeout is None else timeout
    module_name = "chant_ops." + path.stem.replace(".", "_") + f"_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        with guarded_import(shown_path(path), seconds):
            spec.loader.exec_module(module)
    except (Exception, SystemExit, GeneratorExit, ImportEscape) as exc:
        # An *.op.py may raise anything: report it. (A real Ctrl-C passes.)
        sys.modules.pop(module_name, None)
        return [], import_problem(exc, path, "every *.op.py", "to find its Ops")
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        sys.modules.pop(module_name, None)
        return [], import_problem(exc, path, "every *.op.py", "to find its Ops")
    ops = [v for v in vars(module).values() if isinstance(v, Op)]
    return ops, None


def load_activity_module(name: str, timeout: float | None = None) -> Problem | None:
    """Import project module ``name`` (listed in ``[project] activities``) so that its
    ``@activity`` functions register; report why it could not be imported."""
    seconds = import_timeout() if timeout is None else timeout
    try:
        with guarded_import(f"activity module {name}", seconds):
            importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            return Problem(
                f'activity module "{name}" listed in [project] activities was not found',
                "chant.toml",
                hint=f"create {name.replace('.', '/')}.py in the project root, or fix the name",
            )
        return import_problem(exc, None, "this module", "to find its activities")
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        return import_problem(exc, None, "this module", "to find its activities")
    return None


def discover(config: Config) -> Discovered:
    """Import every op file of the project (as ``search`` bounds them) and collect its
    Ops, the activities its files declare (``@activity``) and its problems."""
    from chant.activities.sources import collecting

    with project_imports(config.root), collecting() as declared:
        found = _discover(config)
    return found._replace(activities=tuple(declared))


def _discover(config: Config) -> Discovered:
    ops: list[tuple[Op, str]] = []
    where = ops_line(config)
    problems: list[Problem] = [
        _missing(folder, where)
        for folder in config.ops
        if config.file and not (config.root / folder).exists()
    ]
    seconds = import_timeout()
    for module in config.activities:
        problem = load_activity_module(module, seconds)
        if problem:
            problems.append(problem)
    searched = search(config)
    problems += searched.problems
    failed: list[tuple[str, Problem]] = []
    for path in searched.files:
        found, problem = load_op_file(path, seconds)
        if problem:
            problems.append(problem)
            failed.append((shown_path(path), problem))
        ops.extend((op, shown_path(path)) for op in found)
    return Discovered(tuple(ops), tuple(problems), searched, tuple(failed))
