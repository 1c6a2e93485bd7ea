"""state_snapshot and state_diff against a fake observe command in a temporary project."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from chant import Op, Outcome, phase, state_diff, state_snapshot
from chant.activities.registry import ActivityContext
from chant.activities.state import (
    snapshots,
    write_snapshot,
)
from chant.activities.state import (
    state_diff as diff_activity,
)
from chant.activities.state import (
    state_snapshot as snapshot_activity,
)
from chant.errors import ActivityError, CommandFailedError, ToolNotFoundError
from chant.events import Event, RunResult
from chant.ir import ActivityStep
from conftest import MakeProject, run_op

# The fake environment: observe.sh prints state.json, which each test rewrites between
# observations. It also says something on stderr, which the step's output should show.
OBSERVE = """\
#!/bin/sh
echo "observing $1" >&2
cat state.json
"""

TOML = """\
[project]
ops = ["ops"]

[environments.demo]
observe = ["sh", "observe.sh", "demo"]

[environments.other]
observe = ["sh", "observe.sh", "other"]
"""

STATE_V1 = {
    "api": {"image": "api:1.0", "replicas": 2},
    "web": {"image": "web:1.0", "replicas": 2},
    "db": {"image": "pg:16"},
}
STATE_V2 = {
    "api": {"image": "api:1.1", "replicas": 2},  # changed
    "web": {"image": "web:1.0", "replicas": 2},  # same
    "cache": {"image": "redis:7"},  # added
    # db removed
}


class Lines:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __call__(self, line: str, stream: str) -> None:
        self.lines.append((stream, line))


@pytest.fixture
def project(make_project: MakeProject, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_project({"chant.toml": TOML, "observe.sh": OBSERVE, "ops/.keep": ""})
    monkeypatch.chdir(root)
    return root


def observed(root: Path, data: Any) -> None:
    """What the fake environment prints next."""
    (root / "state.json").write_text(json.dumps(data), encoding="utf-8")


def call(fn: Any, **args: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    lines = Lines()
    ctx = ActivityContext(step_id="s.1", attempt=1, output=lines)
    result = asyncio.run(asyncio.wait_for(fn(ctx, **args), 20))
    return result, lines.lines


def snap(root: Path, data: Any, env: str = "demo") -> dict[str, Any]:
    observed(root, data)
    return call(snapshot_activity, env=env)[0]


def diff(**args: Any) -> dict[str, Any]:
    return call(diff_activity, **args)[0]


def canonical_sha256(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def run_steps(*steps: ActivityStep) -> tuple[RunResult, list[Event]]:
    """Run the steps in one phase with their default profiles, as `chant run` would."""
    return run_op(Op(name="t", phases=[phase("P", list(steps))]), timeout=30)


def failed_once(step: ActivityStep) -> dict[str, str]:
    """Run ``step``; check it failed at its first and only attempt; return the error."""
    result, events = run_steps(step)
    [rec] = result.steps
    assert rec.status == "failed"
    assert rec.attempts == 1
    assert not [e for e in events if e.type == "step_retrying"]
    assert rec.error is not None
    return rec.error


# --- state_snapshot ---------------------------------------------------------------------


def test_a_snapshot_is_stored_under_chant_state_env_with_its_digest(project: Path) -> None:
    observed(project, STATE_V1)
    result, lines = call(snapshot_activity, env="demo")

    [path] = snapshots(project / ".chant" / "state" / "demo")
    assert path.name.startswith("000001-") and path.name.endswith("Z.json")
    assert result == {
        "env": "demo",
        "path": f".chant/state/demo/{path.name}",
        "digest": canonical_sha256(STATE_V1),
        "resources": 3,
    }
    assert json.loads(path.read_text(encoding="utf-8")) == STATE_V1
    # Stored with sorted keys and indented, so two snapshots diff well by hand.
    assert path.read_text(encoding="utf-8") == json.dumps(STATE_V1, sort_keys=True, indent=2) + "\n"
    # The data is not echoed as output; the command's stderr and a summary are.
    assert ("stderr", "observing demo") in lines
    assert not [line for stream, line in lines if stream == "stdout"]
    assert any(s == "log" and "3 resources" in line for s, line in lines)
    assert not list((project / ".chant" / "state" / "demo").glob(".tmp-*"))


def test_each_snapshot_is_a_new_numbered_file_and_history_is_kept(project: Path) -> None:
    first = snap(project, STATE_V1)
    second = snap(project, STATE_V2)
    third = snap(project, STATE_V1)
    files = snapshots(project / ".chant" / "state" / "demo")
    assert [f.name[:7] for f in files] == ["000001-", "000002-", "000003-"]
    assert [f".chant/state/demo/{f.name}" for f in files] == [
        first["path"],
        second["path"],
        third["path"],
    ]
    assert first["digest"] == third["digest"] != second["digest"]
    assert [json.loads(f.read_text()) for f in files] == [STATE_V1, STATE_V2, STATE_V1]


def test_environments_have_separate_folders(project: Path) -> None:
    snap(project, STATE_V1, env="demo")
    snap(project, STATE_V2, env="other")
    assert len(snapshots(project / ".chant" / "state" / "demo")) == 1
    [other] = snapshots(project / ".chant" / "state" / "other")
    assert json.loads(other.read_text()) == STATE_V2


def test_the_whole_output_is_stored_even_when_it_is_large(project: Path) -> None:
    # run_command keeps only a 64 KiB tail of each stream; the snapshot must not.
    big = {f"r{i}": {"data": "x" * 100, "i": i} for i in range(3000)}
    result = snap(project, big)
    assert result["resources"] == 3000
    assert json.loads((project / result["path"]).read_text()) == big


def test_a_snapshot_step_runs_with_the_default_profile(project: Path) -> None:
    observed(project, STATE_V1)
    result, _ = run_steps(state_snapshot("demo"))
    [rec] = result.steps
    assert rec.status == "ok"
    assert rec.result is not None and rec.result["resources"] == 3


def test_snapshots_beyond_keep_are_pruned_and_stale_temp_files_removed(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    stale, fresh = folder / ".tmp-crashed.json", folder / ".tmp-in-progress.json"
    stale.write_text("{half")
    fresh.write_text("{half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    for i in range(5):
        write_snapshot(folder, {"i": i}, keep=3)
    files = snapshots(folder)
    assert [f.name[:6] for f in files] == ["000003", "000004", "000005"]
    assert [json.loads(f.read_text()) for f in files] == [{"i": 2}, {"i": 3}, {"i": 4}]
    assert not stale.exists()
    assert fresh.exists()  # perhaps another snapshot being written right now


# --- resource identity ------------------------------------------------------------------


def k8s(*items: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": list(items)}


def item(kind: str, name: str, namespace: str | None = None, **rest: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "resourceVersion": "1"}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": "v1", "kind": kind, "metadata": metadata, **rest}


def test_kubernetes_items_are_kind_namespace_name(project: Path) -> None:
    before = k8s(
        item("Deployment", "api", "shop", spec={"replicas": 2}),
        item("Service", "api", "shop"),
        item("Namespace", "shop"),  # cluster-scoped: Kind/name
        item("ConfigMap", "old", "shop"),
    )
    assert snap(project, before)["resources"] == 4
    after = k8s(
        item("Deployment", "api", "shop", spec={"replicas": 3}),
        item("Service", "api", "shop"),
        item("Namespace", "shop"),
        item("ConfigMap", "new", "shop"),
        item("Service", "api", "billing"),
    )
    assert snap(project, after)["resources"] == 5
    assert diff(env="demo") == {
        "drifted": True,
        "added": ["ConfigMap/shop/new", "Service/billing/api"],
        "removed": ["ConfigMap/shop/old"],
        "changed": ["Deployment/shop/api"],
        "summary": "2 added, 1 removed, 1 changed",
    }


def test_fields_kubernetes_rewrites_by_itself_are_not_drift(project: Path) -> None:
    deploy = item("Deployment", "api", "shop", spec={"replicas": 2}, status={"ready": 1})
    snap(project, k8s(deploy))
    churned = json.loads(json.dumps(deploy))
    churned["status"] = {"ready": 2}
    churned["metadata"].update(resourceVersion="99", generation=4, managedFields=[{"t": 1}])
    second = snap(project, k8s(churned))
    assert diff(env="demo")["drifted"] is False
    # ...though the snapshot keeps them, and the digest covers them.
    assert json.loads((project / second["path"]).read_text())["items"][0]["status"] == {"ready": 2}
    churned["metadata"]["labels"] = {"team": "x"}
    snap(project, k8s(churned))
    assert diff(env="demo")["changed"] == ["Deployment/shop/api"]


def test_a_top_level_list_is_keyed_by_index_and_a_scalar_is_one_resource(project: Path) -> None:
    assert snap(project, ["a", "b", "c"])["resources"] == 3
    snap(project, ["a", "B"])
    assert diff(env="demo") == {
        "drifted": True,
        "added": [],
        "removed": ["2"],
        "changed": ["1"],
        "summary": "1 removed, 1 changed",
    }
    assert snap(project, 42)["resources"] == 1
    snap(project, 43)
    assert diff(env="demo")["changed"] == ["$"]


# --- state_diff ---------------------------------------------------------------------------


def test_no_drift_then_drift_with_exact_ids(project: Path) -> None:
    snap(project, STATE_V1)
    snap(project, {"db": {"image": "pg:16"}, **STATE_V1})  # same content, other key order
    assert diff(env="demo") == {
        "drifted": False,
        "added": [],
        "removed": [],
        "changed": [],
        "summary": "no drift",
    }
    snap(project, STATE_V2)
    result, lines = call(diff_activity, env="demo")
    assert result == {
        "drifted": True,
        "added": ["cache"],
        "removed": ["db"],
        "changed": ["api"],
        "summary": "1 added, 1 removed, 1 changed",
    }
    logged = [line for stream, line in lines if stream == "log"]
    assert logged[0].startswith("demo: 1 added, 1 removed, 1 changed (000002-")
    assert logged[1:] == ["  + cache", "  - db", "  ~ api"]


def test_the_summary_counts_only_what_happened(project: Path) -> None:
    snap(project, {"a": 1})
    snap(project, {"a": 1, "b": 2, "c": 3})
    assert diff(env="demo")["summary"] == "2 added"


def test_diff_as_a_step_gives_the_drift_outcome(project: Path) -> None:
    snap(project, STATE_V1)
    snap(project, STATE_V2)
    result, _ = run_steps(state_diff("demo", outcome=Outcome("Drift", "drifted")))
    [rec] = result.steps
    assert rec.status == "ok"
    assert rec.outcome == {"name": "Drift", "value": True}


def test_against_live_compares_with_a_fresh_observation_and_stores_nothing(
    project: Path,
) -> None:
    snap(project, STATE_V1)
    folder = project / ".chant" / "state" / "demo"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    observed(project, STATE_V1)
    assert diff(env="demo", against="live")["drifted"] is False
    observed(project, STATE_V2)
    result, lines = call(diff_activity, env="demo", against="live")
    assert result == {
        "drifted": True,
        "added": ["cache"],
        "removed": ["db"],
        "changed": ["api"],
        "summary": "1 added, 1 removed, 1 changed",
    }
    assert ("stderr", "observing demo") in lines
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_live_compares_with_the_latest_snapshot_not_an_older_one(project: Path) -> None:
    snap(project, STATE_V1)
    snap(project, STATE_V2)
    observed(project, STATE_V2)
    assert diff(env="demo", against="live")["drifted"] is False


# --- errors: each is non-retryable, so a step fails at its first attempt -------------------


def test_unknown_environment(project: Path) -> None:
    error = failed_once(state_snapshot("prod"))
    assert error["type"] == "UnknownEnvironmentError"
    message = error["message"]
    assert message == (
        'no environment "prod" in chant.toml (defined: demo, other); to add it, write '
        '[environments.prod] with observe = ["command", "arg", ...] there: a command '
        "printing the environment's state as JSON"
    )
    assert failed_once(state_diff("prod"))["type"] == "UnknownEnvironmentError"
    assert not (project / ".chant").exists()


def test_unknown_environment_when_none_are_defined(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(make_project({"chant.toml": '[project]\nops = ["."]\n'}))
    with pytest.raises(ActivityError) as err:
        call(snapshot_activity, env="demo")
    assert err.value.type == "UnknownEnvironmentError"
    assert err.value.non_retryable
    assert "(defined: none)" in err.value.message


def test_invalid_json_output(project: Path) -> None:
    (project / "state.json").write_text('{"api": {"image": "api:1.0"},\n  oops: 1}\n')
    error = failed_once(state_snapshot("demo"))
    assert error["type"] == "ObserveOutputError"
    assert error["message"].startswith(
        'observe command for "demo" (sh observe.sh demo) did not print valid JSON '
        "(Expecting property name enclosed in double quotes at line 2 column 3): "
    )
    assert "oops: 1}" in error["message"]  # an excerpt around the error
    assert len(error["message"]) < 250
    assert not snapshots(project / ".chant" / "state" / "demo")


def test_invalid_json_excerpt_is_short_for_long_output(project: Path) -> None:
    (project / "state.json").write_text('{"a": "' + "x" * 5000 + '", broken}')
    with pytest.raises(ActivityError) as err:
        call(snapshot_activity, env="demo")
    assert err.value.type == "ObserveOutputError"
    assert err.value.non_retryable
    assert "broken}" in err.value.message
    assert len(err.value.message) < 250


@pytest.mark.parametrize(
    ("text", "why"),
    [("", "printed nothing"), ('{"a": NaN}', "NaN is not a JSON value")],
)
def test_empty_output_and_nan_are_not_json(project: Path, text: str, why: str) -> None:
    (project / "state.json").write_text(text)
    error = failed_once(state_snapshot("demo"))
    assert error["type"] == "ObserveOutputError"
    assert why in error["message"]


def test_a_live_diff_with_invalid_output_is_an_observe_output_error(project: Path) -> None:
    snap(project, STATE_V1)
    (project / "state.json").write_text("not json")
    error = failed_once(state_diff("demo", against="live"))
    assert error["type"] == "ObserveOutputError"


def test_diff_with_one_snapshot_says_to_take_another(project: Path) -> None:
    snap(project, STATE_V1)
    error = failed_once(state_diff("demo"))
    assert error == {
        "type": "SnapshotMissingError",
        "message": 'state_diff(against="previous") needs two snapshots of "demo" but '
        '.chant/state/demo has only one; run state_snapshot("demo") first',
    }


def test_diff_with_no_snapshot_says_to_take_one(project: Path) -> None:
    error = failed_once(state_diff("demo", against="live"))
    assert error == {
        "type": "SnapshotMissingError",
        "message": 'state_diff(against="live") needs a snapshot of "demo" but '
        '.chant/state/demo has none; run state_snapshot("demo") first',
    }
    assert failed_once(state_diff("demo"))["type"] == "SnapshotMissingError"
    assert not (project / ".chant").exists()  # a live diff stores nothing


def test_a_bad_against(project: Path) -> None:
    error = failed_once(state_diff("demo", against="yesterday"))
    assert error == {
        "type": "InvalidArgumentError",
        "message": 'state_diff: against must be "previous" or "live", got \'yesterday\'',
    }


def test_an_env_name_cannot_leave_the_state_folder(project: Path) -> None:
    error = failed_once(state_snapshot("../demo"))
    assert error["type"] == "InvalidArgumentError"


def test_a_failing_observe_command_is_a_retryable_command_failure(project: Path) -> None:
    (project / "observe.sh").write_text("echo 'cluster unreachable' >&2; exit 3\n")
    with pytest.raises(CommandFailedError) as err:
        call(snapshot_activity, env="demo")
    assert not err.value.non_retryable
    assert err.value.command_exit_code == 3
    assert str(err.value) == (
        'observe command for "demo" (sh observe.sh demo) exited with 3: cluster unreachable'
    )


def test_a_missing_observe_tool(make_project: MakeProject, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = '[environments.demo]\nobserve = ["no-such-tool-chant-test", "get"]\n'
    monkeypatch.chdir(make_project({"chant.toml": toml}))
    with pytest.raises(ToolNotFoundError) as err:
        call(snapshot_activity, env="demo")
    assert err.value.non_retryable
    assert "no-such-tool-chant-test is not on PATH" in err.value.message
    assert "[environments.demo] observe" in err.value.message


# --- atomicity ------------------------------------------------------------------------------

WRITER = """
import os
import sys
from pathlib import Path
from chant.activities.state import write_snapshot

# Stop inside the given write: at os.<point> of the write after ``done`` complete ones,
# say so, and wait there to be killed. fchmod: the temporary file exists, still empty;
# replace: it holds the whole version, not yet renamed into place.
folder, point, done = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
versions = [{"version": v, "blob": chr(ord("a") + v) * 2_000_000} for v in range(3)]
real = getattr(os, point)
calls = 0


def inside(*args, **kwargs):
    global calls
    calls += 1
    if calls > done:
        print("inside", flush=True)
        sys.stdin.readline()  # never answered: the test kills us here
    return real(*args, **kwargs)


setattr(os, point, inside)
i = 0
while True:
    write_snapshot(folder, versions[i % 3], keep=3)
    i += 1
"""


# Where each kill lands: (the os call the writer stops in, complete writes before it).
KILL_POINTS = [("fchmod", 0), ("replace", 0), ("replace", 1), ("fchmod", 2), ("replace", 4)]
KILL_POINTS += [("replace", 2), ("fchmod", 1)]


def test_a_writer_killed_mid_write_never_leaves_a_corrupt_latest_snapshot(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "state" / "demo"
    versions = [{"version": v, "blob": chr(ord("a") + v) * 2_000_000} for v in range(3)]
    interrupted = 0  # kills that left a new temporary file: a write was under way
    temps: set[Path] = set()
    for point, done in KILL_POINTS:
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(folder), point, str(done)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdin is not None
        # The handshake: the writer is inside a write when it says so.
        assert proc.stdout.readline() == "inside\n"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stdin.close()
        left = set(folder.glob(".tmp-*"))
        interrupted += bool(left - temps)
        temps = left

        files = snapshots(folder)
        if not files:
            continue
        # The newest file, and every other one, is a complete version.
        assert json.loads(files[-1].read_text(encoding="utf-8")) in versions
        for f in files:
            assert json.loads(f.read_text(encoding="utf-8")) in versions
    assert interrupted == len(KILL_POINTS), "a kill missed its write"
    assert interrupted >= 1, "no kill landed during a write; the test proved nothing"
    assert snapshots(folder)


# --- concurrency ------------------------------------------------------------------------

CONCURRENT_WRITER = """
import sys
from pathlib import Path
from chant.activities.state import write_snapshot

folder, who, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
sys.stdin.readline()  # start together
for i in range(count):
    write_snapshot(folder, {"writer": who, "i": i}, keep=0)
"""


def seqs(folder: Path) -> list[int]:
    return [int(f.name.split("-")[0]) for f in snapshots(folder)]


def test_writers_in_many_processes_never_share_a_sequence_number(tmp_path: Path) -> None:
    folder = tmp_path / "state" / "demo"
    writers, each = 10, 20
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_WRITER, str(folder), str(w), str(each)],
            stdin=subprocess.PIPE,
            text=True,
        )
        for w in range(writers)
    ]
    for proc in procs:  # all started: let them go at once
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.close()
    assert [proc.wait(timeout=60) for proc in procs] == [0] * writers
    assert seqs(folder) == list(range(1, writers * each + 1))
    stored = [json.loads(f.read_text()) for f in snapshots(folder)]
    assert sorted((d["writer"], d["i"]) for d in stored) == sorted(
        (str(w), i) for w in range(writers) for i in range(each)
    )
    assert not list(folder.glob(".tmp-*"))


def test_snapshots_taken_by_threads_at_once_get_distinct_numbers(tmp_path: Path) -> None:
    # A parallel phase of state_snapshot steps writes from several threads of one run.
    folder = tmp_path / "demo"
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        start.wait()
        for i in range(10):
            write_snapshot(folder, {"n": n, "i": i}, keep=0)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert seqs(folder) == list(range(1, 81))


SNAP_OPS = """
from chant import Op, phase, state_snapshot

snap = Op(name="snap", phases=[phase("Snap", [state_snapshot("demo") for _ in range(4)],
                                      parallel=True)])
"""


def test_concurrent_chant_runs_taking_snapshots_never_repeat_a_number(
    make_project: MakeProject,
) -> None:
    root = make_project({"chant.toml": TOML, "observe.sh": OBSERVE, "ops/snap.op.py": SNAP_OPS})
    observed(root, STATE_V1)
    runs = 6
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "chant", "run", "snap", "--local", "--json"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(runs)
    ]
    results = [json.loads(proc.communicate(timeout=120)[0]) for proc in procs]
    assert [r["ok"] for r in results] == [True] * runs
    paths = [s["result"]["path"] for r in results for s in r["steps"]]
    assert len(set(paths)) == runs * 4
    folder = root / ".chant" / "state" / "demo"
    assert seqs(folder) == list(range(1, runs * 4 + 1))
    assert sorted(str(p.relative_to(root)) for p in snapshots(folder)) == sorted(paths)


def test_an_unwritable_state_folder_fails_at_once_naming_it(project: Path) -> None:
    (project / ".chant").write_text("")
    observed(project, STATE_V1)
    error = failed_once(state_snapshot("demo"))
    assert error == {
        "type": "SnapshotWriteError",
        "message": "cannot write a snapshot in .chant/state/demo: .chant is a file, not a "
        "folder; remove or rename .chant, then run the command again",
    }
