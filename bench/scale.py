"""How chant's time, CPU and peak RSS grow with the size of an Op, against the floor.

    .venv/bin/python bench/scale.py           # 3 rounds, about 4 minutes on 2 cores
    .venv/bin/python bench/scale.py --quick   # 1 round

Sequential Ops of 10, 100, 1,000 and 10,000 ``true`` steps, and one parallel phase of
100, 500, 1,000 and 2,000 ``sleep 1`` steps, each run as ``chant run NAME --local`` and
as the floor (``bench/floor.py``, the same commands through asyncio). chant is the wheel
of the working tree installed in ``bench/.venv-peers`` (see bench/peers.py), and the
floor runs on that venv's interpreter. Each run goes through a fresh probe process whose
only child is the measured command (``run_all.probe_rss``): wall time, CPU time (user +
system of it and its children) and its peak RSS. chant and the floor alternate; medians
of wall and CPU, the largest peak RSS. Then a least-squares line through each curve
says how it grows."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from peers import loadavg, prepare_venv
from run_all import FLOOR, Series, alternate, child_env, make_case, markdown_table, probe_rss
from run_all import source_state as source

SEQUENTIAL = (10, 100, 1_000, 10_000)
PARALLEL = (100, 500, 1_000, 2_000)
Curve = list[tuple[int, Series]]
"""(steps, samples) by growing size."""


def curve(
    tmp: Path, bin_: Path, sizes: Sequence[int], parallel: bool, rounds: int
) -> tuple[Curve, Curve]:
    """chant's and the floor's samples at each size."""
    env = child_env(None)
    chant: Curve = []
    floor: Curve = []
    for n in sizes:
        name = f"{'par' if parallel else 'seq'}{n}"
        cmd = "sleep 1" if parallel else "true"
        case = make_case(tmp, name, name, [(parallel, [cmd] * n)], copy=None)
        c, f = Series(f"chant {name}"), Series(f"floor {name}")
        c_argv = [str(bin_ / "chant"), "run", name, "--local"]
        f_argv = [str(bin_ / "python"), str(FLOOR), str(case.spec)]
        print(f"  {name} …", file=sys.stderr, flush=True)
        alternate(
            rounds,
            [
                (c, lambda a=c_argv, r=case.root: probe_rss(a, r, env)),
                (f, lambda a=f_argv: probe_rss(a, tmp, env)),
            ],
            warmup=False,
        )
        chant.append((n, c))
        floor.append((n, f))
    return chant, floor


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f} MiB"


def secs(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 10 else f"{s:.2f} s"


def table(chant: Curve, floor: Curve, what: str) -> str:
    rows = [[what, "chant wall", "floor wall", "chant ÷ floor"]]
    rows[0] += ["chant CPU", "floor CPU", "chant peak RSS", "floor peak RSS"]
    for (n, c), (_n, f) in zip(chant, floor, strict=True):
        ratio = statistics.median(x / y for x, y in zip(c.walls, f.walls, strict=True))
        walls = [f"{n:,}", secs(c.median), secs(f.median), f"{ratio:.2f}x"]
        rows.append([*walls, secs(c.cpu), secs(f.cpu), mib(max(c.rss)), mib(max(f.rss))])
    return markdown_table(rows)


def shape(xs: Sequence[int], ys: Sequence[float]) -> str:
    """How ``ys`` grows with ``xs``, from the slopes between successive sizes: the last
    one against the one before it (the first, small sizes are the noisiest)."""
    slopes = [(ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]) for i in range(len(xs) - 1)]
    before, last = slopes[-2], slopes[-1]
    if before <= 0 or last <= 0:
        return "no steady growth"
    if last > 1.3 * before:
        return f"faster than linear, last segment's slope ×{last / before:.1f}"
    if last < before / 1.3:
        return f"slower than linear, last segment's slope ×{last / before:.2f}"
    return "linear"


def growth(label: str, points: Curve, per: str) -> str:
    """One line: the fitted per-step slope of wall and CPU time, and of peak RSS."""
    xs = [n for n, _s in points]
    walls = [s.median for _n, s in points]
    cpus = [s.cpu for _n, s in points]
    rss = [float(max(s.rss)) for _n, s in points]
    wall_fit = statistics.linear_regression(xs, walls)
    cpu_fit = statistics.linear_regression(xs, cpus)
    text = (
        f"{label}: wall ≈ {secs(wall_fit.intercept)} + {wall_fit.slope * 1000:.3f} ms {per} "
        f"({shape(xs, walls)}), CPU {cpu_fit.slope * 1000:.3f} ms {per} ({shape(xs, cpus)}); "
    )
    if max(rss) - min(rss) < 2048:
        return text + f"peak RSS flat ({mib(min(rss))} → {mib(max(rss))})"
    rss_fit = statistics.linear_regression(xs, rss)
    r2 = statistics.correlation(xs, rss) ** 2
    return text + (
        f"peak RSS {mib(rss[0])} → {mib(rss[-1])}, {rss_fit.slope:.2f} KiB {per} "
        f"(R² {r2:.3f}; {shape(xs, rss)})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs of each size (3)")
    parser.add_argument("--quick", action="store_true", help="one run of each size")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else args.rounds
    with tempfile.TemporaryDirectory(prefix="chant-scale-") as tmp_name:
        tmp = Path(tmp_name)
        bin_ = prepare_venv(tmp, peers=False)
        print(
            f"chant scale · {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC · "
            f"{platform.python_implementation()} {platform.python_version()} · "
            f"{os.cpu_count()} cores\nsource: {source()}\nload average at start: {loadavg()}\n",
            flush=True,
        )
        seq = curve(tmp, bin_, SEQUENTIAL, False, rounds)
        par = curve(tmp, bin_, PARALLEL, True, rounds)
    print(table(*seq, "sequential `true` steps") + "\n")
    print(table(*par, "parallel `sleep 1` steps") + "\n")
    print(growth("sequential, chant", seq[0], "per step"))
    print(growth("sequential, floor", seq[1], "per step"))
    print(growth("parallel, chant", par[0], "per parallel step"))
    print(growth("parallel, floor", par[1], "per parallel step"))
    print(f"\n{rounds} round(s) of each size; load average at end: {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
