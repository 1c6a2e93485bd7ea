"""What a run on Temporal carries in its memo, for ``chant status``, ``chant history``
and ``chant schedule list`` (which then need neither a worker nor the run's history):
its parameter values and the digest of its plan."""

from __future__ import annotations

from collections.abc import Mapping

from chant.ir import JSON, Op

PARAMS_MEMO = "chant_params"
"""The memo entry of a run holding its parameter values, for ``chant status`` and
``chant history`` (which then need neither a worker nor the run's history)."""
PARAMS_MEMO_LIMIT = 16 * 1024
"""Bytes of JSON the values may take in the memo (every row ``chant history`` lists
carries its memo); bigger values are left out of it (the input has them)."""


def params_memo(params: Mapping[str, JSON] | None) -> dict[str, JSON]:
    """The memo a run started with ``params`` carries: the values under ``chant_params``
    (``{"$left_out": …}`` when they are too big for it); empty without values."""
    if not params:
        return {}
    import json

    size = len(json.dumps(params, separators=(",", ":")))
    if size > PARAMS_MEMO_LIMIT:
        return {PARAMS_MEMO: {"$left_out": f"the values take {size:,} bytes"}}
    return {PARAMS_MEMO: dict(params)}


PLAN_MEMO = "chant_plan_digest"
"""The memo entry of a run holding the digest of its plan (``chant plan`` shows it)."""


def plan_memo(op: Op, params: Mapping[str, JSON]) -> dict[str, JSON]:
    """The memo entry of the digest of ``op``'s plan with ``params`` (complete values)."""
    from chant.plandoc import plan_digest
    from chant.planned import Plan

    return {PLAN_MEMO: plan_digest(Plan.of(op), params)}


def with_defaults(op: Op, params: Mapping[str, JSON] | None) -> dict[str, JSON]:
    """``params`` with the Op's defaults for the parameters they leave out (the memo
    and ``chant status`` then show every value the run has). Values that do not fit
    are left as they are: the workflow refuses them, naming what is wrong."""
    from chant.params import ParamError, check

    try:
        return check(op, params or {})
    except ParamError:
        return dict(params or {})
