"""A secret's value never appears in any output, record or built IR."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from conftest import Ran

VALUE = "pa55-w0rd-xyz"

OPS = """
from chant import Op, Outcome, phase, secret, shell

leaky = Op(
    name="leaky",
    phases=[
        phase("Use", [
            shell('echo "token=$TOKEN"; echo "$TOKEN" >&2', env={"TOKEN": secret("API_TOKEN")},
                  outcome=Outcome("Seen", "stdout")),
            shell('echo "$TOKEN-suffix" >&2; exit 9', env={"TOKEN": secret("API_TOKEN")},
                  profile="policy_check"),
        ]),
    ],
)
"""


def test_a_secret_never_appears_in_stdout_stderr_json_or_the_built_ir(
    make_project: Callable[..., Path], chant_proc: Callable[..., Ran]
) -> None:
    root = make_project({"ops/leaky.op.py": OPS})
    env = {"API_TOKEN": VALUE}
    human = chant_proc("run", "leaky", "--local", cwd=root, env=env)
    as_json = chant_proc("run", "leaky", "--local", "--json", cwd=root, env=env)
    events = chant_proc("run", "leaky", "--local", "--progress-json", cwd=root, env=env)
    built = chant_proc("build", cwd=root, env=env)
    assert [human.code, as_json.code, events.code, built.code] == [1, 1, 1, 0]
    ir_text = (root / "dist" / "ops" / "leaky.op.json").read_text()
    for text in (human.out, human.err, as_json.out, as_json.err, events.out, events.err, ir_text):
        assert VALUE not in text
    # The masked value is still visibly there, and the IR keeps only the reference.
    assert "token=***" in human.out and "***-suffix" in human.out
    doc = json.loads(as_json.out)
    assert doc["steps"][0]["outcome"] == {"name": "Seen", "value": "token=***"}
    assert doc["steps"][1]["error"]["message"] == "command exited with 9: ***-suffix"
    assert json.loads(ir_text)["phases"][0]["steps"][0]["args"]["env"] == {
        "TOKEN": {"$secret": "API_TOKEN"}
    }


def test_a_missing_secret_stops_the_run_before_anything_runs(
    make_project: Callable[..., Path], chant: Callable[..., Ran]
) -> None:
    root = make_project({"ops/leaky.op.py": OPS})
    ran = chant("run", "leaky", "--local", cwd=root)
    assert ran.code == 2
    assert ran.out == ""
    assert ran.err == (
        'chant: error: op "leaky" needs secret(s) not set (or empty) in the environment: '
        "API_TOKEN\n"
        "  hint: export API_TOKEN=… before running (the value is masked as *** in all output)\n"
    )
