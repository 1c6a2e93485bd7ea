"""`chant server start` in a fresh project against the raw dev server reaching SERVING.

    .venv/bin/python bench/server_start.py --rounds 7 [--base REV ...] [--no-tree]

Each round, alternating which goes first:

- **raw**: ``temporal server start-dev`` with exactly the arguments chant gives it (read
  from ``/proc`` of the server the warm-up ``chant server start`` left, with a new port
  and database), timed from spawn until it answers the gRPC health check with SERVING,
  polled every 5 ms from this process (``chant.temporal.servers.health_check``, imported
  before the clock starts).
- **chant**: ``python -m chant server start`` as a cold process in a fresh project (its
  own port, no ``.chant/``), timed from spawn to exit (it exits once the server serves),
  with its CPU time and peak RSS from ``wait4``. chant is the working tree's ``src/``
  first on ``PYTHONPATH`` (unless ``--no-tree``), for each ``--base REV`` that
  revision's ``src/`` from ``git archive``, and each ``--src DIR``.

Every server is stopped (SIGTERM to its process group) and gone before the next start.
Children get ``run_all.child_env``'s environment. Prints medians, each chant's median
over the raw median and the median of the per-round ratios, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from parallel import sources
from run_all import (
    PYTHON,
    REPO,
    Sample,
    Series,
    child_env,
    markdown_table,
    run_child,
    source_state,
)

sys.path.insert(0, str(REPO / "src"))
from chant.temporal.servers import health_check


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def gone(pid: int, seconds: float = 15.0) -> None:
    """Wait until ``pid`` (not our child) has exited; SIGKILL its group if it lingers."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state in "ZX":
            return
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            deadline += 5
        time.sleep(0.02)


def project(tmp: Path, tag: str) -> tuple[Path, str]:
    root = tmp / tag
    root.mkdir()
    address = f"127.0.0.1:{free_port()}"
    (root / "chant.toml").write_text(
        f'[temporal]\n[temporal.profiles.dev]\naddress = "{address}"\n', encoding="utf-8"
    )
    return root, address


def chant_start(tmp: Path, env: dict[str, str], counter: list[int]) -> tuple[Sample, list[str]]:
    """One cold ``chant server start`` in a fresh project; the server's argv."""
    counter[0] += 1
    root, _ = project(tmp, f"chant-{counter[0]}")
    sample = run_child([PYTHON, "-m", "chant", "server", "start"], root, env)
    info = json.loads((root / ".chant" / "server" / "server.json").read_text())
    argv = Path(f"/proc/{info['pid']}/cmdline").read_bytes().decode().split("\0")[:-1]
    os.killpg(info["pid"], signal.SIGTERM)
    gone(info["pid"])
    return sample, argv


def with_value(argv: list[str], option: str, value: str) -> list[str]:
    i = argv.index(option)
    return [*argv[: i + 1], value, *argv[i + 2 :]]


def raw_start(tmp: Path, template: list[str], counter: list[int]) -> Sample:
    """The server alone: spawn until it answers the health check with SERVING."""
    counter[0] += 1
    folder = tmp / f"raw-{counter[0]}"
    folder.mkdir()
    port = free_port()
    argv = with_value(template, "--port", str(port))
    argv = with_value(argv, "--db-filename", str(folder / "temporal.db"))
    address = f"127.0.0.1:{port}"
    with open(folder / "server.log", "wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    try:
        while not health_check(address, 5.0):
            if proc.poll() is not None:
                raise SystemExit(f"bench: the raw server exited with {proc.returncode}")
            time.sleep(0.005)
        wall = time.perf_counter() - started
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
    return Sample(wall, 0, b"")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--base", action="append", default=[], help="a git revision")
    parser.add_argument(
        "--src", action="append", default=[], type=Path, help="also measure this src/ folder"
    )
    parser.add_argument("--no-tree", action="store_true", help="skip the working tree")
    args = parser.parse_args(argv)
    print(f"source: {source_state()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="chant-server-start-") as tmp_name:
        tmp = Path(tmp_name)
        srcs = sources(args, tmp)
        counter = [0]
        raw = Series("raw server to SERVING")
        jobs: list[tuple[Series, Callable[[], Sample]]] = []
        template: list[str] = []
        for i, (label, src) in enumerate(srcs.items()):
            env = child_env(tmp / f"pyc-{i}", path=src)
            _, template = chant_start(tmp, env, counter)  # warm-up: bytecode, page cache
            jobs.append((Series(label), lambda e=env: chant_start(tmp, e, counter)[0]))
        raw_job = (raw, lambda: raw_start(tmp, template, counter))
        raw_job[1]()  # warm-up
        jobs.insert(0, raw_job)
        ratios: dict[str, list[float]] = {s.label: [] for s, _ in jobs[1:]}
        for r in range(args.rounds):
            k = r % len(jobs)
            for series, job in jobs[k:] + jobs[:k]:
                series.add(job())
            for series, _ in jobs[1:]:
                ratios[series.label].append(series.walls[-1] / raw.walls[-1])
            print(f"round {r + 1} done", file=sys.stderr, flush=True)
    cells = [["case", "median wall", "vs raw median", "median of ratios", "CPU", "peak RSS"]]
    cells.append([raw.label, f"{raw.median * 1000:.0f} ms", "1.00x", "", "", ""])
    for series, _ in jobs[1:]:
        cells.append(
            [
                series.label,
                f"{series.median * 1000:.0f} ms",
                f"{series.median / raw.median:.2f}x",
                f"{statistics.median(ratios[series.label]):.2f}x",
                f"{series.cpu * 1000:.0f} ms",
                f"{statistics.median(series.rss) / 1024:.1f} MiB",
            ]
        )
    print(markdown_table(cells))
    for series, _ in jobs:
        print(f"{series.label}: " + " ".join(f"{w * 1000:.0f}" for w in series.walls))
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
