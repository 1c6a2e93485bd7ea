"""The plan of a run, without running it: what ``chant plan`` and ``chant run
--dry-run`` print (``chant.plandoc``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from chant.api.running import PathLike, Say, _log, checked_op

if TYPE_CHECKING:
    from chant.ir import JSON, Op
    from chant.project import Project


def plan_of(
    op: Op | str,
    *,
    project: Project | PathLike | None = None,
    params: Mapping[str, JSON] | None = None,
    param_args: Sequence[str] = (),
    params_file: PathLike | None = None,
    no_retry: bool = False,
    say: Say = _log,
) -> dict[str, JSON]:
    """The plan document (docs/cli.md, "chant plan") of a run of ``op`` with these
    values, after the checks ``chant run`` makes of the Op and its values, with the same
    errors (``OpNotFoundError``, ``ValidationError``, ``chant.params.ParamError``). The
    options are ``chant.run``'s; nothing runs, and neither Temporal nor the secrets'
    values are needed (a plan names secrets, never holds them)."""
    _project, resolved, values = checked_op(
        op, project, "planning", params, param_args, params_file, say
    )
    if no_retry:
        from chant.plan import single_attempt

        resolved = single_attempt(resolved)
    from chant.plandoc import plan_document
    from chant.planned import Plan

    return plan_document(Plan.of(resolved), values)
