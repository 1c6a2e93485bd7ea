"""``chant init [DIR]``: start a project with a hello Op."""

from __future__ import annotations

import argparse
from pathlib import Path

from chant.errors import UsageError

CHANT_TOML = """\
# chant project settings — see docs/cli.md for every key.
[project]
ops = ["ops"]            # folders holding *.op.py files

# Named activity profiles (per-attempt timeout and retry policy) steps can use by name.
# [profiles.quick]
# timeout = "30s"
# retry = { max_attempts = 2, initial_interval = "1s" }

# Uncomment to run Ops on Temporal by default (pip install 'chant[temporal]').
# Without this table, `chant run` runs Ops locally, in-process.
# [temporal]
# default_profile = "dev"
# [temporal.profiles.dev]
# address = "127.0.0.1:7233"
# namespace = "default"
# task_queue = "chant"
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


def init_project(folder: Path) -> list[Path]:
    """Write the starter files into ``folder``; refuse if any of them exists already."""
    existing = [name for name in FILES if (folder / name).exists()]
    if existing:
        where = "" if folder == Path(".") else f" in {folder}"
        verb = "exists" if len(existing) == 1 else "exist"
        raise UsageError(
            f"{', '.join(existing)} already {verb}{where}; "
            "chant init writes nothing over existing files",
            hint="run chant init in an empty folder, or chant init NEW_DIR",
        )
    written = []
    for name, text in FILES.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def execute(args: argparse.Namespace) -> int:
    """Create chant.toml, ops/hello.op.py and .gitignore in DIRECTORY (default: here)."""
    directory = Path(args.directory)
    for path in init_project(directory):
        print(f"created {path}")
    go = "" if directory == Path(".") else f"cd {directory} && "
    print(f"next: {go}chant build && chant run hello")
    return 0
