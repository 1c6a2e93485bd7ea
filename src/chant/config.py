"""Loading and validating ``chant.toml``: the only module that reads it.

The project root is the nearest directory upward holding ``chant.toml``, else the
starting directory. Unknown keys are errors naming the key and the file.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from chant.errors import ConfigError, ConfigErrors
from chant.ir import Profile, Retry
from chant.names import relative
from chant.profiles import profile_problems
from chant.tomlfile import TomlChecker, read_text
from chant.tomlfile import cut as _cut

if TYPE_CHECKING:
    from chant.clusters import TemporalConfig as TemporalConfig
    from chant.clusters import TemporalProfile as TemporalProfile


def __getattr__(name: str) -> object:
    # TemporalConfig and TemporalProfile live in chant.clusters, loaded on first use: a
    # chant.toml without [temporal] (every local run) never pays for their definitions.
    if name in ("TemporalConfig", "TemporalProfile"):
        from chant import clusters

        return getattr(clusters, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


CONFIG_NAME = "chant.toml"
# Patterns, compiled on first use (re caches them): most chant.toml files set neither.
PROJECT_NAME = r"(?=.{1,60}$)[a-z0-9]+(?:-[a-z0-9]+)*"
_MODULE = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"


class Environment(NamedTuple):
    """An environment that ``state_snapshot`` / ``state_diff`` can observe."""

    name: str
    observe: tuple[str, ...]
    """The command (an argument vector, no shell) printing the environment's state as JSON."""


class Config(NamedTuple):
    """A project's settings. ``file`` is None when there is no ``chant.toml``. (A named
    tuple, not a frozen dataclass: every command defines it, and a dataclass costs
    several times more to define.)"""

    root: Path
    file: Path | None = None
    ops: tuple[str, ...] = (".",)
    """Folders (relative to ``root``) searched for ``*.op.py``. Default: the root."""
    profiles: Mapping[str, Profile] = {}  # shared, never written: read as a Mapping
    """Profiles from ``[profiles.*]``; they add to or replace the built-ins by name."""
    temporal: TemporalConfig | None = None
    """Present when ``chant.toml`` has a ``[temporal]`` table."""
    activities: tuple[str, ...] = ()
    """Project modules (dotted, importable from ``root``) holding ``@activity`` functions."""
    environments: Mapping[str, Environment] = {}  # shared, never written: read as a Mapping
    """``[environments.<name>]`` tables: how to observe each environment's state."""
    name: str | None = None
    """``project.name``: the project's id on Temporal, the same in every checkout."""

    @property
    def project_id(self) -> str:
        """What keeps this project's runs apart from other projects' on one Temporal
        namespace: ``project.name``, else ``<folder name>-<6 hex of the root's path>``."""
        if self.name:
            return self.name
        import hashlib

        slug = re.sub(r"[^a-z0-9]+", "-", self.root.name.lower()).strip("-")[:40].strip("-")
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:6]
        return f"{slug or 'project'}-{digest}"


def default_task_queue(project_id: str) -> str:
    """The task queue of a project's runs when its profile sets none."""
    return f"chant-{project_id}"


def find_root(start: Path) -> tuple[Path, Path | None]:
    """The project root above ``start`` and its ``chant.toml`` (None if there is none)."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / CONFIG_NAME
        # Anything named chant.toml marks the root, even a folder or a broken link:
        # skipping it would silently load the config of a project further up.
        if os.path.lexists(candidate):
            return folder, candidate
    return start, None


def load_config(start: Path) -> Config:
    """Find and validate the project's ``chant.toml`` starting from ``start``."""
    root, file = find_root(start)
    if file is None:
        return Config(root=root)
    shown = relative(file)
    text = read_text(file, shown)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's error has no lineno attribute; its message ends "(at line N, …)".
        found = re.search(r"at line (\d+)", str(exc))
        line = getattr(exc, "lineno", None) or (int(found.group(1)) if found else None)
        raise ConfigError(
            f"not valid TOML: {exc}",
            file=shown,
            line=line,
            hint="see docs/cli.md for the chant.toml format",
        ) from None
    return _Reader(shown, text).config(root, file, data)


def _env_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be the folder ``.chant/state/<name>`` (or None)."""
    if name in ("", ".", ".."):
        return "cannot be a folder name"
    if "/" in name or "\\" in name:
        return "holds a path separator"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "holds a control character"
    size = len(name.encode("utf-8"))
    if size > MAX_ENV_NAME:
        return f"is {size} bytes long, over the limit of {MAX_ENV_NAME}"
    return None


MAX_ENV_NAME = 200
"""The longest environment name in UTF-8 bytes: a folder name must fit in 255."""


class _Reader(TomlChecker):
    """Validates the parsed TOML, collecting every problem with its line where known."""

    def config(self, root: Path, file: Path, data: Mapping[str, Any]) -> Config:
        top = ("project", "profiles", "temporal", "environments")
        for key in data:
            if key not in top:
                self.fail(
                    f'unknown key "{key}"',
                    "" if not isinstance(data[key], Mapping) else key,
                    key if not isinstance(data[key], Mapping) else None,
                    hint="chant.toml has the tables [project], [profiles.*], [environments.*] "
                    "and [temporal]",
                )
        project = self.table(
            data.get("project", {}),
            "[project]",
            ("ops", "activities", "name"),
            at=("project", None),
        )
        name = self.project_name(project.get("name"))
        activities = self.strings(
            project.get("activities", []), "project.activities", "project", "activities"
        )
        environments = self.environments(data.get("environments", {}))
        self.modules(activities)
        ops = self.ops(project.get("ops", ["."]))
        raw_profiles = data.get("profiles", {})
        if not isinstance(raw_profiles, Mapping):
            self.fail("[profiles] must hold tables: [profiles.<name>]", "profiles")
            raw_profiles = {}
        profiles = {name: self.profile(name, spec) for name, spec in raw_profiles.items()}
        temporal = None
        if "temporal" in data:
            from chant.clusters import read_temporal

            temporal = read_temporal(self, data["temporal"])
        if self.errors:
            raise self.errors[0] if len(self.errors) == 1 else ConfigErrors(self.errors)
        config = Config(
            root=root,
            file=file,
            ops=ops,
            profiles=profiles,
            activities=activities,
            environments=environments,
            name=name,
        )
        if temporal is None:
            return config
        queue = default_task_queue(config.project_id)
        filled = {
            k: p if p.task_queue else replace(p, task_queue=queue)
            for k, p in temporal.profiles.items()
        }
        return config._replace(temporal=replace(temporal, profiles=filled))

    def modules(self, activities: tuple[str, ...]) -> None:
        for module in activities:
            if not re.fullmatch(_MODULE, module):
                self.fail(
                    f'project.activities: "{module}" is not a module name',
                    "project",
                    "activities",
                    hint='write dotted Python module names, e.g. ["deploy_activities"]',
                )

    def ops(self, ops: object) -> tuple[str, ...]:
        if not isinstance(ops, list) or not all(
            isinstance(o, str) and o and "\x00" not in o for o in ops
        ):
            self.fail("project.ops must be a list of folder names", "project", "ops")
            return (".",)
        if not ops:
            self.fail(
                "project.ops lists no folder, so no Op could be found",
                "project",
                "ops",
                hint='write ops = ["ops"], or leave it out to search the project root',
            )
        return tuple(ops)

    def project_name(self, value: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, str) and re.fullmatch(PROJECT_NAME, value):
            return value
        self.fail(
            f"project.name must be kebab-case (a-z, 0-9, single hyphens), at most 60 "
            f"characters, got {_cut(value)}",
            "project",
            "name",
            hint='e.g. name = "shop-deploys"',
        )
        return None

    def environments(self, raw: object) -> dict[str, Environment]:
        if not isinstance(raw, Mapping):
            self.fail("[environments] must hold tables: [environments.<name>]", "environments")
            return {}
        found = {}
        for name, spec in raw.items():
            table = f"environments.{name}"
            why = _env_name_problem(name)
            if why:
                # Its snapshots live in .chant/state/<name>/: it must be one folder name.
                bare = re.fullmatch(r"[A-Za-z0-9_-]+", name)
                import json  # only for this message

                self.fail(
                    f"environment name {_cut(name)} {why}",
                    table if bare else f"environments.{json.dumps(name, ensure_ascii=False)}",
                    hint="snapshots are kept in .chant/state/<name>/: use a plain name "
                    "such as [environments.staging]",
                )
                continue
            values = self.table(spec, f"[{table}]", ("observe",), at=(table, None))
            if not isinstance(spec, Mapping):
                continue  # reported by table()
            if "observe" not in values:
                self.fail(
                    f'[{table}] needs observe = ["command", "arg", ...]',
                    table,
                    hint='e.g. observe = ["kubectl", "get", "all", "-A", "-o", "json"]',
                )
                continue
            observe = self.strings(values["observe"], f"{table}.observe", table, "observe")
            if not observe:
                self.fail(f"{table}.observe must name a command", table, "observe")
            found[name] = Environment(name=name, observe=observe)
        return found

    def retry(self, table: str, spec: object) -> Retry:
        retry_spec = self.table(
            spec,
            f"[{table}].retry",
            (
                "max_attempts",
                "initial_interval",
                "backoff_coefficient",
                "maximum_interval",
                "non_retryable_error_types",
            ),
            at=(table, "retry"),
        )

        def retry_duration(key: str, default: str | None) -> str | None:
            if key not in retry_spec:
                return default
            name = f"{table}.retry.{key}"
            return self.duration(retry_spec[key], name, table, "retry", default or "") or default

        def retry_value(key: str, kind: Any, what: str, default: Any) -> Any:
            if key not in retry_spec:
                return default
            name = f"{table}.retry.{key}"
            value = self.typed(retry_spec[key], kind, what, name, table, "retry")
            return default if value is None else value

        attempts = retry_value("max_attempts", int, "an integer (0 = unlimited)", 3)
        nonretryable = retry_spec.get("non_retryable_error_types", [])
        retry = Retry(
            max_attempts=attempts,
            initial_interval=retry_duration("initial_interval", "1s") or "1s",
            backoff_coefficient=retry_value("backoff_coefficient", (int, float), "a number", 2.0),
            maximum_interval=retry_duration("maximum_interval", None),
            non_retryable_error_types=self.strings(
                nonretryable, f"{table}.retry.non_retryable_error_types", table, "retry"
            ),
        )
        return retry

    def profile(self, name: str, spec: object) -> Profile:
        table = f"profiles.{name}"
        spec = self.table(
            spec, f"[{table}]", ("timeout", "heartbeat_timeout", "retry"), at=(table, None)
        )
        retry = self.retry(table, spec.get("retry", {}))
        profile = Profile(
            name=name,
            timeout=self.duration(
                spec.get("timeout", "5m"), f"{table}.timeout", table, "timeout", "5m"
            ),
            heartbeat_timeout=(
                self.duration(
                    spec["heartbeat_timeout"],
                    f"{table}.heartbeat_timeout",
                    table,
                    "heartbeat_timeout",
                    "1m",
                )
                if "heartbeat_timeout" in spec
                else None
            ),
            retry=retry,
            origin=f"{self.file}:{self.line_of(table)}",
        )
        # Values of the right type that still cannot work (bounds, NaN, order).
        for key, why in profile_problems(profile):
            self.fail(
                f"{table}.{key}: {why}",
                table,
                key.partition(".")[0],
                hint="docs/ops.md lists each profile field and its bounds",
            )
        return profile


def check_mode_flags(*, local: bool, temporal: bool) -> None:
    """``--local`` and ``--temporal`` together is a usage error."""
    from chant.errors import UsageError

    if local and temporal:
        raise UsageError(
            "--local and --temporal cannot be used together", hint="pass one of them, or neither"
        )


def choose_mode(
    *, local: bool, temporal: bool, config: Config, op_name: str
) -> tuple[str, str | None]:
    """Pick ``"local"`` or ``"temporal"`` for a run, with the notice to print (if any).

    ``--local`` and ``--temporal`` force a mode; with neither, Temporal is chosen when
    ``chant.toml`` has a ``[temporal]`` table, otherwise local, and chant says so.
    """
    check_mode_flags(local=local, temporal=temporal)
    if local:
        return "local", None
    if temporal:
        return "temporal", None
    if config.temporal is not None:
        return (
            "temporal",
            f'chant: [temporal] found in {CONFIG_NAME} — running "{op_name}" on Temporal',
        )
    why = f"no [temporal] in {CONFIG_NAME}" if config.file else f"no {CONFIG_NAME}"
    return "local", (
        f'chant: {why} — running "{op_name}" locally (in-process: no gates, schedules or resume)'
    )
