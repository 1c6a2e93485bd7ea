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


def init_project(folder: Path) -> list[tuple[str, Path]]:
    """Write the starter files into ``folder`` and say what was done to each; refuse if
    chant.toml or ops/hello.op.py exists already."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(
            f"{folder} is a file, not a folder", hint="pass a folder (it is created if missing)"
        )
    # An existing .gitignore is extended, never a reason to refuse.
    existing = [name for name in FILES if name != ".gitignore" and (folder / name).exists()]
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
        if name == ".gitignore" and path.exists():
            have = path.read_text(encoding="utf-8")
            missing = [ln for ln in text.splitlines() if ln and ln not in have.splitlines()]
            if not [ln for ln in missing if not ln.startswith("#")]:
                continue
            text = ("" if have.endswith("\n") or not have else "\n") + "\n".join(missing) + "\n"
            with path.open("a", encoding="utf-8") as f:
                f.write(text)
            written.append(("updated", path))
        else:
            path.write_text(text, encoding="utf-8")
            written.append(("created", path))
    return written


def execute(args: argparse.Namespace) -> int:
    """Create chant.toml, ops/hello.op.py and .gitignore in DIRECTORY (default: here)."""
    directory = Path(args.directory)
    for verb, path in init_project(directory):
        print(f"{verb} {path}")
    go = "" if directory == Path(".") else f"cd {directory} && "
    print(f"next: {go}chant build && chant run hello")
    return 0
