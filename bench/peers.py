"""chant against its peers, doit and invoke, and the floor, in one run.

    .venv/bin/python bench/peers.py           # about 2 minutes on 2 cores
    .venv/bin/python bench/peers.py --quick   # fewer rounds, a first look

Everything runs from one virtualenv, ``bench/.venv-peers`` (made on first use, doit and
invoke installed into it from the package index), on the interpreter of the venv that
runs this script. chant is installed into it on every run from a wheel built from the
working tree (``pip wheel --no-deps``; pip compiles the bytecode at install), so chant,
doit, invoke and the floor start from the same interpreter and the same kind of install.
Children run with ``PYTHONDONTWRITEBYTECODE`` and the other speed-changing ``PYTHON*``
variables unset, as on a user's machine.

Each workload is written four ways: a chant Op (``chant run NAME --local``), a
``dodo.py`` (``doit -f dodo.py NAME``, one task per command, ``-n N`` worker processes,
doit's default kind, when a phase is parallel), a ``tasks.py`` (``invoke NAME``, ``c.run``
per command, ``asynchronous=True`` promises for a parallel phase) and the floor's spec
(``bench/floor.py``). Cold processes, stdout on a pipe read to the end, alternated round
by round; medians, and ratios taken pair by pair within a round. See bench/README.md."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from run_all import (
    BENCH,
    FLOOR,
    QUICKSTART,
    REPO,
    Phases,
    Sample,
    Series,
    alternate,
    child_env,
    make_case,
    markdown_table,
    quickstart_phases,
    run_child,
    source_state,
)

VENV = BENCH / ".venv-peers"
PEERS = ("doit==0.37.0", "invoke==3.0.3")
TOOLS = ("floor", "chant", "doit", "invoke")
DOIT_SEQUENTIAL = "doit, no -n"
"""hello under doit without ``-n``: its parallel phase then runs one command at a time."""


# -- the virtualenv --------------------------------------------------------------------


def pip(python: Path | str, *args: str) -> None:
    argv = [str(python), "-m", "pip", "-q", *args]
    done = subprocess.run(argv, env=child_env(None), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} failed:\n{done.stdout}{done.stderr}")


def prepare_venv(tmp: Path, *, peers: bool = True) -> Path:
    """``bench/.venv-peers`` with chant freshly installed from a wheel of the working tree
    (and doit and invoke when ``peers``); returns its ``bin`` folder."""
    python = VENV / "bin" / "python"
    cfg = VENV / "pyvenv.cfg"
    made_by = cfg.read_text(encoding="utf-8") if cfg.exists() else ""
    if f"version = {platform.python_version()}\n" not in made_by:  # missing, or another Python
        print(f"bench: creating {VENV}", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    if peers:
        pip(python, "install", *PEERS)
    wheels = tmp / "wheel"
    try:  # the dev venv has hatchling: build offline; otherwise pip fetches the backend
        subprocess.run([sys.executable, "-c", "import hatchling"], check=True, capture_output=True)
        isolation = ["--no-build-isolation"]
    except subprocess.CalledProcessError:
        isolation = []
    pip(sys.executable, "wheel", "--no-deps", *isolation, str(REPO), "-w", str(wheels))
    (wheel,) = wheels.glob("chant_ops-*.whl")
    pip(python, "install", "--force-reinstall", "--no-deps", str(wheel))
    pip(python, "install", str(wheel))  # its dependencies, on first use
    return python.parent


def versions(bin_: Path) -> str:
    code = "import importlib.metadata as m; print(*(n + ' ' + m.version(n) for n in {!r}))"
    names = ("chant-ops", "doit", "invoke")
    out = subprocess.run(
        [str(bin_ / "python"), "-c", code.format(names)], capture_output=True, text=True
    )
    return out.stdout.strip() or out.stderr.strip()


# -- the workloads, four ways ----------------------------------------------------------


def dodo_source(name: str, phases: Phases) -> tuple[str, int]:
    """A ``dodo.py`` with one task per command (``NAME:pIsJ``), and the ``-n`` it needs:
    the widest parallel phase, else 1 (doit then runs the tasks in the order given)."""
    jobs = max((len(cmds) for parallel, cmds in phases if parallel), default=1)
    lines = ['DOIT_CONFIG = {"verbosity": 2}  # show the commands\' output', "", ""]
    lines.append(f"def task_{name}():")
    before: list[str] = []
    for i, (parallel, cmds) in enumerate(phases, 1):
        names: list[str] = []
        for j, cmd in enumerate(cmds):
            # A phase starts when the one before it has finished; a sequential phase
            # keeps its order under -n too.
            chained = names[-1:] if jobs > 1 else []
            deps = before if parallel or j == 0 else chained
            task_dep = [f"{name}:{d}" for d in deps]
            action = cmd.replace("%", "%%")  # doit %-formats a command string
            task = {"name": f"p{i}s{j}", "actions": [action], "task_dep": task_dep}
            lines.append(f"    yield {task!r}")
            names.append(f"p{i}s{j}")
        before = names
    return "\n".join(lines) + "\n", jobs


def tasks_source(name: str, phases: Phases) -> str:
    """A ``tasks.py``: ``c.run`` per command; a parallel phase starts every command with
    ``asynchronous=True`` (output still shown) and joins the promises."""
    lines = ["import sys", "", "from invoke import task", "", "", "@task", f"def {name}(c):"]
    for parallel, cmds in phases:
        if parallel:
            lines.append("    promises = [")
            lines.append("        c.run(cmd, asynchronous=True, out_stream=sys.stdout)")
            lines.append(f"        for cmd in {cmds!r}")
            lines += ["    ]", "    for promise in promises:", "        promise.join()"]
        else:
            lines += [f"    for cmd in {cmds!r}:", "        c.run(cmd)"]
    return "\n".join(lines) + "\n"


@dataclass
class Workload:
    name: str
    label: str
    commands: dict[str, tuple[list[str], Path]] = field(default_factory=dict)
    """tool → (argv, cwd)."""


def make_workload(tmp: Path, bin_: Path, name: str, label: str, phases: Phases) -> Workload:
    copy = QUICKSTART if name == "hello" else None
    case = make_case(tmp, f"{name}-chant", name, phases, copy=copy)
    dodo, jobs = dodo_source(name, phases)
    (tmp / f"{name}-doit").mkdir()
    (tmp / f"{name}-doit" / "dodo.py").write_text(dodo, encoding="utf-8")
    (tmp / f"{name}-invoke").mkdir()
    (tmp / f"{name}-invoke" / "tasks.py").write_text(tasks_source(name, phases), "utf-8")
    doit = [str(bin_ / "doit"), "-f", "dodo.py"]
    w = Workload(name, label)
    w.commands["floor"] = ([str(bin_ / "python"), str(FLOOR), str(case.spec)], tmp)
    w.commands["chant"] = ([str(bin_ / "chant"), "run", name, "--local"], case.root)
    w.commands["doit"] = (
        [*doit, *(["-n", str(jobs)] if jobs > 1 else []), name],
        tmp / f"{name}-doit",
    )
    w.commands["invoke"] = ([str(bin_ / "invoke"), name], tmp / f"{name}-invoke")
    if name == "hello":
        w.commands[DOIT_SEQUENTIAL] = ([*doit, name], tmp / f"{name}-doit")
    return w


def workloads(tmp: Path, bin_: Path) -> dict[str, Workload]:
    specs: list[tuple[str, str, Phases]] = [
        ("hello", "hello (quickstart)", quickstart_phases(QUICKSTART / "ops" / "hello.op.py")),
        ("seq1", "1 × `true`", [(False, ["true"])]),
        ("seq100", "100 × `true`, sequential", [(False, ["true"] * 100)]),
        ("par20", "20 × `sleep 1`, parallel", [(True, ["sleep 1"] * 20)]),
        ("par100", "100 × `sleep 1`, parallel", [(True, ["sleep 1"] * 100)]),
    ]
    return {name: make_workload(tmp, bin_, name, label, ph) for name, label, ph in specs}


# -- measuring and reporting -----------------------------------------------------------

Results = dict[tuple[str, str], Series]
"""(workload, tool) → its samples, in round order (so round i of each pairs up)."""


def measure(
    group: Sequence[Workload], rounds: int, *, warmup: bool, env: dict[str, str]
) -> Results:
    results: Results = {}
    jobs: list[tuple[Series, Callable[[], Sample]]] = []
    for w in group:
        for tool, (argv, cwd) in w.commands.items():
            results[w.name, tool] = series = Series(f"{w.name} {tool}")
            jobs.append((series, lambda a=argv, c=cwd: run_child(a, c, env)))
    alternate(rounds, jobs, warmup=warmup)
    return results


def check_output(hello: Workload, env: dict[str, str]) -> None:
    """Every tool really runs the commands: the floor's first line is in its output."""
    argv, cwd = hello.commands["floor"]
    first = run_child(argv, cwd, env).stdout.splitlines()[0]
    for tool, (argv, cwd) in hello.commands.items():
        if first not in run_child(argv, cwd, env).stdout:
            raise SystemExit(f"bench: {tool}'s output lacks the floor's first line {first!r}")


def paired(a: Sequence[float], b: Sequence[float]) -> float:
    """Median of the round-by-round ratios a[i] / b[i]."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def values(s: Series, cpu: bool) -> list[float]:
    return s.cpus if cpu else s.walls


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def ratio_cells(res: Results, name: str, cpu: bool) -> list[str]:
    def r(a: str, b: str) -> str:
        return f"{paired(values(res[name, a], cpu), values(res[name, b], cpu)):.2f}x"

    return [r(t, "floor") for t in TOOLS[1:]] + [r("chant", "doit"), r("chant", "invoke")]


def per_step(res: Results, tool: str, cpu: bool) -> list[float]:
    """(t100 − t1) / 99 of each round, in seconds."""
    many, one = values(res["seq100", tool], cpu), values(res["seq1", tool], cpu)
    return [(m - o) / 99 for m, o in zip(many, one, strict=True)]


def step_row(res: Results, cpu: bool) -> list[str]:
    steps = {tool: per_step(res, tool, cpu) for tool in TOOLS}
    med = {tool: statistics.median(v) for tool, v in steps.items()}
    floor = steps["floor"]
    over = [
        statistics.median(a - f for a, f in zip(steps[t], floor, strict=True)) for t in TOOLS[1:]
    ]
    ratios = [f"{med['chant'] / med[peer]:.2f}x" for peer in ("doit", "invoke")]
    cells = [f"{med[t] * 1000:.2f} ms" for t in TOOLS]
    overs = [f"{o * 1000:+.2f} ms" for o in over]
    return ["per sequential step: (t100 − t1) / 99", *cells, *overs, *ratios]


def report(res: Results, work: dict[str, Workload], cpu: bool) -> str:
    head = ["workload", *TOOLS, "chant ÷ floor", "doit ÷ floor", "invoke ÷ floor"]
    rows = [[*head, "chant ÷ doit", "chant ÷ invoke"]]
    for name, w in work.items():
        times = [fmt(statistics.median(values(res[name, t], cpu))) for t in TOOLS]
        rows.append([w.label, *times, *ratio_cells(res, name, cpu)])
    rows.append(step_row(res, cpu))
    return markdown_table(rows)


def notes(res: Results) -> list[str]:
    seq = res["hello", DOIT_SEQUENTIAL]
    chant = res["hello", "chant"]
    lines = [
        f"hello under `doit` without `-n` (its parallel phase one command at a time): "
        f"wall {fmt(seq.median)}, CPU {fmt(seq.cpu)}; chant ÷ that: "
        f"{paired(chant.walls, seq.walls):.2f}x wall, {paired(chant.cpus, seq.cpus):.2f}x CPU"
    ]
    rss = ", ".join(f"{t} {max(res['hello', t].rss) / 1024:.1f} MiB" for t in TOOLS)
    lines.append(f"peak RSS of hello (wait4, max of runs): {rss}")
    return lines


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="rounds of hello")
    parser.add_argument("--step-rounds", type=int, default=11, help="rounds of 1 and 100 steps")
    parser.add_argument("--par-rounds", type=int, default=5, help="rounds of the parallel cases")
    parser.add_argument("--quick", action="store_true", help="5, 3 and 2 rounds")
    parser.add_argument("--json", type=Path, help="also write every sample to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.step_rounds, args.par_rounds = 5, 3, 2
    env = child_env(None)
    with tempfile.TemporaryDirectory(prefix="chant-peers-") as tmp_name:
        tmp = Path(tmp_name)
        bin_ = prepare_venv(tmp)
        print(
            f"chant peers · {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC · "
            f"{platform.python_implementation()} {platform.python_version()} · "
            f"{os.cpu_count()} cores\nsource: {source_state()}\n{versions(bin_)}"
        )
        print(f"load average at start: {loadavg()}\n", flush=True)
        work = workloads(tmp, bin_)
        check_output(work["hello"], env)
        res = measure([work["hello"]], args.rounds, warmup=True, env=env)
        res |= measure([work["seq1"], work["seq100"]], args.step_rounds, warmup=True, env=env)
        res |= measure([work["par20"], work["par100"]], args.par_rounds, warmup=False, env=env)
    print("wall time, medians (ratios: medians of the round-by-round ratios)\n")
    print(report(res, work, cpu=False))
    print("\nCPU time (user + system, of the process and the children it reaped)\n")
    print(report(res, work, cpu=True))
    print("\n" + "\n".join(notes(res)))
    print(
        f"\nrounds: {args.rounds} (hello), {args.step_rounds} (1 and 100 steps), "
        f"{args.par_rounds} (parallel); load average at end: {loadavg()}"
    )
    if args.json:
        dump = {
            f"{w} / {t}": {"wall_s": s.walls, "cpu_s": s.cpus, "maxrss_kib": s.rss}
            for (w, t), s in res.items()
        }
        args.json.write_text(json.dumps(dump, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
