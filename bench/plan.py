"""``chant plan`` against ``chant list`` on the examples: the issue asks that a plan cost
about what listing the project costs (both load every op file and resolve every Op; a
plan then builds one document).

Cold processes of the real console script, alternating command by command round by
round so that machine noise hits all alike; prints the median wall and CPU time of each
and its ratio to ``chant list`` in the same project, measured in the same rounds.

    .venv/bin/python bench/plan.py --rounds 21

Stdlib only; about 30 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHANT = str(Path(sys.executable).with_name("chant"))

WIDE = """
from chant import Op, Param, param, phase, shell

wide = Op(
    name="wide",
    params={"env": Param(str, default="staging")},
    phases=[
        phase(f"p{i}", [shell(f"echo {i}-{j} {param('env')}") for j in range(10)],
              **({"parallel": True, "max_concurrency": 3} if i % 2 == 0 else {}))
        for i in range(10)
    ],
)
"""

CASES = {
    "quickstart": [
        ["list"],
        ["plan", "hello"],
        ["plan", "rollout"],
        ["plan", "rollout", "--json"],
        ["plan", "rollout", "--mermaid"],
    ],
    "passing-data": [
        ["list"],
        ["plan", "release", "version=1"],
        ["run", "release", "version=1", "--dry-run"],
    ],
    "wide (100 steps)": [["list"], ["plan", "wide"], ["plan", "wide", "--json"]],
}


def _sample(argv: list[str], cwd: Path) -> tuple[float, float]:
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run([CHANT, *argv], cwd=cwd, capture_output=True)
    wall = time.perf_counter() - start
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"chant {' '.join(argv)} failed:\n{done.stderr.decode()}")
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as tmp:
        roots = {
            "quickstart": Path(shutil.copytree(REPO / "examples/quickstart", f"{tmp}/q")),
            "passing-data": Path(shutil.copytree(REPO / "examples/passing-data", f"{tmp}/p")),
        }
        wide = Path(tmp, "w")
        (wide / "ops").mkdir(parents=True)
        (wide / "chant.toml").write_text('[project]\nops = ["ops"]\n')
        (wide / "ops/wide.op.py").write_text(WIDE)
        roots["wide (100 steps)"] = wide
        print(f"chant plan vs chant list: median of {rounds} cold runs each (wall / CPU, ms)")
        for case, commands in CASES.items():
            samples: dict[int, list[tuple[float, float]]] = {i: [] for i in range(len(commands))}
            for argv in commands:  # warm the bytecode cache
                _sample(argv, roots[case])
            for _ in range(rounds):
                for i, argv in enumerate(commands):
                    samples[i].append(_sample(argv, roots[case]))
            base_wall = statistics.median(w for w, _ in samples[0])
            base_cpu = statistics.median(c for _, c in samples[0])
            print(f"\n{case}")
            for i, argv in enumerate(commands):
                wall = statistics.median(w for w, _ in samples[i])
                cpu = statistics.median(c for _, c in samples[i])
                print(
                    f"  chant {' '.join(argv):<36} {wall * 1000:7.1f} / {cpu * 1000:6.1f}"
                    f"   {wall / base_wall:5.2f}x / {cpu / base_cpu:5.2f}x"
                )


if __name__ == "__main__":
    main()
