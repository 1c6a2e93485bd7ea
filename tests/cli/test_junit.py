"""Reports for CI from a local ``chant run``: ``--junit FILE`` (JUnit XML, read back with
junitparser and ElementTree) and the Markdown summary appended to
``$GITHUB_STEP_SUMMARY``."""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from junitparser import JUnitXml, TestCase, TestSuite

from conftest import Ran
from report_op import REPORT_OP
from temporal_procs import lines, until

SECRET = "s3cr3t-Zq9-value"

OPS = (
    REPORT_OP.format(name="report")
    + """
noisy = Op(
    name="noisy",
    phases=[
        phase("Print", [
            shell("printf 'bell\\\\007 esc\\\\033[31mred\\\\033[0m nul-free '"
                  "'\\\\357\\\\277\\\\276 end\\\\n'", id="odd"),
            shell("seq 1 250", id="long"),
            shell("printf 'a|b`c`\\\\n```\\\\nline two' >&2; exit 3", id="fail"),
        ]),
    ],
)

wait = Op(
    name="wait",
    phases=[
        phase("Work", [shell("echo $$ > {tmp}/step.pid; exec sleep 60", id="sleepy")]),
        phase("After", [shell("touch {tmp}/after", id="after")]),
    ],
    on_failure=[phase("Undo", [shell("echo undone", id="undo")])],
)

cleanup = Op(name="cleanup", phases=[phase("Clean", [shell("rm -rf reports", id="rm")])])
"""
)

WEIRD = """
from chant import Op, Param, param, phase, shell

weird = Op(
    name="weird",
    params={"note": Param(str, default="a|b")},
    phases=[
        phase("A|B `x`", [
            shell("true", id="skip-me", when=param("note") == "x|`y`"),
            shell("printf 'boom ``` | *bold*\\\\nsecond line' >&2; exit 2", id="boom",
                  profile="policy_check"),
        ]),
    ],
)
"""

SUMMARY_VAR = "GITHUB_STEP_SUMMARY"


def _project(make_project: Callable[..., Path], tmp: Path) -> Path:
    return make_project({"chant.toml": "", "ops/report.op.py": OPS.replace("{tmp}", str(tmp))})


def _run(
    chant_proc: Callable[..., Ran], root: Path, *args: str, env: dict[str, str] | None = None
) -> Ran:
    full = {"TOKEN": SECRET, **(env or {})}
    full.setdefault(SUMMARY_VAR, "")  # a CI running these tests must not get summaries
    return chant_proc("run", *args, "--local", cwd=root, env=full)


def _suite(path: Path) -> tuple[TestSuite, ET.Element]:
    """The one suite of the report at ``path``, read by junitparser, and its root
    element read by ElementTree."""
    doc = JUnitXml.fromfile(str(path))
    suites = list(doc)
    assert len(suites) == 1
    return suites[0], ET.parse(path).getroot()


def _cases(suite: TestSuite) -> list[tuple[str, str, str]]:
    """Each case as (name, classname, result): ok, failure, skipped or error."""
    found = []
    for case in suite:
        assert isinstance(case, TestCase)
        kinds = [type(r).__name__.lower() for r in case.result]
        found.append((case.name, case.classname, kinds[0] if kinds else "ok"))
    return found


def _props(root: ET.Element) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in root.iter("property")}


def _case(root: ET.Element, name: str) -> ET.Element:
    (case,) = [c for c in root.iter("testcase") if c.get("name") == name]
    return case


def test_a_failed_run_reports_its_retried_failure_skips_and_on_failure(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran], tmp_path: Path
) -> None:
    root = _project(make_project, tmp_path)
    report = tmp_path / "report.xml"
    ran = _run(chant_proc, root, "report", "--junit", str(report), "--json", env={"FAIL": "1"})
    assert ran.code == 1, ran.err
    record = json.loads(ran.out)
    suite, xml = _suite(report)
    assert (suite.name, suite.tests, suite.failures, suite.errors, suite.skipped) == (
        "report",
        6,
        1,
        0,
        2,
    )
    assert _cases(suite) == [
        ("api", "Build", "ok"),
        ("web", "Build", "ok"),
        ("smoke", "Deploy", "skipped"),
        ("deploy", "Deploy", "failure"),
        ("verify", "Verify", "skipped"),
        ("rollback", "Rollback (on_failure)", "ok"),
    ]
    (testsuite,) = xml.iter("testsuite")
    assert {k: testsuite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "6",
        "failures": "1",
        "errors": "0",
        "skipped": "2",
    }
    assert float(testsuite.get("time", "")) == record["duration_ms"] / 1000
    # The pattern of the published JUnit schema (Jenkins' junit-10.xsd): no zone (UTC here).
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", testsuite.get("timestamp", ""))
    assert _props(xml) == {
        "run_id": record["run_id"],
        "mode": "local",
        "status": "failed",
        "plan_digest": record["plan_digest"],
        "param.env": "staging",
    }
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", record["plan_digest"])
    deploy = _case(xml, "deploy")
    failure = deploy.find("failure")
    assert failure is not None
    assert failure.attrib == {
        "type": "CommandFailedError",
        "message": "command exited with 1: cluster said no: ***",
    }
    assert failure.text == "command exited with 1: cluster said no: ***"
    # Both attempts' output, each stream apart.
    assert deploy.findtext("system-out") == "token=***\ntoken=***\n"
    assert deploy.findtext("system-err") == "cluster said no: ***\ncluster said no: ***\n"
    web = _case(xml, "web")
    assert (web.findtext("system-out"), web.findtext("system-err")) == (
        "building web\n",
        "careful\n",
    )
    skipped = [(c.get("name"), c.find("skipped")) for c in xml.iter("testcase")]
    assert [(n, s.attrib) for n, s in skipped if s is not None] == [
        ("smoke", {"message": 'condition false: env == "prod" (env is "staging")'}),
        ("verify", {"message": "not run: step deploy failed"}),
    ]
    steps = {s["id"]: s for s in record["steps"]}
    for case in xml.iter("testcase"):
        assert float(case.get("time", "")) == steps[case.get("name")]["duration_ms"] / 1000
    assert SECRET not in report.read_text()


def test_an_ok_run_has_no_failures_and_leaves_out_on_failure(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran], tmp_path: Path
) -> None:
    root = _project(make_project, tmp_path)
    report = tmp_path / "ok.xml"
    ran = _run(chant_proc, root, "report", "env=prod", "--junit", str(report))
    assert ran.code == 0, ran.err
    suite, xml = _suite(report)
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (5, 0, 0, 0)
    assert _cases(suite) == [
        ("api", "Build", "ok"),
        ("web", "Build", "ok"),
        ("smoke", "Deploy", "ok"),
        ("deploy", "Deploy", "ok"),
        ("verify", "Verify", "ok"),
    ]
    assert (_props(xml)["status"], _props(xml)["param.env"]) == ("ok", "prod")
    assert _case(xml, "deploy").findtext("system-out") == "token=***\ndeployed\n"


def test_output_that_xml_forbids_still_parses_and_the_tail_is_the_last_100_lines(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran], tmp_path: Path
) -> None:
    root = _project(make_project, tmp_path)
    report = tmp_path / "noisy.xml"
    ran = _run(chant_proc, root, "noisy", "--junit", str(report))
    assert ran.code == 1, ran.err
    suite, xml = _suite(report)
    assert _cases(suite) == [
        ("odd", "Print", "ok"),
        ("long", "Print", "ok"),
        ("fail", "Print", "failure"),
    ]
    # BEL and ESC are written out, colour is dropped, U+FFFE (no XML character) escaped.
    assert _case(xml, "odd").findtext("system-out") == "bell\\x07 escred nul-free \\ufffe end\n"
    tail = _case(xml, "long").findtext("system-out")
    assert tail == "[150 earlier lines not shown]\n" + "".join(f"{n}\n" for n in range(151, 251))
    failure = _case(xml, "fail").find("failure")
    assert failure is not None
    assert failure.get("message") == "command exited with 3: a|b`c` | ``` | line two"


def test_the_report_is_written_where_chant_was_started_not_in_the_project_root(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran], tmp_path: Path
) -> None:
    root = _project(make_project, tmp_path)
    (root / "ops" / "sub").mkdir()
    ran = _run(chant_proc, root / "ops" / "sub", "report", "env=prod", "--junit", "r.xml")
    assert ran.code == 0, ran.err
    assert (root / "ops" / "sub" / "r.xml").exists()
    assert not (root / "r.xml").exists()


def test_a_report_that_cannot_be_written_is_refused_before_anything_runs(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran], tmp_path: Path
) -> None:
    root = _project(make_project, tmp_path)
    missing = _run(chant_proc, root, "wait", "--junit", "no/such/dir/r.xml")
    folder = _run(chant_proc, root, "wait", "--junit", str(tmp_path))
    assert (missing.code, missing.out) == (2, "")
    assert missing.err == (
        "chant: error: --junit no/such/dir/r.xml: cannot write the report there (no such "
        f"directory: {root}/no/such/dir)\n"
        "  hint: give a file in a directory that exists and can be written\n"
    )
    assert (folder.code, folder.out) == (2, "")
    assert folder.err == (
        f"chant: error: --junit {tmp_path}: cannot write the report there (it is a directory)\n"
        "  hint: give a file in a directory that exists and can be written\n"
    )
    assert not (tmp_path / "step.pid").exists()


def test_a_report_that_cannot_be_written_after_the_run_is_a_warning_and_keeps_the_exit_code(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran], tmp_path: Path
) -> None:
    root = _project(make_project, tmp_path)
    (root / "reports").mkdir()
    # The Op itself removes the folder the report was to go in.
    ran = _run(chant_proc, root, "cleanup", "--junit", "reports/r.xml", "--json")
    assert ran.code == 0
    assert json.loads(ran.out)["status"] == "ok"
    assert ran.err.endswith(
        "chant: warning: --junit reports/r.xml: cannot write it (No such file or directory)\n"
    )


def test_an_interrupted_run_reports_the_cancelled_step_and_what_did_not_run(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    root = _project(make_project, tmp_path)
    report = tmp_path / "wait.xml"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chant", "run", "wait", "--local", "--junit", str(report)],
        cwd=root,
        env={**os.environ, "TOKEN": SECRET, SUMMARY_VAR: ""},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        until(lambda: bool(lines(tmp_path / "step.pid")), 20, "the step started")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
    suite, xml = _suite(report)
    assert _cases(suite) == [
        ("sleepy", "Work", "failure"),
        ("after", "After", "skipped"),
        ("undo", "Undo (on_failure)", "ok"),
    ]
    assert (suite.failures, suite.errors, suite.skipped) == (1, 0, 1)
    failure = _case(xml, "sleepy").find("failure")
    assert failure is not None
    assert failure.attrib == {"type": "Cancelled", "message": "interrupted"}
    skipped = _case(xml, "after").find("skipped")
    assert skipped is not None
    assert skipped.attrib == {"message": "not run: the run was interrupted"}
    assert _props(xml)["status"] == "interrupted"


# --- the GitHub step summary ------------------------------------------------------------


def test_each_run_appends_a_summary_to_github_step_summary(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran], tmp_path: Path
) -> None:
    root = _project(make_project, tmp_path)
    summary = tmp_path / "summary.md"
    env = {SUMMARY_VAR: str(summary)}
    first = _run(chant_proc, root, "report", "env=prod", "--json", env=env)
    second = _run(chant_proc, root, "report", "--json", env={**env, "FAIL": "1"})
    assert (first.code, second.code) == (0, 1)
    ok, failed = json.loads(first.out), json.loads(second.out)
    text = _timeless(summary.read_text(encoding="utf-8"))
    assert text == (
        "### ✅ report completed in T\n"
        "\n"
        f"run `{ok['run_id']}` · local · plan `{ok['plan_digest']}`\n"
        "\n"
        "| phase | step | status | attempts | duration | note |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        "| Build | api | ✅ ok | 1 | T |  |\n"
        "| Build | web | ✅ ok | 1 | T |  |\n"
        "| Deploy | smoke | ✅ ok | 1 | T |  |\n"
        "| Deploy | deploy | ✅ ok | 1 | T |  |\n"
        "| Verify | verify | ✅ ok | 1 | T |  |\n"
        "\n"
        "| outcome | value |\n"
        "| --- | --- |\n"
        "| Deployed | token=\\*\\*\\*<br>deployed |\n"
        "\n"
        "### ❌ report failed after T\n"
        "\n"
        f"run `{failed['run_id']}` · local · plan `{failed['plan_digest']}`\n"
        "\n"
        "| phase | step | status | attempts | duration | note |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        "| Build | api | ✅ ok | 1 | T |  |\n"
        "| Build | web | ✅ ok | 1 | T |  |\n"
        '| Deploy | smoke | ⏭️ skipped | 0 |  | condition false: env == "prod" '
        '(env is "staging") |\n'
        "| Deploy | deploy | ❌ failed | 2 | T | CommandFailedError |\n"
        "| Verify | verify | ⏭️ skipped | 0 |  | not run: step deploy failed |\n"
        "| Rollback (on\\_failure) | rollback | ✅ ok | 1 | T |  |\n"
        "\n"
        "**Step deploy failed**: CommandFailedError\n"
        "\n"
        "```text\n"
        "command exited with 1: cluster said no: ***\n"
        "```\n"
    )
    assert SECRET not in summary.read_text(encoding="utf-8")
    # The summary changes nothing else: stdout is still the one JSON document.
    assert ok["status"] == "ok" and "summary" not in first.err


def test_user_text_cannot_break_the_summary_markdown(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran], tmp_path: Path
) -> None:
    root = make_project({"chant.toml": "", "ops/weird.op.py": WEIRD})
    summary = tmp_path / "summary.md"
    ran = _run(chant_proc, root, "weird", env={SUMMARY_VAR: str(summary)})
    assert ran.code == 1, ran.err
    body = _timeless(summary.read_text(encoding="utf-8")).split("\n\n", 2)[2]
    assert body == (
        "| phase | step | status | attempts | duration | note |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        "| A\\|B \\`x\\` | skip-me | ⏭️ skipped | 0 |  | condition false: note == "
        '"x\\|\\`y\\`" (note is "a\\|b") |\n'
        "| A\\|B \\`x\\` | boom | ❌ failed | 1 | T | CommandFailedError |\n"
        "\n"
        "**Step boom failed**: CommandFailedError\n"
        "\n"
        "````text\n"
        "command exited with 2: boom ``` | *bold* | second line\n"
        "````\n"
    )


def test_no_summary_without_the_variable_and_a_warning_when_it_cannot_be_written(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran], tmp_path: Path
) -> None:
    root = _project(make_project, tmp_path)
    env = {k: v for k, v in os.environ.items() if k != SUMMARY_VAR}
    unset = subprocess.run(
        [sys.executable, "-m", "chant", "run", "report", "env=prod", "--local", "--progress-json"],
        cwd=root,
        env={**env, "TOKEN": SECRET},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (unset.returncode, unset.stderr) == (0, "")
    empty = _run(chant_proc, root, "report", "env=prod", "--progress-json", env={SUMMARY_VAR: ""})
    assert (empty.code, empty.err) == (0, "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "proj"]
    gone = tmp_path / "gone" / "summary.md"
    env = {SUMMARY_VAR: str(gone), "FAIL": "1"}
    failed = _run(chant_proc, root, "report", "--progress-json", env=env)
    assert failed.code == 1
    assert failed.err == (
        f"chant: warning: {SUMMARY_VAR}={gone}: cannot append the summary "
        "(No such file or directory)\n"
    )
    assert json.loads(failed.out.splitlines()[-1])["status"] == "failed"


def _timeless(text: str) -> str:
    """``text`` with each duration (``12ms``, ``1.2s``) as ``T``."""
    return re.sub(r"\b\d+(\.\d+)?(ms|s)\b|\b\d+m\d\ds\b", "T", text)


def _modules_after_run(root: Path, *args: str, env: dict[str, str]) -> set[str]:
    """The modules a fresh interpreter has loaded after ``chant run ARGS`` in ``root``."""
    probe = (
        f"import os, sys; os.chdir({str(root)!r}); from chant.cli.main import main\n"
        f"code = main(['run', *{list(args)!r}])\n"
        "print(code, repr(sorted(sys.modules)), file=sys.stderr)\n"
    )
    base = {k: v for k, v in os.environ.items() if k != SUMMARY_VAR}
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={**base, "TOKEN": SECRET, **env},
        check=True,
    )
    code, modules = proc.stderr.splitlines()[-1].split(" ", 1)
    assert code == "0", proc.stderr
    loaded: set[str] = set(ast.literal_eval(modules))
    return loaded


def test_a_run_without_reports_loads_neither_report_module(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    root = _project(make_project, tmp_path)
    reports = {"chant.render.junit", "chant.render.summary", "xml.etree.ElementTree"}
    plain = _modules_after_run(root, "report", "env=prod", "--local", env={})
    assert not plain & reports
    summary = str(tmp_path / "s.md")
    only_summary = _modules_after_run(
        root, "report", "env=prod", "--local", env={SUMMARY_VAR: summary}
    )
    assert only_summary & reports == {"chant.render.summary"}
    junit = str(tmp_path / "r.xml")
    both = _modules_after_run(root, "report", "env=prod", "--local", "--junit", junit, env={})
    assert both & reports == reports
