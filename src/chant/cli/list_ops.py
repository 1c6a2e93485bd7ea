"""``chant list``: the project's Ops with their phases, steps, overview and parameters."""

from __future__ import annotations

import argparse
import json
from typing import Any

from chant.errors import ExitCode
from chant.irparam import Param
from chant.params import describe
from chant.project import load_project
from chant.render import terminal_safe


def execute(args: argparse.Namespace) -> int:
    """List every Op: name, phases, steps, overview, and a line per parameter."""
    project = load_project()
    rows: list[dict[str, Any]] = [
        {
            "name": name,
            "file": project.files[name],
            "overview": op.overview,
            "phases": [p.name for p in op.phases],
            "steps": sum(len(p.steps) for p in op.phases),
            "on_failure": [p.name for p in op.on_failure],
            "schedule": op.schedule,
        }
        # The IR's way: "params" only for an Op that has some.
        | ({"params": [_param(n, p) for n, p in op.params.items()]} if op.params else {})
        for name, op in project.ops.items()
    ]
    if args.as_json:
        print(json.dumps(rows, indent=2))
        return ExitCode.OK
    if not rows:  # nothing to list is not an error; say where chant looked, as run does
        text = f"no Ops found under {project.config.root}{project.looked()}"
        print("\n".join(terminal_safe(line) for line in text.split("\n")))
        print(f"  hint: {project.how_to_add()}")
        return ExitCode.OK
    width = max(len(r["name"]) for r in rows)
    print(f"{'NAME':<{width}}  PHASES  STEPS  OVERVIEW")
    for r in rows:
        overview = terminal_safe(r["overview"])  # user text: shown, never acted on
        print(f"{r['name']:<{width}}  {len(r['phases']):>6}  {r['steps']:>5}  {overview}")
        for line in describe(project.ops[r["name"]]):
            print(f"  {terminal_safe(line)}")
    return ExitCode.OK


def _param(name: str, param: Param) -> dict[str, Any]:
    """A parameter in ``chant list --json``: its IR form, with its name and whether it is
    required (``default`` is null then)."""
    data = param.to_dict()
    return {
        "name": name,
        "type": data["type"],
        "required": param.required,
        "default": data.get("default"),
        "choices": data["choices"],
        "help": data["help"],
    }
