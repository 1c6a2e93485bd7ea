"""Output throughput: one step printing many lines, or one long line, against a floor.

Usage: ``.venv/bin/python bench/output.py [--lines 1000000] [--mib 32] [--runs 5]
[--curve] [--src DIR]``. Stdlib only.

chant is the real console script, ``<venv>/bin/chant run NAME --local`` (the human view,
``--json`` and ``--progress-json``), of an Op with one ``shell`` step: ``seq N`` for N
lines, or ``head -c`` of /dev/zero through ``tr`` for one line of M MiB without a newline.
The floor is an asyncio script on the same interpreter that runs the same command through
``asyncio.create_subprocess_exec`` and copies its stdout line by line to its own stdout
(a ``readline`` loop and a write). Both have stdout (and stderr, where ``--json`` puts
the human view) on pipes the bench reads to the end. A second row, the **chunk floor**,
copies the output through in 64 KiB chunks without splitting lines: the pipe's own speed,
shown for scale (its ratio is to the line floor). Runs of chant and of the floors
alternate; the table has medians of wall and CPU time (user + system, children
included, from ``wait4``) and the ratios to the floor.

``--curve`` adds the scale curve: 10^4…10^7 lines and 1…200 MiB, each run once through a
probe process whose only child is the measured command (as ``run_all.py`` row 4 does),
with wall time, CPU time and peak RSS. ``--src DIR`` puts DIR (e.g. ``src/`` of a
``git archive`` of another revision) first on chant's ``PYTHONPATH``, to compare
revisions in the same session.
"""

from __future__ import annotations

import argparse
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_all import CHANT, PYTHON, ChildFailed, child_env, probe_rss

FLOOR = """\
import asyncio, sys

async def main(cmd):
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", cmd, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, limit=1 << 30,
    )
    write = sys.stdout.write
    while line := await proc.stdout.readline():
        write(line.decode("utf-8", "replace"))
    return await proc.wait()

sys.exit(asyncio.run(main(sys.argv[1])))
"""

CHUNK_FLOOR = """\
import asyncio, sys

async def main(cmd):
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", cmd, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
    )
    write = sys.stdout.buffer.write
    while chunk := await proc.stdout.read(65536):
        write(chunk)
    return await proc.wait()

sys.exit(asyncio.run(main(sys.argv[1])))
"""
"""The pipe's own speed: the same command's output copied through in 64 KiB chunks, not
split into lines at all. A lower bound no line-by-line tool can reach; the table shows
it for scale."""

MODES = {"human": (), "--json": ("--json",), "--progress-json": ("--progress-json",)}
TARGETS = {"human": 3.0, "--json": 3.0, "--progress-json": 5.0}
CURVE_LINES = (10**4, 10**5, 10**6, 10**7)
CURVE_MIB = (1, 10, 50, 200)


def lines_cmd(n: int) -> str:
    return f"seq {n}"


def mib_cmd(mib: int) -> str:
    return f"head -c {mib * 1024 * 1024} /dev/zero | tr '\\0' x"


@dataclass
class Series:
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)


def run(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Run ``argv`` with stdout and stderr on pipes read to the end: its wall time, its
    CPU time (with its children's) and the bytes it wrote."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    size, tail = 0, b""
    with selectors.DefaultSelector() as sel:
        for pipe in (proc.stdout, proc.stderr):
            os.set_blocking(pipe.fileno(), False)
            sel.register(pipe, selectors.EVENT_READ)
        while sel.get_map():
            for key, _ in sel.select():
                data = os.read(key.fd, 1 << 20)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                size += len(data)
                tail = (tail + data)[-4096:] if key.fileobj is proc.stderr else tail
    proc.stdout.close()
    proc.stderr.close()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise ChildFailed(f"{' '.join(argv)} failed: {tail.decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime, size


def make_project(root: Path, cmd: str) -> None:
    (root / "ops").mkdir(parents=True)
    (root / "chant.toml").write_text('[project]\nops = ["ops"]\n', encoding="utf-8")
    op = "from chant import Op, phase, shell\n\n"
    op += f"out = Op(name='out', phases=[phase('Out', [shell({cmd!r})])])\n"
    (root / "ops" / "out.op.py").write_text(op, encoding="utf-8")


def measure(label: str, cmd: str, runs: int, tmp: Path, src: str | None) -> list[list[str]]:
    """The table's rows for ``cmd``: the floor, then chant in each mode."""
    root = tmp / f"p{abs(hash(cmd))}"
    make_project(root, cmd)
    fenv = child_env(tmp / "pyc-floor")
    cenv = child_env(tmp / "pyc-chant", path=Path(src) if src else None)
    floor, chunks, chant = Series(), Series(), {mode: Series() for mode in MODES}
    jobs = [
        (floor, [PYTHON, "-c", FLOOR, cmd], fenv),
        (chunks, [PYTHON, "-c", CHUNK_FLOOR, cmd], fenv),
    ]
    jobs += [
        (chant[m], [CHANT, "run", "out", "--local", *extra], cenv) for m, extra in MODES.items()
    ]
    # Warm-up (bytecode compiled, caches filled), and a check that chant printed it all.
    sizes = [run(argv, root, env)[2] for _series, argv, env in jobs]
    if min(sizes[2:]) < sizes[0]:
        raise ChildFailed(f"{label}: chant wrote {sizes[2:]} bytes, the floor {sizes[0]}")
    for _ in range(runs):
        for series, argv, env in jobs:
            wall, cpu, _size = run(argv, root, env)
            series.walls.append(wall)
            series.cpus.append(cpu)
    fw, fc = statistics.median(floor.walls), statistics.median(floor.cpus)
    rows = [[label, "floor", f"{fw:.3f}", f"{fc:.3f}", "", "", ""]]
    kw, kc = statistics.median(chunks.walls), statistics.median(chunks.cpus)
    rows.append(
        [label, "chunk floor", f"{kw:.3f}", f"{kc:.3f}", f"{kw / fw:.2f}x", f"{kc / fc:.2f}x", ""]
    )
    for mode, s in chant.items():
        w, c = statistics.median(s.walls), statistics.median(s.cpus)
        ok = "PASS" if w / fw <= TARGETS[mode] else "MISS"
        target = f"≤ {TARGETS[mode]:g}x {ok}" if label.endswith("lines") else ""
        rows.append(
            [label, mode, f"{w:.3f}", f"{c:.3f}", f"{w / fw:.2f}x", f"{c / fc:.2f}x", target]
        )
    return rows


def curve(tmp: Path, src: str | None) -> list[list[str]]:
    """One probed run per size of the floor and of chant in each mode."""
    fenv = child_env(tmp / "pyc-floor")
    cenv = child_env(tmp / "pyc-chant", path=Path(src) if src else None)
    sizes = [(f"{n:,} lines", lines_cmd(n)) for n in CURVE_LINES]
    sizes += [(f"{m} MiB line", mib_cmd(m)) for m in CURVE_MIB]
    rows = []
    for label, cmd in sizes:
        root = tmp / f"c{abs(hash(cmd))}"
        make_project(root, cmd)
        jobs = [("floor", [PYTHON, "-c", FLOOR, cmd], fenv)]
        jobs += [(m, [CHANT, "run", "out", "--local", *e], cenv) for m, e in MODES.items()]
        for mode, argv, env in jobs:
            s = probe_rss(argv, root, env)
            rows.append(
                [label, mode, f"{s.wall:.3f}", f"{s.cpu:.3f}", f"{s.maxrss_kib / 1024:.0f}"]
            )
            print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
    return rows


def table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    out += [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join(out)


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--lines", type=ints, default=[1_000_000], help="line counts, e.g. 10000,1000000"
    )
    ap.add_argument(
        "--mib", type=ints, default=[32], help="sizes in MiB of one line without newline"
    )
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--curve", action="store_true", help="also the scale curve, with peak RSS")
    ap.add_argument("--src", help="a src/ folder put first on chant's PYTHONPATH")
    args = ap.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f}; chant {CHANT}; src {args.src or 'installed'}")
    with tempfile.TemporaryDirectory(prefix="chant-output-") as t:
        tmp = Path(t)
        rows = []
        for n in args.lines:
            rows += measure(f"{n:,} lines", lines_cmd(n), args.runs, tmp, args.src)
        for m in args.mib:
            rows += measure(f"{m} MiB line", mib_cmd(m), args.runs, tmp, args.src)
        head = ["output", "run", "wall s", "cpu s", "wall ratio", "cpu ratio", "target"]
        print(table(head, rows))
        if args.curve:
            print()
            print(table(["output", "run", "wall s", "cpu s", "peak RSS MiB"], curve(tmp, args.src)))
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
