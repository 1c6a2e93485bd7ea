"""``chant activities``: every registered activity, its source, signature and profile."""

from __future__ import annotations

import argparse
import json
from typing import Any

from chant.errors import ExitCode, ValidationError
from chant.names import where
from chant.project import load_project


def execute(args: argparse.Namespace) -> int:
    """List built-in, project and entry-point activities; exit 2 if an Op is invalid.

    The list is printed even then, since this is where a user looks when an Op's
    arguments do not fit; the problems follow on stderr, as ``chant build`` reports them.
    """
    project = load_project(strict=False)
    registry = project.registry
    rows: list[dict[str, Any]] = []
    for name in registry.names():
        d = registry.get(name)
        assert d is not None
        error = d.broken
        if error is None:
            try:
                signature = d.signature()
            except Exception as exc:  # e.g. a signature inspect cannot read
                error = f"{type(exc).__name__}: {exc}"
        if error is not None:
            signature = f"{name}(…)  [cannot be imported: {error}]"
        rows.append(
            {
                "name": name,
                "signature": signature,
                "default_profile": d.default_profile,
                "source": where(d.source) or d.source,
                "error": error,
            }
        )
    for d in registry.shadowed:
        rows.append(
            {
                "name": d.name,
                "signature": "",
                "default_profile": d.default_profile,
                "source": f"{d.source} — hidden by the project's own {d.name!r}",
                "error": d.broken,
            }
        )
    if args.as_json:
        print(json.dumps(rows, indent=2))
    else:
        width = max(len(r["name"]) for r in rows)
        prof = max(len(r["default_profile"]) for r in [*rows, {"default_profile": "PROFILE"}])
        print(f"{'NAME':<{width}}  {'PROFILE':<{prof}}  SOURCE")
        for r in rows:
            print(f"{r['name']:<{width}}  {r['default_profile']:<{prof}}  {r['source']}")
            print(f"{'':<{width}}  {r['signature']}")
    if project.problems:
        raise ValidationError(list(project.problems))
    return ExitCode.OK
