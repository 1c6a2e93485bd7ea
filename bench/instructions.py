"""Instructions chant executes, counted by valgrind, for the working tree against a base
revision in the same run.

Wall and CPU time on a shared 2-core machine move by 10-20 % with other load; the number
of instructions a process executes does not (callgrind counts them, whatever else runs).
This script counts the instructions of the ``chant`` process itself (its children, the
steps' commands, are not traced) for a few cases, for chant's ``src/`` as of ``--base``
(a ``git archive``) and for the working tree, both on this venv's interpreter with
bytecode cached, and prints each count, the base's and the ratio.

    .venv/bin/python bench/instructions.py --base 456dd1b

Needs ``valgrind`` (Debian package ``valgrind``). About 15 s per count."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SEQ = 100
"""Steps of the sequential case; per step = (that − the one-step case) / (SEQ − 1)."""

OPS = f"""
from chant import Op, phase, shell

one = Op(name="one", phases=[phase("p", [shell("true")])])
seq = Op(name="seq", phases=[phase("p", [shell("true") for _ in range({SEQ})])])
par = Op(name="par", phases=[phase("p", [shell("true") for _ in range(100)], parallel=True)])
"""

CASES = {
    "run hello (quickstart)": ("quickstart", "hello"),
    "1 step": ("steps", "one"),
    f"{SEQ} sequential steps": ("steps", "seq"),
    "100 parallel steps": ("steps", "par"),
}

RUN = (
    "import sys; from chant.cli.main import entrypoint; "
    "sys.argv = ['chant', *sys.argv[1:]]; entrypoint()"
)


def count(src: Path, cwd: Path, op: str, cache: Path) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONPATH=str(src), PYTHONPYCACHEPREFIX=str(cache))
    argv = [sys.executable, "-c", RUN, "run", op, "--local"]
    warm = subprocess.run(argv, cwd=cwd, env=env, capture_output=True)
    if warm.returncode != 0:
        raise SystemExit(f"{op} failed in {cwd}:\n{warm.stderr.decode()}")
    ran = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
    )
    found = re.search(rb"Collected : (\d+)", ran.stderr)
    if ran.returncode != 0 or not found:
        raise SystemExit(f"valgrind failed for {op}:\n{ran.stderr.decode()[-2000:]}")
    return int(found.group(1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="git revision to compare against")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="chant-instr-") as tmp_name:
        tmp = Path(tmp_name)
        base_src = tmp / "base"
        base_src.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", args.base, "src/chant"],
            check=True,
            capture_output=True,
        ).stdout
        (tmp / "base.tar").write_bytes(archive)
        with tarfile.open(tmp / "base.tar") as tar:
            tar.extractall(base_src, filter="data")
        shutil.copytree(REPO / "examples" / "quickstart", tmp / "quickstart")
        (tmp / "steps").mkdir()
        (tmp / "steps" / "steps.op.py").write_text(OPS)
        sources = {"base": base_src / "src", "tree": REPO / "src"}
        counts: dict[tuple[str, str], int] = {}
        for label, (folder, op) in CASES.items():
            for name, src in sources.items():
                counts[label, name] = count(src, tmp / folder, op, tmp / f"pyc-{name}")
                print(f"  {name:4} {label}: {counts[label, name] / 1e6:.1f} M", file=sys.stderr)
    rev = subprocess.run(
        ["git", "-C", str(REPO), "log", "-1", "--format=%h", args.base],
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(f"instructions of the chant process (millions), base {rev} vs the working tree")
    print(f"| case | base {rev} | working tree | ratio |")
    print("|---|---|---|---|")
    for label in CASES:
        b, t = counts[label, "base"], counts[label, "tree"]
        print(f"| {label} | {b / 1e6:.1f} M | {t / 1e6:.1f} M | {t / b:.3f} |")
    per = {
        name: (counts[f"{SEQ} sequential steps", name] - counts["1 step", name]) / (SEQ - 1)
        for name in sources
    }
    ratio = per["tree"] / per["base"]
    print(
        f"| per sequential step | {per['base'] / 1e6:.3f} M | {per['tree'] / 1e6:.3f} M "
        f"| {ratio:.3f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
