"""The docs: the site builds with warnings as errors, and the tutorial is true.

The tutorial pages are run as written: every ``$ command`` in a ``console`` block runs in
a fresh project (one shell per command, the folder carried over like a terminal's), and
what it prints must be the lines below it, once durations, timestamps, process ids and
the order of a parallel phase's lines are set aside. A code block right after
``<!-- doc-test: write -->`` is the file of its ``title="PATH"`` (written there); after
``<!-- doc-test: same -->``, the file must already hold exactly that text.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from chant.cli.init import CHANT_TOML
from conftest import wait_gone
from temporal_server import free_port

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
LOCAL_PAGES = ("tutorial/install.md", "tutorial/first-op.md", "tutorial/first-failure.md")
TEMPORAL_PAGE = "tutorial/on-temporal.md"
DEV_ADDRESS = "127.0.0.1:7233"
HOME = "/home/me"  # where the pages' session starts; the test's folder is shown as this


def _mkdocs(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config)]
    return subprocess.run(
        [*command, "--site-dir", str(site)],
        capture_output=True,
        text=True,
        timeout=110,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )


def test_the_docs_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    built = _mkdocs(ROOT / "mkdocs.yml", tmp_path / "site")
    assert built.returncode == 0, built.stdout + built.stderr
    for page in ("index.html", "tutorial/first-op/index.html", "how-to/ci/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    assert (tmp_path / "site" / "cli" / "index.html").is_file()


def test_a_broken_link_or_anchor_fails_the_site_build(tmp_path: Path) -> None:
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "tutorial" / "first-op.md"
    page.write_text(page.read_text() + "\n[a](../cli.md#no-such-anchor) [b](nowhere.md)\n")
    built = _mkdocs(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert built.returncode == 1
    assert "contains a link '../cli.md#no-such-anchor'" in built.stderr
    assert "contains a link 'nowhere.md'" in built.stderr
    assert "Aborted with 2 warnings in strict mode!" in built.stdout + built.stderr


# --- the tutorial, run as written ------------------------------------------------------


@dataclass(frozen=True)
class File:
    mode: str  # "write" or "same"
    path: str
    text: str


@dataclass(frozen=True)
class Command:
    line: str
    expected: tuple[str, ...]
    where: str  # page:line, for the failure message


def _steps(page: str) -> list[File | Command]:
    """The files and commands of a page, in order."""
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    steps: list[File | Command] = []
    marker = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("<!-- doc-test: "):
            marker = line.removeprefix("<!-- doc-test: ").removesuffix(" -->")
        elif line.startswith("```") and len(line) > 3:
            info = line[3:]
            end = lines.index("```", i + 1)
            body = lines[i + 1 : end]
            if marker:
                title = re.search(r'title="([^"]+)"', info)
                assert title, f"{page}:{i + 1}: a doc-test block needs title=PATH"
                steps.append(File(marker, title.group(1), "\n".join(body) + "\n"))
            elif info == "console":
                for n, text in enumerate(body):
                    if text.startswith("$ "):
                        out = []
                        for more in body[n + 1 :]:
                            if more.startswith("$ "):
                                break
                            out.append(more)
                        steps.append(Command(text[2:], tuple(out), f"{page}:{i + n + 2}"))
            marker = ""
            i = end
        i += 1
    return steps


_DURATION = re.compile(r"\b\d+(?:\.\d+)?(?:ms|s)\b")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?Z?")


def _normal(lines: list[str] | tuple[str, ...], tmp: Path, port: int) -> list[str]:
    """Lines with what differs from run to run replaced, and each parallel phase's lines
    sorted (its steps run at the same time, so their lines interleave at random)."""
    out: list[str] = []
    for line in lines:
        line = line.replace(str(tmp / "tutorial"), HOME).replace(f"127.0.0.1:{port}", DEV_ADDRESS)
        line = _TIMESTAMP.sub("<time>", line)
        line = _DURATION.sub("<duration>", line)
        line = re.sub(r"\bpid \d+", "pid <pid>", line)
        line = re.sub(r"^chant \d+\.\d+\S*$", "chant <version>", line)
        out.append(" ".join(line.split()) if "<duration>" in line else line)
    grouped: list[str] = []
    parallel: list[str] = []
    for line in out:
        if parallel and (line.startswith(("[phase]", "[compensation]", 'Op "'))):
            grouped += sorted(parallel)
            parallel = []
        if parallel or (line.startswith("[phase]") and "(parallel" in line):
            parallel.append(line)
        else:
            grouped.append(line)
    return grouped + sorted(parallel)


class Tutorial:
    """A shell session, one command at a time, in a folder of its own."""

    def __init__(self, tmp: Path, port: int) -> None:
        self.tmp = tmp
        self.cwd = tmp / "tutorial"
        self.cwd.mkdir()
        self.port = port
        self.code = 0
        self.env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "LC_ALL": "C",
        }
        for name in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "COLUMNS"):
            self.env.pop(name, None)

    def run_page(self, page: str) -> None:
        for step in _steps(page):
            if isinstance(step, File):
                self._file(page, step)
                continue
            here = self.tmp / "cwd"
            script = (
                f"cd '{self.cwd}' && (exit {self.code}); {step.line}\n"
                f"code=$?; pwd > '{here}'; exit $code"
            )
            ran = subprocess.run(
                ["bash", "-c", script],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=self.env,
                timeout=90,
                check=False,
            )
            self.code = ran.returncode
            self.cwd = Path(here.read_text().strip())
            got = _normal(ran.stdout.splitlines(), self.tmp, self.port)
            want = _normal(step.expected, self.tmp, self.port)
            assert got == want, (
                f"{step.where}: `$ {step.line}` (exit {ran.returncode}) printed:\n{ran.stdout}"
            )

    def _file(self, page: str, step: File) -> None:
        path = self.cwd / step.path
        if step.mode == "same":
            assert path.read_text(encoding="utf-8") == step.text, f"{page}: {step.path} differs"
            return
        assert step.mode == "write", f"{page}: unknown doc-test marker {step.mode!r}"
        text = step.text
        if step.path == "chant.toml" and DEV_ADDRESS in text:
            # The page shows chant init's chant.toml with its [temporal] table uncommented;
            # the test's dev server listens on a free port instead of 7233.
            head, table = CHANT_TOML.split("# [temporal]", 1)
            uncommented = "\n".join(line.removeprefix("# ") for line in table.split("\n"))
            assert text == f"{head}[temporal]{uncommented}", f"{page}: chant.toml is not init's"
            text = text.replace(DEV_ADDRESS, f"127.0.0.1:{self.port}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_local_tutorial_pages_print_what_they_show(tmp_path: Path) -> None:
    tutorial = Tutorial(tmp_path, free_port())
    for page in LOCAL_PAGES:
        tutorial.run_page(page)
    assert (tutorial.cwd / "released.txt").read_text() == "v1\n"


def test_the_temporal_tutorial_page_prints_what_it_shows(tmp_path: Path) -> None:
    tutorial = Tutorial(tmp_path, free_port())
    for page in LOCAL_PAGES:
        tutorial.run_page(page)
    project = tutorial.cwd
    try:
        tutorial.run_page(TEMPORAL_PAGE)
    finally:
        state = project / ".chant" / "server" / "server.json"
        pid = None
        if state.exists():
            pid = int(re.search(r'"pid":\s*(\d+)', state.read_text()).group(1))  # type: ignore[union-attr]
            subprocess.run(
                [sys.executable, "-m", "chant", "server", "stop"],
                cwd=project,
                capture_output=True,
                timeout=60,
                check=False,
            )
    assert pid is None or wait_gone(pid, 15), "the tutorial's dev server outlived the test"


def _in_example(tmp_path: Path, example: str) -> Tutorial:
    """A session in a copy of ``examples/<example>`` as a clone has it (no state)."""
    tutorial = Tutorial(tmp_path, free_port())
    tutorial.cwd.rmdir()
    shutil.copytree(
        ROOT / "examples" / example,
        tutorial.cwd,
        ignore=shutil.ignore_patterns(".deployed", ".chant", "dist", "__pycache__"),
    )
    return tutorial


def test_the_passing_data_guide_prints_what_it_shows(tmp_path: Path) -> None:
    # The guide's sessions run in a copy of examples/passing-data, in the order shown:
    # each release sees what the ones before it deployed.
    tutorial = _in_example(tmp_path, "passing-data")
    tutorial.run_page("how-to/pass-data.md")
    assert (tutorial.cwd / ".deployed" / "prod").read_text() == (
        "registry.example.com/shop:1.5.0\n"
    )


def test_the_plan_guide_prints_what_it_shows(tmp_path: Path) -> None:
    # The guide plans, runs and draws the quickstart's rollout, in a copy of the example.
    tutorial = _in_example(tmp_path, "quickstart")
    tutorial.run_page("how-to/plan.md")
