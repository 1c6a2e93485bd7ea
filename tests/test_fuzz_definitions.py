"""Fuzzing what users write: op files and chant.toml built from random field values.

Every DSL field and chant.toml key gets, now and then, a value of a random type or an
extreme one (NaN, huge numbers, NUL bytes, newlines, unicode, nested junk). Whatever
the input, chant answers as documented: exit 0, 1 or 2, never "internal error" and
never a traceback; and exit 0 from ``chant build`` means it really wrote a valid IR
(one the Temporal workflow's own checks accept too).

The examples are derandomized (the same ones on every run) and few enough to keep the
suite quick; most run chant in this process, a few as real ``chant`` processes.
"""

from __future__ import annotations

import contextlib
import io
import json
import keyword
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chant.cli.main import main
from chant.ir import Op
from chant.plan import check_ir
from conftest import chant_subprocess

# --- random values, written as Python or TOML source -------------------------------

INTERESTING: list[Any] = [
    "",
    " ",
    "x\n",
    "a\x00b",
    "é✓",
    "5s",
    "0s",
    "0.5ms",
    "1e400s",
    "9" * 30 + "d",
    "36501d",
    "-1s",
    "every 1h",
    "*/5 * * * *",
    "fast_idempotent",
    "nope",
    "A=B",
    "stdout..x",
    0,
    -1,
    1,
    2**31,
    10**30,
    -(2**63),
    0.5,
    1e308,
    float("nan"),
    float("inf"),
    True,
    False,
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=6)
    | st.sampled_from(INTERESTING)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=3) | st.integers(0, 3), inner, max_size=3)
    ),
    max_leaves=6,
)


def py(value: Any) -> str:
    """``value`` as Python source (repr, but NaN and infinities as expressions)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, list):
        return "[" + ", ".join(py(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py(k)}: {py(v)}" for k, v in value.items()) + "}"
    return repr(value)


def toml(value: Any) -> str:
    """``value`` as a TOML value (None, which TOML lacks, as an empty inline table)."""
    if value is None:
        return "{}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(str(value), repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(str(k))} = {toml(v)}" for k, v in value.items()) + "}"


RATES = [0, 2, 5, 15, 40]
"""Per cent of fields given a random value, drawn once per example: some examples have
one mistake, some many, some none (so that valid definitions get built too)."""


def field(good: str, rate: int) -> st.SearchStrategy[str]:
    """The source of a field: its good value, or (``rate`` per cent) a random one."""
    return st.integers(0, 99).flatmap(lambda n: values.map(py) if n < rate else st.just(good))


# --- op files ---------------------------------------------------------------------

HEAD = (
    "from chant import Op, Outcome, Profile, Retry, activity, gate, http_check, phase, "
    "secret, shell\n"
)
SAFE_COMMANDS = ["true", "echo fuzz", "printf 'a\\n'", 123, None, ["true"], "a\x00b"]
"""Commands a fuzzed Op may run with ``chant run --local``: quick and harmless."""


@st.composite
def profiles(draw: st.DrawFn, rate: int) -> str:
    kind = draw(st.sampled_from(["none", "name", "inline"]))
    if kind == "none":
        return "None"
    if kind == "name":
        return draw(field(repr("fast_idempotent"), rate))
    retry = (
        f"Retry(max_attempts={draw(field('1', rate))}, "
        f"initial_interval={draw(field(repr('1s'), rate))}, "
        f"backoff_coefficient={draw(field('2.0', rate))}, "
        f"maximum_interval={draw(field('None', rate))}, "
        f"non_retryable_error_types={draw(field('()', rate))})"
    )
    return (
        f"Profile(timeout={draw(field(repr('10s'), rate))}, "
        f"heartbeat_timeout={draw(field('None', rate))}, retry={draw(field(retry, rate))})"
    )


@st.composite
def steps(draw: st.DrawFn, runnable: bool, rate: int) -> str:
    kinds = ["shell", "activity", "gate"] if runnable else ["shell", "activity", "gate", "http"]
    kind = draw(st.sampled_from(kinds))
    outcome = draw(
        field(draw(st.sampled_from(["None", "'Out'", "Outcome('Out', 'stdout')"])), rate)
    )
    common = f"profile={draw(profiles(rate))}, outcome={outcome}, id={draw(field('None', rate))}"
    cmd = py(draw(st.sampled_from(SAFE_COMMANDS))) if runnable else draw(field(repr("true"), rate))
    if kind == "shell":
        env = draw(st.sampled_from(["None", "{'A': 'b'}", "{'T': secret('FUZZ_TOKEN')}"]))
        env = draw(field(env, rate))
        return f"shell({cmd}, env={env}, cwd={draw(field('None', rate))}, {common})"
    if kind == "activity":
        name = draw(field(repr("shell"), rate))
        key = draw(field("env", rate // 4 or 0))  # "env", or now and then a junk name
        key = key if key.isidentifier() and not keyword.iskeyword(key) else "extra"
        value = draw(field("None", rate))  # an unknown key with None still does not fit
        return f"activity({name}, cmd={cmd}, {key}={value}, {common})"
    if kind == "gate":
        signal = draw(field(repr("approve"), rate))
        timeout, description = draw(field(repr("1h"), rate)), draw(field(repr(""), rate))
        return f"gate({signal}, timeout={timeout}, description={description})"
    return (
        f"http_check({draw(field(repr('http://127.0.0.1:9/'), rate))}, "
        f"status={draw(field('None', rate))}, interval={draw(field(repr('1s'), rate))}, {common})"
    )


@st.composite
def phases(draw: st.DrawFn, runnable: bool, rate: int, name: str) -> str:
    listed = "[" + ", ".join(draw(st.lists(steps(runnable, rate), min_size=1, max_size=3))) + "]"
    return (
        f"phase({draw(field(repr(name), rate))}, {draw(field(listed, rate))}, "
        f"parallel={draw(field('False', rate))}, fail_fast={draw(field('False', rate))}, "
        f"max_concurrency={draw(field('None', rate))})"
    )


@st.composite
def op_files(draw: st.DrawFn, runnable: bool = False) -> str:
    rate = draw(st.sampled_from(RATES))
    count = draw(st.integers(1, 2))
    main = [draw(phases(runnable, rate, name)) for name in ("Build", "Ship")[:count]]
    undo = [draw(phases(runnable, rate, "Undo"))] if draw(st.booleans()) else []
    main_phases, undo_phases = f"[{', '.join(main)}]", f"[{', '.join(undo)}]"
    op = (
        f"Op(name={draw(field(repr('fuzz'), rate))}, overview={draw(field(repr(''), rate))}, "
        f"phases={draw(field(main_phases, rate))}, on_failure={draw(field(undo_phases, rate))}, "
        f"depends={draw(field('[]', rate))}, task_queue={draw(field('None', rate))}, "
        f"search_attributes={draw(field('{}', rate))}, schedule={draw(field('None', rate))})"
    )
    return HEAD + f"op = {op}\n"


# --- chant.toml -------------------------------------------------------------------


def key(good: str, rate: int) -> st.SearchStrategy[str]:
    return st.integers(0, 99).flatmap(lambda n: values.map(toml) if n < rate else st.just(good))


@st.composite
def chant_tomls(draw: st.DrawFn) -> bytes:
    rate = draw(st.sampled_from(RATES))
    interval = draw(key('"1s"', rate))
    retry = (
        f"{{ max_attempts = {draw(key('2', rate))}, initial_interval = {interval}, "
        f"backoff_coefficient = {draw(key('2.0', rate))} }}"
    )
    lines = [
        "[project]",
        "ops = " + draw(key('["ops"]', rate)),
        "[profiles.q]",
        "timeout = " + draw(key('"10s"', rate)),
        f"retry = {draw(key(retry, rate))}",
        "[environments.e]",
        "observe = " + draw(key('["true"]', rate)),
    ]
    if draw(st.booleans()):
        lines += [
            "[temporal]",
            "default_profile = " + draw(key('"dev"', rate)),
            "[temporal.profiles.dev]",
            "address = " + draw(key('"127.0.0.1:7233"', rate)),
            f"auto_start = {draw(key('false', rate))}",
        ]
    if draw(st.integers(0, 9)) == 0:
        lines.insert(draw(st.integers(0, len(lines))), f"{draw(st.text(max_size=4))} = 1")
    text = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 19)) == 0:
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from([b"\xff", b"\x00", b"[[", b"\xe9"])) + text[cut:]
    return text


TOML_OP = HEAD + "op = Op(name='fuzz', phases=[phase('P', [shell('true', profile='q')])])\n"


# --- running chant in this process, with nothing left behind ------------------------


@contextlib.contextmanager
def project(files: dict[str, bytes]) -> Iterator[Path]:
    """A fresh project folder as the current directory; afterwards no op module, declared
    activity or sys.path entry of it is left in this process."""
    saved_cwd, saved_path = os.getcwd(), list(sys.path)
    saved_modules = set(sys.modules)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        os.chdir(root)
        try:
            yield root
        finally:
            os.chdir(saved_cwd)
            sys.path[:] = saved_path
            for name in set(sys.modules) - saved_modules:
                if name.startswith("chant_ops"):
                    del sys.modules[name]


def chant_here(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def assert_answered(code: int, err: str) -> None:
    assert code in (0, 1, 2), err
    assert "internal error" not in err
    assert "Traceback" not in err


def assert_built_only_valid_ir(code: int, root: Path) -> None:
    """Exit 0 means chant build wrote one IR per Op, each valid for the workflow too."""
    written = sorted((root / "dist" / "ops").glob("*.op.json"))
    if code != 0:
        assert written == []
        return
    assert written, "chant build exited 0 but wrote no IR"
    for path in written:
        op = Op.from_dict(json.loads(path.read_text()))
        assert check_ir(op) == [], path.read_text()


FAST = settings(
    max_examples=500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FAST
@given(source=op_files())
def test_any_op_file_gets_an_answer_and_only_a_valid_one_builds(source: str) -> None:
    with project({"ops/fuzz.op.py": source.encode()}) as root:
        code, _, err = chant_here("build")
        event(f"build exit {code}")
        assert_answered(code, err)
        assert code != 1, err  # building never runs anything that could fail
        assert_built_only_valid_ir(code, root)
        listed, out, err = chant_here("list", "--json")
        assert_answered(listed, err)
        assert listed == code
        if listed == 0:
            built = sorted(p.name.removesuffix(".op.json") for p in root.glob("dist/ops/*"))
            assert sorted(row["name"] for row in json.loads(out)) == built


@settings(FAST, max_examples=300)
@given(text=chant_tomls())
def test_any_chant_toml_gets_an_answer_and_only_a_valid_one_builds(text: bytes) -> None:
    with project({"chant.toml": text, "ops/fuzz.op.py": TOML_OP.encode()}) as root:
        code, _, err = chant_here("build")
        event(f"build exit {code}")
        assert_answered(code, err)
        assert code != 1, err
        assert_built_only_valid_ir(code, root)
        if code == 2:
            assert err.startswith("chant: error: chant.toml") or "chant.toml" in err, err


@settings(FAST, max_examples=6)
@given(source=op_files(runnable=True))
def test_a_real_chant_process_builds_and_runs_fuzzed_ops_the_same_way(source: str) -> None:
    with project({"ops/fuzz.op.py": source.encode()}) as root:
        built = chant_subprocess("build", cwd=root)
        assert_answered(built.code, built.err)
        assert_built_only_valid_ir(built.code, root)
        ran = chant_subprocess(
            "run", "fuzz", "--local", "--json", cwd=root, env={"FUZZ_TOKEN": "t0ken"}
        )
        assert_answered(ran.code, ran.err)
        if built.code == 2:
            assert ran.code == 2 and ran.out == ""
        elif ran.code in (0, 1):
            assert json.loads(ran.out)["op"] == "fuzz"
