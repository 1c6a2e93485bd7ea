"""Run management on a loopback server that lacks chant's search attributes (a dev
server chant did not start, where ``chant run`` never ran): the commands register them,
as ``chant run`` does, and answer as on any server, never with an RPC error.

Each test starts a plain ``temporal server start-dev`` of its own (in memory, on a free
port) and stops it by pid."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from chant.temporal import devserver
from conftest import MakeProject, Ran, wait_gone
from temporal_server import free_port

OPS = """
from chant import Op, phase, shell

deploy = Op(name="deploy", phases=[phase("P", [shell("true")])])
"""


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[str]:
    """A bare dev server (no search attributes beyond Temporal's own); its address."""
    address = f"127.0.0.1:{free_port()}"
    host, port = address.split(":")
    log = (tmp_path / "fresh-server.log").open("wb")
    proc = subprocess.Popen(
        [
            devserver.temporal_cli(),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            host,
            "--port",
            port,
            "--log-level",
            "error",
            "--dynamic-config-value",
            "frontend.enableServerVersionCheck=false",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        devserver.wait_ready(address, 30)
        yield address
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        assert wait_gone(proc.pid)


def custom_attributes(address: str) -> set[str]:
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    async def listed() -> set[str]:
        client = await Client.connect(address)
        found = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        return set(found.custom_attributes)

    return asyncio.run(listed())


NOT_RUNNING = (
    'chant: error: Op "deploy" has no running workflow\n'
    "  hint: start one with `chant run deploy`; `chant history deploy` lists past runs\n"
)


@pytest.mark.parametrize(
    ("args", "code", "out", "err"),
    [
        (["status", "deploy"], 2, "", NOT_RUNNING),
        (["status", "deploy", "--json"], 2, "", NOT_RUNNING),
        (["history", "deploy"], 0, 'no runs of "deploy" on {address} (default)\n', ""),
        (["history", "deploy", "--json"], 0, "[]\n", ""),
        (["cancel", "deploy"], 2, "", NOT_RUNNING),
        (["cancel", "deploy", "--force"], 2, "", NOT_RUNNING),
        (["signal", "deploy", "approve"], 2, "", NOT_RUNNING),
        (
            ["schedule", "list"],
            0,
            "this project has no Schedules on {address} (default); `chant schedule apply` "
            "creates them "
            "for the Ops with a schedule\n",
            "",
        ),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_a_server_without_chants_search_attributes_gets_them_and_a_plain_answer(
    args: list[str],
    code: int,
    out: str,
    err: str,
    fresh_server: str,
    make_project: MakeProject,
    chant_proc: Callable[..., Ran],
) -> None:
    assert not {"ChantOp", "ChantOutcomes"} & custom_attributes(fresh_server)
    root = make_project(
        {
            "chant.toml": (
                '[temporal]\ndefault_profile = "fresh"\n[temporal.profiles.fresh]\n'
                f'address = "{fresh_server}"\ntask_queue = "fresh"\n'
            ),
            "ops/deploy.op.py": OPS,
        }
    )
    ran = chant_proc(*args, cwd=root, timeout=60)
    assert (ran.code, ran.out, ran.err) == (code, out.format(address=fresh_server), err)
    assert {"ChantOp", "ChantOutcomes"} <= custom_attributes(fresh_server)
    # The registered attributes work: a run is found by them afterwards.
    assert chant_proc("run", "deploy", cwd=root, timeout=60).code == 0
    history = chant_proc("history", "deploy", "--json", cwd=root, timeout=60)
    assert history.code == 0, history.err
    assert [r["status"] for r in json.loads(history.out)] in ([], ["completed"])


MANY_ATTRIBUTES = """
from chant import Op, phase, shell

deploy = Op(
    name="deploy",
    phases=[phase("P", [shell("touch ran")])],
    search_attributes={{f"Attr{{i}}": "x" for i in range({count})}},
)
"""


def test_more_search_attributes_than_the_server_holds_is_exit_3_naming_them(
    fresh_server: str, make_project: MakeProject, chant_proc: Callable[..., Ran]
) -> None:
    """A dev server holds 10 Keyword attributes a namespace (chant's ChantOp and
    ChantProject among them): an Op with 9 more was an internal error (RPCError)."""
    root = make_project(
        {
            "chant.toml": (
                '[temporal]\ndefault_profile = "fresh"\n[temporal.profiles.fresh]\n'
                f'address = "{fresh_server}"\ntask_queue = "fresh"\n'
            ),
            "ops/deploy.op.py": MANY_ATTRIBUTES.format(count=9),
        }
    )
    ran = chant_proc("run", "deploy", cwd=root, timeout=60)
    names = ", ".join(["ChantOp", "ChantProject", "ChantOutcomes"] + [f"Attr{i}" for i in range(9)])
    assert (ran.code, ran.out) == (3, "")
    assert ran.err.endswith(
        f"chant: error: the Temporal server at {fresh_server} refused to register the search "
        f"attribute(s) {names} in namespace default: Unable to create search attributes: "
        "cannot have more than 10 search attribute of type Keyword.\n"
        "  hint: an Op's search_attributes each need one, as Keyword; use fewer of them (a "
        "dev server holds 10 Keyword attributes a namespace, chant's ChantOp and ChantProject "
        "among them)\n"
    ), ran.err
    assert not (root / "ran").exists()
    (root / "ops" / "deploy.op.py").write_text(MANY_ATTRIBUTES.format(count=8))
    assert chant_proc("run", "deploy", cwd=root, timeout=60).code == 0
    assert (root / "ran").exists()
