"""Load a whole project: config, op files, activities, validated and resolved Ops."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from chant.activities.registry import ProjectContext, Registry, default_registry
from chant.config import Config, load_config
from chant.discover import Discovered, discover
from chant.errors import OpNotFoundError, Problem, ValidationError
from chant.ir import Op, Profile
from chant.names import did_you_mean, is_op_name, where
from chant.plan import check_project, resolve_op

if TYPE_CHECKING:
    from chant.shapes import Shape


class Project(NamedTuple):
    """A loaded project (``load_project``). (A named tuple, not a frozen dataclass: every
    command that loads a project defines it, and a dataclass costs more to define.)"""

    config: Config
    ops: Mapping[str, Op]
    """Resolved Ops by name, in discovery order."""
    files: Mapping[str, str]
    """The file each Op was declared in, shown relative to the current directory."""
    registry: Registry
    problems: tuple[Problem, ...] = ()
    """What is wrong with the project's Ops; non-empty only from a non-strict load."""
    broken: Mapping[str, tuple[Problem, ...]] = {}  # shared, never written: read as a Mapping
    """The problems of each invalid Op, by name (a subset of ``problems``)."""
    discovered: Discovered | None = None
    """Where the op files were looked for."""
    unnamed: tuple[tuple[str, tuple[Problem, ...]], ...] = ()
    """Where an Op may be that chant cannot name, with why: each op file that failed to
    import, and each Op whose name is invalid (``file:line``)."""

    def valid(self) -> list[str]:
        """The names of the Ops that can run: every Op without a problem of its own."""
        return [name for name in self.ops if name not in self.broken]

    def problems_besides(self, name: str) -> tuple[Problem, ...]:
        """The problems that do not stop Op ``name`` from running: warnings for
        ``chant run NAME``. When ``name`` is not found, the import failures of op files
        are left out, since ``op(name)`` reports them as where it may be defined."""
        own = set(self.broken.get(name, ()))
        if name not in self.ops:
            own |= {p for _, problems in self.unnamed for p in problems}
        return tuple(p for p in self.problems if p not in own)

    def looked(self) -> str:
        """Where chant looked for op files, what it considered and skipped: indented
        lines, each after a newline (empty when unknown)."""
        searched = self.discovered.searched if self.discovered else None
        return "".join(f"\n  {line}" for line in searched.describe()) if searched else ""

    def how_to_add(self) -> str:
        """The hint for a project where no Op was found."""
        if self.config.file is None:
            return (
                "cd into your project, or start one here with `chant init` (it writes "
                "chant.toml and ops/hello.op.py)"
            )
        return (
            "write one in ops/<name>.op.py, or list its folder in [project] ops of "
            "chant.toml (chant init creates ops/hello.op.py)"
        )

    def resolve(self, op: Op) -> Op:
        """``op``, declared in Python rather than found in the project, resolved against
        the project's profiles and activities as ``chant run`` resolves its Ops;
        ``ValidationError`` with every problem when it cannot run."""
        resolved, problems = resolve(op, profiles=self.config.profiles, registry=self.registry)
        if problems:
            raise ValidationError(problems)
        return resolved

    def op(self, name: str) -> Op:
        """The Op called ``name``; ``ValidationError`` with its problems when it is
        invalid, or ``OpNotFoundError`` saying where chant looked and which op files
        failed to import (the Op may be defined in one of them)."""
        if name in self.broken:
            raise ValidationError(list(self.broken[name]))
        if name in self.ops:
            return self.ops[name]
        names = [n for n in self.ops if is_op_name(n)]
        close = did_you_mean(name, names)
        if self.unnamed:
            places = ", ".join(place for place, _ in self.unnamed)
            body = "\n".join(str(p) for _, problems in self.unnamed for p in problems)
            available = f"; available: {', '.join(names)}" if names else ""
            raise OpNotFoundError(
                f'no Op named "{name}"{available}; it may be defined at {places}, where chant '
                f"could not load an Op:\n{body}",
                hint=close
                or "fix the problems above and run again (`chant build` lists every problem)",
            )
        where = self.looked()
        if not names:
            raise OpNotFoundError(
                f'no Op named "{name}": no Ops found under {self.config.root}{where}',
                hint=self.how_to_add(),
            )
        raise OpNotFoundError(
            f'no Op named "{name}"; available: {", ".join(names)}{where}',
            hint=close or "chant list shows every Op",
        )


def load_project(start: Path | None = None, *, strict: bool = True) -> Project:
    """Find the project around ``start`` (default: the current directory), import every
    ``*.op.py`` and validate every Op. Raises ``ValidationError`` with every problem,
    unless ``strict`` is False: then the problems are kept in ``Project.problems`` (and
    each invalid Op's in ``Project.broken``) for commands that need only some Ops, like
    ``chant run NAME``, or only inspect, like ``chant activities``.
    """
    config = load_config(start or Path.cwd())
    found = discover(config)
    registry = default_registry(found.activities, project=ProjectContext(config))
    problems = list(found.problems)
    check_project(list(found.ops), problems)
    defaults = registry.defaults()
    ops: dict[str, Op] = {}
    files: dict[str, str] = {}
    broken: dict[str, list[Problem]] = {}
    unnamed: list[tuple[str, tuple[Problem, ...]]] = [(f, (p,)) for f, p in found.failed]
    for op, file in found.ops:
        resolved, own = resolve(
            op, profiles=config.profiles, registry=registry, activities=defaults
        )
        problems += own
        if not is_op_name(op.name):
            unnamed.append((where(op.origin) or file, tuple(own)))
        if isinstance(op.name, str):  # any other name is a problem reported already
            ops.setdefault(op.name, resolved)
            files.setdefault(op.name, file)
            if own:
                broken.setdefault(op.name, []).extend(own)
    if problems and strict:
        raise ValidationError(problems)
    if problems:
        for name in ops:
            spanning: list[Problem] = []  # a duplicate name, an unknown depends
            check_project(list(found.ops), spanning, of=name)
            if spanning:
                broken.setdefault(name, []).extend(spanning)
    return Project(
        config=config,
        ops=ops,
        files=files,
        registry=registry,
        problems=tuple(problems),
        broken={name: tuple(p) for name, p in broken.items()},
        discovered=found,
        unnamed=tuple(unnamed),
    )


def resolve(
    op: Op,
    *,
    profiles: Mapping[str, Profile],
    registry: Registry,
    activities: Mapping[str, str] | None = None,
) -> tuple[Op, list[Problem]]:
    """``op`` resolved against ``profiles`` and the activities of ``registry`` (ids
    assigned, profiles looked up, each step's arguments checked against its activity's
    signature), and the problems found: none when it can run. ``activities`` maps the
    names of the activities a step may call to their default profile (default: every
    one in ``registry``)."""

    def check_args(fn: str, args: Mapping[str, object]) -> str | None:
        found = registry.get(fn)
        return found.check_args(args) if found else None

    def results(fn: str) -> Shape | None:
        found = registry.get(fn)
        return found.result if found else None

    problems: list[Problem] = []
    known = registry.defaults() if activities is None else activities
    resolved = resolve_op(
        op,
        profiles=profiles,
        activities=known,
        problems=problems,
        check_args=check_args,
        results=results,
    )
    return resolved, problems
