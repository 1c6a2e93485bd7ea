"""chant on Temporal: `chant run --temporal` against a hand-written temporalio workflow.

Run it with ``.venv/bin/python bench/temporal.py`` (needs the ``temporal`` extra: the
temporalio SDK and the ``temporal`` CLI next to this Python). It starts its own dev
server on a free loopback port (timing its start and reading its memory), then measures,
in the same rounds:

- ``chant run hello --temporal`` end to end as a cold process (the Op ``chant init``
  writes), against ``chant run hello --local`` and a minimal hand-written temporalio
  program doing the same work (also a cold process: interpreter, temporalio, worker);
- the per-step cost on Temporal, ``(t50 − t1) / 49`` from Ops of 50 and 1 sequential
  ``true`` steps, for chant, the hand-written workflow and chant's local mode as cold
  processes, then with the worker in this process (the hand-written workflow, and
  chant's with its events followed or only its result awaited).

Cold processes of each kind alternate, so drift on a busy machine hits all alike;
medians are reported. It always exits 0: it measures, it does not test. See
bench/README.md ("Temporal mode") for what each row means.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import run_all
from run_all import (
    CHANT,
    PYTHON,
    REPO,
    Phases,
    Sample,
    child_env,
    ms,
    op_source,
    quickstart_phases,
    run_child,
    source_state,
)

TEMPORAL_CLI = str(Path(sys.executable).parent / "temporal")
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The hand-written baseline: what a temporalio user would write to run the same
# commands, with the worker settings chant's worker uses where they matter. Written to
# a file in the temporary folder: run as a cold process (``python hw_flow.py ADDRESS
# PHASES_JSON``) for whole-program timings, and imported by this script for the
# in-process worker (the workflow sandbox needs the workflow in an importable module).
HANDWRITTEN = '''\
"""A minimal temporalio program: one activity runs a command, one workflow runs phases
of commands (sequential, or all at once), a worker in this process, one run, exit."""

import asyncio
import json
import os
import sys
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

TASK_QUEUE = "bench-handwritten"
PIPE = asyncio.subprocess.PIPE


@activity.defn
async def run_command(cmd: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", cmd,
        stdin=asyncio.subprocess.DEVNULL, stdout=PIPE, stderr=PIPE, start_new_session=True,
    )
    out, err = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"{cmd!r} exited with {proc.returncode}: {err.decode()[-500:]}")
    return out.decode("utf-8", "replace")


def call(cmd: str):
    return workflow.execute_activity(
        run_command, cmd, start_to_close_timeout=timedelta(minutes=10)
    )


@workflow.defn
class Phases:
    @workflow.run
    async def run(self, phases: list) -> list:
        outputs = []
        for parallel, cmds in phases:
            if parallel:
                outputs += await asyncio.gather(*(call(cmd) for cmd in cmds))
            else:
                for cmd in cmds:
                    outputs.append(await call(cmd))
        return outputs


def make_worker(client: Client, task_queue: str = TASK_QUEUE) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[Phases],
        activities=[run_command],
        max_concurrent_activities=100,
        max_heartbeat_throttle_interval=timedelta(seconds=1),
        default_heartbeat_throttle_interval=timedelta(seconds=1),
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=2),
        graceful_shutdown_timeout=timedelta(seconds=0),
    )


async def run(client: Client, phases: list, task_queue: str = TASK_QUEUE) -> list:
    return await client.execute_workflow(
        Phases.run, phases, id=f"hw-{uuid.uuid4()}", task_queue=task_queue
    )


async def main(address: str, phases: list) -> None:
    client = await Client.connect(address)
    async with make_worker(client):
        outputs = await run(client, phases)
    sys.stdout.write("".join(outputs))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))
    # As chant does: temporalio can abort the interpreter at exit (sdk-python issue 300).
    sys.stdout.flush()
    os._exit(0)
'''

CHANT_TOML = """\
[project]
ops = ["ops"]

[temporal]
[temporal.profiles.dev]
address = "{address}"
"""


# -- the dev server --------------------------------------------------------------------


def rev_label(rev: str) -> str:
    """``rev`` as a short hash with its commit date."""
    return subprocess.run(
        ["git", "-C", str(REPO), "log", "-1", "--format=%h %cd", "--date=iso", rev],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB summed over ``pid`` and its descendants."""
    rss = hwm = 0
    for p in tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm += int(line.split()[1])
    return rss, hwm


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used so far (threads included)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    address: str
    tcp_s: float
    """Seconds from spawn to the first accepted TCP connection."""
    ready_s: float
    """Seconds from spawn to a connected client's first successful ``GetSystemInfo``."""


async def _serves(address: str) -> bool:
    from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
    from temporalio.client import Client

    try:
        client = await asyncio.wait_for(Client.connect(address), 2.0)
        await client.workflow_service.get_system_info(
            GetSystemInfoRequest(), timeout=datetime.timedelta(seconds=2)
        )
    except Exception:
        return False
    return True


def start_server(
    tmp: Path, *, db_file: bool, extra: Sequence[str] = (), timeout: float = 60.0
) -> Server:
    """``temporal server start-dev`` on a free loopback port, timed until it serves."""
    import temporalio.client  # noqa: F401  # imported now, not inside the timed wait

    port = free_port()
    address = f"127.0.0.1:{port}"
    argv = [
        TEMPORAL_CLI, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
        "--port", str(port), "--ui-port", str(free_port()),
        "--dynamic-config-value", "frontend.enableServerVersionCheck=false",
        "--search-attribute", "ChantOp=Keyword",
        "--search-attribute", "ChantOutcomes=KeywordList",
        "--log-level", "warn",
    ]  # fmt: skip
    if db_file:
        argv += ["--db-filename", str(tmp / f"temporal-{port}.db")]
    for value in extra:
        argv += ["--dynamic-config-value", value]
    log = open(tmp / f"server-{port}.log", "wb")  # noqa: SIM115  # closed when it exits
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
    )
    log.close()
    tcp_s = None
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"bench: the dev server exited with {proc.returncode}")
            if time.perf_counter() - started > timeout:
                raise SystemExit(f"bench: the dev server was not ready within {timeout:g}s")
            if tcp_s is None:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        tcp_s = time.perf_counter() - started
                except OSError:
                    time.sleep(0.02)
                    continue
            if asyncio.run(_serves(address)):
                return Server(proc, address, tcp_s, time.perf_counter() - started)
            time.sleep(0.02)
    except BaseException:
        stop_server(proc)
        raise


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server we started (its own process group), SIGKILL after 10 s."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)  # the group it leads: start_new_session=True
        except ProcessLookupError:
            return
        try:
            proc.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


# -- measuring -------------------------------------------------------------------------


@dataclass
class Series(run_all.Series):
    server_cpus: list[float] = field(default_factory=list)
    """CPU seconds the dev server used during each run."""
    pending_server_cpu: float = 0.0

    @property
    def server_cpu(self) -> float:
        return statistics.median(self.server_cpus)

    def add(self, s: Sample) -> None:
        super().add(s)
        self.server_cpus.append(self.pending_server_cpu)


def alternate(runs: int, jobs: Sequence[tuple[Series, Callable[[], Sample]]], server: int) -> None:
    """``run_all.alternate`` (a warm-up, then rounds rotating which job goes first), with
    the dev server's CPU time read around each run."""

    def metered(series: Series, job: Callable[[], Sample]) -> Callable[[], Sample]:
        def run() -> Sample:
            before = cpu_seconds(server)
            sample = job()
            series.pending_server_cpu = cpu_seconds(server) - before
            return sample

        return run

    run_all.alternate(runs, [(series, metered(series, job)) for series, job in jobs])


async def in_process(
    hw_dir: Path, steps_root: Path, address: str, steps: int, runs: int, server: int
) -> dict[str, tuple[Series, Series]]:
    """1-step and ``steps``-step runs with the worker in this process (already polling),
    timed from start to result: the hand-written workflow; chant's workflow and worker
    with the result awaited (no event following); and chant's following as `chant run
    --temporal` does it (``runner.follow`` with no renderer). The last two tell how much
    of chant's per-step cost is the workflow and how much is following it."""
    sys.path.insert(0, str(hw_dir))
    import hw_flow  # type: ignore[import-not-found]  # written by measure()
    from temporalio.client import Client

    from chant.project import load_project
    from chant.temporal import runner
    from chant.temporal.worker import build_worker

    client = await Client.connect(address)
    project = load_project(steps_root)
    ops = {1: project.op("steps1"), steps: project.op(f"steps{steps}")}
    pid = project.config.project_id
    hw_queue, chant_queue = "bench-handwritten-inproc", "bench-chant-inproc"

    async def hand(n: int) -> None:
        await hw_flow.run(client, [[False, ["true"] * n]], hw_queue)

    async def chant_result(n: int) -> None:
        handle = await runner.start(client, ops[n], project=pid, task_queue=chant_queue)
        await handle.result()

    async def chant_follow(n: int) -> None:
        handle = await runner.start(client, ops[n], project=pid, task_queue=chant_queue)
        followed = await runner.follow(
            handle, [], stop=asyncio.Event(), say=print, task_queue=chant_queue
        )
        assert followed.result is not None and followed.result.ok, followed

    cases = {
        "hand-written": hand,
        "chant, result awaited": chant_result,
        "chant, events followed": chant_follow,
    }
    out = {
        label: (Series(f"{label} 1, in-process"), Series(f"{label} {steps}, in-process"))
        for label in cases
    }
    jobs = [(label, n) for label in cases for n in (steps, 1)]
    async with (
        hw_flow.make_worker(client, hw_queue),
        build_worker(client, project.registry, task_queue=chant_queue),
    ):
        for label, n in jobs:  # warm-up
            await cases[label](n)
        for i in range(runs):
            k = i % len(jobs)
            for label, n in jobs[k:] + jobs[:k]:
                series = out[label][0 if n == 1 else 1]
                before, cpu = cpu_seconds(server), time.process_time()
                t = time.perf_counter()
                await cases[label](n)
                series.walls.append(time.perf_counter() - t)
                series.cpus.append(time.process_time() - cpu)  # all threads: Core's too
                series.server_cpus.append(cpu_seconds(server) - before)
    return out


# -- the report ------------------------------------------------------------------------


@dataclass
class Row:
    metric: str
    chant: str
    hand: str
    local: str
    ratio: str
    target: str
    result: str


def table(rows: Sequence[Row]) -> str:
    head = ["metric", "chant", "hand-written", "local", "ratio", "target", "result"]
    return run_all.markdown_table(
        [head, *([r.metric, r.chant, r.hand, r.local, r.ratio, r.target, r.result] for r in rows)]
    )


def per_step(many: Series, one: Series, steps: int, attr: str = "median") -> float:
    """Milliseconds per step: ``(t_many − t_one) / (steps − 1)`` of the medians."""
    return (getattr(many, attr) - getattr(one, attr)) / (steps - 1) * 1000


def mib(kib: float) -> str:
    return f"{kib / 1024:.0f} MiB"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each hello case")
    parser.add_argument("--step-runs", type=int, default=7, help="runs of each step case")
    parser.add_argument("--steps", type=int, default=50, help="steps of the long Op")
    parser.add_argument(
        "--server-starts", type=int, default=3, help="dev server starts to time (median)"
    )
    parser.add_argument(
        "--db-file",
        action="store_true",
        help="give the dev server a SQLite file (as `chant server start` does), "
        "not in-memory state",
    )
    parser.add_argument(
        "--dynamic-config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra dynamic config for the dev server (repeatable), e.g. "
        "history.transferProcessorMaxPollRPS=1000",
    )
    parser.add_argument(
        "--rev",
        help="measure chant as of this git revision (a `git archive` of its src/ first on "
        "PYTHONPATH) instead of the working tree, which others may be editing",
    )
    parser.add_argument("--json", type=Path, help="also write every sample to this file")
    args = parser.parse_args(argv)

    for path in (CHANT, TEMPORAL_CLI):
        if not Path(path).exists():
            raise SystemExit(f"bench: {path} not found; pip install -e '.[temporal]'")
    started = time.perf_counter()
    print(
        f"chant Temporal bench · {datetime.date.today()} · {platform.python_implementation()} "
        f"{platform.python_version()} · {os.cpu_count()} cores · {platform.machine()}"
    )
    version = subprocess.run(
        [TEMPORAL_CLI, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    source = source_state()
    if args.rev:
        source = f"src/ of {rev_label(args.rev)} (git archive; the working tree is not used)"
    print(f"chant: {CHANT}\ntemporal: {version}\nsource: {source}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    def progress(text: str) -> None:
        print(f"[{time.perf_counter() - started:5.1f}s] {text}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="chant-bench-temporal-") as tmp_name:
        tmp = Path(tmp_name)
        snapshot = None
        if args.rev:
            snapshot = tmp / "rev"
            snapshot.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(REPO), "archive", args.rev, "src/chant"],
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(snapshot)], input=archive, check=True)
            snapshot = snapshot / "src"
            sys.path.insert(0, str(snapshot))  # for the in-process runs
        env = child_env(tmp / "pycache", path=snapshot)

        # The dev server: start it a few times to time its start; the last one stays up.
        progress(f"starting the dev server {args.server_starts} times")
        starts: list[Server] = []
        server: Server | None = None
        try:
            for i in range(args.server_starts):
                server = start_server(tmp, db_file=args.db_file, extra=args.dynamic_config)
                starts.append(server)
                if i < args.server_starts - 1:
                    stop_server(server.proc)
            assert server is not None
            time.sleep(1.0)  # let it settle before reading its memory
            mem_start = memory_kib(server.proc.pid)
            rows, dump = measure(args, tmp, env, server, progress)
            mem_end = memory_kib(server.proc.pid)
        finally:
            if server is not None:
                stop_server(server.proc)

    tcp = statistics.median(s.tcp_s for s in starts)
    ready = statistics.median(s.ready_s for s in starts)
    rows += [
        Row(
            f"dev server start: spawn → serving (median of {len(starts)})",
            "",
            "",
            "",
            "",
            "info",
            f"{ms(ready)} (TCP accept at {ms(tcp)})",
        ),
        Row(
            "dev server RSS after start → after the bench (peak)",
            "",
            "",
            "",
            "",
            "info",
            f"{mib(mem_start[0])} → {mib(mem_end[0])} ({mib(mem_end[1])})",
        ),
    ]
    print()
    print(table(rows))
    missed = [r.metric for r in rows if r.result == "MISS"]
    print(
        "\ntargets missed: " + "; ".join(missed) if missed else "\nall targets met",
    )
    print(
        f"dev server: {'SQLite file' if args.db_file else 'in-memory'} state; "
        f"dynamic config: {', '.join(args.dynamic_config) or 'defaults'}; "
        f"starts {', '.join(ms(s.ready_s) for s in starts)}"
    )
    print(
        f"medians of {args.runs} (hello) and {args.step_runs} (steps) runs after one warm-up; "
        f"total {time.perf_counter() - started:.0f} s; load average at end: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    if args.json:
        dump["source"] = source
        dump["dynamic_config"] = args.dynamic_config
        dump["server"] = {
            "ready_s": [s.ready_s for s in starts],
            "tcp_s": [s.tcp_s for s in starts],
            "rss_kib_after_start": mem_start[0],
            "rss_kib_after_bench": mem_end[0],
            "hwm_kib_after_bench": mem_end[1],
        }
        args.json.write_text(json.dumps(dump, indent=2) + "\n", encoding="utf-8")
    return 0


def measure(
    args: argparse.Namespace,
    tmp: Path,
    env: dict[str, str],
    server: Server,
    progress: Callable[[str], None],
) -> tuple[list[Row], dict[str, Any]]:
    n = args.steps
    spid = server.proc.pid
    toml = CHANT_TOML.format(address=server.address)

    # The projects: hello as `chant init` writes it; the step Ops in a second project so
    # hello's discovery does not import them.
    hello = tmp / "hello"
    subprocess.run([CHANT, "init", str(hello)], env=env, capture_output=True, check=True)
    (hello / "chant.toml").write_text(toml, encoding="utf-8")
    hello_phases: Phases = quickstart_phases(hello / "ops" / "hello.op.py")
    steps = tmp / "steps"
    (steps / "ops").mkdir(parents=True)
    (steps / "chant.toml").write_text(toml, encoding="utf-8")
    for name, count in (("steps1", 1), (f"steps{n}", n)):
        (steps / "ops" / f"{name}.op.py").write_text(
            op_source(name, [(False, ["true"] * count)]), encoding="utf-8"
        )
    hw_dir = tmp / "handwritten"
    hw_dir.mkdir()
    (hw_dir / "hw_flow.py").write_text(HANDWRITTEN, encoding="utf-8")

    def chant(name: str, cwd: Path, mode: str) -> Callable[[], Sample]:
        return lambda: run_child([CHANT, "run", name, mode], cwd, env)

    def hand(phases: Phases) -> Callable[[], Sample]:
        argv = [PYTHON, str(hw_dir / "hw_flow.py"), server.address, json.dumps(phases)]
        return lambda: run_child(argv, hw_dir, env)

    # Sanity: all three really ran the commands (the first command's output shows).
    first = subprocess.run(
        ["/bin/sh", "-c", hello_phases[0][1][0]], capture_output=True, check=True
    ).stdout.splitlines()[0]
    for job in (chant("hello", hello, "--temporal"), chant("hello", hello, "--local")):
        if first not in job().stdout:
            raise SystemExit(f"bench: chant's output lacks {first!r}")
    if first not in hand(hello_phases)().stdout:
        raise SystemExit(f"bench: the hand-written program's output lacks {first!r}")

    progress("1. hello: chant --temporal, hand-written, chant --local (cold processes)")
    c_hello = Series("chant run hello --temporal")
    h_hello = Series("hand-written hello")
    l_hello = Series("chant run hello --local")
    alternate(
        args.runs,
        [
            (c_hello, chant("hello", hello, "--temporal")),
            (h_hello, hand(hello_phases)),
            (l_hello, chant("hello", hello, "--local")),
        ],
        spid,
    )

    progress(f"2. 1 and {n} sequential `true` steps (cold processes)")
    c1, cn = Series("chant 1 --temporal"), Series(f"chant {n} --temporal")
    h1, hn = Series("hand-written 1"), Series(f"hand-written {n}")
    l1, ln = Series("chant 1 --local"), Series(f"chant {n} --local")
    alternate(
        args.step_runs,
        [
            (cn, chant(f"steps{n}", steps, "--temporal")),
            (hn, hand([(False, ["true"] * n)])),
            (ln, chant(f"steps{n}", steps, "--local")),
            (c1, chant("steps1", steps, "--temporal")),
            (h1, hand([(False, ["true"])])),
            (l1, chant("steps1", steps, "--local")),
        ],
        spid,
    )

    progress(f"3. 1 and {n} steps with an in-process worker (hand-written, chant)")
    inproc = asyncio.run(in_process(hw_dir, steps, server.address, n, args.step_runs, spid))

    per_c, per_h, per_l = per_step(cn, c1, n), per_step(hn, h1, n), per_step(ln, l1, n)
    labels = ("hand-written", "chant, result awaited", "chant, events followed")
    per_i, per_ir, per_if = (per_step(inproc[x][1], inproc[x][0], n) for x in labels)
    cpu_i, cpu_ir, cpu_if = (per_step(inproc[x][1], inproc[x][0], n, "cpu") for x in labels)
    ratio = per_c / per_h
    hello_ok = c_hello.median <= 1.5
    rows = [
        Row(
            "1. `chant run hello --temporal`, cold, wall (median)",
            ms(c_hello.median),
            ms(h_hello.median),
            ms(l_hello.median),
            f"{c_hello.median / h_hello.median:.2f}x hand-written, "
            f"{c_hello.median / l_hello.median:.1f}x local",
            "≤ 1.5 s",
            "PASS" if hello_ok else "MISS",
        ),
        Row(
            "1b. same, CPU time of the process (+ its children)",
            ms(c_hello.cpu),
            ms(h_hello.cpu),
            ms(l_hello.cpu),
            f"{c_hello.cpu / h_hello.cpu:.2f}x hand-written",
            "info",
            "info",
        ),
        Row(
            "1c. same, dev server CPU during one run",
            ms(c_hello.server_cpu),
            ms(h_hello.server_cpu),
            "",
            "",
            "info",
            "info",
        ),
        Row(
            "1d. same, peak RSS of the process (wait4)",
            mib(max(c_hello.rss)),
            mib(max(h_hello.rss)),
            mib(max(l_hello.rss)),
            "",
            "info",
            "info",
        ),
        Row(
            f"2. per step: (t{n} − t1) / {n - 1}, cold processes",
            f"{per_c:.1f} ms",
            f"{per_h:.1f} ms",
            f"{per_l:.2f} ms",
            f"{ratio:.2f}x hand-written",
            "≤ 1.5x hand-written",
            "PASS" if ratio <= 1.5 else "MISS",
        ),
        Row(
            f"2b. {n}-step Op, wall (median)",
            ms(cn.median),
            ms(hn.median),
            ms(ln.median),
            "",
            "info",
            "info",
        ),
        Row(
            "2c. 1-step Op, wall (median)",
            ms(c1.median),
            ms(h1.median),
            ms(l1.median),
            "",
            "info",
            "info",
        ),
        Row(
            "2d. per step, in-process worker: chant's events followed",
            f"{per_if:.1f} ms",
            f"{per_i:.1f} ms",
            "",
            f"{per_if / per_i:.2f}x hand-written",
            "info",
            "info",
        ),
        Row(
            "2e. per step, in-process worker: chant's result awaited",
            f"{per_ir:.1f} ms",
            f"{per_i:.1f} ms",
            "",
            f"{per_ir / per_i:.2f}x hand-written",
            "info",
            "info",
        ),
        Row(
            "2f. per step, CPU of the process (+ its children)",
            f"{per_step(cn, c1, n, 'cpu'):.1f} ms",
            f"{per_step(hn, h1, n, 'cpu'):.1f} ms",
            f"{per_step(ln, l1, n, 'cpu'):.2f} ms",
            "",
            "info",
            "info",
        ),
        Row(
            "2g. per step, dev server CPU",
            f"{per_step(cn, c1, n, 'server_cpu'):.1f} ms",
            f"{per_step(hn, h1, n, 'server_cpu'):.1f} ms",
            "",
            "",
            "info",
            "info",
        ),
        Row(
            "2h. per step, CPU in-process (2d followed / 2e awaited)",
            f"{cpu_if:.1f} / {cpu_ir:.1f} ms",
            f"{cpu_i:.1f} ms",
            "",
            "",
            "info",
            "info",
        ),
    ]
    all_series = [c_hello, h_hello, l_hello, c1, cn, h1, hn, l1, ln]
    all_series += [s for pair in inproc.values() for s in pair]
    dump: dict[str, Any] = {
        "date": str(datetime.date.today()),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "steps": n,
        "series": {
            s.label: {
                "wall_s": s.walls,
                "cpu_s": s.cpus,
                "maxrss_kib": s.rss,
                "server_cpu_s": s.server_cpus,
                "median_s": s.median,
            }
            for s in all_series
        },
    }
    return rows, dump


if __name__ == "__main__":
    sys.exit(main())
