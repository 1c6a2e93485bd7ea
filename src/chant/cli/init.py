"""``chant init [DIR]``: start a project with a hello Op."""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

from chant.errors import ExitCode, ProjectFileError, UsageError
from chant.files import writing

CHANT_TOML = """\
# chant project settings — see docs/cli.md for every key.
[project]
ops = ["ops"]            # folders holding *.op.py files

# Named activity profiles (per-attempt timeout and retry policy) steps can use by name.
# [profiles.quick]
# timeout = "30s"
# retry = { max_attempts = 2, initial_interval = "1s" }

# Uncomment to run Ops on Temporal by default (pip install 'chant-ops[temporal]').
# Without this table, `chant run` runs Ops locally, in-process.
# [temporal]
# default_profile = "dev"
# [temporal.profiles.dev]
# address = "127.0.0.1:7233"
# namespace = "default"
# auto_start = true
"""

HELLO_OP = '''\
"""Your first Op: chant discovers every module-level Op in *.op.py files."""

from chant import Op, Outcome, phase, shell

hello = Op(
    name="hello",
    overview="Say hello, then look around the machine",
    phases=[
        phase("Greet", [
            shell("echo 'hello from chant'", outcome=Outcome("Greeting", "stdout")),
        ]),
        phase("Look around", [
            shell("uname -s"),
            shell("date -u +%Y-%m-%dT%H:%M:%SZ"),
        ], parallel=True),
    ],
)
'''

GITIGNORE = """\
# chant build output and local state
dist/
.chant/
"""

FILES = {"chant.toml": CHANT_TOML, "ops/hello.op.py": HELLO_OP, ".gitignore": GITIGNORE}


def init_project(folder: Path) -> list[tuple[str, Path]]:
    """Write the starter files into ``folder`` and say what was done to each.

    Everything is checked before anything is written, and a write that fails undoes
    the others, so a refusal leaves the folder as it was. Refused (exit 2, naming the
    path): chant.toml or ops/hello.op.py existing already (as anything, a symlink
    included); ``ops`` that is not a folder; a ``.gitignore`` that is not a regular
    UTF-8 file; an ``ops`` or ``.gitignore`` symlink leading out of ``folder``. Files
    are created with ``O_EXCL | O_NOFOLLOW``, so chant init never writes through a
    symlink it did not check."""
    if os.path.lexists(folder) and not folder.is_dir():
        raise UsageError(
            f"{folder} is a file, not a folder", hint="pass a folder (it is created if missing)"
        )
    existing = [name for name in FILES if name != ".gitignore" and os.path.lexists(folder / name)]
    if existing:
        where = "" if folder == Path(".") else f" in {folder}"
        verb = "exists" if len(existing) == 1 else "exist"
        raise UsageError(
            f"{', '.join(existing)} already {verb}{where}; "
            "chant init writes nothing over existing files",
            hint="run chant init in an empty folder, or chant init NEW_DIR",
        )
    made: list[Path] = []  # what to undo, newest last
    try:
        _make_folder(folder, made)
        real = folder.resolve()
        ops = _inside(folder / "ops", real, "a folder")
        gitignore = _inside(folder / ".gitignore", real, "a file")
        if ops.exists() and not ops.is_dir():
            raise ProjectFileError(
                f"{folder / 'ops'} is a file, but chant init puts the hello Op in the folder "
                f"{folder / 'ops'}/",
                hint="rename or remove that file, or run chant init in another folder",
            )
        addition = _gitignore_addition(folder / ".gitignore", gitignore)
        written: list[tuple[str, Path]] = []
        with writing("create", folder / "ops", root=folder):
            _make_folder(ops, made)
        for name, text in FILES.items():
            shown = folder / name
            if name == ".gitignore" and addition is not None:
                if addition:
                    with writing("add to", shown, root=folder):
                        _append(gitignore, addition)
                    written.append(("updated", shown))
                continue
            target = real / name if name != "ops/hello.op.py" else ops / "hello.op.py"
            with writing("create", shown, root=folder):
                _create(target, text, made)
            written.append(("created", shown))
        return written
    except BaseException:
        for path in reversed(made):
            with contextlib.suppress(OSError):
                path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
        raise


def _make_folder(folder: Path, made: list[Path]) -> None:
    """Create ``folder`` and its missing parents, noting each one in ``made``."""
    missing = [p for p in (folder, *folder.parents) if not os.path.lexists(p)]
    with writing("create the folder", folder):
        for p in reversed(missing):
            p.mkdir()
            made.append(p)


def _inside(path: Path, real_root: Path, kind: str) -> Path:
    """``path`` with symlinks resolved; refused when it is a symlink that leads out of
    the project folder (or nowhere)."""
    if not path.is_symlink():
        return path
    target = path.resolve()
    if target != real_root and real_root not in target.parents:
        raise ProjectFileError(
            f"{path} is a symlink to {target}, outside the project {real_root}; "
            "chant init writes only inside the project",
            hint=f"replace the symlink with {kind} of its own, or run chant init elsewhere",
        )
    if not os.path.lexists(target):
        raise ProjectFileError(
            f"{path} is a symlink to {target}, which does not exist",
            hint=f"remove the symlink or make it point at {kind}, then run chant init again",
        )
    return target


def _gitignore_addition(shown: Path, path: Path) -> str | None:
    """What to append to an existing ``.gitignore`` ("" if nothing); None if there is
    none. Refuses one that is not a regular UTF-8 file."""
    if not os.path.lexists(path):
        return None
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file"
        raise ProjectFileError(
            f"{shown} is {kind}; chant init adds dist/ and .chant/ to a .gitignore file there",
            hint=f"rename or remove {shown}, then run chant init again",
        )
    with writing("read", shown):
        data = path.read_bytes()
    try:
        have = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProjectFileError(
            f"{shown} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "chant init adds dist/ and .chant/ to it",
            hint=f"save {shown} as UTF-8 (or add dist/ and .chant/ yourself and move it "
            "aside), then run chant init again",
        ) from None
    missing = [ln for ln in GITIGNORE.splitlines() if ln and ln not in have.splitlines()]
    if not [ln for ln in missing if not ln.startswith("#")]:
        return ""
    return ("" if have.endswith("\n") or not have else "\n") + "\n".join(missing) + "\n"


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _create(path: Path, text: str, made: list[Path]) -> None:
    """Create ``path`` with ``text``; never follow or replace anything already there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666)
    made.append(path)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _append(path: Path, text: str) -> None:
    """Add ``text`` at the end of ``path``. A file with other names (a hard link, perhaps
    to a file outside the project) is replaced by a copy with the addition instead, so
    that chant init never changes what the other names show."""
    info = os.lstat(path)
    if info.st_nlink > 1:
        from chant.files import atomic_write

        atomic_write(path, path.read_bytes() + text.encode("utf-8"), mode=info.st_mode & 0o7777)
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | _NOFOLLOW)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def execute(args: argparse.Namespace) -> int:
    """Create chant.toml, ops/hello.op.py and .gitignore in DIRECTORY (default: here)."""
    directory = Path(args.directory)
    for verb, path in init_project(directory):
        print(f"{verb} {path}")
    go = "" if directory == Path(".") else f"cd {directory} && "
    print(f"next: {go}chant build && chant run hello")
    return ExitCode.OK
