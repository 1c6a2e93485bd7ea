"""The ``[temporal]`` table of ``chant.toml``: how to reach each Temporal cluster."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chant.tomlfile import TomlChecker, cut


@dataclass(frozen=True, kw_only=True)
class TemporalProfile:
    """How to reach one Temporal cluster."""

    name: str
    address: str = "127.0.0.1:7233"
    namespace: str = "default"
    task_queue: str = ""
    """The task queue runs go to. Empty in ``chant.toml``'s absence of the key: the
    project's own, ``chant-<project id>`` (filled in by ``load_config``)."""
    auto_start: bool = False
    tls: bool = False
    api_key_env: str | None = None
    builtin: bool = False
    """True for the profile ``--temporal`` uses when chant.toml has no [temporal] table."""


@dataclass(frozen=True, kw_only=True)
class TemporalConfig:
    default_profile: str
    profiles: Mapping[str, TemporalProfile]


def read_temporal(check: TomlChecker, spec: Any) -> TemporalConfig:
    """Reads ``[temporal]`` and its ``[temporal.profiles.<name>]`` tables, reporting
    problems through ``check`` (chant.toml's checker). Imported only when chant.toml has
    a ``[temporal]`` table: a local run never loads this module."""
    spec = check.table(spec, "[temporal]", ("default_profile", "profiles"), at=("temporal", None))
    raw_profiles = spec.get("profiles", {})
    if not isinstance(raw_profiles, Mapping):
        check.fail("[temporal.profiles] must hold tables", "temporal")
        raw_profiles = {}
    allowed = ("address", "namespace", "task_queue", "auto_start", "tls", "api_key_env")
    kinds = {"auto_start": (bool, "true or false"), "tls": (bool, "true or false")}
    profiles = {}
    for name, p in raw_profiles.items():
        table = f"temporal.profiles.{name}"
        values = check.table(p, f"[{table}]", allowed, at=(table, None))
        for key, value in list(values.items()):
            kind, what = kinds.get(key, (str, "a string"))
            if kind is str:
                checked = check.text(value, f"{table}.{key}", table, key)
            else:
                checked = check.typed(value, kind, what, f"{table}.{key}", table, key)
            if checked is None:
                del values[key]
        profiles[name] = TemporalProfile(name=name, **values)
    if not profiles:
        profiles = {"dev": TemporalProfile(name="dev", auto_start=True)}
    default = spec.get("default_profile", next(iter(profiles)))
    if not isinstance(default, str):
        check.fail(
            f"temporal.default_profile must be a profile name, got {cut(default)}",
            "temporal",
            "default_profile",
            hint="pick one of: " + ", ".join(profiles),
        )
        default = next(iter(profiles))
    if default not in profiles:
        check.fail(
            f'temporal.default_profile "{default}" is not defined',
            "temporal",
            "default_profile",
            hint=f"define [temporal.profiles.{default}] or pick one of: " + ", ".join(profiles),
        )
    return TemporalConfig(default_profile=default, profiles=profiles)
