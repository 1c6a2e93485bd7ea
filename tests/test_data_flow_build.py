"""Build-time checks of what flows through an Op: parameter declarations, references
(``param``, ``out``, ``outcome``) and conditions (``when=``), with ``file:line``.

Each bad Op starts with a step that would create ``ran.marker``: its absence proves that
nothing ran. The build and run commands are real ``python -m chant`` processes.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any, Literal, NotRequired, Optional, TypedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chant.activities.registry import BUILTINS, ActivityDef
from chant.builders import BUILTIN_RESULTS
from chant.ir import IRError, Op, Param
from chant.plan import check_ir
from chant.refs import param
from chant.shapes import (
    ANY,
    GATE_RESULT,
    form_problems,
    never_equal,
    path_problem,
    shape_of,
    shape_of_function,
)
from conftest import Chant, MakeProject

TOML = '[project]\nops = ["ops"]\n'
FILE = "ops/x.op.py"


def project(make_project: MakeProject, source: str) -> Path:
    return make_project({"chant.toml": TOML, FILE: source})


def at(source: str, needle: str) -> str:
    """``ops/x.op.py:N`` for the one line of ``source`` holding ``needle``."""
    lines = textwrap.dedent(source).lstrip("\n").splitlines()
    found = [i for i, line in enumerate(lines, 1) if needle in line]
    assert len(found) == 1, (needle, found)
    return f"{FILE}:{found[0]}"


def rejected(chant_proc: Chant, root: Path, *args: str) -> str:
    """The problems chant reports for ``args`` (exit 2, nothing ran), without the
    first line."""
    ran = chant_proc(*args, cwd=root)
    assert ran.code == 2, ran.err
    assert "Traceback" not in ran.err
    assert not (root / "ran.marker").exists()
    head, _, body = ran.err.partition("\n")
    assert re.fullmatch(r"chant: error: (1 problem|\d+ problems) in the project:", head), head
    return body


ORDER = (
    "a step can use what the steps before it left: earlier in a sequential phase or in "
    "an earlier phase (an on_failure step: any main step too)"
)

# -- parameter declarations -----------------------------------------------------------

PARAMS = """
from chant import Op, Param, phase, shell
op = Op(
    name="p",
    params={
        "env": Param(str, default="dev", choices=["staging", "prod"]),
        "count": Param(int, default="3"),
        "bad-name": Param(str),
        "mode": "fast",
        "conf": Param(dict),
        "zone": Param(str, choices=[]),
        "size": Param(int, choices=[1, "2"]),
        "tags": Param(list[str], default=["a", "c"], choices=["a", "b"]),
        "force": Param(bool, help=3),
        "version": Param(str),
    },
    schedule="every 1h",
    schedule_params={"evn": "prod", "count": 2.5},
    phases=[phase("Prepare", [shell("touch ran.marker")])],
)
"""


def test_parameter_declarations_are_checked(make_project: MakeProject, chant_proc: Chant) -> None:
    root = project(make_project, PARAMS)
    op = at(PARAMS, "op = Op(")

    def p(name: str) -> str:
        return at(PARAMS, f'"{name}": Param')

    assert rejected(chant_proc, root, "build") == "\n".join(
        [
            f'{at(PARAMS, "dev")}: op "p": parameter "env": default "dev" is not one of '
            '"staging", "prod"',
            f'{p("count")}: op "p": parameter "count": default must be an integer, got "3"',
            f"{at(PARAMS, 'bad-name')}: op \"p\": parameter name 'bad-name' is not an identifier",
            '  hint: use letters, digits and _ (not a digit first), e.g. "image_tag"',
            f'{op}: op "p": parameter "mode" must be a Param(...), got str \'fast\'',
            '  hint: write "mode": Param(str, help="...")',
            f'{p("conf")}: op "p": parameter "conf": type must be str, int, float, '
            "bool or list[str], got <class 'dict'>",
            f'{p("zone")}: op "p": parameter "zone": choices must be a non-empty '
            "list, got tuple ()",
            '  hint: write choices=["staging", "prod"]',
            f'{p("size")}: op "p": parameter "size": choice must be an integer, got "2"',
            f'{p("tags")}: op "p": parameter "tags": default "c" is not one of "a", "b"',
            f'{p("force")}: op "p": parameter "force": help must be a string, got int 3',
            f'{op}: op "p": schedule_params: unknown parameter "evn" (did you mean "env"?); '
            'parameter "count" must be an integer, got 2.5; missing required parameter "zone"; '
            'missing required parameter "size"; missing required parameter "force"; missing '
            'required parameter "version"',
            "  hint: Op(schedule_params=…) gives its scheduled runs their values; its "
            'parameters: env (str, default "dev"), count (int, default "3"), zone (str, '
            'required), size (int, required), tags (list, default ["a", "c"]), force (bool, '
            "required), version (str, required)",
            "",
        ]
    )


def test_schedule_params_without_a_schedule_and_params_not_a_dict(
    make_project: MakeProject, chant_proc: Chant
) -> None:
    source = """
    from chant import Op, Param, phase, shell
    a = Op(name="a", params={"env": Param(str)}, schedule_params={"env": "prod"},
           phases=[phase("Prepare", [shell("touch ran.marker")])])
    b = Op(name="b", params=["env"], phases=[phase("Prepare", [shell("touch ran.marker")])])
    c = Op(name="c", schedule_params={"env": "prod"}, schedule="every 1h",
           phases=[phase("Prepare", [shell("touch ran.marker")])])
    """
    root = project(make_project, source)
    assert rejected(chant_proc, root, "build") == "\n".join(
        [
            f'{at(source, "a = Op")}: op "a": schedule_params are given but the Op has no schedule',
            "  hint: add schedule=... or remove schedule_params (a run takes NAME=value)",
            f'{at(source, "b = Op")}: op "b": params must be a dict of name to Param(...), '
            "got list ['env']",
            '  hint: write params={"version": Param(str, help="image tag")}',
            f'{at(source, "c = Op")}: op "c": schedule_params: unknown parameter "env" (the '
            "Op has no parameters)",
            "  hint: Op(schedule_params=…) gives its scheduled runs their values; its "
            "parameters: none",
            "",
        ]
    )


def test_a_schedule_missing_several_required_params_names_each(
    make_project: MakeProject, chant_proc: Chant
) -> None:
    source = """
    from chant import Op, Param, phase, shell
    a = Op(name="a", params={"v": Param(str), "env": Param(str), "n": Param(int, default=1)},
           schedule="every 1h", phases=[phase("Prepare", [shell("touch ran.marker")])])
    """
    root = project(make_project, source)
    assert rejected(chant_proc, root, "build") == (
        f'{at(source, "a = Op")}: op "a": schedule_params: missing required parameter "v"; '
        'missing required parameter "env"\n'
        "  hint: Op(schedule_params=…) gives its scheduled runs their values; its parameters: "
        "v (str, required), env (str, required), n (int, default 1)\n"
    )


# -- references -----------------------------------------------------------------------

REFS = """
from chant import Op, Param, phase, shell, param, out, outcome
op = Op(
    name="r",
    params={"version": Param(str, default="1"), "env": Param(str, default="staging")},
    phases=[
        phase("Prepare", [shell("touch ran.marker", id="prep", outcome="Prepared")]),
        phase("Build", [
            shell(f"echo {param('verison')}", id="use-param"),
            shell(f"echo {out('prepp', 'stdout')}", id="unknown"),
            shell(f"echo {out('build')}", id="early"),
            shell("make", id="build", outcome="Tag"),
            shell(f"echo {out('self', 'stdout')}", id="self"),
            shell(f"echo {out('deploy')} {outcome('Tag')}", id="later-phase"),
            shell(f"echo {outcome('Tga')} {outcome('Deployed', default='no')}", id="outcomes"),
        ]),
        phase("Test", [
            shell("a", id="a", outcome="A"),
            shell(f"echo {out('a')}", id="b"),
            shell(f"echo {outcome('A')}", id="c"),
        ], parallel=True),
        phase("Deploy", [shell("deploy", id="deploy", outcome="Deployed")],
              when=out("deploy", "exit_code") == 0),
        phase("Notify", [shell(f"echo {out('undo')}", id="notify")]),
    ],
    on_failure=[
        phase("Undo", [
            shell(f"echo {out('build', 'stdout')} {out('deploy')} {out('undo-2')}", id="undo"),
            shell(f"echo {out('undo')} {outcome('Tag')}", id="undo-2"),
        ]),
    ],
)
"""


def test_references_to_unknown_later_and_sibling_steps_are_rejected(
    make_project: MakeProject, chant_proc: Chant
) -> None:
    root = project(make_project, REFS)

    def line(needle: str) -> str:
        return at(REFS, needle)

    later = f"comes later (declared at {line('make')})"
    at_id_deploy, at_id_b, at_id_c = line('id="deploy"'), line('id="b"'), line('id="c"')
    at_id_undo, at_id_undo_2 = line('id="undo"'), line('id="undo-2"')
    at_deploy_phase = line('phase("Deploy"')
    assert rejected(chant_proc, root, "build") == "\n".join(
        [
            f'{line("verison")}: op "r": step "use-param": param("verison"): the Op has no '
            'parameter "verison"',
            '  hint: did you mean "version"?',
            f'{line("prepp")}: op "r": step "unknown": out("prepp", "stdout"): no step has '
            'id "prepp"',
            '  hint: did you mean "prep"?',
            f'{line("early")}: op "r": step "early": out("build"): step "build" {later}',
            f"  hint: {ORDER}",
            f'{line("self")}: op "r": step "self": out("self", "stdout"): a step cannot use '
            "what it leaves itself",
            f"  hint: {ORDER}",
            f'{line("later-phase")}: op "r": step "later-phase": out("deploy"): step '
            f'"deploy" comes later (declared at {at_id_deploy})',
            f"  hint: {ORDER}",
            f'{line("outcomes")}: op "r": step "outcomes": outcome("Tga"): no step publishes '
            'outcome "Tga"',
            '  hint: did you mean "Tag"?',
            f'{line("outcomes")}: op "r": step "outcomes": outcome("Deployed"): only step '
            f'"deploy" publishes it, and step "deploy" comes later (declared at '
            f"{at_id_deploy})",
            f"  hint: {ORDER}",
            f'{at_id_b}: op "r": step "b": out("a"): step "a" runs alongside it in '
            'parallel phase "Test"',
            f"  hint: {ORDER}",
            f'{at_id_c}: op "r": step "c": outcome("A"): only step "a" publishes '
            'it, and step "a" runs alongside it in parallel phase "Test"',
            f"  hint: {ORDER}",
            f'{at_deploy_phase}: op "r": phase "Deploy": when: out("deploy", "exit_code"): '
            'step "deploy" is in this phase, whose condition is evaluated before its steps run',
            f"  hint: {ORDER}",
            f'{line("notify")}: op "r": step "notify": out("undo"): step "undo" is an '
            "on_failure step, which runs only after the Op fails",
            f"  hint: {ORDER}",
            f'{at_id_undo}: op "r": step "undo": out("undo-2"): step "undo-2" comes '
            f"later (declared at {at_id_undo_2})",
            f"  hint: {ORDER}",
            "",
        ]
    )


def test_a_param_reference_in_an_op_without_params_says_how_to_declare_it(
    make_project: MakeProject, chant_proc: Chant
) -> None:
    source = """
    from chant import Op, phase, shell, param
    a = Op(name="a", phases=[phase("Prepare", [shell("touch ran.marker"),
           shell(f"deploy --tag {param('tag')}")])])
    """
    root = project(make_project, source)
    assert rejected(chant_proc, root, "build") == (
        f'{at(source, "deploy --tag")}: op "a": step "prepare.2": param("tag"): the Op has '
        'no parameter "tag"\n'
        '  hint: declare it: Op(..., params={"tag": Param(str)})\n'
    )


PATHS = """
from __future__ import annotations

from typing import Any, TypedDict
from chant import Op, activity, gate, http_check, phase, shell, out

class Image(TypedDict):
    tag: str
    digest: str

class Pushed(TypedDict):
    image: Image
    layers: list[Image]

@activity
def push() -> Pushed:
    return {"image": {"tag": "1", "digest": "d"}, "layers": []}

@activity
def version() -> str:
    return "1"

@activity
def loose() -> dict[str, Any]:
    return {}

@activity
def bare():
    return {}

op = Op(
    name="paths",
    phases=[
        phase("Prepare", [
            shell("touch ran.marker", id="build"),
            activity("push", id="push"),
            activity("version", id="version"),
            activity("loose", id="loose"),
            activity("bare", id="bare"),
            http_check("http://localhost:1", id="health"),
            gate("approve", id="approve"),
        ]),
        phase("Use", [
            shell(f"echo {out('build', 'stdot')}"),
            shell(f"echo {out('build', 'stdout.x')}"),
            shell(f"echo {out('push', 'image.tagg')}"),
            shell(f"echo {out('push', 'layers.first')} {out('push', 'layers.0.digest')}"),
            shell(f"echo {out('version', 'major')}"),
            shell(f"echo {out('health', 'code')}"),
            shell(f"echo {out('approve', 'aprover')} {out('approve', 'approver')}"),
            shell(f"echo {out('loose', 'a.b.0')} {out('bare', 'anything')}"),
        ]),
    ],
)
"""


def test_out_paths_are_checked_against_declared_results(
    make_project: MakeProject, chant_proc: Chant
) -> None:
    root = project(make_project, PATHS)

    def line(needle: str) -> str:
        return at(PATHS, needle)

    assert rejected(chant_proc, root, "build") == "\n".join(
        [
            f'{line("stdot")}: op "paths": step "use.1": out("build", "stdot"): shell\'s '
            'result has no "stdot" (it has exit_code, stdout, stderr)',
            '  hint: did you mean "stdout"?',
            f'{line("stdout.x")}: op "paths": step "use.2": out("build", "stdout.x"): '
            'shell\'s result has no "stdout.x" ("stdout" is a string)',
            f'{line("tagg")}: op "paths": step "use.3": out("push", "image.tagg"): push\'s '
            'result has no "image.tagg" ("image" has tag, digest)',
            '  hint: did you mean "image.tag"?',
            f'{line("layers.first")}: op "paths": step "use.4": out("push", "layers.first"): '
            'push\'s result has no "layers.first" ("layers" is a list: index it with a '
            'number, e.g. "layers.0")',
            f'{line("major")}: op "paths": step "use.5": out("version", "major"): version\'s '
            'result has no "major" (it is a string)',
            f'{line("code")}: op "paths": step "use.6": out("health", "code"): http_check\'s '
            'result has no "code" (it has status, elapsed_ms, attempts)',
            f'{line("aprover")}: op "paths": step "use.7": out("approve", "aprover"): the '
            'gate\'s result has no "aprover" (it has signal, approver, note, at)',
            '  hint: did you mean "approver"?',
            "",
        ]
    )


# -- conditions -----------------------------------------------------------------------

CONDITIONS = """
from chant import Op, Param, phase, shell, param, out, secret
op = Op(
    name="c",
    params={
        "env": Param(str, default="staging", choices=["staging", "production"]),
        "replicas": Param(int, default=2),
        "tags": Param(list[str], default=[], choices=["a", "b"]),
    },
    phases=[
        phase("Prepare", [shell("touch ran.marker", id="prep")]),
        phase("Check", [
            shell("a", when=True),
            shell("b", when="prod"),
            shell("c", when={"env": "prod"}),
            shell("d", when=f"{param('env')}"),
            shell("e", when=secret("TOKEN")),
            shell("f", when=out("prep", "stdout") == secret("TOKEN")),
            shell("g", when=param("env") == "prod"),
            shell("h", when=param("env") != "prod"),
            shell("i", when=param("env").is_in(["prod", "staging"])),
            shell("j", when=param("env").is_in(["prod", "dev"])),
            shell("k", when=(param("replicas") == "2") | (param("replicas") == 2.0)),
            shell("l", when=param("tags").contains("c") & param("tags").contains(1)),
            shell("m", when=out("prep", "stdout") == f"v{param('env')}"),
        ], when=param("env") == "Staging"),
    ],
)
"""


def test_conditions_are_checked(make_project: MakeProject, chant_proc: Chant) -> None:
    root = project(make_project, CONDITIONS)

    def line(needle: str) -> str:
        return at(CONDITIONS, needle)

    hint = 'write a condition, e.g. when=param("env") == "prod" (join conditions with &, | and ~)'
    choices = '("staging", "production")'
    at_when_prod, at_check_phase = line('when="prod"'), line('phase("Check"')
    at_shell_f, at_shell_g, at_shell_h = line('shell("f"'), line('shell("g"'), line('shell("h"')
    at_shell_i, at_shell_j, at_shell_k = line('shell("i"'), line('shell("j"'), line('shell("k"')
    at_shell_l = line('shell("l"')
    secret = (
        'secret("TOKEN") cannot be used in a condition (a condition\'s values are shown in '
        "the reason a step is skipped; a secret is never shown)"
    )
    assert rejected(chant_proc, root, "build") == "\n".join(
        [
            f'{at_check_phase}: op "c": phase "Check": when: env == "Staging" is never true: '
            f'"Staging" is not one of env\'s choices {choices}',
            '  hint: did you mean "staging"?',
            f'{line("when=True")}: op "c": step "check.1": when must be a condition or a '
            "reference, got bool true",
            f"  hint: {hint}",
            f'{at_when_prod}: op "c": step "check.2": when must be a condition or a '
            'reference, got str "prod"',
            f"  hint: {hint}",
            f'{line("when={")}: op "c": step "check.3": when must be a condition or a '
            'reference, got dict {"env": "prod"}',
            f"  hint: {hint}",
            f'{line("when=f")}: op "c": step "check.4": when must be a condition or a '
            'reference, got the f-string "{env}"',
            f"  hint: {hint}",
            f'{line("when=secret")}: op "c": step "check.5": when: {secret}',
            f'{at_shell_f}: op "c": step "check.6": when: {secret}',
            f'{at_shell_g}: op "c": step "check.7": when: env == "prod" is never '
            f'true: "prod" is not one of env\'s choices {choices}',
            '  hint: did you mean "production"?',
            f'{at_shell_h}: op "c": step "check.8": when: env != "prod" is always '
            f'true: "prod" is not one of env\'s choices {choices}',
            '  hint: did you mean "production"?',
            f'{at_shell_i}: op "c": step "check.9": when: env in ["prod", "staging"]: '
            f'"prod" is not one of env\'s choices {choices}',
            '  hint: did you mean "production"?',
            f'{at_shell_j}: op "c": step "check.10": when: env in ["prod", "dev"] is '
            f'never true: "prod" is not one of env\'s choices {choices}',
            '  hint: did you mean "production"?',
            f'{at_shell_k}: op "c": step "check.11": when: replicas == "2" is never '
            'true: replicas is an integer, never "2"',
            f'{at_shell_l}: op "c": step "check.12": when: "c" in tags is never true: '
            '"c" is not one of tags\'s choices ("a", "b")',
            f'{at_shell_l}: op "c": step "check.12": when: 1 in tags is never true: '
            "tags is a list of strings, never holding 1",
            # check.13 compares with an f-string of references: fine (its text is compared).
            "",
        ]
    )


# -- what is right passes -------------------------------------------------------------

GOOD = """
from __future__ import annotations

from typing import TypedDict
from chant import Op, Param, phase, shell, activity, param, out, outcome

class Tagged(TypedDict):
    tag: str

@activity
def tag(name: str) -> Tagged:
    return {"tag": name + "-1"}

op = Op(
    name="good",
    params={
        "env": Param(str, default="staging", choices=["staging", "prod"]),
        "replicas": Param(int, default=2),
        "ratio": Param(float, default=1),
        "tags": Param(list[str], default=["a"], choices=["a", "b"]),
        "force": Param(bool, default=False),
    },
    schedule="every 1h",
    schedule_params={"env": "prod"},
    phases=[
        phase("Build", [
            shell("echo v1", id="build", outcome="Version"),
            activity("tag", name=out("build", "stdout"), id="tag"),
            shell(f"echo {out('tag', 'tag')}-{param('env')}-{param('replicas')}"
                  f" {outcome('Version')}"),
        ]),
        phase("Check", [
            shell(f"echo {out('build', 'stdout')} > seen.txt"),
            shell(f"echo {out('tag')}", when=(param("env") == "prod") & ~param("force")),
            shell("echo r", when=(param("replicas") == 2.0) | (param("ratio") > 0.5)),
            shell("echo t", when=param("tags").contains("b") | param("env").is_in(["staging"])),
        ], parallel=True, when=out("build", "exit_code") == 0),
    ],
    on_failure=[phase("Undo", [
        shell(f"echo {out('build', 'stdout', default='')}", id="undo"),
        shell(f"echo {out('undo', 'stdout')} {outcome('Version', default='none')}"),
    ])],
)
"""


def test_an_op_using_references_and_conditions_rightly_builds(
    make_project: MakeProject, chant_proc: Chant
) -> None:
    root = project(make_project, GOOD)
    ran = chant_proc("build", cwd=root)
    assert (ran.code, ran.err) == (0, "")
    ir = json.loads((root / "dist" / "ops" / "good.op.json").read_text())
    assert check_ir(Op.from_dict(ir)) == []


def test_references_between_steps_run_locally(make_project: MakeProject, chant_proc: Chant) -> None:
    source = """
    from chant import Op, phase, shell, out, outcome
    op = Op(name="flow", phases=[
        phase("Build", [shell("echo v1", id="build", outcome="Version")]),
        phase("Use", [
            shell(f"echo {out('build', 'stdout')}-{outcome('Version', default='x')} > a.txt"),
            shell("echo {} > b.txt".format("b"), when=out("build", "stdout") == "v1"),
        ], parallel=True),
    ])
    """
    root = project(make_project, source)
    ran = chant_proc("run", "flow", "--local", cwd=root)
    assert ran.code == 0, ran.err
    assert (root / "b.txt").read_text() == "b\n"
    assert (root / "a.txt").read_text().startswith("v1-")


def test_a_bad_reference_stops_a_local_run_before_anything_runs(
    make_project: MakeProject, chant_proc: Chant
) -> None:
    source = """
    from chant import Op, phase, shell, out
    op = Op(name="flow", phases=[
        phase("Prepare", [shell("touch ran.marker", id="build")]),
        phase("Use", [shell(f"echo {out('build', 'stdot')}")]),
    ])
    """
    root = project(make_project, source)
    assert rejected(chant_proc, root, "run", "flow", "--local") == (
        f'{at(source, "stdot")}: op "flow": step "use.1": out("build", "stdot"): shell\'s '
        'result has no "stdot" (it has exit_code, stdout, stderr)\n'
        '  hint: did you mean "stdout"?\n'
    )


# -- IR read back (check_ir, as the Temporal workflow checks its input) ---------------


def built_ir(make_project: MakeProject, chant_proc: Chant) -> dict[str, Any]:
    root = project(make_project, GOOD)
    assert chant_proc("build", cwd=root).code == 0
    data: dict[str, Any] = json.loads((root / "dist" / "ops" / "good.op.json").read_text())
    return data


def messages(data: dict[str, Any]) -> list[str]:
    return [p.message for p in check_ir(Op.from_dict(data))]


def test_check_ir_reports_malformed_references_and_conditions(
    make_project: MakeProject, chant_proc: Chant
) -> None:
    data = built_ir(make_project, chant_proc)
    build, check = data["phases"][0]["steps"], data["phases"][1]["steps"]
    build[1]["args"]["name"] = {"$out": "build", "path": 3}
    build[2]["args"]["cmd"] = {"$format": ["echo ", {"$out": "build", "pth": "stdout"}, 7]}
    build[1]["args"]["extra"] = {"$format": "echo"}
    check[1]["when"] = {"$cmp": "=~", "left": {"$param": "env"}, "right": "p"}
    check[2]["when"] = {"$and": {"$param": "force"}}
    check[3]["when"] = {"$not": {"$cmp": "==", "left": {"$param": 5}}}
    data["phases"][1]["when"] = {"$cmp": "==", "left": {"$param": "env"}, "right": {"$secret": "X"}}
    assert messages(data) == [
        'op "good": step "tag": out("build"): path must be a dot-path such as "stdout" or '
        '"image.tag", got 3',
        'op "good": step "tag": $format must be the only key, with a list of parts: got '
        '{"$format": "echo"}',
        'op "good": step "build.3": $out reference has unknown key "pth" (it takes path and '
        "default)",
        'op "good": step "build.3": $format part 7 must be a string, a reference or a secret',
        'op "good": phase "Check": when: secret("X") cannot be used in a condition (a '
        "condition's values are shown in the reason a step is skipped; a secret is never "
        "shown)",
        'op "good": step "check.2": when: unknown comparison "=~" (use ==, !=, <, <=, >, >=, in)',
        'op "good": step "check.3": when: $and must be a non-empty list of conditions, got '
        '{"$param": "force"}',
        'op "good": step "check.4": when: "$param" must name a parameter (a non-empty '
        "string), got 5",
        'op "good": step "check.4": when: $cmp "==" has no right side',
    ]


def test_check_ir_keeps_order_checks_and_skips_user_result_shapes(
    make_project: MakeProject, chant_proc: Chant
) -> None:
    data = built_ir(make_project, chant_proc)
    build = data["phases"][0]["steps"]
    build[2]["args"]["cmd"] = {"$format": ["echo ", {"$out": "tag", "path": "nothing.here"}]}
    build[0]["args"]["cmd"] = {"$format": ["echo ", {"$out": "tag"}, {"$param": "evn"}]}
    build[1]["args"]["name"] = {"$out": "build", "path": "stdot"}
    assert messages(data) == [
        'op "good": step "build": out("tag"): step "tag" comes later',
        'op "good": step "build": param("evn"): the Op has no parameter "evn"',
        'op "good": step "tag": out("build", "stdot"): shell\'s result has no "stdot" (it '
        "has exit_code, stdout, stderr)",
    ]


# -- shapes (unit) ----------------------------------------------------------------------


class Inner(TypedDict):
    tag: str
    sizes: list[int]


class Outer(TypedDict):
    image: Inner
    note: NotRequired[str]
    maybe: Optional[Inner]  # noqa: UP045  # the old spelling is read too


class Loop(TypedDict):
    name: str
    parent: Loop | None


def test_shape_of_annotations() -> None:
    inner = {"tag": "str", "sizes": ["int"]}
    assert shape_of(Outer) == {"image": inner, "note": "str", "maybe": inner}
    assert shape_of(str) == "str"
    assert shape_of(None) == "null"
    assert shape_of(bool) == "bool"
    assert shape_of(list[Inner]) == [inner]
    assert shape_of(list) == [ANY]
    assert shape_of(tuple[int, ...]) == ["int"]
    assert shape_of(dict[str, int]) == ANY
    assert shape_of(Any) == ANY
    assert shape_of(int | str) == ANY
    assert shape_of(Literal["a", "b"]) == "str"
    loop = shape_of(Loop)
    assert isinstance(loop, dict) and loop["name"] == "str" and "parent" in loop["parent"]  # type: ignore[operator]


def test_shape_of_a_function_reads_its_return_annotation() -> None:
    def typed() -> Outer:
        raise NotImplementedError

    def unresolved() -> NoSuchType:  # type: ignore[name-defined]  # noqa: F821
        raise NotImplementedError

    def plain():  # type: ignore[no-untyped-def]
        return None

    assert shape_of_function(typed) == shape_of(Outer)
    assert shape_of_function(unresolved) == ANY
    assert shape_of_function(plain) == ANY


def test_path_problems() -> None:
    shape = {"image": {"tag": "str"}, "items": [{"id": "int"}], "empty": {}}
    assert path_problem(shape, "image.tag") is None
    assert path_problem(shape, "items.3.id") is None
    assert path_problem(ANY, "a.b.c") is None
    assert path_problem({"a": ANY}, "a.b.c") is None
    assert path_problem(shape, "imag") == ('has no "imag" (it has image, items, empty)', ["image"])
    assert path_problem(shape, "items.0.ids") == (
        'has no "items.0.ids" ("items.0" has id)',
        ["items.0.id"],
    )
    assert path_problem(shape, "empty.x") == ('has no "empty.x" ("empty" has no keys)', [])
    assert path_problem(shape, "image.tag.x") == (
        'has no "image.tag.x" ("image.tag" is a string)',
        [],
    )
    assert path_problem("null", "x") == ('has no "x" (it is always null)', [])
    assert path_problem(["str"], "x") == (
        'has no "x" (it is a list: index it with a number, e.g. "0")',
        [],
    )


def test_form_problems_of_arguments_leave_other_dollar_keys_alone() -> None:
    assert form_problems({"schema": {"$ref": "#/x"}, "n": [1, {"$id": 2}]}) == []
    assert form_problems({"a": {"$param": "x", "default": 1}}) == [
        '$param reference has unknown key "default" (it takes nothing else)'
    ]
    assert form_problems({"a": {"$outcome": ""}}) == [
        '"$outcome" must name an outcome (a non-empty string), got ""'
    ]
    assert form_problems({"a": {"$out": "s", "path": "a..b"}}) == [
        'out("s"): path must be a dot-path such as "stdout" or "image.tag", got "a..b"'
    ]


def test_form_problems_of_conditions() -> None:
    env = {"$param": "env"}
    assert (
        form_problems({"$or": [{"$not": env}, {"$cmp": "in", "left": "a", "right": env}]}, True)
        == []
    )
    assert form_problems({"$cmp": "==", "left": env, "right": {"$lit": {"$param": 1}}}, True) == []
    assert form_problems({"$or": [env, 1]}, True) == [
        "when must be a condition or a reference, got int 1"
    ]
    assert form_problems({"$not": env, "x": 1}, True) == ['$not has unknown key "x"']
    assert form_problems({"$cmp": "==", "left": env, "right": {"$format": ["a"]}}, True) == []


def test_never_equal() -> None:
    env = Param(str, choices=["staging", "prod"])
    assert never_equal("env", env, "prod") is None
    assert never_equal("env", env, "Prod") == (
        '"Prod" is not one of env\'s choices ("staging", "prod")',
        'did you mean "prod"?',
    )
    assert never_equal("n", Param(int), 2.0) is None
    assert never_equal("n", Param(float), 2) is None
    assert never_equal("n", Param(int), True) == ("n is an integer, never true", None)
    assert never_equal("b", Param(bool), 1) == ("b is true or false, never 1", None)
    assert never_equal("t", Param(list[str], choices=["a"]), ["a", "z"]) == (
        '"z" is not one of t\'s choices ("a")',
        None,
    )
    assert param("x").data == {"$param": "x"}


# -- declared results ---------------------------------------------------------------------


def test_builtin_results_match_what_each_builtin_says_it_returns() -> None:
    for defn in BUILTINS:
        doc = defn.function.__doc__ or ""
        found = re.search(r"Returns\s+``\{([^}]*)\}``", doc)
        assert found, defn.name
        keys = [k.split(":")[0].strip() for k in found.group(1).split(",")]
        assert keys == list(BUILTIN_RESULTS[defn.name]), defn.name
        assert defn.result == BUILTIN_RESULTS[defn.name]


def test_shell_returns_its_declared_result(make_project: MakeProject, chant_proc: Chant) -> None:
    source = """
    from chant import Op, phase, shell
    op = Op(name="s", phases=[phase("A", [shell("echo hi")])])
    """
    root = project(make_project, source)
    ran = chant_proc("run", "s", "--local", "--json", cwd=root)
    assert ran.code == 0, ran.err
    result = json.loads(ran.out)["steps"][0]["result"]
    assert list(result) == list(BUILTIN_RESULTS["shell"])


def test_activity_results() -> None:
    def fn() -> Inner:
        raise NotImplementedError

    assert ActivityDef(name="fn", fn=fn).result == {"tag": "str", "sizes": ["int"]}
    assert ActivityDef(name="gone", source="x", broken="ImportError: no").result == ANY
    assert GATE_RESULT == {"signal": "str", "approver": "str", "note": "str", "at": "str"}


@pytest.mark.parametrize("value", [True, 1, None, "prod", ["a"]])
def test_only_references_and_conditions_are_conditions(value: object) -> None:
    assert form_problems(value, True) == [
        f"when must be a condition or a reference, got {type(value).__name__} {json.dumps(value)}"
    ]


JSON_KEYS = ["$param", "$out", "$outcome", "$format", "$cmp", "$and", "$or", "$not", "$lit"]
JSON_KEYS += ["$secret", "path", "default", "left", "right", "x"]
junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(JSON_KEYS), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(when=junk, args=st.dictionaries(st.sampled_from(["cmd", "a"]), junk, max_size=2))
def test_check_ir_of_any_when_and_arguments_never_raises(when: Any, args: Any) -> None:
    data = {
        "schema_version": 1,
        "name": "fuzz",
        "params": {"env": {"type": "str", "default": "a", "choices": ["a", "b"]}},
        "phases": [
            {"name": "A", "steps": [{"kind": "activity", "fn": "shell", "id": "s", "args": {}}]},
            {
                "name": "B",
                "when": when,
                "steps": [{"kind": "activity", "fn": "shell", "args": args, "when": when}],
            },
        ],
    }
    try:
        op = Op.from_dict(data)
    except IRError:
        return
    check_ir(op)  # returns problems; never raises


def test_a_condition_nested_too_deeply_is_one_problem() -> None:
    node: Any = {"$param": "env"}
    for _ in range(200):
        node = {"$not": node}
    assert form_problems(node, True) == ["when nests deeper than 64 levels"]


def test_a_return_annotation_that_is_no_type_lets_any_path_through() -> None:
    def odd() -> None:
        raise NotImplementedError

    odd.__annotations__["return"] = [1]  # unhashable
    assert shape_of_function(odd) == ANY


def test_an_outcome_published_only_by_later_steps_names_the_first() -> None:
    from chant import Op as DeclaredOp
    from chant import outcome, phase, shell
    from chant.errors import Problem
    from chant.names import where
    from chant.plan import resolve_op

    op = DeclaredOp(
        name="o",
        phases=[
            phase("A", [shell(f"echo {outcome('Tag')}", id="use")]),
            phase("B", [shell("a", id="b1", outcome="Tag"), shell("b", id="b2", outcome="Tag")]),
            phase("C", [shell(f"echo {outcome('Tag')}", id="fine")]),
        ],
    )
    problems: list[Problem] = []
    resolve_op(op, profiles={}, activities={"shell": "fast_idempotent"}, problems=problems)
    b1 = where(op.phases[1].steps[0].origin)
    assert [p.message for p in problems] == [
        'op "o": step "use": outcome("Tag"): none of the 2 steps publishing it runs before '
        f'this one (step "b1": step "b1" comes later (declared at {b1}))'
    ]
