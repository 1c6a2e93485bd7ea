"""The ``build`` and ``teardown`` activities: run a project folder's own build (or
teardown) with the tool it already uses, found from the files in it."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from chant.activities.process import CommandResult, require_tool, run_command
from chant.activities.registry import ActivityContext
from chant.errors import ActivityError, CommandFailedError, ErrorType, ToolNotFoundError

STDERR_LINES_IN_ERROR = 5
TEARDOWN_CHAIN_ENV = "CHANT_TEARDOWN_FOLDERS"
"""Folders whose ``chant run teardown`` is under way (``os.pathsep``-separated), passed
down to nested chant runs so that a teardown Op calling ``teardown()`` on its own project
fails at once instead of starting itself again and again."""

MAKE_INSTALL = (
    "install make (e.g. apt-get install make, or xcode-select --install on macOS), or pass command="
)
NPM_INSTALL = "install Node.js, which comes with npm (https://nodejs.org), or pass command="


@dataclass(frozen=True)
class _Rule:
    """Marker files that select a command, and how that command is shown in messages."""

    markers: tuple[str, ...]
    argv: tuple[str, ...]
    shown: str
    tool: str | None = None
    install: str = ""
    chant: bool = False
    """A nested chant: exit code 1 means its Op failed, summed up on its last stdout line."""


def _rules(action: str) -> list[_Rule]:
    chant = (sys.executable, "-m", "chant")
    makefiles = ("Makefile", "makefile", "GNUmakefile")
    if action == "build":
        return [
            _Rule(("chant.toml",), (*chant, "build"), "chant build", chant=True),
            _Rule(makefiles, ("make",), "make", "make", MAKE_INSTALL),
            _Rule(("package.json",), ("npm", "run", "build"), "npm run build", "npm", NPM_INSTALL),
            _Rule(("pyproject.toml",), (sys.executable, "-m", "build"), "python -m build"),
        ]
    return [
        _Rule(("chant.toml",), (*chant, "run", "teardown"), "chant run teardown", chant=True),
        _Rule(makefiles, ("make", "teardown"), "make teardown", "make", MAKE_INSTALL),
        _Rule(
            ("package.json",), ("npm", "run", "teardown"), "npm run teardown", "npm", NPM_INSTALL
        ),
    ]


async def build(
    ctx: ActivityContext,
    path: str = ".",
    command: Sequence[str] | str | None = None,
) -> dict[str, object]:
    """Build the project in folder ``path``.

    Args: ``path`` the folder, relative to the project root; ``command`` what builds
    it: a list runs as an argument vector (no shell), a string with ``/bin/sh -c``.
    Without ``command`` the first of these found in ``path`` decides: ``chant.toml`` →
    ``chant build`` (this Python's chant), ``Makefile`` → ``make``, ``package.json`` →
    ``npm run build``, ``pyproject.toml`` → ``python -m build`` (this Python; needs the
    ``build`` package). The command runs in
    ``path``, in its own process group, its lines streamed as step output.

    Returns ``{path, command, exit_code, stdout, stderr}``: ``path`` as given, ``command``
    the argument vector run, each stream's tail.

    Default profile: ``fast_idempotent``.

    Errors: ``CommandFailedError`` on a non-zero exit (the command, the code, the last
    stderr lines). Not retried: ``NothingToBuildError`` (no known file in ``path``),
    ``FolderNotFoundError``, ``ToolNotFoundError`` (make or npm not on PATH, the ``build``
    package missing, or ``command``'s program not found).
    """
    return await _run(ctx, "build", path, command)


async def teardown(
    ctx: ActivityContext,
    path: str = ".",
    command: Sequence[str] | str | None = None,
) -> dict[str, object]:
    """Tear down what the project in folder ``path`` set up: the inverse of ``build``.

    Args: ``path`` the folder, relative to the project root; ``command`` what tears
    it down: a list runs as an argument vector (no shell), a string with
    ``/bin/sh -c``. Without ``command`` the first of these found in ``path`` decides:
    ``chant.toml`` → ``chant run teardown`` (its Op named teardown), ``Makefile`` →
    ``make teardown``, ``package.json`` → ``npm run teardown``.
    The command runs in ``path``, in its own process group, its lines streamed.

    Returns ``{path, command, exit_code, stdout, stderr}`` as ``build`` does.

    Default profile: ``long_infra``.

    Errors: ``CommandFailedError`` on a non-zero exit. Not retried:
    ``NothingToTearDownError``, ``FolderNotFoundError``, ``ToolNotFoundError``, and
    ``TeardownLoopError`` (the teardown Op of a chant project calling ``teardown()`` on
    that same project, which would start itself forever).
    """
    return await _run(ctx, "teardown", path, command)


async def _run(
    ctx: ActivityContext, action: str, path: str, command: Sequence[str] | str | None
) -> dict[str, object]:
    folder = _folder(action, path, ctx)
    env: dict[str, str] | None = None
    nested_chant = False
    if command is not None:
        argv, shown = _explicit(command)
    else:
        rule, marker = _detect(action, folder)
        argv, shown, nested_chant = list(rule.argv), rule.shown, rule.chant
        if rule.tool is not None:
            require_tool(rule.tool, rule.install)
        if rule.argv == (sys.executable, "-m", "build"):
            _require_build_package(folder)
        if rule.chant and action == "teardown":
            env = _teardown_chain(folder)
        ctx.log(f"{marker} in {folder} → {shown}")
    try:
        result = await run_command(ctx, argv, env=env, cwd=folder)
    except (FileNotFoundError, PermissionError) as exc:
        # Only reachable for a command= whose program is a path (names are checked first).
        raise ToolNotFoundError(
            f"cannot run {argv[0]} in {folder}: {exc.strerror or exc}; fix command="
        ) from None
    if result.exit_code != 0:
        raise CommandFailedError(
            _failure(shown, folder, result, nested_chant), exit_code=result.exit_code
        )
    return {
        "path": path,
        "command": argv,
        "exit_code": result.exit_code,
        "stdout": result.stdout,
        "stderr": result.stderr,
    }


def _folder(action: str, path: str, ctx: ActivityContext) -> str:
    """``path`` as an absolute folder: relative to the project root (the current
    directory for a context without a project)."""
    base = str(ctx.project.root) if ctx.project is not None else ""
    folder = os.path.abspath(os.path.join(base, path))
    verb = "build" if action == "build" else "tear down"
    if not os.path.exists(folder):
        raise ActivityError(
            f"cannot {verb} {path}: the folder {folder} does not exist",
            type=ErrorType.FOLDER_NOT_FOUND,
            non_retryable=True,
        )
    if not os.path.isdir(folder):
        raise ActivityError(
            f"cannot {verb} {path}: {folder} is a file, not a folder",
            type=ErrorType.FOLDER_NOT_FOUND,
            non_retryable=True,
        )
    return folder


def _explicit(command: Sequence[str] | str) -> tuple[list[str], str]:
    if isinstance(command, str):
        if not command.strip():
            raise ActivityError(
                "command= is empty", type=ErrorType.INVALID_ARGUMENT, non_retryable=True
            )
        return ["/bin/sh", "-c", command], command
    import shlex

    argv = [str(part) for part in command]
    if not argv or not argv[0]:
        raise ActivityError(
            "command= is an empty list", type=ErrorType.INVALID_ARGUMENT, non_retryable=True
        )
    if "/" not in argv[0]:
        require_tool(argv[0], "install it, or fix command=")
    return argv, shlex.join(argv)


def _detect(action: str, folder: str) -> tuple[_Rule, str]:
    rules = _rules(action)
    for rule in rules:
        for marker in rule.markers:
            if os.path.isfile(os.path.join(folder, marker)):
                return rule, marker
    names = [rule.markers[0] for rule in rules]
    looked_for = ", ".join(names[:-1]) + " or " + names[-1]
    if action == "build":
        message = f"nothing to build in {folder}: it has no {looked_for}"
        kind, how = ErrorType.NOTHING_TO_BUILD, "build it"
    else:
        message = f"nothing to tear down in {folder}: it has no {looked_for}"
        kind, how = ErrorType.NOTHING_TO_TEAR_DOWN, "tear it down"
    raise ActivityError(
        f"{message}; pass command= to say how to {how}", type=kind, non_retryable=True
    )


def _require_build_package(folder: str) -> None:
    """Fail unless this Python can run ``python -m build``.

    Looked up without the current folder on the path, so that a ``build/`` output folder
    (which ``python -m build`` would otherwise take for a namespace package) is ignored.
    """
    from importlib.machinery import PathFinder

    here = {"", os.getcwd(), folder}
    search = [p for p in sys.path if p not in here and os.path.abspath(p) not in here]
    spec = PathFinder.find_spec("build", search)
    if spec is None or spec.origin is None:
        raise ToolNotFoundError(
            f"{folder} has a pyproject.toml, which chant builds with python -m build, but the "
            f'"build" package is not installed for {sys.executable}; pip install build '
            "(in that environment), or pass command="
        )


def _teardown_chain(folder: str) -> dict[str, str]:
    chain = [p for p in os.environ.get(TEARDOWN_CHAIN_ENV, "").split(os.pathsep) if p]
    real = os.path.realpath(folder)
    if real in chain:
        raise ActivityError(
            f"teardown of {folder} is already running chant run teardown there: the teardown "
            "Op calls teardown() on its own project, which would start itself again forever; "
            "pass command= to say how to tear it down",
            type=ErrorType.TEARDOWN_LOOP,
            non_retryable=True,
        )
    return {TEARDOWN_CHAIN_ENV: os.pathsep.join([*chain, real])}


def _failure(shown: str, folder: str, result: CommandResult, nested_chant: bool) -> str:
    if nested_chant and result.exit_code == 1 and result.stdout:
        # Its Op failed: chant's last stdout line names the failed step and its error
        # (stderr holds at most a notice such as "running ... locally").
        last = result.stdout.splitlines()[-1:]
    else:
        # Some commands report failures on stdout only; then its last lines will do.
        last = (result.stderr or result.stdout).splitlines()[-STDERR_LINES_IN_ERROR:]
    detail = ": " + " | ".join(line.strip() for line in last) if last else ""
    return f"{shown} (in {folder}) exited with {result.exit_code}{detail}"
