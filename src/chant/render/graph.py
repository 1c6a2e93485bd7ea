"""``chant plan --mermaid`` and ``--dot``: the plan document (``chant.plandoc``) as a
flowchart, for Mermaid (Markdown on GitHub, GitLab, the docs) or Graphviz.

Both draw the same graph: a start and an end node; the main phases in order, each a
subgraph (a Graphviz cluster) inside one for the Op; a sequential phase's steps chained,
a parallel phase's steps as branches between a fork and a join; a condition as the
label of the edge into its step or phase, dashed when the parameters already decide it
false (the step or phase is skipped); gates as hexagons; and the ``on_failure`` phases
apart, in their own subgraph, reached from the Op's by a dotted "on failure" edge.

Node ids are made here (``p0``, ``p0s1``, ``f0s0``: phase 0, its step 1; on-failure
phase 0, its step 0), never taken from user text; every piece of user text is made
harmless first (``terminal_safe``: control and invisible characters written as escapes)
and then quoted the way each language wants, so no name, command or condition can break
the graph's syntax. Output depends only on the document: the same plan draws the same
bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chant.render import terminal_safe
from chant.render.text import describe

SUMMARY_WIDTH = 40
"""How many characters of a step's arguments (a shell step's command) a node shows."""
CONDITION_WIDTH = 60
"""How many characters of a condition an edge shows."""


@dataclass(frozen=True)
class _Node:
    id: str
    lines: tuple[str, ...]  # user text, made terminal-safe, not yet quoted
    shape: str  # "step", "gate", "fork" or "terminal"
    classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Edge:
    src: str
    dst: str
    label: str | None = None
    style: str = "solid"  # "solid", "skipped" or "failure"
    from_cluster: str | None = None  # the edge leaves this cluster as a whole


@dataclass
class _Cluster:
    id: str
    title: str
    kind: str  # "op", "phase" or "on_failure"
    items: list[_Node | _Cluster] = field(default_factory=list)


@dataclass
class _Graph:
    items: list[_Node | _Cluster] = field(default_factory=list)
    edges: list[_Edge] = field(default_factory=list)
    skipped: set[str] = field(default_factory=set)


def _safe(text: object) -> str:
    return terminal_safe(str(text)).replace("\t", "\\t")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _condition(when: Mapping[str, Any] | None) -> str | None:
    if when is None:
        return None
    label = _cut(f"if {_safe(when['if'])}", CONDITION_WIDTH)
    if when["holds"] is True:
        return label + " · true"
    return label + " · false, skipped" if when["holds"] is False else label


def _skips(when: Mapping[str, Any] | None) -> bool:
    return when is not None and when["holds"] is False


def _title(phase: Mapping[str, Any]) -> str:
    parts = [_safe(phase["name"])]
    if phase["parallel"]:
        parts.append("parallel")
        if phase["max_concurrency"] is not None:
            parts.append(f"max {phase['max_concurrency']}")
        if phase["fail_fast"]:
            parts.append("fail fast")
    return " · ".join(parts)


def _step_node(step: Mapping[str, Any], node_id: str, compensation: bool) -> _Node:
    gate = step["gate"]
    if gate is not None:
        detail = f"gate · signal {gate['signal']} · timeout {gate['timeout']}"
    else:
        fn = str(step["fn"])
        detail = describe(fn, step["args"], SUMMARY_WIDTH)
        if not detail.startswith(fn + "("):
            detail = f"{fn}: {detail}"
    lines = [_safe(step["id"]), _safe(detail)]
    if step["outcome"] is not None:
        lines.append(_safe(f"outcome {step['outcome']['name']}"))
    classes: tuple[str, ...] = ("gate",) if gate is not None else ()
    classes += ("compensation",) if compensation else ()
    return _Node(node_id, tuple(lines), "gate" if gate is not None else "step", classes)


def _phase(
    graph: _Graph, phase: Mapping[str, Any], cid: str, compensation: bool
) -> tuple[_Cluster, str, str, str | None]:
    """The cluster of ``phase`` (id ``cid``), its entry and exit node ids, and the
    label of the edge into its entry (the phase's condition, or its first step's)."""
    cluster = _Cluster(cid, _title(phase), "phase")
    steps: Sequence[Mapping[str, Any]] = phase["steps"]
    skipped = _skips(phase["when"])
    nodes = [_step_node(s, f"{cid}s{j}", compensation) for j, s in enumerate(steps)]
    for step, node in zip(steps, nodes, strict=True):
        if skipped or _skips(step["when"]):
            graph.skipped.add(node.id)

    def fork(suffix: str) -> _Node:
        node = _Node(cid + suffix, (), "fork", ("compensation",) if compensation else ())
        if skipped:
            graph.skipped.add(node.id)
        cluster.items.append(node)
        return node

    entry_label = _condition(phase["when"])
    if phase["parallel"] and steps:
        first = fork("in")
        cluster.items += nodes
        last = fork("out")
        for step, node in zip(steps, nodes, strict=True):
            graph.edges.append(_Edge(first.id, node.id, _condition(step["when"])))
            graph.edges.append(_Edge(node.id, last.id))
        return cluster, first.id, last.id, entry_label
    prev: str | None = None
    if not steps or (phase["when"] is not None and steps[0]["when"] is not None):
        prev = fork("in").id
    entry = prev or nodes[0].id
    if prev is None:
        entry_label = entry_label or _condition(steps[0]["when"])
    cluster.items += nodes
    for step, node in zip(steps, nodes, strict=True):
        if prev is not None:
            graph.edges.append(_Edge(prev, node.id, _condition(step["when"])))
        prev = node.id
    assert prev is not None
    return cluster, entry, prev, entry_label


def _build(doc: Mapping[str, Any]) -> _Graph:
    graph = _Graph()
    graph.items.append(_Node("start", ("start",), "terminal"))
    prev = "start"
    op = _Cluster("op", _safe(doc["op"]), "op")
    for i, phase in enumerate(doc["phases"]):
        mark = len(graph.edges)  # the edge into the phase goes before those inside it
        cluster, entry, exit_, label = _phase(graph, phase, f"p{i}", False)
        op.items.append(cluster)
        graph.edges.insert(mark, _Edge(prev, entry, label))
        prev = exit_
    graph.edges.append(_Edge(prev, "finish"))
    if op.items:
        graph.items.append(op)
    graph.items.append(_Node("finish", ("end",), "terminal"))
    if doc["on_failure"]:
        comp = _Cluster("on_failure", "on_failure", "on_failure")
        graph.items.append(comp)
        main_exit = prev
        for i, phase in enumerate(doc["on_failure"]):
            mark = len(graph.edges)
            cluster, entry, exit_, label = _phase(graph, phase, f"f{i}", True)
            comp.items.append(cluster)
            if i == 0:
                text = "on failure" + (f", {label}" if label else "")
                owner = "op" if op.items else None
                graph.edges.insert(mark, _Edge(main_exit, entry, text, "failure", owner))
            else:
                graph.edges.insert(mark, _Edge(prev, entry, label))
            prev = exit_
    graph.edges = [
        e if e.style == "failure" or not {e.src, e.dst} & graph.skipped else _skipped(e)
        for e in graph.edges
    ]
    return graph


def _skipped(edge: _Edge) -> _Edge:
    return _Edge(edge.src, edge.dst, edge.label, "skipped", edge.from_cluster)


# --- Mermaid --------------------------------------------------------------------------

_MERMAID_CODES = {
    # Entity codes Mermaid decodes in labels: what could end a quoted label (") or an
    # edge label (|), start an entity (#, &) or a tag (<, >), end a statement (;), or
    # make a directive (%%{…}%%, which Mermaid strips from the text before parsing it).
    ord(c): f"#{ord(c)};"
    for c in "#&;|`<>%"
} | {ord('"'): "#quot;"}
_MERMAID_CLASSES = (
    "classDef gate fill:#fff4d6,stroke:#b7791f",
    "classDef compensation fill:#fde8e8,stroke:#c53030",
    # Last, so that a skipped gate or compensation step looks skipped.
    "classDef skipped fill:#f2f2f2,stroke:#999999,color:#777777,stroke-dasharray:4 3",
)
_MERMAID_SHAPES = {
    "step": ('["', '"]'),
    "gate": ('{{"', '"}}'),
    "fork": ('(("', '"))'),
    "terminal": ('(["', '"])'),
}
_MERMAID_ARROWS = {"solid": "-->", "skipped": "-.->", "failure": "-.->"}


def _mq(text: str) -> str:
    return text.translate(_MERMAID_CODES)


def mermaid(doc: Mapping[str, Any]) -> str:
    """The plan document ``doc`` as a Mermaid flowchart (ends with a newline)."""
    graph = _build(doc)
    lines = ["flowchart TD"]
    _mermaid_items(graph.items, lines, "    ")
    for e in graph.edges:
        label = f'|"{_mq(e.label)}"|' if e.label else ""
        lines.append(f"    {e.from_cluster or e.src} {_MERMAID_ARROWS[e.style]}{label} {e.dst}")
    lines += [f"    {c}" for c in _MERMAID_CLASSES]
    for name, members in _classes(graph).items():
        if members:
            lines.append(f"    class {','.join(members)} {name}")
    return "\n".join(lines) + "\n"


def _mermaid_items(items: list[_Node | _Cluster], lines: list[str], indent: str) -> None:
    for item in items:
        if isinstance(item, _Node):
            text = "<br/>".join(_mq(line) for line in item.lines) or " "
            left, right = _MERMAID_SHAPES[item.shape]
            lines.append(f"{indent}{item.id}{left}{text}{right}")
        else:
            lines.append(f'{indent}subgraph {item.id} ["{_mq(item.title)}"]')
            _mermaid_items(item.items, lines, indent + "    ")
            lines.append(f"{indent}end")


def _classes(graph: _Graph) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"gate": [], "compensation": [], "skipped": []}

    def walk(items: list[_Node | _Cluster]) -> None:
        for item in items:
            if isinstance(item, _Cluster):
                walk(item.items)
                continue
            for name in item.classes:
                found[name].append(item.id)
            if item.id in graph.skipped:
                found["skipped"].append(item.id)

    walk(graph.items)
    return found


# --- Graphviz DOT ---------------------------------------------------------------------

_DOT_ESCAPES = {ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n", ord("\r"): "\\r"}
_DOT_SHAPES = {
    "step": "shape=box",
    "gate": 'shape=hexagon, fillcolor="#fff4d6"',
    "fork": 'shape=point, label=""',
    "terminal": "shape=oval",
}
_DOT_EDGES = {"solid": "", "skipped": "style=dashed", "failure": "style=dotted"}


def _dq(text: str) -> str:
    return '"' + text.translate(_DOT_ESCAPES) + '"'


def dot(doc: Mapping[str, Any]) -> str:
    """The plan document ``doc`` as a Graphviz DOT digraph (ends with a newline)."""
    graph = _build(doc)
    lines = ["digraph plan {", "    rankdir=TB;", "    compound=true;"]
    lines.append('    node [fontname="Helvetica"];')
    lines.append('    edge [fontname="Helvetica"];')
    _dot_items(graph, graph.items, lines, "    ")
    for e in graph.edges:
        attrs = [a for a in (_DOT_EDGES[e.style],) if a]
        if e.label:
            attrs.append(f"label={_dq(e.label)}")
        if e.from_cluster:
            attrs.append(f"ltail=cluster_{e.from_cluster}")
        tail = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f"    {e.src} -> {e.dst}{tail};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_items(graph: _Graph, items: list[_Node | _Cluster], lines: list[str], indent: str) -> None:
    for item in items:
        if isinstance(item, _Cluster):
            lines.append(f"{indent}subgraph cluster_{item.id} {{")
            lines.append(f"{indent}    label={_dq(item.title)};")
            if item.kind == "on_failure":
                lines.append(f'{indent}    style=dashed; color="#c53030";')
            _dot_items(graph, item.items, lines, indent + "    ")
            lines.append(f"{indent}}}")
            continue
        attrs = [_DOT_SHAPES[item.shape]]
        if item.shape != "fork":
            attrs.append(f"label={_dq(chr(10).join(item.lines))}")
        skipped = item.id in graph.skipped
        styles = ["filled"] if item.shape == "gate" else []
        styles += ["dashed"] if skipped else []
        if styles:
            attrs.append(f'style="{",".join(styles)}"')
        if skipped:
            attrs.append('color="#999999", fontcolor="#777777"')
        elif "compensation" in item.classes:
            attrs.append('color="#c53030"')
        lines.append(f"{indent}{item.id} [{', '.join(attrs)}];")
