"""chant as a library: load a project, run an Op, look after its runs on Temporal.

``chant run``, ``chant status`` and the other commands are thin adapters over these
functions: they parse arguments, call one of them, render what it returns and exit
with ``exit_code``. A Python caller gets the same checks, errors (``ChantError``
subclasses, with the CLI's messages) and results::

    import chant

    result = chant.run("deploy", mode="local", env={"TOKEN": "…"})
    print(result.ok, result.outcomes)

Notices the CLI prints on stderr (the mode chosen, problems elsewhere in the project,
what Ctrl-C does) go to ``say`` when given, else to the ``chant`` logger.
"""

from typing import TYPE_CHECKING

from chant.api.running import (
    Ended,
    Prepared,
    count,
    execute,
    exit_code,
    load_project,
    not_finished,
    prepare,
    run,
    run_async,
    warn,
)

if TYPE_CHECKING:
    from chant.api.planning import plan_of
    from chant.api.runs import cancel, history, on_runs, signal, status, temporal_target

_RUNS = ("cancel", "history", "on_runs", "signal", "status", "temporal_target")


def __getattr__(name: str) -> object:
    # The functions on Temporal runs are imported on first use: `chant run` in local
    # mode never needs them.
    if name in _RUNS:
        from chant.api import runs

        return getattr(runs, name)
    if name == "plan_of":
        from chant.api.planning import plan_of

        return plan_of
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Ended",
    "Prepared",
    "cancel",
    "count",
    "execute",
    "exit_code",
    "history",
    "load_project",
    "not_finished",
    "on_runs",
    "plan_of",
    "prepare",
    "run",
    "run_async",
    "signal",
    "status",
    "temporal_target",
    "warn",
]
