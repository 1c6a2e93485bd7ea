"""``chant.testing`` speed: a 100-step Op with retries and compensation under fakes.

Usage: ``python bench/testing_harness.py [--rounds N]``. The Op has ten phases of ten
``shell`` steps (odd phases parallel), each retried up to 3 times with a 10s backoff, and
an ``on_failure`` phase of ten steps. Every step fails twice and then succeeds, except
the last one, which fails for good: 298 attempts, 198 backoffs of 10s and 20s (recorded,
not waited), then the compensation's 30 attempts. Prints the median of N rounds (each in
this process, after one warm-up round) of ``run_op``'s wall time.
"""

from __future__ import annotations

import argparse
import statistics
import time

from chant import Op, Profile, Retry, phase, shell
from chant.testing import fails, raises, run_op


def hundred_steps() -> Op:
    retry = Profile(timeout="1m", retry=Retry(max_attempts=3, initial_interval="10s"))
    steps = [shell(f"step {i}", profile=retry) for i in range(100)]
    return Op(
        name="big",
        phases=[
            phase(f"P{i}", steps[i * 10 : i * 10 + 10], parallel=i % 2 == 1) for i in range(10)
        ],
        on_failure=[phase("Undo", [shell(f"undo {i}") for i in range(10)])],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    rounds = parser.parse_args().rounds
    op = hundred_steps()
    fakes: dict[str, object] = {"shell": fails(2), "p9.10": raises(non_retryable=True)}
    run_op(op, fakes=fakes)  # warm-up: imports, first resolution
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run = run_op(op, fakes=fakes)
        times.append(time.perf_counter() - started)
        assert run.status == "failed" and len(run.calls) == 99 * 3 + 1 + 10 * 3, run.status
        assert statistics.fsum(run.sleeps) == 99 * 30.0 + 10 * 15.0, run.sleeps
    ms = sorted(t * 1000 for t in times)
    what = "chant.testing, 100 steps with retries and compensation"
    median = statistics.median(ms)
    print(f"{what}: median {median:.1f} ms of {rounds} (min {ms[0]:.1f}, max {ms[-1]:.1f})")


if __name__ == "__main__":
    main()
