"""kubectl_apply, helm_install and wait_for_rollout against fake kubectl and helm.

No cluster exists here: ``fakes/fake_tool.py`` stands in for both tools, put first on
PATH by the ``tools`` fixture. It records each call's argv and can be told to fail, hang
or print a terminal rollout error (see its docstring).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import chant.builders
from chant import (
    Op,
    Profile,
    Retry,
    helm_install,
    kubectl_apply,
    phase,
    secret,
    wait_for_rollout,
)
from chant.activities import k8s
from chant.activities.registry import ActivityContext, default_registry
from chant.events import Event, RunResult
from chant.ir import ActivityStep
from conftest import Ran, run_op, wait_gone, write_fake_tools

KUBECTL_MISSING = "kubectl is not on PATH; install kubectl: https://kubernetes.io/docs/tasks/tools/"
HELM_MISSING = "helm is not on PATH; install helm: https://helm.sh/docs/intro/install/"
ONCE = Retry(max_attempts=1)
TWICE = Profile(timeout="10s", retry=Retry(max_attempts=2, initial_interval="10ms"))
THRICE = Profile(timeout="10s", retry=Retry(max_attempts=3, initial_interval="10ms"))
DEADLINE = 'error: deployment "api" exceeded its progress deadline\n'


@dataclass
class Tools:
    """Fake kubectl/helm on PATH, run from ``root`` (the current directory)."""

    root: Path
    bin: Path
    log: Path
    monkeypatch: pytest.MonkeyPatch
    env: dict[str, str] = field(default_factory=dict)

    def behave(self, tool: str, **by_subcommand: dict[str, Any]) -> None:
        """Tell ``tool`` what to do per subcommand (see fakes/fake_tool.py)."""
        name = f"FAKE_{tool.upper()}"
        self.env[name] = json.dumps(by_subcommand)
        self.monkeypatch.setenv(name, self.env[name])

    def calls(self, tool: str | None = None) -> list[list[str]]:
        """The argv (tool name first) of every call so far, of ``tool`` or of both."""
        return [[c["tool"], *c["argv"]] for c in self.records() if tool in (None, c["tool"])]

    def records(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def only(self, *tools: str) -> None:
        """Leave only ``tools`` on PATH (nothing else at all)."""
        for name in ("kubectl", "helm"):
            if name not in tools:
                (self.bin / name).unlink()
        self.monkeypatch.setenv("PATH", str(self.bin))
        self.env["PATH"] = str(self.bin)


@pytest.fixture
def tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tools]:
    root = tmp_path / "proj"
    (root / "k8s").mkdir(parents=True)
    (root / "k8s" / "app.yaml").write_text("kind: Deployment\n")
    (root / "values").mkdir()
    for name in ("base.yaml", "prod.yaml"):
        (root / "values" / name).write_text("replicas: 2\n")
    bin_dir = tmp_path / "fakebin"
    write_fake_tools(bin_dir, "kubectl", "helm")
    log = tmp_path / "calls.jsonl"
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv("FAKE_TOOLS_LOG", str(log))
    monkeypatch.delenv("FAKE_KUBECTL", raising=False)
    monkeypatch.delenv("FAKE_HELM", raising=False)
    monkeypatch.chdir(root)
    yield Tools(root, bin_dir, log, monkeypatch, {"PATH": path, "FAKE_TOOLS_LOG": str(log)})


async def no_backoff(delay: float) -> None:
    raise AssertionError(f"a retry was scheduled (after {delay}s)")


async def short_backoff(delay: float) -> None:
    await asyncio.sleep(min(delay, 0.05))


def run_steps(
    *steps: ActivityStep,
    secrets: dict[str, str] | None = None,
    sleep: Callable[[float], Any] = short_backoff,
    kill_grace: float = 0.5,
) -> tuple[RunResult, list[Event]]:
    """Run ``steps`` as one sequential phase; each step gets its activity's default
    profile unless it names one. A retry backs off at most 50ms."""
    op = Op(name="k", phases=[phase("Deploy", list(steps))])
    return run_op(
        op, check_args=True, secrets=secrets, sleep=sleep, kill_grace=kill_grace, timeout=30
    )


def one(step: ActivityStep, **kw: Any) -> tuple[dict[str, Any], list[Event]]:
    result, events = run_steps(step, **kw)
    (only,) = result.steps
    return {
        "status": only.status,
        "attempts": only.attempts,
        "result": only.result,
        "error": only.error,
    }, events


# -- the contract with the builders -----------------------------------------------------


@pytest.mark.parametrize("name", ["kubectl_apply", "helm_install", "wait_for_rollout"])
def test_each_activity_takes_ctx_then_exactly_the_builders_arguments(name: str) -> None:
    def params(fn: Callable[..., Any]) -> list[tuple[str, Any]]:
        return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]

    builder = [
        p
        for p in params(getattr(chant.builders, name))
        if p[0] not in ("profile", "outcome", "id", "when")
    ]
    activity = params(getattr(k8s, name))
    assert activity[0] == ("ctx", inspect.Parameter.empty)
    assert activity[1:] == builder
    assert inspect.iscoroutinefunction(getattr(k8s, name))
    assert getattr(k8s, name).__doc__


def test_the_default_profiles_are_long_infra_and_k8s_wait() -> None:
    defaults = default_registry().defaults()
    assert defaults["kubectl_apply"] == "long_infra"
    assert defaults["helm_install"] == "long_infra"
    assert defaults["wait_for_rollout"] == "k8s_wait"


# -- exact command lines ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "argv"),
    [
        (kubectl_apply("k8s/app.yaml"), ["kubectl", "apply", "-f", "k8s/app.yaml"]),
        (
            kubectl_apply("k8s", namespace="prod", server_side=True),
            ["kubectl", "apply", "-f", "k8s", "--namespace", "prod", "--server-side"],
        ),
        (
            kubectl_apply(
                "k8s/app.yaml",
                namespace="prod",
                context="kind-dev",
                server_side=True,
                wait=True,
                prune_selector="app=api,tier!=db",
            ),
            [
                "kubectl",
                "apply",
                "-f",
                "k8s/app.yaml",
                "--namespace",
                "prod",
                "--context",
                "kind-dev",
                "--server-side",
                "--wait",
                "--prune",
                "-l",
                "app=api,tier!=db",
            ],
        ),
        (
            kubectl_apply("k8s/", context="ctx", prune_selector="app=api"),
            [
                "kubectl",
                "apply",
                "-f",
                "k8s/",
                "--context",
                "ctx",
                "--prune",
                "-l",
                "app=api",
            ],
        ),
        (
            helm_install("api", "charts/api"),
            ["helm", "upgrade", "--install", "api", "charts/api", "--wait"],
        ),
        (
            helm_install("api", "oci://registry/api", wait=False, version="1.2.3"),
            ["helm", "upgrade", "--install", "api", "oci://registry/api", "--version", "1.2.3"],
        ),
        (
            helm_install(
                "api",
                "bitnami/nginx",
                namespace="web",
                values=["values/base.yaml", "values/prod.yaml"],
                set={"z.last": "1", "image.tag": "v2", "a": "x y"},
                version="15.0.0",
                create_namespace=True,
            ),
            [
                "helm",
                "upgrade",
                "--install",
                "api",
                "bitnami/nginx",
                "--namespace",
                "web",
                "--create-namespace",
                "-f",
                "values/base.yaml",
                "-f",
                "values/prod.yaml",
                "--set",
                "a=x y",
                "--set",
                "image.tag=v2",
                "--set",
                "z.last=1",
                "--version",
                "15.0.0",
                "--wait",
            ],
        ),
        (
            wait_for_rollout("deployment", "api"),
            ["kubectl", "rollout", "status", "deployment/api"],
        ),
        (
            wait_for_rollout("statefulset", "db", namespace="data", context="prod-eu"),
            [
                "kubectl",
                "rollout",
                "status",
                "statefulset/db",
                "--namespace",
                "data",
                "--context",
                "prod-eu",
            ],
        ),
    ],
)
def test_each_builder_runs_exactly_this_command(
    tools: Tools, step: ActivityStep, argv: list[str]
) -> None:
    outcome, _ = one(step)
    assert outcome["status"] == "ok", outcome["error"]
    assert tools.calls() == [argv]
    assert tools.records()[0]["cwd"] == str(tools.root)


def test_a_helm_set_value_from_a_secret_reaches_helm_but_no_event(tools: Tools) -> None:
    step = helm_install("api", "charts/api", set={"db.password": secret("DB_PASS")}, wait=False)
    outcome, events = one(step, secrets={"DB_PASS": "hunter2,x"})
    assert outcome["status"] == "ok"
    assert tools.calls() == [
        ["helm", "upgrade", "--install", "api", "charts/api", "--set", "db.password=hunter2,x"]
    ]
    assert "hunter2" not in json.dumps([e.to_dict() for e in events])


def test_non_string_set_values_are_written_as_helm_reads_them(tools: Tools) -> None:
    step = helm_install("api", "c", set={"replicas": 3, "debug": True}, wait=False)  # type: ignore[dict-item]
    assert one(step)[0]["status"] == "ok"
    assert tools.calls() == [
        ["helm", "upgrade", "--install", "api", "c", "--set", "debug=true", "--set", "replicas=3"]
    ]


# -- results and output -----------------------------------------------------------------


def test_kubectl_apply_returns_the_objects_it_applied_and_pruned(tools: Tools) -> None:
    out = (
        "namespace/web unchanged\n"
        "deployment.apps/api configured\n"
        "service/api serverside-applied\n"
        "configmap/old pruned\n"
        "Warning: something unrelated\n"
    )
    tools.behave("kubectl", apply={"stdout": out})
    outcome, _ = one(kubectl_apply("k8s/app.yaml", prune_selector="app=api"))
    assert outcome["result"] == {
        "manifest": "k8s/app.yaml",
        "applied": [
            "namespace/web unchanged",
            "deployment.apps/api configured",
            "service/api serverside-applied",
        ],
        "pruned": ["configmap/old pruned"],
        "stdout": out.rstrip(),
    }


def test_helm_install_and_wait_for_rollout_return_what_they_did(tools: Tools) -> None:
    result, _ = run_steps(
        helm_install("api", "charts/api", namespace="web"), wait_for_rollout("deployment", "api")
    )
    assert [s.result for s in result.steps] == [
        {
            "release": "api",
            "chart": "charts/api",
            "namespace": "web",
            "stdout": 'Release "api" has been upgraded. Happy Helming!\nSTATUS: deployed',
        },
        {
            "kind": "deployment",
            "name": "api",
            "ready": True,
            "stdout": 'deployment "api" successfully rolled out',
        },
    ]


def test_output_lines_stream_as_step_output_events(tools: Tools) -> None:
    tools.behave(
        "kubectl",
        rollout={
            "stdout": 'Waiting for deployment "api" rollout to finish: 1 of 2 updated\n'
            'deployment "api" successfully rolled out\n',
            "stderr": "Warning: v1 is deprecated\n",
        },
    )
    _, events = one(wait_for_rollout("deployment", "api"))
    lines = [(e.data["stream"], e.data["line"]) for e in events if e.type == "step_output"]
    assert sorted(lines) == [
        ("stderr", "Warning: v1 is deprecated"),
        ("stdout", 'Waiting for deployment "api" rollout to finish: 1 of 2 updated'),
        ("stdout", 'deployment "api" successfully rolled out'),
    ]
    assert all(e.data["step"] == "deploy.1" for e in events if e.type == "step_output")


def test_lines_arrive_while_kubectl_still_runs(tools: Tools) -> None:
    tools.behave("kubectl", rollout={"stdout": "Waiting for rollout\n", "sleep": 30})
    seen: list[str] = []

    async def scenario() -> None:
        done = asyncio.Event()

        def output(line: str, stream: str) -> None:
            seen.append(line)
            done.set()

        ctx = ActivityContext(step_id="s", attempt=1, output=output, kill_grace=0.5)
        task = asyncio.ensure_future(k8s.wait_for_rollout(ctx, "deployment", "api"))
        await asyncio.wait_for(done.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert seen == ["Waiting for rollout"]
    assert wait_gone(tools.records()[0]["pid"])


def test_it_heartbeats_while_a_silent_kubectl_runs(tools: Tools) -> None:
    tools.behave("kubectl", rollout={"stdout": "", "sleep": 0.7})
    profile = Profile(timeout="10s", heartbeat_timeout="200ms", retry=ONCE)
    outcome, _ = one(wait_for_rollout("deployment", "api", profile=profile))
    assert outcome["status"] == "ok", outcome["error"]


# -- failures ---------------------------------------------------------------------------


def test_a_missing_manifest_fails_once_before_kubectl_runs(tools: Tools) -> None:
    outcome, events = one(kubectl_apply("k8s/missing.yaml"), sleep=no_backoff)
    assert (outcome["status"], outcome["attempts"]) == ("failed", 1)
    assert outcome["error"] == {
        "type": "ManifestNotFoundError",
        "message": "manifest k8s/missing.yaml does not exist "
        f"(looked for {tools.root / 'k8s' / 'missing.yaml'})",
    }
    assert tools.calls() == []
    assert not any(e.type == "step_retrying" for e in events)


def test_the_manifest_is_checked_before_kubectl_is_looked_for(tools: Tools) -> None:
    tools.only()
    outcome, _ = one(kubectl_apply("nope.yaml"), sleep=no_backoff)
    assert outcome["error"]["type"] == "ManifestNotFoundError"
    assert outcome["error"]["message"].startswith("manifest nope.yaml does not exist")


def test_an_absolute_missing_manifest_is_named_once(tools: Tools) -> None:
    missing = tools.root / "gone.yaml"
    outcome, _ = one(kubectl_apply(str(missing)), sleep=no_backoff)
    assert outcome["error"]["message"] == f"manifest {missing} does not exist"


def test_a_manifest_url_is_left_to_kubectl(tools: Tools) -> None:
    url = "https://example.com/app.yaml"
    assert one(kubectl_apply(url))[0]["status"] == "ok"
    assert tools.calls() == [["kubectl", "apply", "-f", url]]


def test_a_missing_values_file_fails_once_before_helm_runs(tools: Tools) -> None:
    step = helm_install("api", "charts/api", values=["values/base.yaml", "values/nope.yaml"])
    outcome, _ = one(step, sleep=no_backoff)
    assert (outcome["status"], outcome["attempts"]) == ("failed", 1)
    assert outcome["error"]["type"] == "ManifestNotFoundError"
    assert outcome["error"]["message"].startswith("values file values/nope.yaml does not exist")
    assert tools.calls() == []


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (kubectl_apply("k8s/app.yaml"), KUBECTL_MISSING),
        (wait_for_rollout("deployment", "api"), KUBECTL_MISSING),
        (helm_install("api", "charts/api"), HELM_MISSING),
    ],
)
def test_a_tool_missing_from_path_fails_at_once_naming_how_to_install_it(
    tools: Tools, step: ActivityStep, message: str
) -> None:
    tools.only()
    outcome, _ = one(step, sleep=no_backoff)
    assert (outcome["status"], outcome["attempts"]) == ("failed", 1)
    assert outcome["error"] == {"type": "ToolNotFoundError", "message": message}


def test_helm_missing_does_not_stop_kubectl(tools: Tools) -> None:
    tools.only("kubectl")
    result, _ = run_steps(kubectl_apply("k8s/app.yaml"), helm_install("api", "c"), sleep=no_backoff)
    assert [s.status for s in result.steps] == ["ok", "failed"]
    assert result.steps[1].error == {"type": "ToolNotFoundError", "message": HELM_MISSING}


HINT = "see kubectl describe deployment/api{}, fix the cause and deploy again"


@pytest.mark.parametrize(
    ("behaviour", "where", "message"),
    [
        (
            {"stderr": DEADLINE, "exit": 1},
            {},
            'error: deployment "api" exceeded its progress deadline; ' + HINT.format(""),
        ),
        (
            {
                "stdout": 'Waiting for deployment "api" rollout to finish: 0 of 2 updated\n',
                "stderr": "Warning: v1 is deprecated\nerror: timed out: ProgressDeadlineExceeded\n",
                "exit": 1,
            },
            {"namespace": "web", "context": "prod"},
            "error: timed out: ProgressDeadlineExceeded; "
            + HINT.format(" --namespace web --context prod"),
        ),
        (
            {"stdout": 'deployment "api" exceeded its progress deadline\n', "exit": 1},
            {},
            'deployment "api" exceeded its progress deadline; ' + HINT.format(""),
        ),
    ],
)
def test_a_progress_deadline_fails_the_rollout_for_good(
    tools: Tools, behaviour: dict[str, Any], where: dict[str, str], message: str
) -> None:
    tools.behave("kubectl", rollout=behaviour)
    # Three attempts allowed, and the profile does not list ReadinessFailedError.
    step = wait_for_rollout("deployment", "api", profile=THRICE, **where)
    outcome, _ = one(step, sleep=no_backoff)
    assert (outcome["status"], outcome["attempts"]) == ("failed", 1)
    assert outcome["error"] == {
        "type": "ReadinessFailedError",
        "message": "deployment/api failed to roll out for good: " + message,
    }
    assert len(tools.calls()) == 1


def test_the_k8s_wait_profile_does_not_retry_a_progress_deadline(tools: Tools) -> None:
    tools.behave("kubectl", rollout={"stderr": DEADLINE, "exit": 1})
    outcome, _ = one(wait_for_rollout("deployment", "api"), sleep=no_backoff)
    assert (outcome["error"]["type"], outcome["attempts"]) == ("ReadinessFailedError", 1)


def test_a_plain_rollout_failure_is_retried_per_the_profile(tools: Tools) -> None:
    stderr = 'error: the server doesn\'t have a resource type "deployment"\n'
    tools.behave("kubectl", rollout={"stderr": stderr, "exit": 1})
    outcome, events = one(wait_for_rollout("deployment", "api", profile=TWICE))
    assert (outcome["status"], outcome["attempts"]) == ("failed", 2)
    assert outcome["error"] == {
        "type": "CommandFailedError",
        "message": "kubectl rollout status exited with 1: " + stderr.strip(),
    }
    retries = [e.data for e in events if e.type == "step_retrying"]
    assert [(r["attempt"], r["delay_ms"]) for r in retries] == [(1, 10)]
    assert len(tools.calls()) == 2


@pytest.mark.parametrize(
    ("tool", "sub", "step"),
    [
        ("kubectl", "apply", kubectl_apply("k8s/app.yaml", profile=TWICE)),
        ("helm", "upgrade", helm_install("api", "charts/api", profile=TWICE)),
    ],
)
def test_a_failure_that_passes_succeeds_on_the_next_attempt(
    tools: Tools, tool: str, sub: str, step: ActivityStep
) -> None:
    stderr = "Unable to connect to the server: dial tcp 10.0.0.1:6443: i/o timeout\n"
    tools.behave(tool, **{sub: {"stderr": stderr, "exit": 1, "fail_first": 1}})
    outcome, events = one(step)
    assert (outcome["status"], outcome["attempts"]) == ("ok", 2)
    (retry,) = [e.data for e in events if e.type == "step_retrying"]
    assert retry["error"] == {
        "type": "CommandFailedError",
        "message": f"{tool} exited with 1: {stderr.strip()}",
    }
    assert len(tools.calls(tool)) == 2


def test_a_hanging_kubectl_is_stopped_by_the_timeout(tools: Tools) -> None:
    tools.behave("kubectl", rollout={"stdout": "Waiting for deployment\n", "sleep": 300})
    profile = Profile(timeout="500ms", retry=ONCE)
    outcome, events = one(wait_for_rollout("deployment", "api", profile=profile))
    assert (outcome["status"], outcome["attempts"]) == ("failed", 1)
    assert outcome["error"]["type"] == "ActivityTimeoutError"
    assert any(
        e.type == "step_output" and e.data["line"] == "Waiting for deployment" for e in events
    )
    (record,) = tools.records()
    assert wait_gone(record["pid"])


# -- end to end through the CLI ---------------------------------------------------------

DEPLOY_OP = """
from chant import Op, Outcome, Profile, Retry, helm_install, kubectl_apply, phase
from chant import wait_for_rollout

QUICK = Profile(timeout="10s", retry=Retry(max_attempts=2, initial_interval="10ms"))

deploy = Op(
    name="deploy",
    phases=[
        phase("Infra", [
            helm_install("redis", "bitnami/redis", namespace="data", create_namespace=True,
                         values=["values/base.yaml"], set={"auth.enabled": "false"}),
        ]),
        phase("App", [
            kubectl_apply("k8s/app.yaml", namespace="web",
                          outcome=Outcome("Applied", "applied.0")),
            wait_for_rollout("deployment", "api", namespace="web", profile=QUICK),
        ]),
    ],
)
"""


def test_an_op_deploys_through_chant_run_local(tools: Tools, chant: Callable[..., Ran]) -> None:
    (tools.root / "ops").mkdir()
    (tools.root / "ops" / "deploy.op.py").write_text(DEPLOY_OP)
    ran = chant("run", "deploy", "--local", "--json", cwd=tools.root)
    assert ran.code == 0, ran.err
    doc = json.loads(ran.out)
    assert [(s["fn"], s["status"], s["attempts"]) for s in doc["steps"]] == [
        ("helm_install", "ok", 1),
        ("kubectl_apply", "ok", 1),
        ("wait_for_rollout", "ok", 1),
    ]
    assert doc["steps"][1]["outcome"] == {
        "name": "Applied",
        "value": "deployment.apps/api configured",
    }
    assert tools.calls() == [
        [
            "helm",
            "upgrade",
            "--install",
            "redis",
            "bitnami/redis",
            "--namespace",
            "data",
            "--create-namespace",
            "-f",
            "values/base.yaml",
            "--set",
            "auth.enabled=false",
            "--wait",
        ],
        ["kubectl", "apply", "-f", "k8s/app.yaml", "--namespace", "web"],
        ["kubectl", "rollout", "status", "deployment/api", "--namespace", "web"],
    ]
    assert 'deployment "api" successfully rolled out' in ran.err


def test_a_failed_rollout_fails_the_op_in_a_real_chant_process(
    tools: Tools, chant_proc: Callable[..., Ran]
) -> None:
    (tools.root / "ops").mkdir()
    (tools.root / "ops" / "deploy.op.py").write_text(DEPLOY_OP)
    tools.behave("kubectl", rollout={"stderr": DEADLINE, "exit": 1})
    ran = chant_proc("run", "deploy", "--local", cwd=tools.root, env=tools.env)
    assert ran.code == 1, ran.err
    assert "ReadinessFailedError: deployment/api failed to roll out for good" in ran.out
    assert [c[:2] for c in tools.calls()] == [
        ["helm", "upgrade"],
        ["kubectl", "apply"],
        ["kubectl", "rollout"],
    ]


def test_a_single_values_file_may_be_given_as_a_string() -> None:
    from chant import helm_install

    step = helm_install("api", "charts/api", values="values/prod.yaml")
    assert step.args["values"] == ["values/prod.yaml"]
