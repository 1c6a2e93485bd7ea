"""Load a whole project: config, op files, activities, validated and resolved Ops."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from chant.activities.registry import Registry, default_registry
from chant.config import Config, load_config
from chant.discover import discover
from chant.errors import OpNotFoundError, Problem, ValidationError
from chant.ir import JSON, Op
from chant.plan import check_project, resolve_op, suggest


@dataclass(frozen=True)
class Project:
    config: Config
    ops: Mapping[str, Op]
    """Resolved Ops by name, in discovery order."""
    files: Mapping[str, str]
    """The file each Op was declared in, shown relative to the current directory."""
    registry: Registry
    problems: tuple[Problem, ...] = ()
    """What is wrong with the project's Ops; non-empty only from a non-strict load."""

    def op(self, name: str) -> Op:
        """The Op called ``name``, or ``OpNotFoundError`` listing the ones there are."""
        if name in self.ops:
            return self.ops[name]
        names = list(self.ops)
        if not names:
            raise OpNotFoundError(
                f'no Op named "{name}": no Ops found under {self.config.root}',
                hint="write one in ops/<name>.op.py (chant init creates ops/hello.op.py)",
            )
        hint = suggest(name, names)
        raise OpNotFoundError(
            f'no Op named "{name}"; available: {", ".join(names)}',
            hint=hint if hint.startswith("did you mean") else "chant list shows every Op",
        )


def load_project(start: Path | None = None, *, strict: bool = True) -> Project:
    """Find the project around ``start`` (default: the current directory), import every
    ``*.op.py`` and validate every Op. Raises ``ValidationError`` with every problem,
    unless ``strict`` is False (for commands that only inspect, like ``chant activities``).
    """
    config = load_config(start or Path.cwd())
    found = discover(config)
    registry = default_registry()
    problems = list(found.problems)
    check_project(list(found.ops), problems)
    defaults = registry.defaults()

    def check_args(fn: str, args: Mapping[str, JSON]) -> str | None:
        found = registry.get(fn)
        return found.check_args(args) if found else None

    ops: dict[str, Op] = {}
    files: dict[str, str] = {}
    for op, file in found.ops:
        resolved = resolve_op(
            op,
            profiles=config.profiles,
            activities=defaults,
            problems=problems,
            check_args=check_args,
        )
        if isinstance(op.name, str):  # any other name is a problem reported already
            ops.setdefault(op.name, resolved)
            files.setdefault(op.name, file)
    if problems and strict:
        raise ValidationError(problems)
    return Project(config=config, ops=ops, files=files, registry=registry, problems=tuple(problems))
