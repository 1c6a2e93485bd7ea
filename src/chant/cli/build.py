"""``chant build``: validate every Op and write its IR to ``dist/ops/<name>.op.json``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from chant.discover import shown_path
from chant.errors import OpNotFoundError
from chant.ir import Op
from chant.project import load_project


def write_ir(ops: list[Op], out_dir: Path) -> list[Path]:
    """Write each Op's IR as pretty JSON into ``out_dir``; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for op in ops:
        path = out_dir / f"{op.name}.op.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(op.to_dict(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
        paths.append(path)
    return paths


def execute(args: argparse.Namespace) -> int:
    """Validate every Op and write dist/ops/<name>.op.json."""
    project = load_project()
    if not project.ops:
        raise OpNotFoundError(
            f"no *.op.py with an Op found under {project.config.root}",
            hint="write one in ops/<name>.op.py (chant init creates ops/hello.op.py)",
        )
    paths = write_ir(list(project.ops.values()), project.config.root / "dist" / "ops")
    for name, path in zip(project.ops, paths, strict=True):
        print(f"built {name} → {shown_path(path)}")
    return 0
