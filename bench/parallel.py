"""Wide parallel phases: one phase of N parallel `sleep 1` steps against the floor.

    .venv/bin/python bench/parallel.py --steps 500,2000 --rounds 5 [--base REV ...] [--no-tree]

For each N, the floor (``bench/floor.py``: N ``/bin/sh -c 'sleep 1'`` started at once
through ``asyncio.create_subprocess_exec``) and ``chant run sleepN --local`` run as cold
processes, alternating round by round. chant is ``python -m chant`` with the working
tree's ``src/`` first on ``PYTHONPATH`` (unless ``--no-tree``), for each ``--base REV``
that revision's ``src/`` from ``git archive``, and each ``--src DIR``. Each sample is
spawn to reaped exit: wall time, CPU (user + system of the process and the children it
reaped) and peak RSS, from ``wait4``. Children get ``run_all.child_env``'s environment
(bytecode cached under a private prefix). Prints medians and ratios to the floor, and
the load average before and after.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

from run_all import (
    PYTHON,
    REPO,
    Case,
    Series,
    alternate,
    child_env,
    make_case,
    markdown_table,
    run_child,
    source_state,
)


def extract(rev: str, into: Path) -> Path:
    """``src/`` of git revision ``rev`` under ``into``; return that ``src``."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "src/chant"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def sources(args: argparse.Namespace, tmp: Path) -> dict[str, Path]:
    """The chant ``src/`` trees to measure, by label: the working tree (unless
    ``--no-tree``), each ``--base`` revision (extracted under ``tmp``), each ``--src``."""
    srcs = {} if args.no_tree else {"chant (working tree)": REPO / "src"}
    for i, rev in enumerate(args.base):
        srcs[f"chant at {rev}"] = extract(rev, tmp / f"base{i}")
    for src in args.src:
        srcs[f"chant from {src}"] = src.resolve()
    return srcs


def chant_job(case: Case, src: Path, pycache: Path) -> tuple[list[str], dict[str, str]]:
    argv = [PYTHON, "-m", "chant", "run", case.name, "--local"]
    return argv, child_env(pycache, path=src)


def row(series: Series, floor: Series) -> list[str]:
    rss = statistics.median(series.rss) / 1024
    return [
        series.label,
        f"{series.median:.2f} s",
        f"{series.median / floor.median:.3f}x",
        f"{series.cpu:.2f} s",
        f"{series.cpu / floor.cpu:.2f}x",
        f"{rss:.1f} MiB",
        " ".join(f"{w:.2f}" for w in series.walls),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="500,2000", help="comma-separated phase widths")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--base",
        action="append",
        default=[],
        help="also measure chant's src/ at this git revision (repeatable)",
    )
    parser.add_argument(
        "--src", action="append", default=[], type=Path, help="also measure this src/ folder"
    )
    parser.add_argument(
        "--no-tree", action="store_true", help="do not measure the working tree's src/"
    )
    args = parser.parse_args(argv)
    print(f"source: {source_state()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="chant-parallel-") as tmp_name:
        tmp = Path(tmp_name)
        srcs = sources(args, tmp)
        cells = [["case", "wall", "vs floor", "CPU", "vs floor", "peak RSS", "walls"]]
        for n in (int(x) for x in args.steps.split(",")):
            case = make_case(tmp, f"sleep{n}", f"sleep{n}", [(True, ["sleep 1"] * n)], copy=None)
            fenv = child_env(tmp / "pyc-floor")
            floor = Series(f"floor, {n} x sleep 1")
            jobs = [(floor, lambda c=case, e=fenv: run_child(c.floor(), tmp, e))]
            for i, (label, src) in enumerate(srcs.items()):
                cargv, cenv = chant_job(case, src, tmp / f"pyc-{i}")
                jobs.append(
                    (
                        Series(f"{label}, {n} x sleep 1"),
                        lambda a=cargv, e=cenv, c=case: run_child(a, c.root, e),
                    )
                )
            alternate(args.rounds, jobs, warmup=True)
            cells += [row(s, floor) for s, _job in jobs]
            print(f"{n} steps done", file=sys.stderr, flush=True)
    print(markdown_table(cells))
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
