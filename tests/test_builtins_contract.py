"""The contract of every built-in activity with its builder and the build's checks.

``chant.builders.BUILTIN_ARGS`` declares each built-in's arguments once (name, kind,
default). The DSL builder, the activity function and the build's type check must all
agree with it, and a step built with every optional argument set must run.
"""

from __future__ import annotations

import inspect
import json
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import chant
from chant.activities import k8s
from chant.activities.registry import BUILTINS, default_registry
from chant.builders import (
    BOOL,
    BUILTIN_ARGS,
    COMMAND,
    DURATION,
    ENV,
    REQUIRED,
    STATUS,
    TEXT,
    TEXTS,
    VALUES,
    Kind,
    builtin_arg_problems,
)
from conftest import Ran, write_fake_tools

NAMES = [d.name for d in BUILTINS]
STEP_OPTIONS = ("profile", "outcome", "id", "when")

# What each kind of argument is annotated as: in the builder (what a user may write,
# secrets included, as the build accepts them) and in the activity (what it receives,
# secrets resolved). An argument whose default is None adds "| None" to both.
ANNOTATIONS: dict[Kind, tuple[str, str]] = {
    TEXT: ("str | Secret", "str"),
    BOOL: ("bool", "bool"),
    COMMAND: ("Sequence[str | Secret] | str | Secret", "Sequence[str] | str"),
    TEXTS: ("Sequence[str | Secret] | str", "Sequence[str]"),
    ENV: ("Mapping[str, str | Secret]", "Mapping[str, str]"),
    VALUES: ("Mapping[str, str | int | float | bool | Secret]", "Mapping[str, object]"),
    STATUS: ("int | Sequence[int]", "int | Sequence[int]"),
    DURATION: ("str", "str"),
}


def every_optional_set(port: int) -> dict[str, dict[str, Any]]:
    """A call of each built-in that gives every argument, none at its default."""
    return {
        "shell": {"cmd": 'test "$CONTRACT" = yes && pwd', "env": {"CONTRACT": "yes"}, "cwd": "sub"},
        "build": {"path": "sub", "command": ["sh", "-c", "echo built"]},
        "teardown": {"path": "sub", "command": "echo torn down"},
        "kubectl_apply": {
            "manifest": "k8s/app.yaml",
            "namespace": "prod",
            "context": "kind-dev",
            "server_side": True,
            "wait": True,
            "prune_selector": "app=api",
        },
        "helm_install": {
            "release": "api",
            "chart": "charts/api",
            "namespace": "prod",
            "values": ["values/base.yaml", "values/prod.yaml"],
            "set": {"image": "api:1", "replicas": 2, "debug": True},
            "version": "1.2.3",
            "wait": False,
            "create_namespace": True,
        },
        "wait_for_rollout": {
            "kind": "deployment",
            "name": "api",
            "namespace": "prod",
            "context": "kind-dev",
        },
        "http_check": {
            "url": f"http://127.0.0.1:{port}/health",
            "method": "POST",
            "status": [200, 201],
            "contains": "ok",
            "interval": "50ms",
            "within": "20s",
            "headers": {"X-Contract": "yes"},
        },
        "state_snapshot": {"env": "demo"},
        "state_diff": {"env": "demo", "against": "live"},
    }


def declared(name: str) -> list[tuple[str, Any]]:
    """The declared (name, default) pairs, ``inspect``'s ``empty`` for a required one."""
    return [
        (key, inspect.Parameter.empty if arg.default is REQUIRED else arg.default)
        for key, arg in BUILTIN_ARGS[name].items()
    ]


def annotation(name: str, key: str, side: int) -> str:
    arg = BUILTIN_ARGS[name][key]
    return ANNOTATIONS[arg.kind][side] + (" | None" if arg.default is None else "")


def activity_function(name: str) -> Callable[..., Any]:
    fn = default_registry().get(name).function  # type: ignore[union-attr]
    assert callable(fn)
    return fn


def test_the_declaration_the_builders_and_the_registry_name_the_same_built_ins() -> None:
    assert len(NAMES) == 9
    assert sorted(BUILTIN_ARGS) == sorted(NAMES)
    for name in NAMES:
        builder = getattr(chant, name)
        assert builder.__name__ == name
        assert name in chant.__all__


@pytest.mark.parametrize("name", NAMES)
def test_the_builder_takes_exactly_the_declared_arguments_then_the_step_options(
    name: str,
) -> None:
    params = list(inspect.signature(getattr(chant, name)).parameters.values())
    assert [p.name for p in params[-len(STEP_OPTIONS) :]] == list(STEP_OPTIONS)
    own = params[: -len(STEP_OPTIONS)]
    assert [(p.name, p.default) for p in own] == declared(name)
    assert [p.annotation for p in own] == [annotation(name, p.name, 0) for p in own]
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in own)
    assert all(p.default is None for p in params[-len(STEP_OPTIONS) :])


@pytest.mark.parametrize("name", NAMES)
def test_the_activity_takes_ctx_then_exactly_the_declared_arguments(name: str) -> None:
    fn = activity_function(name)
    params = list(inspect.signature(fn).parameters.values())
    assert params[0].name == "ctx"
    own = params[1:]
    assert [(p.name, p.default) for p in own] == declared(name)
    assert [p.annotation for p in own] == [annotation(name, p.name, 1) for p in own]
    assert inspect.iscoroutinefunction(fn)
    assert fn.__doc__


@pytest.mark.parametrize("name", NAMES)
def test_the_build_checks_the_type_of_exactly_the_declared_arguments(name: str) -> None:
    for key, arg in BUILTIN_ARGS[name].items():
        assert builtin_arg_problems(name, {key: 1.5}) == [
            f'argument "{key}" must be {arg.kind.wanted}, got float 1.5'
        ]
        none_problems = builtin_arg_problems(name, {key: None})
        assert none_problems == (
            []
            if arg.default is None
            else [f'argument "{key}" must be {arg.kind.wanted}, got NoneType None']
        )
        if arg.default not in (REQUIRED, None):
            assert builtin_arg_problems(name, {key: arg.default}) == []
    # A key it does not declare is the signature check's business, not the type check's.
    assert builtin_arg_problems(name, {"no_such_argument": 1.5}) == []
    assert default_registry().get(name).check_args({"no_such_argument": 1}) is not None  # type: ignore[union-attr]


@pytest.mark.parametrize("name", NAMES)
def test_the_builder_with_every_optional_argument_set_passes_every_build_check(
    name: str,
) -> None:
    given = every_optional_set(9)[name]
    assert list(given) == list(BUILTIN_ARGS[name]), "the table must give every argument"
    for key, arg in BUILTIN_ARGS[name].items():
        assert given[key] != arg.default, f"{key} is at its default"
    step = getattr(chant, name)(**given)
    assert step.fn == name
    assert set(step.args) == set(given)
    assert builtin_arg_problems(name, step.args) == []
    assert default_registry().get(name).check_args(step.args) is None  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["kubectl_apply", "helm_install", "wait_for_rollout"])
def test_the_argv_builder_takes_the_args_the_builder_makes(name: str) -> None:
    given = every_optional_set(9)[name]
    argv = getattr(k8s, f"{name}_argv")(**getattr(chant, name)(**given).args)
    shown = " ".join(argv)
    for key, value in given.items():
        if isinstance(value, str):  # every text argument appears on the command line
            assert value in shown, key


# -- every built-in, every argument set, run for real ---------------------------------


@pytest.fixture
def health() -> Iterator[tuple[int, list[dict[str, str]]]]:
    """A loopback server answering POST /health with 201 "ok" when sent X-Contract."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append({"path": self.path, "x-contract": self.headers.get("X-Contract", "")})
            ok = self.headers.get("X-Contract") == "yes"
            body = b"ok" if ok else b"no"
            self.send_response(201 if ok else 400)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_every_built_in_runs_with_every_optional_argument_set(
    make_project: Callable[..., Path],
    chant_proc: Callable[..., Ran],
    health: tuple[int, list[dict[str, str]]],
    tmp_path: Path,
) -> None:
    port, seen = health
    calls = every_optional_set(port)
    observe = [sys.executable, "-c", "print('{\"items\": []}')"]
    steps = ",\n".join(f"    {name}(**CALLS[{name!r}])" for name in NAMES)
    root = make_project(
        {
            "chant.toml": f"[environments.demo]\nobserve = {json.dumps(observe)}\n",
            "ops/allset.op.py": f"from chant import *\nCALLS = {calls!r}\n"
            f"allset = Op(name='allset', phases=[phase('All', [\n{steps}\n])])\n",
            "sub/.keep": "",
            "k8s/app.yaml": "kind: Deployment\n",
            "values/base.yaml": "replicas: 1\n",
            "values/prod.yaml": "replicas: 2\n",
        }
    )
    write_fake_tools(tmp_path / "fakebin", "kubectl", "helm")
    log = tmp_path / "calls.jsonl"
    env = {"PATH": f"{tmp_path / 'fakebin'}:/usr/bin:/bin", "FAKE_TOOLS_LOG": str(log)}
    ran = chant_proc("run", "allset", "--local", "--json", cwd=root, env=env)
    assert ran.code == 0, ran.err[-3000:]
    record = json.loads(ran.out)
    assert [(s["status"], s["attempts"]) for s in record["steps"]] == [("ok", 1)] * len(NAMES)
    results = {name: s["result"] for name, s in zip(NAMES, record["steps"], strict=True)}
    assert results["shell"]["stdout"] == str(root / "sub")
    assert results["build"]["stdout"] == "built"
    assert results["teardown"]["stdout"] == "torn down"
    assert results["http_check"]["status"] == 201
    assert results["state_diff"]["drifted"] is False
    assert seen[0] == {"path": "/health", "x-contract": "yes"}
    # The fake tools ran exactly the command lines the argv builders make.
    tools = [json.loads(line) for line in log.read_text().splitlines()]
    assert [[t["tool"], *t["argv"]] for t in tools] == [
        getattr(k8s, f"{name}_argv")(**getattr(chant, name)(**calls[name]).args)
        for name in ("kubectl_apply", "helm_install", "wait_for_rollout")
    ]


def test_none_is_refused_for_an_argument_whose_default_is_not_none(
    make_project: Callable[..., Path], chant: Callable[..., Ran]
) -> None:
    # Nullability is per argument: shell's env may be None, state_snapshot's env may not.
    root = make_project(
        {
            "ops/snap.op.py": "from chant import Op, activity, phase\n\n"
            'snap = Op(name="snap", phases=[phase("P", [activity("state_snapshot", env=None),'
            ' activity("shell", cmd="true", env=None)])])\n'
        }
    )
    ran = chant("build", cwd=root)
    assert ran.code == 2
    assert ran.err == (
        "chant: error: 1 problem in the project:\n"
        'ops/snap.op.py:3: op "snap": step "p.1": argument "env" must be a string, got NoneType'
        " None\n  hint: chant activities shows each signature\n"
    )
