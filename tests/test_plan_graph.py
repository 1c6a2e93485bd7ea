"""``chant plan --mermaid`` and ``--dot`` (``chant.render.graph``): the plan document
drawn as a flowchart. Documents are built by hand in the documented shape
(docs/cli.md, "chant plan"); the Mermaid text is read back by a small parser that
knows every statement form the renderer may write, the DOT text by pydot."""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydot
import pytest

from chant.render.graph import dot, mermaid

pytestmark = pytest.mark.filterwarnings("ignore:'setParseAction' deprecated")
"""pydot's DOT parser, imported on its first use, still calls pyparsing's old names."""

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# --- documents, built by hand -----------------------------------------------------------


def when(text: str, holds: bool | None = None) -> dict[str, Any]:
    reason = f"condition false: {text}" if holds is False else None
    return {"if": text, "condition": {"$param": "x"}, "holds": holds, "reason": reason}


def step(
    id: str,
    cmd: str = "true",
    *,
    fn: str = "shell",
    args: dict[str, Any] | None = None,
    when: dict[str, Any] | None = None,
    outcome: str | None = None,
) -> dict[str, Any]:
    return {
        "id": id,
        "fn": fn,
        "args": {"cmd": cmd} if args is None else args,
        "profile": {
            "name": None,
            "timeout": "5m",
            "heartbeat_timeout": None,
            "retry": {
                "max_attempts": 1,
                "initial_interval": "1s",
                "backoff_coefficient": 2.0,
                "maximum_interval": None,
                "non_retryable_error_types": [],
            },
        },
        "gate": None,
        "outcome": None if outcome is None else {"name": outcome, "from": "stdout"},
        "when": when,
        "budget": {"attempts": 1, "timeout_s": 300, "waits_s": 0, "worst_s": 300},
    }


def gate(id: str, signal: str = "approve", timeout: str = "1h") -> dict[str, Any]:
    return {
        **step(id, fn="gate", args={}),
        "profile": None,
        "gate": {"signal": signal, "timeout": timeout, "timeout_s": 3600, "description": ""},
        "budget": None,
    }


def phase(
    name: str,
    steps: Sequence[dict[str, Any]],
    *,
    parallel: bool = False,
    max_concurrency: int | None = None,
    fail_fast: bool = False,
    when: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "parallel": parallel,
        "fail_fast": fail_fast,
        "max_concurrency": max_concurrency,
        "compensation": False,
        "when": when,
        "budget_s": 300,
        "steps": list(steps),
    }


def doc(
    phases: Sequence[dict[str, Any]],
    on_failure: Sequence[dict[str, Any]] = (),
    *,
    op: str = "demo",
) -> dict[str, Any]:
    return {
        "v": 1,
        "op": op,
        "overview": "",
        "digest": "sha256:" + "0" * 64,
        "params": {},
        "secrets": [],
        "schedule": None,
        "phases": list(phases),
        "on_failure": [{**p, "compensation": True} for p in on_failure],
        "budget": {"main_s": 300, "on_failure_s": 0, "total_s": 300, "gates_s": 0},
    }


def seq(*names: str) -> dict[str, Any]:
    return phase("Work", [step(f"work.{n}", f"echo {n}") for n in names])


# --- reading Mermaid back ---------------------------------------------------------------

ID = r"[A-Za-z][A-Za-z0-9_]*"
LABEL = r'"([^"]*)"'
SHAPES = {"[": "]", "{{": "}}", "((": "))", "([": "])"}
NODE = re.compile(rf"({ID})(\[|\{{\{{|\(\(|\(\[){LABEL}(\]|\}}\}}|\)\)|\]\))")
EDGE = re.compile(rf"({ID}) (-->|-\.->)(?:\|{LABEL}\|)? ({ID})")
SUBGRAPH = re.compile(rf"subgraph ({ID}) \[{LABEL}\]")
CLASSDEF = re.compile(r"classDef (gate|skipped|compensation) [a-z-]+:[#\w ]+(,[a-z-]+:[#\w ]+)*")
CLASS = re.compile(rf"class ({ID}(?:,{ID})*) (gate|skipped|compensation)")
KEYWORDS = {"end", "subgraph", "graph", "flowchart", "class", "classDef", "style", "click"}
ENTITIES = {"quot": '"', "amp": "&", "lt": "<", "gt": ">"}


@dataclass
class Chart:
    nodes: dict[str, tuple[str, list[str], str | None]] = field(default_factory=dict)
    """id: (shape opening, label lines, enclosing subgraph)"""
    subgraphs: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    """id: (title, enclosing subgraph)"""
    edges: list[tuple[str, str, str | None, str]] = field(default_factory=list)
    """(source, arrow, label, destination), in order"""
    classes: dict[str, list[str]] = field(default_factory=dict)

    def edge(self, src: str, dst: str) -> tuple[str, str | None]:
        found = [(arrow, label) for s, arrow, label, d in self.edges if (s, d) == (src, dst)]
        assert len(found) == 1, (src, dst, self.edges)
        return found[0]

    def into(self, dst: str) -> list[str]:
        return [s for s, _, _, d in self.edges if d == dst]

    def out_of(self, src: str) -> list[str]:
        return [d for s, _, _, d in self.edges if s == src]

    def members(self, subgraph: str) -> list[str]:
        return [n for n, (_, _, parent) in self.nodes.items() if parent == subgraph]


def text_of(label: str) -> str:
    """A label as Mermaid shows it, after checking that nothing in it is syntax."""
    bare = re.sub(r"#\w+;", "", label.replace("<br/>", ""))
    assert not set(bare) & set('"#&;|<>`%'), label
    assert bare.translate({0x200C: None, 0x200D: None}).isprintable(), label  # joiners: 👨‍👩‍👧
    return re.sub(r"#(\w+);", lambda m: chr(int(m[1])) if m[1].isdigit() else ENTITIES[m[1]], label)


def read_mermaid(source: str) -> Chart:
    """``source`` read back, asserting that every line is a statement form the renderer
    writes, indented by its depth, with subgraphs balanced and every id defined (a node
    or a subgraph) before an edge or a class uses it."""
    assert source.endswith("\n") and not source.endswith("\n\n")
    lines = source.removesuffix("\n").split("\n")
    assert lines[0] == "flowchart TD"
    chart, stack = Chart(), []
    for line in lines[1:]:
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        if body == "end":
            assert stack, "an end with no subgraph open"
            stack.pop()
        assert indent == 4 * (len(stack) + 1), line
        defined = chart.nodes.keys() | chart.subgraphs.keys()
        if body == "end":
            continue
        if m := SUBGRAPH.fullmatch(body):
            assert m[1] not in defined and m[1] not in KEYWORDS
            chart.subgraphs[m[1]] = (text_of(m[2]), stack[-1] if stack else None)
            stack.append(m[1])
        elif m := NODE.fullmatch(body):
            assert SHAPES[m[2]] == m[4] and m[1] not in defined and m[1] not in KEYWORDS
            lines_ = [text_of(part) for part in m[3].split("<br/>")]
            chart.nodes[m[1]] = (m[2], lines_, stack[-1] if stack else None)
        elif m := EDGE.fullmatch(body):
            assert m[1] in defined and m[4] in defined, line
            chart.edges.append((m[1], m[2], None if m[3] is None else text_of(m[3]), m[4]))
        elif CLASSDEF.fullmatch(body):
            pass
        elif m := CLASS.fullmatch(body):
            assert set(m[1].split(",")) <= chart.nodes.keys()
            chart.classes[m[2]] = m[1].split(",")
        else:
            raise AssertionError(f"not a statement the renderer writes: {line!r}")
    assert stack == [], "a subgraph left open"
    return chart


# --- reading DOT back -------------------------------------------------------------------


def unquote(value: str | None) -> str | None:
    """A DOT string as its text: the quotes off, ``\\\\``, ``\\"`` and ``\\n`` undone."""
    if value is None:
        return None
    assert value[0] == value[-1] == '"', value
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], value[1:-1])


@dataclass
class Digraph:
    nodes: dict[str, tuple[dict[str, Any], str | None]] = field(default_factory=dict)
    """name: (attributes, enclosing cluster)"""
    clusters: dict[str, tuple[str | None, str | None, dict[str, Any]]] = field(default_factory=dict)
    """name: (label, enclosing cluster, attributes)"""
    edges: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def edge(self, src: str, dst: str) -> dict[str, Any]:
        found = [attrs for s, d, attrs in self.edges if (s, d) == (src, dst)]
        assert len(found) == 1, (src, dst)
        return found[0]

    def label(self, node: str) -> str | None:
        return unquote(self.nodes[node][0].get("label"))


def read_dot(source: str) -> Digraph:
    assert source.startswith("digraph plan {\n    rankdir=TB;\n") and source.endswith("}\n")
    graphs = pydot.graph_from_dot_data(source)
    assert graphs is not None and len(graphs) == 1
    out = Digraph()

    def walk(graph: Any, cluster: str | None) -> None:
        for node in graph.get_nodes():
            if node.get_name() not in ("node", "edge", "graph"):
                assert node.get_name() not in out.nodes
                out.nodes[node.get_name()] = (node.get_attributes(), cluster)
        for sub in graph.get_subgraphs():
            assert sub.get_name().startswith("cluster_")
            out.clusters[sub.get_name()] = (unquote(sub.get_label()), cluster, sub.obj_dict)
            walk(sub, sub.get_name())

    walk(graphs[0], None)
    for e in graphs[0].get_edges():
        assert e.get_source() in out.nodes and e.get_destination() in out.nodes
        out.edges.append((e.get_source(), e.get_destination(), e.get_attributes()))
    return out


def both(d: dict[str, Any]) -> tuple[Chart, Digraph]:
    return read_mermaid(mermaid(d)), read_dot(dot(d))


# --- a small plan, exactly --------------------------------------------------------------

SMALL = doc(
    [
        phase("Build", [step("build.1", "make"), step("build.2", "make test")]),
        phase("Ship", [step("ship.1", "./ship")], when=when('env == "prod"')),
    ],
    [phase("Undo", [step("undo.1", "./undo")])],
    op="small",
)


def test_mermaid_of_a_small_plan_is_exactly_this() -> None:
    assert mermaid(SMALL) == (
        "flowchart TD\n"
        '    start(["start"])\n'
        '    subgraph op ["small"]\n'
        '        subgraph p0 ["Build"]\n'
        '            p0s0["build.1<br/>shell: make"]\n'
        '            p0s1["build.2<br/>shell: make test"]\n'
        "        end\n"
        '        subgraph p1 ["Ship"]\n'
        '            p1s0["ship.1<br/>shell: ./ship"]\n'
        "        end\n"
        "    end\n"
        '    finish(["end"])\n'
        '    subgraph on_failure ["on_failure"]\n'
        '        subgraph f0 ["Undo"]\n'
        '            f0s0["undo.1<br/>shell: ./undo"]\n'
        "        end\n"
        "    end\n"
        "    start --> p0s0\n"
        "    p0s0 --> p0s1\n"
        '    p0s1 -->|"if env == #quot;prod#quot;"| p1s0\n'
        "    p1s0 --> finish\n"
        '    op -.->|"on failure"| f0s0\n'
        "    classDef gate fill:#fff4d6,stroke:#b7791f\n"
        "    classDef compensation fill:#fde8e8,stroke:#c53030\n"
        "    classDef skipped fill:#f2f2f2,stroke:#999999,color:#777777,stroke-dasharray:4 3\n"
        "    class f0s0 compensation\n"
    )


def test_dot_of_a_small_plan_is_exactly_this() -> None:
    assert dot(SMALL) == (
        "digraph plan {\n"
        "    rankdir=TB;\n"
        "    compound=true;\n"
        '    node [fontname="Helvetica"];\n'
        '    edge [fontname="Helvetica"];\n'
        '    start [shape=oval, label="start"];\n'
        "    subgraph cluster_op {\n"
        '        label="small";\n'
        "        subgraph cluster_p0 {\n"
        '            label="Build";\n'
        '            p0s0 [shape=box, label="build.1\\nshell: make"];\n'
        '            p0s1 [shape=box, label="build.2\\nshell: make test"];\n'
        "        }\n"
        "        subgraph cluster_p1 {\n"
        '            label="Ship";\n'
        '            p1s0 [shape=box, label="ship.1\\nshell: ./ship"];\n'
        "        }\n"
        "    }\n"
        '    finish [shape=oval, label="end"];\n'
        "    subgraph cluster_on_failure {\n"
        '        label="on_failure";\n'
        '        style=dashed; color="#c53030";\n'
        "        subgraph cluster_f0 {\n"
        '            label="Undo";\n'
        '            f0s0 [shape=box, label="undo.1\\nshell: ./undo", color="#c53030"];\n'
        "        }\n"
        "    }\n"
        "    start -> p0s0;\n"
        "    p0s0 -> p0s1;\n"
        '    p0s1 -> p1s0 [label="if env == \\"prod\\""];\n'
        "    p1s0 -> finish;\n"
        '    p1s0 -> f0s0 [style=dotted, label="on failure", ltail=cluster_op];\n'
        "}\n"
    )


def test_the_same_document_draws_the_same_bytes() -> None:
    again = doc(
        [
            phase("Build", [step("build.1", "make"), step("build.2", "make test")]),
            phase("Ship", [step("ship.1", "./ship")], when=when('env == "prod"')),
        ],
        [phase("Undo", [step("undo.1", "./undo")])],
        op="small",
    )
    assert again is not SMALL
    assert mermaid(again) == mermaid(SMALL) and dot(again) == dot(SMALL)


# --- structure --------------------------------------------------------------------------


def test_a_sequential_phase_chains_its_steps_in_order_from_start_to_end() -> None:
    chart, graph = both(doc([seq("1", "2", "3")]))
    order = ["start", "p0s0", "p0s1", "p0s2", "finish"]
    assert [(s, d) for s, _, _, d in chart.edges] == list(itertools.pairwise(order))
    assert [(s, d) for s, d, _ in graph.edges] == list(itertools.pairwise(order))
    assert chart.members("p0") == ["p0s0", "p0s1", "p0s2"]
    assert chart.subgraphs["p0"] == ("Work", "op") and chart.subgraphs["op"] == ("demo", None)
    assert [graph.nodes[n][1] for n in ("p0s0", "p0s1", "p0s2")] == ["cluster_p0"] * 3
    assert graph.clusters["cluster_p0"][:2] == ("Work", "cluster_op")


def test_phases_are_chained_in_order_last_step_to_first() -> None:
    chart, graph = both(doc([seq("1", "2"), phase("Next", [step("next.1")])]))
    assert chart.into("p1s0") == ["p0s1"] and chart.out_of("p1s0") == ["finish"]
    assert graph.edge("p0s1", "p1s0") == {}
    assert chart.subgraphs["p1"] == ("Next", "op")


def test_a_parallel_phase_branches_from_a_fork_to_a_join() -> None:
    d = doc(
        [
            phase("Build", [step(f"build.{n}") for n in (1, 2, 3)], parallel=True),
            seq("1"),
        ]
    )
    chart, graph = both(d)
    branches = ["p0s0", "p0s1", "p0s2"]
    assert chart.out_of("p0in") == branches and chart.into("p0out") == branches
    assert chart.into("p0in") == ["start"] and chart.out_of("p0out") == ["p1s0"]
    assert chart.nodes["p0in"] == ("((", [" "], "p0") and chart.nodes["p0out"][0] == "(("
    assert chart.members("p0") == ["p0in", *branches, "p0out"]
    assert chart.subgraphs["p0"][0] == "Build · parallel"
    for s in branches:
        assert graph.edge("p0in", s) == {} and graph.edge(s, "p0out") == {}
    assert graph.nodes["p0in"] == ({"shape": "point", "label": '""'}, "cluster_p0")
    assert graph.clusters["cluster_p0"][0] == "Build · parallel"


@pytest.mark.parametrize(
    ("max_concurrency", "fail_fast", "title"),
    [
        (2, False, "Build · parallel · max 2"),
        (None, True, "Build · parallel · fail fast"),
        (5, True, "Build · parallel · max 5 · fail fast"),
    ],
)
def test_a_parallel_phase_title_says_its_limits(
    max_concurrency: int | None, fail_fast: bool, title: str
) -> None:
    p = phase("Build", [step("a"), step("b")], parallel=True, fail_fast=fail_fast)
    chart, graph = both(doc([{**p, "max_concurrency": max_concurrency}]))
    assert chart.subgraphs["p0"][0] == title
    assert graph.clusters["cluster_p0"][0] == title


def test_a_step_condition_labels_the_edge_into_the_step() -> None:
    d = doc([phase("W", [step("a"), step("b", when=when("force"))])])
    chart, graph = both(d)
    assert chart.edge("p0s0", "p0s1") == ("-->", "if force")
    assert unquote(graph.edge("p0s0", "p0s1")["label"]) == "if force"


def test_a_parallel_step_condition_labels_its_branch() -> None:
    d = doc([phase("W", [step("a"), step("b", when=when("n > 2"))], parallel=True)])
    chart, graph = both(d)
    assert chart.edge("p0in", "p0s1") == ("-->", "if n > 2")
    assert chart.edge("p0in", "p0s0") == ("-->", None)
    assert unquote(graph.edge("p0in", "p0s1")["label"]) == "if n > 2"


def test_a_phase_condition_labels_the_edge_into_the_phase() -> None:
    d = doc([seq("1"), phase("Smoke", [step("smoke")], when=when("smoke"))])
    chart, graph = both(d)
    assert chart.edge("p0s0", "p1s0") == ("-->", "if smoke")
    assert unquote(graph.edge("p0s0", "p1s0")["label"]) == "if smoke"


def test_a_parallel_phase_condition_labels_the_edge_into_its_fork() -> None:
    d = doc([phase("P", [step("a"), step("b")], parallel=True, when=when("wide"))])
    chart, _ = both(d)
    assert chart.edge("start", "p0in") == ("-->", "if wide")


def test_a_phase_and_its_first_step_with_conditions_each_label_their_own_edge() -> None:
    d = doc([phase("P", [step("a", when=when("b")), step("c")], when=when("a"))])
    chart, graph = both(d)
    assert chart.edge("start", "p0in") == ("-->", "if a")
    assert chart.edge("p0in", "p0s0") == ("-->", "if b")
    assert chart.members("p0") == ["p0in", "p0s0", "p0s1"]
    assert unquote(graph.edge("start", "p0in")["label"]) == "if a"
    assert unquote(graph.edge("p0in", "p0s0")["label"]) == "if b"


def test_a_condition_decided_true_says_so() -> None:
    d = doc([phase("P", [step("a")], when=when('env == "prod"', True))])
    chart, graph = both(d)
    assert chart.edge("start", "p0s0") == ("-->", 'if env == "prod" · true')
    assert "skipped" not in chart.classes
    assert graph.edge("start", "p0s0") == {"label": '"if env == \\"prod\\" · true"'}


def test_a_step_decided_false_is_drawn_skipped() -> None:
    d = doc([phase("P", [step("a"), step("b", when=when("force", False)), step("c")])])
    chart, graph = both(d)
    assert chart.edge("p0s0", "p0s1") == ("-.->", "if force · false, skipped")
    assert chart.edge("p0s1", "p0s2") == ("-.->", None)
    assert chart.edge("start", "p0s0") == ("-->", None)
    assert chart.classes["skipped"] == ["p0s1"]
    assert graph.edge("p0s0", "p0s1")["style"] == "dashed"
    assert graph.edge("p0s1", "p0s2") == {"style": "dashed"}
    assert graph.nodes["p0s1"][0]["style"] == '"dashed"'
    assert "style" not in graph.nodes["p0s0"][0]


def test_a_phase_decided_false_is_drawn_skipped_whole() -> None:
    p = phase("P", [step("a"), step("b")], parallel=True, when=when("go", False))
    chart, graph = both(doc([seq("1"), p, seq("2")]))
    assert chart.classes["skipped"] == ["p1in", "p1s0", "p1s1", "p1out"]
    assert chart.edge("p0s0", "p1in") == ("-.->", "if go · false, skipped")
    assert chart.edge("p1out", "p2s0") == ("-.->", None)
    assert {s: a for s, a, _, d in chart.edges if "p1" in s + d} == {
        "p0s0": "-.->", "p1in": "-.->", "p1s0": "-.->", "p1s1": "-.->", "p1out": "-.->"
    }  # fmt: skip
    assert all(a.get("style") == "dashed" for s, d, a in graph.edges if "p1" in s + d), graph.edges


def test_a_gate_is_a_hexagon_with_its_signal_and_timeout() -> None:
    chart, graph = both(doc([seq("1"), phase("Approve", [gate("ok", "go-ahead", "2h")])]))
    assert chart.nodes["p1s0"] == ("{{", ["ok", "gate · signal go-ahead · timeout 2h"], "p1")
    assert chart.classes["gate"] == ["p1s0"]
    attrs = graph.nodes["p1s0"][0]
    assert attrs["shape"] == "hexagon" and attrs["style"] == '"filled"'
    assert graph.label("p1s0") == "ok\ngate · signal go-ahead · timeout 2h"


def test_a_skipped_gate_is_filled_and_dashed() -> None:
    g = {**gate("ok"), "when": when("ask", False)}
    _, graph = both(doc([phase("Approve", [g])]))
    assert graph.nodes["p0s0"][0]["style"] == '"filled,dashed"'


def test_a_step_shows_its_outcome() -> None:
    chart, graph = both(doc([phase("D", [step("d", "./deploy", outcome="Version")])]))
    assert chart.nodes["p0s0"][1] == ["d", "shell: ./deploy", "outcome Version"]
    assert graph.label("p0s0") == "d\nshell: ./deploy\noutcome Version"


def test_a_step_of_another_activity_shows_its_arguments() -> None:
    s = step("wait", fn="http_check", args={"url": "http://h", "n": 3, "off": False})
    chart, _ = both(doc([phase("W", [s])]))
    assert chart.nodes["p0s0"][1] == ["wait", 'http_check(url="http://h", n=3)']


def test_references_and_secrets_show_as_the_op_wrote_them() -> None:
    cmd = {"$format": ["go ", {"$out": "b", "path": "stdout"}, " ", {"$secret": "T"}]}
    chart, _ = both(doc([phase("W", [step("d", args={"cmd": cmd})])]))
    assert chart.nodes["p0s0"][1] == ["d", 'shell: go {out("b", "stdout")} {secret(T)}']


def test_a_long_command_is_cut_to_forty_characters() -> None:
    chart, graph = both(doc([phase("W", [step("s", "echo " + "x" * 200)])]))
    summary = "echo " + "x" * 34 + "…"
    assert len(summary) == 40
    assert chart.nodes["p0s0"][1] == ["s", f"shell: {summary}"]
    assert graph.label("p0s0") == f"s\nshell: {summary}"


def test_a_long_condition_is_cut_to_sixty_characters() -> None:
    text = " | ".join(f"flag_{n}" for n in range(30))
    chart, _ = both(doc([phase("W", [step("a")], when=when(text))]))
    label = chart.edge("start", "p0s0")[1]
    assert label == ("if " + text)[:59] + "…"


def test_on_failure_phases_are_apart_in_their_order_after_a_dotted_edge() -> None:
    undo = [phase("Undo", [step("undo.1"), step("undo.2")]), phase("Tell", [step("tell")])]
    chart, graph = both(doc([seq("1", "2")], undo))
    assert chart.subgraphs["on_failure"] == ("on_failure", None)
    assert chart.subgraphs["f0"] == ("Undo", "on_failure")
    assert chart.subgraphs["f1"] == ("Tell", "on_failure")
    assert chart.edge("op", "f0s0") == ("-.->", "on failure")
    assert chart.edge("f0s0", "f0s1") == ("-->", None)
    assert chart.edge("f0s1", "f1s0") == ("-->", None)
    assert chart.out_of("f1s0") == [] and chart.into("finish") == ["p0s1"]
    assert chart.classes["compensation"] == ["f0s0", "f0s1", "f1s0"]
    assert graph.clusters["cluster_on_failure"][2]["attributes"]["style"] == "dashed"
    assert graph.edge("p0s1", "f0s0") == {
        "style": "dotted",
        "label": '"on failure"',
        "ltail": "cluster_op",
    }
    assert graph.nodes["f1s0"][1] == "cluster_f1"
    assert graph.clusters["cluster_f1"][:2] == ("Tell", "cluster_on_failure")


def test_a_condition_on_the_first_on_failure_phase_joins_the_on_failure_label() -> None:
    undo = phase("Undo", [step("undo")], when=when('previous.stdout != "none"'))
    chart, graph = both(doc([seq("1")], [undo]))
    assert chart.edge("op", "f0s0") == ("-.->", 'on failure, if previous.stdout != "none"')
    assert unquote(graph.edge("p0s0", "f0s0")["label"]) == (
        'on failure, if previous.stdout != "none"'
    )


def test_no_on_failure_phases_draw_no_compensation() -> None:
    chart, graph = both(doc([seq("1")]))
    assert set(chart.subgraphs) == {"op", "p0"}
    assert "compensation" not in chart.classes
    assert all(arrow == "-->" for _, arrow, _, _ in chart.edges)
    assert set(graph.clusters) == {"cluster_op", "cluster_p0"}
    assert all("style" not in a for _, _, a in graph.edges)


def test_node_ids_are_made_never_taken_from_user_text() -> None:
    d = doc(
        [phase("start", [step("finish"), step("p0s0")], parallel=True), seq("x")],
        [phase("on_failure", [step("op")])],
        op="end",
    )
    chart, graph = both(d)
    assert list(chart.nodes) == [
        "start", "p0in", "p0s0", "p0s1", "p0out", "p1s0", "finish", "f0s0"
    ]  # fmt: skip
    assert list(chart.subgraphs) == ["op", "p0", "p1", "on_failure", "f0"]
    assert chart.nodes["p0s0"][1][0] == "finish" and chart.nodes["p0s1"][1][0] == "p0s0"
    assert set(graph.nodes) == set(chart.nodes)


# --- text that must not break the syntax ------------------------------------------------

NASTY = [
    "say \"hi\" 'there'",
    "#quot; #35; &amp; &lt; #",
    "a; b | c ;; ||",
    "a --> b -.-> c ---o d ==> e",
    "end",
    "subgraph x",
    "flowchart LR",
    "%% comment %%{init: {'theme': 'forest'}}%% date +%Y",
    "%%{init: {'securityLevel': 'loose'}}%%",
    "line 1\nline 2\r\nline 3",
    "tab\there",
    "\x1b[31mred\x1b[0m \x00\x07\x7f\x9b bell",
    "🚀 déploiement 日本 👨\u200d👩\u200d👧",
    "bidi \u202eevil\u202c sep\u2028x",
    "`rm -rf` $(id) ${HOME}",
    "[x] {y} (z) {{w}} ([v]) ((u))",
    "<b>bold</b> <br/> <script>",
    "C:\\path\\n \\\\ \\",
    "x" * 300,
]


def shown(text: str) -> str:
    """User text as a graph shows it: made harmless (control and invisible characters
    as escapes, colour dropped) and nothing else changed."""
    from chant.render import terminal_safe

    return terminal_safe(text).replace("\t", "\\t")


def nasty_doc(text: str) -> dict[str, Any]:
    cond = when(text[:50])
    return doc(
        [
            phase(text, [step(text, text, outcome=text), gate("g", signal=text)], when=cond),
            phase("p", [step("a"), step("b", when=cond)], parallel=True),
        ],
        [phase(text, [step("u")]), phase("end", [step("v")])],
        op=text,
    )


@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
def test_any_text_reads_back_from_mermaid_as_it_was_shown(text: str) -> None:
    chart = read_mermaid(mermaid(nasty_doc(text)))
    assert chart.subgraphs["op"] == (shown(text), None)
    assert chart.subgraphs["p0"] == (shown(text), "op")
    assert chart.subgraphs["f0"] == (shown(text), "on_failure")
    assert chart.subgraphs["f1"] == ("end", "on_failure")
    assert chart.members("f0") == ["f0s0"] and chart.members("f1") == ["f1s0"]
    assert chart.members("p1") == ["p1in", "p1s0", "p1s1", "p1out"]
    ident, summary, outcome = chart.nodes["p0s0"][1]
    assert (ident, outcome) == (shown(text), f"outcome {shown(text)}")
    assert summary.startswith("shell: ") and len(summary) <= len("shell: ") + 40
    assert chart.nodes["p0s1"][1] == ["g", f"gate · signal {shown(text)} · timeout 1h"]
    assert chart.edge("start", "p0s0")[1] == f"if {shown(text[:50])}"[:59] + (
        "…" if len(f"if {shown(text[:50])}") > 60 else f"if {shown(text[:50])}"[59:]
    )
    assert chart.edge("p1in", "p1s1")[1] == chart.edge("start", "p0s0")[1]


@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
def test_any_text_reads_back_from_dot_as_it_was_shown(text: str) -> None:
    d = nasty_doc(text)
    graph = read_dot(dot(d))
    chart = read_mermaid(mermaid(d))
    assert graph.clusters["cluster_op"][0] == shown(text)
    assert graph.clusters["cluster_p0"][0] == shown(text)
    assert graph.clusters["cluster_f1"][:2] == ("end", "cluster_on_failure")
    for node, (_, lines, _) in chart.nodes.items():
        if chart.nodes[node][0] != "((":
            assert graph.label(node) == "\n".join(lines)
    assert len(graph.edges) == len(chart.edges)
    for s, _, label, d_ in chart.edges:
        src = "p1out" if s == "op" else s  # the on-failure edge leaves the Op's last node
        assert unquote(graph.edge(src, d_).get("label")) == label


def test_control_characters_show_as_escapes_and_unicode_passes_through() -> None:
    name = "a\x1b[31mb\x1b[0m\nc\x07\u202e 🚀 日本"
    d = doc([phase(name, [step("s")])])
    assert '    subgraph p0 ["ab\\nc\\x07\\u202e 🚀 日本"]\n' in mermaid(d)
    assert '        label="ab\\\\nc\\\\x07\\\\u202e 🚀 日本";\n' in dot(d)


def test_syntax_in_a_label_is_written_as_entity_codes() -> None:
    d = doc([phase('"end"; #x | <b> `c` & ok', [step("s")])])
    assert (
        '    subgraph p0 ["#quot;end#quot;#59; #35;x #124; #60;b#62; #96;c#96; #38; ok"]\n'
        in mermaid(d)
    )
    assert '        label="\\"end\\"; #x | <b> `c` & ok";\n' in dot(d)


def test_the_word_end_as_a_label_does_not_close_a_subgraph() -> None:
    d = doc([phase("end", [step("end")]), seq("1")], [phase("end", [step("end")])], op="end")
    chart = read_mermaid(mermaid(d))
    assert chart.subgraphs == {
        "op": ("end", None),
        "p0": ("end", "op"),
        "p1": ("Work", "op"),
        "on_failure": ("on_failure", None),
        "f0": ("end", "on_failure"),
    }
    assert chart.nodes["p0s0"] == ("[", ["end", "shell: true"], "p0")
    assert chart.nodes["p1s0"][2] == "p1" and chart.nodes["finish"][2] is None


# --- the examples' real plans -----------------------------------------------------------


def example_plan(tmp_path: Path, example: str, op: str, **params: Any) -> dict[str, Any]:
    from chant.api.planning import plan_of

    root = tmp_path / example
    shutil.copytree(EXAMPLES / example, root, ignore=shutil.ignore_patterns("__pycache__"))
    return plan_of(op, project=root, params=params, say=lambda _: None)


def test_the_quickstart_rollout_draws_this_mermaid(tmp_path: Path) -> None:
    assert mermaid(example_plan(tmp_path, "quickstart", "rollout")) == (
        "flowchart TD\n"
        '    start(["start"])\n'
        '    subgraph op ["rollout"]\n'
        '        subgraph p0 ["Build · parallel"]\n'
        '            p0in((" "))\n'
        '            p0s0["build.1<br/>shell: echo building api#59; sleep 0.3#59; echo api:…"]\n'
        '            p0s1["build.2<br/>shell: echo building web#59; sleep 0.2#59; echo web:…"]\n'
        '            p0out((" "))\n'
        "        end\n"
        '        subgraph p1 ["Deploy"]\n'
        '            p1s0["deploy.1<br/>shell: if [ -n #quot;$FAIL#quot; ]#59; then echo'
        ' #quot;cluster s…<br/>outcome Version"]\n'
        "        end\n"
        "    end\n"
        '    finish(["end"])\n'
        '    subgraph on_failure ["on_failure"]\n'
        '        subgraph f0 ["Rollback"]\n'
        '            f0s0["rollback.1<br/>shell: echo rolling back to 1.4.1"]\n'
        "        end\n"
        "    end\n"
        "    start --> p0in\n"
        "    p0in --> p0s0\n"
        "    p0s0 --> p0out\n"
        "    p0in --> p0s1\n"
        "    p0s1 --> p0out\n"
        "    p0out --> p1s0\n"
        "    p1s0 --> finish\n"
        '    op -.->|"on failure"| f0s0\n'
        "    classDef gate fill:#fff4d6,stroke:#b7791f\n"
        "    classDef compensation fill:#fde8e8,stroke:#c53030\n"
        "    classDef skipped fill:#f2f2f2,stroke:#999999,color:#777777,stroke-dasharray:4 3\n"
        "    class f0s0 compensation\n"
    )


def test_the_quickstart_rollout_draws_the_same_graph_in_dot(tmp_path: Path) -> None:
    d = example_plan(tmp_path, "quickstart", "rollout")
    chart, graph = both(d)
    assert {c: v[:2] for c, v in graph.clusters.items()} == {
        "cluster_op": ("rollout", None),
        "cluster_p0": ("Build · parallel", "cluster_op"),
        "cluster_p1": ("Deploy", "cluster_op"),
        "cluster_on_failure": ("on_failure", None),
        "cluster_f0": ("Rollback", "cluster_on_failure"),
    }
    assert set(graph.nodes) == set(chart.nodes)
    assert [(s, d) for s, d, _ in graph.edges] == [
        ("p1s0" if s == "op" else s, d) for s, _, _, d in chart.edges
    ]
    assert graph.label("p1s0") == "\n".join(chart.nodes["p1s0"][1])


@pytest.mark.parametrize(
    ("env", "smoke"),
    [
        ("staging", ("-.->", 'if env == "prod" · false, skipped')),
        ("prod", ("-->", 'if env == "prod" · true')),
    ],
)
def test_the_passing_data_release_draws_its_conditions_as_decided(
    tmp_path: Path, env: str, smoke: tuple[str, str]
) -> None:
    d = example_plan(tmp_path, "passing-data", "release", version="1.5.0", env=env)
    chart, graph = both(d)
    assert [chart.subgraphs[f"p{i}"][0] for i in range(4)] == [
        "Build", "Capture", "Deploy", "Smoke test"
    ]  # fmt: skip
    assert chart.nodes["p0s0"][1] == ["build", "shell: sh bin/deployctl build 1.5.0"]
    assert chart.edge("p2s0", "p3s0") == smoke
    assert chart.classes.get("skipped", []) == (["p3s0"] if env == "staging" else [])
    # Decided only when the run has the step's output: no "true" or "false" here.
    on_failure = 'on failure, if previous.stdout != "none"'
    assert chart.edge("op", "f0s0") == ("-.->", on_failure)
    assert unquote(graph.edge("p3s0", "f0s0")["label"]) == on_failure
    assert graph.clusters["cluster_f0"][0] == "Roll back"


def test_a_phase_without_steps_and_an_op_without_phases_still_draw_a_path() -> None:
    empty = [phase("Nothing", []), phase("Wide", [], parallel=True)]
    chart, graph = both(doc(empty, [phase("Undo", [])]))
    assert chart.members("p0") == ["p0in"] and chart.members("p1") == ["p1in"]
    assert [(s, d) for s, _, _, d in chart.edges] == [
        ("start", "p0in"), ("p0in", "p1in"), ("p1in", "finish"), ("op", "f0in")
    ]  # fmt: skip
    assert len(graph.edges) == 4
    chart, graph = both(doc([], [phase("Undo", [step("u")])]))
    assert "op" not in chart.subgraphs and "cluster_op" not in graph.clusters
    assert chart.edges == [
        ("start", "-->", None, "finish"),
        ("start", "-.->", "on failure", "f0s0"),
    ]
    assert graph.edge("start", "f0s0") == {"style": "dotted", "label": '"on failure"'}
