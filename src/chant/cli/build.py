"""``chant build``: validate every Op and write its IR to ``dist/ops/<name>.op.json``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from chant.discover import shown_path
from chant.errors import ExitCode, OpNotFoundError
from chant.files import atomic_write, writing
from chant.ir import Op
from chant.project import load_project


def write_ir(ops: list[Op], out_dir: Path, *, root: Path | None = None) -> list[Path]:
    """Write each Op's IR as pretty JSON into ``out_dir``; return the paths.

    Each file is replaced atomically under a temporary name of its own, so any number
    of builds may run at once. A project that cannot be written raises
    ``ProjectFileError`` naming the path (shown relative to ``root``)."""
    with writing("create the folder", out_dir, root=root):
        out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for op in ops:
        path = out_dir / f"{op.name}.op.json"
        with writing("write", path, root=root):
            atomic_write(path, (json.dumps(op.to_dict(), indent=2) + "\n").encode("utf-8"))
        paths.append(path)
    return paths


def execute(args: argparse.Namespace) -> int:
    """Validate every Op and write dist/ops/<name>.op.json."""
    project = load_project()
    if not project.ops:
        raise OpNotFoundError(
            f"no *.op.py with an Op found under {project.config.root}{project.looked()}",
            hint=project.how_to_add(),
        )
    root = project.config.root
    paths = write_ir(list(project.ops.values()), root / "dist" / "ops", root=root)
    for name, path in zip(project.ops, paths, strict=True):
        print(f"built {name} → {shown_path(path)}")
    return ExitCode.OK
