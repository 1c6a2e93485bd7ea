"""`chant run hello` for a base revision and the working tree, against the floor, in one
run: the three commands alternate round by round, so machine noise hits all three.

    .venv/bin/python bench/hello_ab.py --base 296f795 --rounds 25

Each chant is this venv's ``python -m chant`` with that revision's ``src/`` first on
``PYTHONPATH`` (the base from ``git archive``), bytecode cached under a private
``PYTHONPYCACHEPREFIX``, run in a copy of ``examples/quickstart``. The floor is
``python -c 'import asyncio'``. Prints medians and ratios to the floor."""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="git revision to compare against")
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="chant-hello-ab-") as tmp_name:
        tmp = Path(tmp_name)
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", args.base, "src/chant"],
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp / "base", filter="data")
        project = tmp / "quickstart"
        shutil.copytree(REPO / "examples" / "quickstart", project)
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}

        def env(src: Path | None, tag: str) -> dict[str, str]:
            return {
                **clean,
                "PYTHONPYCACHEPREFIX": str(tmp / f"pyc-{tag}"),
                **({"PYTHONPATH": str(src)} if src else {}),
            }

        chant = [sys.executable, "-m", "chant", "run", "hello", "--local"]
        cases = {
            "floor: python -c 'import asyncio'": (
                [sys.executable, "-c", "import asyncio"],
                env(None, "floor"),
            ),
            f"chant at {args.base}": (chant, env(tmp / "base" / "src", "base")),
            "chant, working tree": (chant, env(REPO / "src", "tree")),
        }
        for argv_, env_ in cases.values():  # warm-up, and a check that each one works
            subprocess.run(argv_, cwd=project, env=env_, capture_output=True, check=True)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, (argv_, env_) in cases.items():
                start = time.perf_counter()
                subprocess.run(argv_, cwd=project, env=env_, capture_output=True)
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) * 1000 for name, t in times.items()}
    floor = next(iter(medians.values()))
    load = os.getloadavg()[0]
    print(f"medians of {args.rounds} alternating rounds; load average {load:.2f}")
    print("| command | median | ratio to floor |\n|---|---|---|")
    for name, ms in medians.items():
        print(f"| {name} | {ms:.1f} ms | {ms / floor:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
