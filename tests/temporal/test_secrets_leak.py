"""No byte of a secret in any output, in either mode.

One Op holds every way a secret's value has leaked: a value with surrounding whitespace
and a trailing newline (as read from a file), a multi-line value, a secret printed by a
step that does not declare it, a secret in a line long enough to be split and cut, in
a command's stderr carried by its error, as a dict key and inside bytes, sets, tuples
and paths of a user activity's result, in an exception's text, in heartbeat details,
and in an outcome. The Op runs locally and on Temporal (``chant run --temporal`` with
its own worker), and every output is searched for each secret and for every 4
characters of it: human, ``--json``, ``--progress-json``, ``--debug``'s stderr,
``chant status`` and ``chant history`` (both forms), and the workflow's history as
``temporal workflow show`` prints it, with every payload decoded.

The secrets are drawn from capital consonants, so no 4 of their characters occur in
chant's own text (run ids are lower-case hex). This process never loads temporalio.
"""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from conftest import MakeProject, Ran, chant_subprocess
from temporal_procs import Chant
from temporal_server import TemporalServer, workflow_id

_rng = random.Random(8)


def _word(n: int) -> str:
    return "".join(_rng.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(n))


TOKEN = f"  {_word(18)}  \n"
"""As read from a file: surrounded by spaces, ending with a newline."""
MULTI = f"{_word(14)}\n  {_word(14)}\n}}\n{_word(10)}\n"
"""A multi-line value (a key file): lines of their own, and a short one (``}``)."""
OTHER = _word(16)
"""Declared by the compensation step only, printed by a step that does not declare it."""

LONG_LINE = """
import os, sys
s = os.environ["T"].strip()
parts, pos = [], 0
for k in range(1, 19):  # across every 64 KiB boundary up to 1.1 MiB
    start = k * 65536 - len(s) // 2
    parts.append("x" * (start - pos) + s)
    pos = start + len(s)
sys.stdout.write("".join(parts) + "y" * 10 + "\\n")
# One line whose last 64 KiB begin inside the secret.
sys.stdout.write("a" * 10 + s + "b" * (65536 - len(s) // 2) + "\\n")
"""

OP = """
import sys
from pathlib import Path
from chant import Op, Outcome, activity, phase, secret, shell

LONG_LINE = {long_line!r}


@activity
def non_json(token: str, lines: str) -> object:
    t = token.strip()
    return {{
        t: "a secret as a key",
        "bytes": t.encode(),
        "bytearray": bytearray(token.encode()),
        "set": {{t, "plain"}},
        "frozenset": frozenset(lines.splitlines()),
        "tuple": (t, 1),
        "path": Path("/srv") / t,
        "nested": {{"deep": [{{t: lines, "keys": {{1: t}}}}]}},
    }}


@activity
def not_json(token: str) -> object:
    import datetime
    return {{token.strip(): {{"when": datetime.date(2020, 1, 2)}}}}


@activity
def fails(token: str) -> None:
    raise RuntimeError(f"cannot use {{token!r}} (stripped: {{token.strip()}})")


@activity
def beats(ctx, token: str) -> str:
    ctx.heartbeat({{"token": token, token.strip(): [token.strip()]}})
    ctx.log(f"heartbeat sent for {{token.strip()}}")
    return f"done with {{token.strip()}}"


T = {{"T": secret("TOKEN")}}
M = {{"M": secret("MULTI")}}
op = Op(
    name="{name}",
    phases=[
        phase("Leak", parallel=True, steps=[
            shell('echo "token=$T"; printf "%s" "$T" >&2', env=T,
                  outcome=Outcome("Tok", "stdout"), profile="policy_check"),
            shell('printf "%s" "$M"; echo "one line: $M" | tr "\\\\n" " "; echo', env=M,
                  profile="policy_check"),
            shell('echo "not declared here: $OTHER"; echo "$OTHER" >&2',
                  profile="policy_check"),
            shell(f'"{{sys.executable}}" -c "$SCRIPT"', env={{**T, "SCRIPT": LONG_LINE}},
                  profile="policy_check"),
            shell('echo "fatal: $T" >&2; printf "%s" "$M" >&2; exit 3', env={{**T, **M}},
                  profile="policy_check"),
            activity("non_json", token=secret("TOKEN"), lines=secret("MULTI"),
                     outcome=Outcome("Bytes", "bytes"), profile="policy_check"),
            activity("not_json", token=secret("TOKEN"), profile="policy_check"),
            activity("fails", token=secret("TOKEN"), profile="policy_check"),
            activity("beats", token=secret("TOKEN"), outcome="Beat", profile="policy_check"),
            activity("http_check", url=secret("TOKEN"), profile="policy_check"),
        ]),
    ],
    on_failure=[
        phase("Undo", [shell('echo "undo with $O"', env={{"O": secret("OTHER")}})]),
    ],
)
"""

ENV = {"TOKEN": TOKEN, "MULTI": MULTI, "OTHER": OTHER}


def _needles() -> set[str]:
    """Every secret as given, and every 4 characters of its visible text."""
    needles = {TOKEN, MULTI, OTHER}
    for value in ENV.values():
        for line in value.splitlines():
            text = line.strip()
            needles.update(text[i : i + 4] for i in range(len(text) - 3))
    return needles


NEEDLES = _needles()


def leaks(what: str, text: str) -> list[str]:
    """What of a secret ``text`` shows, with where: ``[]`` when nothing does."""
    found = sorted(n for n in NEEDLES if n in text)
    if not found:
        return []
    at = text.find(found[0])
    return [f"{what} shows {found[:4]} in …{text[max(0, at - 60) : at + 40]!r}…"]


def _decoded(value: Any) -> Any:
    """A ``temporal workflow show --output json`` document with every payload decoded."""
    if isinstance(value, dict):
        if "metadata" in value and isinstance(value.get("data"), str):
            return base64.b64decode(value["data"]).decode("utf-8", "replace")
        return {k: _decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


def workflow_history(server: TemporalServer, workflow_id: str) -> str:
    return temporal_json(server, "show", workflow_id)


def temporal_json(
    server: TemporalServer, command: str, workflow_id: str, *, missing_ok: bool = False
) -> str:
    """``temporal workflow COMMAND -w ID`` as JSON text, and again with every payload
    decoded (the raw text has them in base64); ``""`` for a workflow not started yet
    when ``missing_ok``."""
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "temporal"),
            "workflow",
            command,
            "--output",
            "json",
            "-w",
            workflow_id,
            "--address",
            server.address,
            "--namespace",
            server.namespace,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if missing_ok and "not found" in proc.stderr:
        return ""
    assert proc.returncode == 0, proc.stderr
    # The raw text (payloads are base64) and the decoded one are both searched.
    return proc.stdout + "\n" + json.dumps(_decoded(json.loads(proc.stdout)), ensure_ascii=False)


@pytest.mark.parametrize("mode", ["local", "temporal"])
def test_no_secret_text_reaches_any_output_or_the_workflow_history(
    mode: str, make_project: MakeProject, request: pytest.FixtureRequest
) -> None:
    name = f"leak-{uuid.uuid4().hex[:8]}"
    files = {"ops/leak.op.py": OP.format(name=name, long_line=LONG_LINE)}
    server: TemporalServer | None = None
    if mode == "temporal":
        server = request.getfixturevalue("temporal_server")
        files["chant.toml"] = server.toml(f"q-{name}")
    root = make_project(files, folder=name)

    def chant(*args: str) -> Ran:
        return chant_subprocess(*args, cwd=root, env=ENV, timeout=120)

    flag = f"--{mode}"
    outputs: dict[str, Ran] = {}
    try:
        outputs["human --debug"] = chant("run", name, flag, "--debug")
        outputs["--json"] = chant("run", name, flag, "--json")
        outputs["--progress-json"] = chant("run", name, flag, "--progress-json")
        histories = []
        if server is not None:
            histories.append(workflow_history(server, workflow_id(root, name)))
            for command in ("status", "history"):
                outputs[command] = chant(command, name)
                outputs[f"{command} --json"] = chant(command, name, "--json")
    finally:
        if server is not None:
            chant("cancel", name, "--force")
    found = [
        leak
        for what, ran in outputs.items()
        for leak in leaks(f"{what} (stdout)", ran.out) + leaks(f"{what} (stderr)", ran.err)
    ]
    found += [leak for text in histories for leak in leaks("the workflow history", text)]
    assert not found, "\n".join(found)
    for ran in outputs.values():
        assert "internal error" not in ran.err and "Traceback" not in ran.err, ran.err

    # The run itself went as declared: what failed, failed, and the masks are there.
    assert [outputs[k].code for k in ("human --debug", "--json", "--progress-json")] == [1, 1, 1]
    doc = json.loads(outputs["--json"].out)

    def shell_step(start: str) -> dict[str, Any]:
        found = [s for s in doc["steps"] if str(s["args"].get("cmd", "")).startswith(start)]
        assert len(found) == 1, start
        return found[0]

    by_fn = {s["fn"]: s for s in doc["steps"] if s["fn"] != "shell"}
    assert by_fn["non_json"]["status"] == "ok"
    assert by_fn["non_json"]["result"] == {
        "***": "a secret as a key",
        "bytes": "***",
        "bytearray": "***",
        "set": ["***", "plain"],
        "frozenset": ["  ***", "***", "***", "}"],
        "tuple": ["***", 1],
        "path": "/srv/***",
        "nested": {"deep": [{"***": "***", "keys": {"1": "***"}}]},
    }
    assert by_fn["non_json"]["outcome"] == {"name": "Bytes", "value": "***"}
    assert by_fn["not_json"]["error"] == {
        "type": "ResultNotJSONError",
        "message": 'step leak.7: activity "not_json" returned a result that is not JSON: '
        "its result['***']['when'] is a date, which is not JSON; return str, int, float, "
        "bool, None, lists and dicts with str keys (bytes, sets, tuples and paths are "
        "converted)",
    }
    assert by_fn["fails"]["error"] == {
        "type": "RuntimeError",
        "message": "cannot use '  ***  \\n' (stripped: ***)",
    }
    assert by_fn["beats"]["outcome"] == {"name": "Beat", "value": "done with ***"}
    assert shell_step('echo "token=')["outcome"] == {"name": "Tok", "value": "token=  ***"}
    failed = shell_step('echo "fatal:')["error"]
    assert failed["message"].startswith("command exited with 3: ") and "***" in failed["message"]
    compensation = [s for s in doc["steps"] if s["compensation"]]
    assert [s["status"] for s in compensation] == ["ok"]
    human = outputs["human --debug"].out
    assert "not declared here: ***" in human
    assert "undo with ***" in human
    if server is not None:
        assert "Tok=token=  ***" in outputs["history"].out
        assert "Bytes=***" in outputs["history"].out


UNDECLARED = """
import os
from chant import Op, Outcome, activity, phase, secret, shell


@activity
def reads_env(ctx) -> dict:
    value = os.environ["PLAIN"]
    ctx.heartbeat({{"seen": value}})
    ctx.log(f"read {{value}}")
    return {{value: value, "again": value}}


@activity
def raises_env() -> None:
    raise ValueError("env has " + os.environ["PLAIN"])


op = Op(
    name="{name}",
    phases=[
        phase("Use", [shell("true", env={{"P": secret("PLAIN")}})]),
        phase("Leak", parallel=True, steps=[
            shell('echo "printed: $PLAIN"; echo "$PLAIN" >&2', outcome=Outcome("Out", "stdout")),
            activity("reads_env", outcome=Outcome("Read", "again")),
            activity("raises_env", profile="policy_check"),
        ]),
    ],
)
"""


@pytest.mark.parametrize("mode", ["local", "temporal"])
def test_a_secret_shown_by_a_step_that_does_not_declare_it_is_masked(
    mode: str, make_project: MakeProject, request: pytest.FixtureRequest
) -> None:
    """On Temporal the worker masks every secret of the Op, as the local executor does."""
    plain = _word(20)
    name = f"undeclared-{uuid.uuid4().hex[:8]}"
    files = {"ops/op.op.py": UNDECLARED.format(name=name)}
    server: TemporalServer | None = None
    if mode == "temporal":
        server = request.getfixturevalue("temporal_server")
        files["chant.toml"] = server.toml(f"q-{name}")
    root = make_project(files, folder=name)
    try:
        ran = chant_subprocess("run", name, f"--{mode}", "--json", cwd=root, env={"PLAIN": plain})
        texts = {"stdout": ran.out, "stderr": ran.err}
        if server is not None:
            texts["history"] = workflow_history(server, workflow_id(root, name))
            texts["chant history"] = chant_subprocess("history", name, cwd=root).out
    finally:
        if server is not None:
            chant_subprocess("cancel", name, "--force", cwd=root)
    assert ran.code == 1, ran.err
    for what, text in texts.items():
        assert plain[:4] not in text and plain[-4:] not in text, what
    steps = {s["fn"]: s for s in json.loads(ran.out)["steps"]}
    assert steps["reads_env"]["result"] == {"***": "***", "again": "***"}
    assert steps["raises_env"]["error"] == {"type": "ValueError", "message": "env has ***"}
    assert [s["outcome"] for s in json.loads(ran.out)["steps"] if s["outcome"]] == [
        {"name": "Out", "value": "printed: ***"},
        {"name": "Read", "value": "***"},
    ]
    if server is not None:
        assert "Out=printed: ***" in texts["chant history"]
        assert "Read=***" in texts["chant history"]


BEATING = """
import time
from pathlib import Path
from chant import Op, activity, phase, secret


@activity
def beating(ctx, token: str, until: str) -> str:
    ctx.heartbeat({{"token": token, token.strip(): ["key", token.strip()]}})
    deadline = time.monotonic() + 30
    while not Path(until).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return "done"


op = Op(name="{name}", phases=[phase("Beat", [
    activity("beating", token=secret("TOKEN"), until="{until}"),
])])
"""


def test_heartbeat_details_reach_the_cluster_masked(
    make_project: MakeProject,
    temporal_server: TemporalServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a running step's heartbeat carries is visible to anyone who can describe the
    workflow (and is kept when the step times out): the worker masks it first."""
    name = f"beat-{uuid.uuid4().hex[:8]}"
    until = tmp_path / "release"
    root = make_project(
        {
            "chant.toml": temporal_server.toml(f"q-{name}"),
            "ops/op.op.py": BEATING.format(name=name, until=until),
        },
        folder=name,
    )
    monkeypatch.setenv("TOKEN", TOKEN)
    run = Chant("run", name, "--temporal", cwd=root, name="run")
    try:
        described = ""
        deadline = time.monotonic() + 20
        while "heartbeatDetails" not in described and time.monotonic() < deadline:
            time.sleep(0.3)
            described = temporal_json(
                temporal_server, "describe", workflow_id(root, name), missing_ok=True
            )
        assert "heartbeatDetails" in described, described
        until.touch()
        assert run.wait(30) == 0, run.stderr()
    finally:
        until.touch()
        run.stop()
        chant_subprocess("cancel", name, "--force", cwd=root)
    assert '"heartbeatDetails": [{"***": ["key", "***"], "token": "***"}]' in described
    assert leaks("workflow describe", described) == []


SHAPES = """
from chant import Op, phase, secret, shell

op = Op(
    name="{name}",
    phases=[phase("Print", [
        shell('printf "%s" "$T"; echo; echo "inline: $T"; printf "%s" "$T" | tr "\\\\n" " "; echo',
              env={{"T": secret("TOKEN")}}, outcome="Out"),
        shell('printf "%s" "$T" >&2; exit 4', env={{"T": secret("TOKEN")}},
              profile="policy_check"),
    ])],
    on_failure=[phase("Undo", [shell('echo "undeclared: $TOKEN"')])],
)
"""

SHAPED = "RwQvXkZt"


@pytest.mark.parametrize(
    "value",
    [
        f"{SHAPED}-newline\n",
        f"{SHAPED}-crlf\r\n",
        f"   {SHAPED}-spaces   ",
        f"\t{SHAPED}-tabs\t\n",
        f"{SHAPED}-one\n{SHAPED}-two\n  {SHAPED}-three  \n",
        f"{SHAPED}-\udcff-not-utf8\n",
    ],
    ids=["newline", "crlf", "spaces", "tabs", "multi-line", "not-utf8"],
)
@pytest.mark.parametrize("mode", ["local", "temporal"])
def test_each_shape_of_a_value_is_masked_in_both_modes(
    mode: str, value: str, make_project: MakeProject, request: pytest.FixtureRequest
) -> None:
    name = f"shape-{uuid.uuid4().hex[:8]}"
    files = {"ops/op.op.py": SHAPES.format(name=name)}
    server: TemporalServer | None = None
    if mode == "temporal":
        server = request.getfixturevalue("temporal_server")
        files["chant.toml"] = server.toml(f"q-{name}")
    root = make_project(files, folder=name)
    try:
        ran = chant_subprocess("run", name, f"--{mode}", "--json", cwd=root, env={"TOKEN": value})
        texts = [ran.out, ran.err]
        if server is not None:
            texts.append(workflow_history(server, workflow_id(root, name)))
    finally:
        if server is not None:
            chant_subprocess("cancel", name, "--force", cwd=root)
    assert ran.code == 1, ran.err
    assert [t for t in texts if SHAPED[:4] in t or SHAPED[-4:] in t] == []
    steps = json.loads(ran.out)["steps"]
    assert "inline: " in steps[0]["outcome"]["value"]["stdout"]
    assert "***" in steps[0]["outcome"]["value"]["stdout"]
    assert steps[2]["result"]["stdout"].startswith("undeclared: ")


def test_a_standalone_worker_masks_every_secret_of_the_op_from_its_own_environment(
    make_project: MakeProject, temporal_server: TemporalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``chant run --no-worker`` from a shell without the secrets: the worker has them,
    runs the steps with them and masks them all, the undeclared one included."""
    plain = _word(20)
    name = f"worker-{uuid.uuid4().hex[:8]}"
    root = make_project(
        {
            "chant.toml": temporal_server.toml(f"q-{name}"),
            "ops/op.op.py": UNDECLARED.format(name=name),
        },
        folder=name,
    )
    monkeypatch.setenv("PLAIN", plain)
    worker = Chant("worker", cwd=root, name="worker")
    monkeypatch.delenv("PLAIN")
    try:
        worker.wait_stderr("polling task queue")
        ran = chant_subprocess("run", name, "--no-worker", "--json", cwd=root)
        history = workflow_history(temporal_server, workflow_id(root, name))
    finally:
        worker.stop()
        chant_subprocess("cancel", name, "--force", cwd=root)
    assert ran.code == 1, ran.err
    for text in (ran.out, ran.err, history, worker.stdout(), worker.stderr()):
        assert plain[:4] not in text and plain[-4:] not in text
    steps = {s["fn"]: s for s in json.loads(ran.out)["steps"]}
    assert steps["reads_env"]["result"] == {"***": "***", "again": "***"}
    assert steps["raises_env"]["error"] == {"type": "ValueError", "message": "env has ***"}
