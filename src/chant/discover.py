"""Find and import ``*.op.py`` files and collect every module-level ``Op``.

Import failures become ``Problem``s naming the file and line, so one pass reports
every broken file together.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from chant.config import CONFIG_NAME, Config
from chant.errors import ChantError, Problem
from chant.imports import IMPORT_TIMEOUT_ENV as IMPORT_TIMEOUT_ENV
from chant.imports import ImportEscape as ImportEscape
from chant.imports import guarded_import, project_imports
from chant.imports import import_timeout as import_timeout
from chant.ir import Op

if TYPE_CHECKING:
    from chant.activities.registry import ActivityDef

_CHANT_DIR = str(Path(__file__).parent)

# Virtualenvs are recognised by their pyvenv.cfg, whatever their folder is called.
SKIP_DIRS = frozenset({"dist", "build", "node_modules", "__pycache__", "site-packages", "venv"})
LOOSE_OPS = "ops"
"""Without a chant.toml, chant looks at ``./*.op.py`` and below ``./ops/`` only."""
SHOWN_FILES = 8
"""How many of the files considered an error names before it says "and N more"."""


@dataclass(frozen=True)
class Discovered:
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


@dataclass(frozen=True)
class Search:
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


def shown_path(path: Path | str) -> str:
    """``path`` relative to the current directory when it lies beneath it. A link is
    shown as itself, not as its target: that is the name chant found it by."""
    p = Path(path).absolute()
    p = p.parent.resolve() / p.name if p.name not in ("", ".", "..") else p.resolve()
    try:
        return str(p.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _shown_link(path: Path) -> str:
    """A link's own path (not its target's), relative to the current directory when it
    lies beneath it."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


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
    root = config.root.resolve()
    found: set[Path] = set()
    skipped: list[tuple[str, str]] = []
    problems: list[Problem] = []

    def take(path: Path) -> None:
        real = path.resolve()
        if not real.is_file():  # a dangling link, a FIFO: nothing to import
            return
        if _inside(real, root):
            found.add(path)
        else:
            skipped.append((_shown_link(path), f"a link to {real}, outside the project"))

    def walk(base: Path) -> None:
        for dirpath, dirnames, filenames in os.walk(base):
            kept = []
            for d in sorted(dirnames):
                sub = os.path.join(dirpath, d)
                if d.startswith(".") or d in SKIP_DIRS or os.path.exists(f"{sub}/pyvenv.cfg"):
                    continue
                if os.path.lexists(os.path.join(sub, CONFIG_NAME)):
                    skipped.append(
                        (shown_path(sub) + "/", f"another project (it has a {CONFIG_NAME})")
                    )
                    continue
                kept.append(d)
            dirnames[:] = kept
            for f in filenames:
                if f.endswith(".op.py"):
                    take(Path(dirpath, f))

    if config.file is None:
        for f in sorted(os.listdir(root)) if root.is_dir() else ():
            if f.endswith(".op.py") and (root / f).is_file():
                take(root / f)
        ops = root / LOOSE_OPS
        if ops.is_dir():
            real = ops.resolve()
            if not _inside(real, root):
                skipped.append((f"{LOOSE_OPS}/", f"a link to {real}, outside the project"))
            elif os.path.lexists(ops / CONFIG_NAME):
                skipped.append((f"{LOOSE_OPS}/", f"another project (it has a {CONFIG_NAME})"))
            else:
                walk(real)
        return Search(
            root,
            ("*.op.py", f"{LOOSE_OPS}/**/*.op.py"),
            tuple(sorted(found)),
            tuple(sorted(skipped)),
            has_config=False,
        )
    shown_config = ops_line(config)
    for folder in config.ops:
        base = config.root / folder
        real = base.resolve()
        if not base.exists():
            continue  # discover() reports it
        if not _inside(real, root):
            problems.append(
                Problem(
                    f'"{folder}" listed in [project] ops is outside the project ({real})',
                    shown_config,
                    hint="chant only imports files inside the project root; move it in, or "
                    "make it a project of its own",
                )
            )
        elif real.is_file():
            if real.name.endswith(".op.py"):
                found.add(base.parent.resolve() / base.name)
            else:
                problems.append(
                    Problem(
                        f'"{folder}" listed in [project] ops is a file but not an *.op.py',
                        shown_config,
                        hint="list a folder (searched for *.op.py below it) or one *.op.py "
                        "file; chant imports nothing else from [project] ops",
                    )
                )
        elif not real.is_dir():
            problems.append(
                Problem(
                    f'"{folder}" listed in [project] ops is neither a folder nor a file',
                    shown_config,
                    hint="list a folder or one *.op.py file",
                )
            )
        elif real != root and os.path.lexists(real / CONFIG_NAME):
            problems.append(
                Problem(
                    f'folder "{folder}" listed in [project] ops is another project (it has a '
                    f"{CONFIG_NAME})",
                    shown_config,
                    hint=f"run chant in {folder}/ for its Ops, or remove it from the list",
                )
            )
        else:
            walk(real)
    patterns = tuple(
        "**/*.op.py"
        if f in (".", "./")
        else f
        if f.endswith(".op.py")
        else f"{f.rstrip('/')}/**/*.op.py"
        for f in config.ops
    )
    return Search(root, patterns, tuple(sorted(found)), tuple(sorted(skipped)), tuple(problems))


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
        return [], _import_problem(exc, path, "every *.op.py", "to find its Ops")
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        sys.modules.pop(module_name, None)
        return [], _import_problem(exc, path, "every *.op.py", "to find its Ops")
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
        return _import_problem(exc, None, "this module", "to find its activities")
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
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
        if (
            Path(f.filename) == path
            if path is not None
            else "importlib" not in f.filename and not f.filename.startswith(_CHANT_DIR)
        )
    ]
    where = f"{shown_path(frames[-1].filename)}:{frames[-1].lineno}" if frames else None
    where = where or (shown_path(path) if path is not None else None)
    if isinstance(exc, ImportEscape):
        timeout = "took longer" in str(exc)
        return Problem(
            str(exc),
            where,
            hint=f"make the import finish sooner, or raise {IMPORT_TIMEOUT_ENV} (seconds)"
            if timeout
            else f"chant imports {what} {why}; a file only declares, so do this in a step",
        )
    if isinstance(exc, SystemExit):
        return Problem(
            f"it called sys.exit({_safe_repr(exc.code)}) while being imported",
            where,
            hint=f"chant imports {what} {why}; a file only declares, so remove the exit",
        )
    detail = exc.message if isinstance(exc, ChantError) else _safe_str(exc)
    return Problem(
        f"{type(exc).__name__} while importing: {detail}",
        where,
        hint=f"fix the error above; chant imports {what} {why}",
    )


def _safe_str(exc: BaseException) -> str:
    """``str(exc)``, even for an exception whose ``__str__`` fails; cut to 500 characters."""
    try:
        text = str(exc)
    except Exception:
        text = f"(its message cannot be shown: {type(exc).__name__}.__str__ failed)"
    return text if len(text) <= 500 else text[:500] + "…"


def _safe_repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception:
        text = "?"
    return "" if value is None else text[:80]


def discover(config: Config) -> Discovered:
    """Import every op file of the project (as ``search`` bounds them) and collect its
    Ops, the activities its files declare (``@activity``) and its problems."""
    from chant.activities.sources import collecting

    with project_imports(config.root), collecting() as declared:
        found = _discover(config)
    return replace(found, activities=tuple(declared))


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
