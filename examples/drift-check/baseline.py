"""A project activity: take a first snapshot of an environment that has none.

``state_diff(env)`` compares the latest snapshot with the one before it, so it needs
two. On the very first run of ``drift-check`` this step records the baseline; on every
later run it does nothing.
"""

from pathlib import Path

from chant import activity
from chant.activities.registry import ActivityContext
from chant.activities.state import STATE_DIR, snapshots, state_snapshot


@activity("ensure_baseline")
async def ensure_baseline(ctx: ActivityContext, env: str) -> dict[str, object]:
    if snapshots(Path.cwd() / STATE_DIR / env):
        ctx.log(f"{env} already has a baseline snapshot")
        return {"taken": False}
    await state_snapshot(ctx, env)
    return {"taken": True}
