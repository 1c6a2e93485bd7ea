"""``chant list``: the project's Ops with their phases, steps and overview."""

from __future__ import annotations

import json
from typing import Any

import click

from chant.project import load_project


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
def command(as_json: bool) -> int:
    """List every Op: name, phases, steps, overview."""
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
        for name, op in project.ops.items()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return 0
    if not rows:
        click.echo("no Ops found (write one in ops/<name>.op.py)")
        return 0
    width = max(len(r["name"]) for r in rows)
    click.echo(f"{'NAME':<{width}}  PHASES  STEPS  OVERVIEW")
    for r in rows:
        click.echo(f"{r['name']:<{width}}  {len(r['phases']):>6}  {r['steps']:>5}  {r['overview']}")
    return 0
