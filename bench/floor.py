"""The floor: the least a Python program must do to run an Op's commands.

Usage: ``python bench/floor.py SPEC``. SPEC is a text file of phases::

    phase sequential
    echo hello
    phase parallel
    uname -s
    date -u

Each command runs as ``/bin/sh -c CMD`` through ``asyncio.create_subprocess_exec`` with
stdout and stderr piped and read to the end; its stdout is copied to our stdout. A
sequential phase runs its commands one after another, a parallel phase all at once.
A non-zero exit stops the run with exit code 1, like a failed step.

It imports only what the job needs (asyncio, sys), so its start-up is the interpreter's
plus asyncio's: the floor chant is compared against.
"""

from __future__ import annotations

import asyncio
import sys

PIPE = asyncio.subprocess.PIPE


def read_spec(path: str) -> list[tuple[bool, list[str]]]:
    phases: list[tuple[bool, list[str]]] = []
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.startswith("phase "):
                phases.append((line == "phase parallel", []))
            elif line:
                phases[-1][1].append(line)
    return phases


async def run(cmd: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh", "-c", cmd, stdin=asyncio.subprocess.DEVNULL, stdout=PIPE, stderr=PIPE
    )
    out, _err = await proc.communicate()
    if out:
        sys.stdout.write(out.decode("utf-8", "replace"))
    return proc.returncode or 0


async def main(path: str) -> int:
    for parallel, cmds in read_spec(path):
        if parallel:
            codes = await asyncio.gather(*(run(c) for c in cmds))
        else:
            codes = []
            for cmd in cmds:
                codes.append(await run(cmd))
                if codes[-1]:
                    break
        if any(codes):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
