"""Has the "demo" environment drifted since the last check?

    chant run drift-check     # [outcome] Drift=false
    touch cache.on
    chant run drift-check     # [outcome] Drift=true  (1 added: cache)
    chant run drift-check     # [outcome] Drift=false (nothing changed since)
"""

from chant import Op, Outcome, activity, phase, state_diff, state_snapshot

drift_check = Op(
    name="drift-check",
    overview="Snapshot the demo environment and compare it with the previous snapshot",
    phases=[
        phase("Observe", [
            activity("ensure_baseline", env="demo"),  # first run only: the baseline
            state_snapshot("demo"),
        ]),
        phase("Compare", [
            state_diff("demo", outcome=Outcome("Drift", "drifted")),
        ]),
    ],
)
