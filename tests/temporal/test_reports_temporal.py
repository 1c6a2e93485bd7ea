"""``chant run --temporal --junit FILE`` and ``$GITHUB_STEP_SUMMARY`` against a real dev
server: the events come from the workflow into the same sink as a local run's, so the
reports are those of a local run of the same Op (but for the run id, the mode and the
times), and chant detaching from a run still writes what it knows."""

from __future__ import annotations

import json
import os
import re
import signal
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from junitparser import JUnitXml, TestCase

from conftest import MakeOp, alive, chant_subprocess
from report_op import REPORT_OP
from temporal_procs import Chant, lines, until

SECRET = "s3cr3t-Zq9-value"
SUMMARY_VAR = "GITHUB_STEP_SUMMARY"

WAIT_OP = """
from chant import Op, phase, shell

op = Op(
    name="{name}",
    phases=[
        phase("Work", [shell("echo started; echo $$ > {tmp}/step.pid; exec sleep 60",
                             id="sleepy")]),
        phase("After", [shell("touch {tmp}/after", id="after")]),
    ],
    on_failure=[phase("Undo", [shell("echo undone", id="undo")])],
)
"""


def _shape(path: Path) -> dict[str, Any]:
    """The report at ``path`` without what differs from run to run (times, run id,
    timestamp) or from mode to mode (the mode property), read by ElementTree; and
    junitparser must read it too."""
    suites = list(JUnitXml.fromfile(str(path)))
    assert len(suites) == 1 and all(isinstance(c, TestCase) for c in suites[0])
    root = ET.parse(path).getroot()
    (suite,) = root.iter("testsuite")
    counts = {k: suite.get(k) for k in ("name", "tests", "failures", "errors", "skipped")}
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    cases = [
        (
            c.get("name"),
            c.get("classname"),
            [(e.tag, e.attrib, e.text) for e in c],
        )
        for c in suite.iter("testcase")
    ]
    return {"counts": counts, "props": props, "cases": cases}


def _both(op_project: MakeOp, tmp_path: Path, *params: str, fail: bool) -> tuple[Any, ...]:
    """The report, record and summary of a Temporal run and a local one of the Op."""
    root, name = op_project("report", REPORT_OP)
    found: list[Any] = [name]
    for mode in ("temporal", "local"):
        report, summary = tmp_path / f"{mode}.xml", tmp_path / f"{mode}.md"
        env = {"TOKEN": SECRET, SUMMARY_VAR: str(summary), "FAIL": "1" if fail else ""}
        ran = chant_subprocess(
            "run", name, *params, f"--{mode}", "--json", "--junit", str(report),
            cwd=root, env=env, timeout=120,
        )  # fmt: skip
        assert ran.code == (1 if fail else 0), ran.err
        text = report.read_text(encoding="utf-8") + summary.read_text(encoding="utf-8")
        assert SECRET not in text
        found += [_shape(report), json.loads(ran.out), summary.read_text(encoding="utf-8")]
    return tuple(found)


def _same_but_mode(temporal: dict[str, Any], local: dict[str, Any], run_id: str) -> None:
    assert temporal["props"].pop("mode") == "temporal"
    assert local["props"].pop("mode") == "local"
    assert temporal["props"].pop("run_id") == run_id
    local["props"].pop("run_id")
    assert temporal == local


def _timeless(text: str, record: dict[str, Any]) -> str:
    text = re.sub(r"\b\d+(\.\d+)?(ms|s)\b|\b\d+m\d\ds\b", "T", text)
    return text.replace(record["run_id"], "RUN").replace(f"· {record['mode']} ·", "· MODE ·")


def test_a_failed_run_with_retries_skips_and_on_failure_reports_as_locally(
    op_project: MakeOp, tmp_path: Path
) -> None:
    name, temporal, t_record, t_summary, local, l_record, l_summary = _both(
        op_project, tmp_path, fail=True
    )
    assert temporal["counts"] == {
        "name": name,
        "tests": "6",
        "failures": "1",
        "errors": "0",
        "skipped": "2",
    }
    assert temporal["props"]["status"] == "failed"
    assert temporal["props"]["plan_digest"] == t_record["plan_digest"] == l_record["plan_digest"]
    by_name = {c[0]: c for c in temporal["cases"]}
    assert [(c[0], c[1]) for c in temporal["cases"]] == [
        ("api", "Build"),
        ("web", "Build"),
        ("smoke", "Deploy"),
        ("deploy", "Deploy"),
        ("verify", "Verify"),
        ("rollback", "Rollback (on_failure)"),
    ]
    message = "command exited with 1: cluster said no: ***"
    assert by_name["deploy"][2] == [
        ("failure", {"type": "CommandFailedError", "message": message}, message),
        ("system-out", {}, "token=***\ntoken=***\n"),
        ("system-err", {}, "cluster said no: ***\ncluster said no: ***\n"),
    ]
    assert by_name["smoke"][2] == [
        ("skipped", {"message": 'condition false: env == "prod" (env is "staging")'}, None)
    ]
    assert by_name["verify"][2] == [("skipped", {"message": "not run: step deploy failed"}, None)]
    _same_but_mode(temporal, local, t_record["run_id"])
    assert _timeless(t_summary, t_record) == _timeless(l_summary, l_record)
    assert t_summary.startswith(f"### ❌ {name} failed after ")


def test_an_ok_run_reports_as_locally(op_project: MakeOp, tmp_path: Path) -> None:
    name, temporal, t_record, t_summary, local, l_record, l_summary = _both(
        op_project, tmp_path, "env=prod", fail=False
    )
    assert temporal["counts"] == {
        "name": name,
        "tests": "5",
        "failures": "0",
        "errors": "0",
        "skipped": "0",
    }
    assert (temporal["props"]["status"], temporal["props"]["param.env"]) == ("ok", "prod")
    assert [c[2] for c in temporal["cases"]][-2] == [("system-out", {}, "token=***\ndeployed\n")]
    _same_but_mode(temporal, local, t_record["run_id"])
    assert _timeless(t_summary, t_record) == _timeless(l_summary, l_record)


def test_detaching_writes_the_running_step_as_not_finished_and_the_rest_not_reached(
    op_project: MakeOp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, name = op_project("detach", WAIT_OP)
    report, summary = tmp_path / "detached.xml", tmp_path / "detached.md"
    monkeypatch.setenv(SUMMARY_VAR, str(summary))
    procs = [Chant("worker", cwd=root, name="worker")]
    try:
        run = Chant("run", name, "--no-worker", "--junit", str(report), cwd=root, name="run")
        procs.append(run)
        until(lambda: "      started" in run.stdout(), 30, "the step's output", run)
        run.proc.send_signal(signal.SIGINT)  # with --no-worker, Ctrl-C detaches
        assert run.wait(20) == 130, run.stderr()
    finally:
        for proc in procs:
            proc.stop()
        chant_subprocess("cancel", name, "--force", cwd=root, timeout=30)
        for pid in map(int, lines(tmp_path / "step.pid")):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    ending = "chant stopped following the run (it goes on on Temporal)"
    shape = _shape(report)
    assert shape["counts"] == {
        "name": name,
        "tests": "2",
        "failures": "0",
        "errors": "1",
        "skipped": "1",
    }
    assert (shape["props"]["status"], shape["props"]["mode"]) == ("not finished", "temporal")
    note = f"not finished: {ending}"
    assert shape["cases"] == [
        (
            "sleepy",
            "Work",
            [
                ("error", {"type": "NotFinished", "message": note}, note),
                ("system-out", {}, "started\n"),
            ],
        ),
        ("after", "After", [("skipped", {"message": f"not reached: {ending}"}, None)]),
    ]
    text = re.sub(r"\b\d+(\.\d+)?(ms|s)\b", "T", summary.read_text(encoding="utf-8"))
    assert text.startswith(f"### ⏳ {name}: {ending}, after T\n")
    assert text.endswith(
        "| phase | step | status | attempts | duration | note |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        f"| Work | sleepy | ⏳ not finished | 1 | T | not finished: {ending} |\n"
        f"| After | after | ⏳ not reached | 0 |  | not reached: {ending} |\n"
    )
