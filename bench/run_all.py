"""chant's benchmark suite: every measurement against a floor taken in the same run.

Run it with ``make bench`` or ``.venv/bin/python bench/run_all.py`` (stdlib only).

Every measured command is a cold process: the real console script
``<venv>/bin/chant run NAME --local`` for chant, and ``<venv>/bin/python bench/floor.py
SPEC`` for the floor (the same commands through asyncio subprocesses, same interpreter).
Runs of chant and of the floor alternate, so drift on a busy machine hits both alike;
medians are reported. See bench/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
QUICKSTART = REPO / "examples" / "quickstart"
FLOOR = BENCH / "floor.py"
PYTHON = sys.executable
CHANT = str(Path(sys.executable).parent / "chant")

# Child processes get this environment's variables minus the PYTHON* ones that change
# how fast Python runs (bytecode writing, unbuffered I/O, import profiling, dev mode…).
KEEP_PYTHON_VARS = {"PYTHONPATH", "PYTHONHOME"}

# A fresh child that runs the measured command as its only child and reports that
# child's peak RSS: RUSAGE_CHILDREN of a process with one child is that child's figure.
RSS_PROBE = """\
import resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, capture_output=True)
wall = time.perf_counter() - t
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(p.returncode, wall, u.ru_maxrss, u.ru_utime + u.ru_stime)
"""

# Runs `chant run NAME --local` in-process (output discarded) and prints the chant modules
# it loaded, for the start-up breakdown's "import every module" line.
LOADED_MODULES = """\
import os, sys
from chant.cli.main import main
out, sys.stdout = sys.stdout, open(os.devnull, "w")
main(["run", sys.argv[1], "--local"])
print(" ".join(sorted(m for m in sys.modules if m.split(".")[0] == "chant")), file=out)
"""

Phases = list[tuple[bool, list[str]]]
"""(parallel, commands) per phase: what an Op runs and what the floor runs."""


# -- running children ------------------------------------------------------------------


@dataclass
class Sample:
    wall: float
    """Seconds from spawn to reaped exit (output read to the end)."""
    maxrss_kib: int
    stdout: bytes
    cpu: float = 0.0
    """User + system CPU seconds of the child and the children it reaped (its commands)."""


class ChildFailed(RuntimeError):
    pass


def run_child(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> Sample:
    """Run ``argv`` to completion, reading its stdout through a pipe; time it and take
    its own peak RSS from ``wait4`` (the kernel's rusage of exactly this child)."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err
        )
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.stdout.close()
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise ChildFailed(
                f"{' '.join(argv)} (in {cwd}) exited with {proc.returncode}:\n"
                f"{err.read().decode(errors='replace')[-2000:]}\n{out.decode()[-2000:]}"
            )
    return Sample(wall, usage.ru_maxrss, out, usage.ru_utime + usage.ru_stime)


def probe_rss(argv: Sequence[str], cwd: Path, env: dict[str, str]) -> Sample:
    """Wall time, peak RSS and CPU of ``argv`` run as the only child of a fresh probe."""
    out = subprocess.run(
        [PYTHON, "-c", RSS_PROBE, *argv], cwd=cwd, env=env, capture_output=True, check=True
    ).stdout.split()
    code, wall, rss, cpu = int(out[0]), float(out[1]), int(out[2]), float(out[3])
    if code != 0:
        raise ChildFailed(f"{' '.join(argv)} (in {cwd}) exited with {code} under the RSS probe")
    return Sample(wall, rss, b"", cpu)


# -- projects --------------------------------------------------------------------------


def op_source(name: str, phases: Phases) -> str:
    """An ``*.op.py`` declaring Op ``name`` with one ``shell`` step per command."""
    lines = ["from chant import Op, phase, shell", "", f"{name.replace('-', '_')} = Op("]
    lines += [f"    name={name!r},", "    phases=["]
    for i, (parallel, cmds) in enumerate(phases, 1):
        distinct = set(cmds)
        if len(distinct) == 1 and len(cmds) > 1:
            steps = f"[shell({cmds[0]!r}) for _ in range({len(cmds)})]"
        else:
            steps = "[" + ", ".join(f"shell({c!r})" for c in cmds) + "]"
        lines.append(f"        phase({f'Phase {i}'!r}, {steps}, parallel={parallel}),")
    lines += ["    ],", ")", ""]
    return "\n".join(lines)


def spec_text(phases: Phases) -> str:
    out: list[str] = []
    for parallel, cmds in phases:
        out.append("phase parallel" if parallel else "phase sequential")
        out.extend(cmds)
    return "\n".join(out) + "\n"


def quickstart_phases(op_file: Path) -> Phases:
    """The commands of the quickstart's hello Op, read from its source with ``ast`` so the
    floor runs exactly what the example does (and notices when the example changes)."""
    phases: Phases = []
    for node in ast.walk(ast.parse(op_file.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "phase"):
            continue
        parallel = any(
            k.arg == "parallel" and isinstance(k.value, ast.Constant) and k.value.value is True
            for k in node.keywords
        )
        steps = node.args[1] if len(node.args) > 1 else None
        if not isinstance(steps, ast.List):
            raise SystemExit(f"bench: cannot read the steps of a phase in {op_file}")
        cmds = []
        for step in steps.elts:
            ok = (
                isinstance(step, ast.Call)
                and getattr(step.func, "id", None) == "shell"
                and step.args
                and isinstance(step.args[0], ast.Constant)
                and isinstance(step.args[0].value, str)
            )
            if not ok:
                raise SystemExit(f"bench: {op_file} has a step other than shell('...')")
            cmds.append(step.args[0].value)  # type: ignore[union-attr]  # checked above
        phases.append((parallel, cmds))
    if not phases:
        raise SystemExit(f"bench: no phase(...) found in {op_file}")
    return phases


@dataclass
class Case:
    """A project holding one Op, and the floor spec running the same commands."""

    name: str
    root: Path
    spec: Path

    def chant(self, *extra: str) -> list[str]:
        return [CHANT, "run", self.name, "--local", *extra]

    def floor(self) -> list[str]:
        return [PYTHON, str(FLOOR), str(self.spec)]


def make_case(tmp: Path, folder: str, name: str, phases: Phases, *, copy: Path | None) -> Case:
    root = tmp / folder
    if copy is not None:
        shutil.copytree(copy, root, ignore=shutil.ignore_patterns("dist", ".chant", "__pycache__"))
    else:
        (root / "ops").mkdir(parents=True)
        (root / "chant.toml").write_text('[project]\nops = ["ops"]\n', encoding="utf-8")
        (root / "ops" / f"{name}.op.py").write_text(op_source(name, phases), encoding="utf-8")
    spec = tmp / f"{folder}.spec"
    spec.write_text(spec_text(phases), encoding="utf-8")
    return Case(name, root, spec)


# -- measuring -------------------------------------------------------------------------


@dataclass
class Series:
    label: str
    walls: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)

    def add(self, s: Sample) -> None:
        self.walls.append(s.wall)
        self.rss.append(s.maxrss_kib)
        self.cpus.append(s.cpu)


def alternate(
    runs: int, jobs: Sequence[tuple[Series, Callable[[], Sample]]], *, warmup: bool = True
) -> None:
    """Run every job ``runs`` times, rotating which goes first each round."""
    if warmup:
        for _series, job in jobs:
            job()
    for i in range(runs):
        k = i % len(jobs)
        for series, job in list(jobs[k:]) + list(jobs[:k]):
            series.add(job())


@dataclass
class Row:
    metric: str
    chant: str
    floor: str
    compare: str
    target: str
    verdict: str
    cpu: str = ""
    """The same comparison in CPU time, which other load on the machine disturbs less."""


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.2f} s"


def verdict(ok: bool, aim_ok: bool | None = None) -> str:
    if not ok:
        return "MISS"
    return "PASS (aim met)" if aim_ok else "PASS"


def cpu_ratio(chant: Series, floor: Series) -> str:
    return f"{chant.cpu * 1000:.0f} / {floor.cpu * 1000:.0f} ms = {chant.cpu / floor.cpu:.2f}x"


def cpu_per_step(chant: Series, floor: Series, steps: int) -> str:
    return f"{(chant.cpu - floor.cpu) / steps * 1000:.2f} ms/step"


def table(rows: Sequence[Row]) -> str:
    head = Row("metric", "chant", "floor", "ratio / overhead", "target (aim)", "result")
    head.cpu = "same in CPU time"
    return markdown_table(
        [[r.metric, r.chant, r.floor, r.compare, r.target, r.verdict, r.cpu] for r in (head, *rows)]
    )


def markdown_table(cells: Sequence[Sequence[str]]) -> str:
    """A Markdown table with aligned columns; the first row is the header."""
    widths = [max(len(c[i]) for c in cells) for i in range(len(cells[0]))]
    lines = []
    for n, c in enumerate(cells):
        lines.append("| " + " | ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def child_env(
    pycache: Path | None, *, dont_write_bytecode: bool = False, path: Path | None = None
) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PYTHON") or k in KEEP_PYTHON_VARS
    }
    if pycache is not None:
        # Bytecode goes to a private folder: nothing is written under src/.
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    if dont_write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(path), env.get("PYTHONPATH")]))
    env.pop("NO_COLOR", None)
    return env


def op_duration_ms(stdout: bytes) -> int:
    """``duration_ms`` of the run, from the ``--json`` result document."""
    return int(json.loads(stdout)["duration_ms"])


def source_state() -> str:
    """The commit being measured, and whether src/ differs from it."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "log", "-1", "--format=%h %cd", "--date=iso"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" + uncommitted changes in src/" if dirty else "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each start-up case")
    parser.add_argument("--step-runs", type=int, default=11, help="runs of each 200-step case")
    parser.add_argument("--par-runs", type=int, default=3, help="runs of the parallel case")
    parser.add_argument("--big-runs", type=int, default=3, help="runs of the 5,000-step case")
    parser.add_argument("--big-steps", type=int, default=5000, help="steps of the big Op")
    parser.add_argument("--json", type=Path, help="also write every sample to this file")
    parser.add_argument(
        "--temporal",
        action="store_true",
        help="then run bench/temporal.py (chant on a Temporal dev server it starts; "
        "needs the temporal extra)",
    )
    args = parser.parse_args(argv)

    if not Path(CHANT).exists():
        raise SystemExit(f"bench: {CHANT} not found; run `make bench` (it installs chant)")
    started = time.perf_counter()
    print(
        f"chant bench · {datetime.date.today()} · {platform.python_implementation()} "
        f"{platform.python_version()} · {os.cpu_count()} cores · {platform.machine()}"
    )
    print(f"chant: {CHANT}\npython: {PYTHON}\nsource: {source_state()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n", flush=True)

    rows: list[Row] = []
    dump: dict[str, object] = {}

    def progress(text: str) -> None:
        print(f"[{time.perf_counter() - started:5.1f}s] {text}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="chant-bench-") as tmp_name:
        tmp = Path(tmp_name)
        env = child_env(tmp / "pycache")
        # For row 1b: a copy of chant's sources with no __pycache__, first on sys.path, and
        # no bytecode written; the stdlib still loads from its own .pyc files.
        shutil.copytree(
            REPO / "src" / "chant",
            tmp / "nopyc" / "chant",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        raw_env = child_env(None, dont_write_bytecode=True, path=tmp / "nopyc")
        n = args.big_steps

        hello = make_case(
            tmp,
            "quickstart",
            "hello",
            quickstart_phases(QUICKSTART / "ops" / "hello.op.py"),
            copy=QUICKSTART,
        )
        one = make_case(tmp, "steps1", "steps1", [(False, ["true"])], copy=None)
        seq = make_case(tmp, "steps200", "steps200", [(False, ["true"] * 200)], copy=None)
        par = make_case(tmp, "sleep100", "sleep100", [(True, ["sleep 1"] * 100)], copy=None)
        big = make_case(tmp, "stepsbig", "steps-big", [(False, ["true"] * n)], copy=None)

        def job(argv: list[str], cwd: Path, e: dict[str, str] = env) -> Callable[[], Sample]:
            return lambda: run_child(argv, cwd, e)

        # Sanity: both really run the commands (the floor's first line shows up in chant's
        # output). These runs also write the bytecode cache.
        first = run_child(hello.floor(), tmp, env).stdout.splitlines()[0]
        if first not in run_child(hello.chant(), hello.root, env).stdout:
            raise SystemExit(f"bench: chant's output lacks the floor's first line {first!r}")

        # 1. chant run hello (the quickstart), cold, bytecode cached.
        progress("1. chant run hello (quickstart copy)")
        c_hello, f_hello = Series("chant run hello"), Series("floor hello")
        alternate(
            args.runs,
            [(c_hello, job(hello.chant(), hello.root)), (f_hello, job(hello.floor(), tmp))],
        )
        r = c_hello.median / f_hello.median
        rows.append(
            Row(
                "1. `chant run hello` cold, wall (median)",
                ms(c_hello.median),
                ms(f_hello.median),
                f"{r:.2f}x",
                "≤ 2x (1.5x)",
                verdict(r <= 2.0, r <= 1.5),
                cpu_ratio(c_hello, f_hello),
            )
        )
        # The same as a fresh checkout runs it with PYTHONDONTWRITEBYTECODE=1 (this sandbox
        # sets it): chant's own sources and the op file compile on every run.
        progress("1b. chant run hello without bytecode cache")
        c_raw, f_raw = Series("chant run hello (no pyc)"), Series("floor hello (no pyc)")
        alternate(
            args.runs,
            [
                (c_raw, job(hello.chant(), hello.root, raw_env)),
                (f_raw, job(hello.floor(), tmp, raw_env)),
            ],
        )
        r_raw = c_raw.median / f_raw.median
        rows.append(
            Row(
                "1b. same, no .pyc for chant (PYTHONDONTWRITEBYTECODE=1)",
                ms(c_raw.median),
                ms(f_raw.median),
                f"{r_raw:.2f}x",
                "info",
                "info",
                cpu_ratio(c_raw, f_raw),
            )
        )

        # 2. Per-step overhead: 200 sequential `true` steps (and 1 step, to separate the
        # per-step cost from the fixed start-up difference).
        progress("2. 200 sequential `true` steps (human output, --progress-json, 1 step)")
        c200, f200 = Series("chant 200"), Series("floor 200")
        c200j = Series("chant 200 --progress-json")
        c1, f1 = Series("chant 1"), Series("floor 1")
        alternate(
            args.step_runs,
            [
                (c200, job(seq.chant(), seq.root)),
                (f200, job(seq.floor(), tmp)),
                (c200j, job(seq.chant("--progress-json"), seq.root)),
                (c1, job(one.chant(), one.root)),
                (f1, job(one.floor(), tmp)),
            ],
        )
        per = (c200.median - f200.median) / 200 * 1000
        per_j = (c200j.median - f200.median) / 200 * 1000
        marginal = ((c200.median - c1.median) - (f200.median - f1.median)) / 199 * 1000
        cpu_marginal = ((c200.cpu - c1.cpu) - (f200.cpu - f1.cpu)) / 199 * 1000
        rows += [
            Row(
                "2. 200 `true` steps, wall (median)",
                ms(c200.median),
                ms(f200.median),
                f"{per:.2f} ms/step",
                "≤ 1 ms/step (0.5)",
                verdict(per <= 1.0, per <= 0.5),
                cpu_per_step(c200, f200, 200),
            ),
            Row(
                "2b. same with --progress-json",
                ms(c200j.median),
                ms(f200.median),
                f"{per_j:.2f} ms/step",
                "≤ 1 ms/step (0.5)",
                verdict(per_j <= 1.0, per_j <= 0.5),
                cpu_per_step(c200j, f200, 200),
            ),
            Row(
                "2c. marginal cost of a step: (200 − 1 step runs) / 199",
                ms(c200.median - c1.median),
                ms(f200.median - f1.median),
                f"{marginal:.2f} ms/step",
                "info",
                "info",
                f"{cpu_marginal:.2f} ms/step",
            ),
        ]

        # 3. One parallel phase of 100 `sleep 1` steps.
        progress("3. one parallel phase of 100 `sleep 1` steps")
        cpar, fpar = Series("chant 100 x sleep 1"), Series("floor 100 x sleep 1")
        op_ms: list[int] = []

        def par_chant() -> Sample:
            s = run_child(par.chant("--json"), par.root, env)
            op_ms.append(op_duration_ms(s.stdout))
            return s

        alternate(args.par_runs, [(cpar, par_chant), (fpar, job(par.floor(), tmp))], warmup=False)
        rows += [
            Row(
                "3. parallel 100 × `sleep 1`, process wall (median)",
                ms(cpar.median),
                ms(fpar.median),
                f"{cpar.median / fpar.median:.2f}x, +{(cpar.median - fpar.median) * 1000:.0f} ms",
                "≤ 1.3 s",
                verdict(cpar.median <= 1.3),
                cpu_ratio(cpar, fpar),
            ),
            Row(
                "3b. same, the Op's own duration_ms (--json)",
                f"{statistics.median(op_ms):.0f} ms",
                "",
                "",
                "≤ 1.3 s",
                verdict(statistics.median(op_ms) <= 1300),
            ),
        ]

        # 4. Peak RSS of a 5,000-step Op (and its per-step cost, start-up amortised).
        progress(f"4. {n} sequential `true` steps (peak RSS through a fresh probe)")
        cbig, fbig = Series(f"chant {n}"), Series(f"floor {n}")

        def probed(argv: list[str], cwd: Path) -> Callable[[], Sample]:
            return lambda: probe_rss(argv, cwd, env)

        alternate(
            args.big_runs,
            [(cbig, probed(big.chant(), big.root)), (fbig, probed(big.floor(), tmp))],
            warmup=False,
        )
        c_rss, f_rss = max(cbig.rss) / 1024, max(fbig.rss) / 1024
        per_big = (cbig.median - fbig.median) / n * 1000
        rows += [
            Row(
                f"4. {n:,} `true` steps, peak RSS (max of runs)",
                f"{c_rss:.1f} MiB",
                f"{f_rss:.1f} MiB",
                f"+{c_rss - f_rss:.1f} MiB",
                "≤ 150 MB",
                verdict(c_rss * 1024 * 1024 <= 150e6),
            ),
            Row(
                f"4b. {n:,} steps, wall (median) → overhead per step",
                ms(cbig.median),
                ms(fbig.median),
                f"{per_big:.2f} ms/step",
                "info",
                "info",
                cpu_per_step(cbig, fbig, n),
            ),
        ]
        hello_rss = max(c_hello.rss) / 1024, max(f_hello.rss) / 1024
        rows.append(
            Row(
                "peak RSS of `chant run hello` (wait4)",
                f"{hello_rss[0]:.1f} MiB",
                f"{hello_rss[1]:.1f} MiB",
                f"+{hello_rss[0] - hello_rss[1]:.1f} MiB",
                "info",
                "info",
            )
        )

        # 5. Where start-up goes: each line a cold process, medians (information only).
        progress("5. start-up breakdown")
        loaded = subprocess.run(
            [PYTHON, "-c", LOADED_MODULES, hello.name],
            cwd=hello.root,
            env=env,
            capture_output=True,
            check=True,
            text=True,
        ).stdout.split()
        chant_imports = ", ".join(loaded)
        startup = [
            (Series("python -c pass  (interpreter)"), [PYTHON, "-c", "pass"], tmp),
            (Series("python -c 'import asyncio'  (the floor's imports)"), [
                PYTHON, "-c", "import asyncio"
            ], tmp),
            (Series("chant --version  (the chant package + CLI parser; no asyncio)"), [
                CHANT, "--version"
            ], tmp),
            (Series(f"python -c 'import <the {len(loaded)} chant modules `run hello` loads>'"), [
                PYTHON, "-c", f"import {chant_imports}"
            ], tmp),
            (Series("chant run hello  (again, in these rounds)"), hello.chant(), hello.root),
        ]  # fmt: skip
        alternate(args.runs, [(series, job(argv, cwd)) for series, argv, cwd in startup])
        startup_lines = [(series.label, series.median) for series, _argv, _cwd in startup]

        all_series = [c_hello, f_hello, c_raw, f_raw, c200, f200, c200j, c1, f1, cpar, fpar]
        all_series += [cbig, fbig, *(series for series, _argv, _cwd in startup)]
        dump = {
            "date": str(datetime.date.today()),
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "series": {
                s.label: {"wall_s": s.walls, "maxrss_kib": s.rss, "median_s": s.median}
                for s in all_series
            },
            "op_duration_ms_100_parallel": op_ms,
        }

    print(table(rows))
    print("\nstart-up breakdown (cold processes, medians):")
    for label, seconds in startup_lines:
        print(f"  {seconds * 1000:6.1f} ms  {label}")
    print(
        f"\nmedians of {args.runs} (start-up), {args.step_runs} (200 steps), "
        f"{args.par_runs} (parallel), {args.big_runs} ({n:,} steps) runs; "
        f"total {time.perf_counter() - started:.0f} s; load average at end: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    if args.json:
        args.json.write_text(json.dumps(dump, indent=2) + "\n", encoding="utf-8")
    if args.temporal:
        print(flush=True)
        return subprocess.run([PYTHON, str(BENCH / "temporal.py")], check=False).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
