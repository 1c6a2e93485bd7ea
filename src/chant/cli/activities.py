"""``chant activities``: every registered activity, its source, signature and profile."""

from __future__ import annotations

import argparse
import json

from chant.plan import where
from chant.project import load_project


def execute(args: argparse.Namespace) -> int:
    """List built-in, project and entry-point activities."""
    # Not strict: this is where a user looks when an Op's arguments do not fit.
    registry = load_project(strict=False).registry
    rows = []
    for name in registry.names():
        d = registry.get(name)
        assert d is not None
        try:
            signature = d.signature()
        except Exception as exc:  # a broken installed package must not hide the others
            signature = f"{name}(…)  [cannot be imported: {type(exc).__name__}: {exc}]"
        rows.append(
            {
                "name": name,
                "signature": signature,
                "default_profile": d.default_profile,
                "source": where(d.source) or d.source,
            }
        )
    for d in registry.shadowed:
        rows.append(
            {
                "name": d.name,
                "signature": "",
                "default_profile": d.default_profile,
                "source": f"{d.source} — hidden by the project's own {d.name!r}",
            }
        )
    if args.as_json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    prof = max(len(r["default_profile"]) for r in [*rows, {"default_profile": "PROFILE"}])
    print(f"{'NAME':<{width}}  {'PROFILE':<{prof}}  SOURCE")
    for r in rows:
        print(f"{r['name']:<{width}}  {r['default_profile']:<{prof}}  {r['source']}")
        print(f"{'':<{width}}  {r['signature']}")
    return 0
