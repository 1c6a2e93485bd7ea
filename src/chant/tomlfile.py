"""Reading a TOML settings file (``chant.toml``) and checking what it holds: its text,
or a ``ConfigError`` saying why it cannot be read, and a checker that reports every
problem at its line."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chant.errors import ConfigError
from chant.profiles import parse_duration

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def cut(value: object) -> str:
    """``repr(value)``, cut to 60 characters for a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


def read_text(file: Path, shown: str) -> str:
    """The text of ``file``, or a ``ConfigError`` saying why it cannot be read."""
    try:
        mode = file.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(
            f"is a broken symbolic link (to {os.readlink(file)})",
            file=shown,
            hint="point chant.toml at an existing file, or remove it",
        ) from None
    except OSError:
        mode = stat.S_IFREG  # read_bytes below says why
    if not stat.S_ISREG(mode):
        raise ConfigError(
            "is a folder, not a file" if stat.S_ISDIR(mode) else "is not a regular file",
            file=shown,
            hint=f"remove or rename {shown}; chant reads its settings from a regular file",
        )
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot be read: {exc.strerror or exc}",
            file=shown,
            hint="make chant.toml a readable file",
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start})",
            file=shown,
            line=line,
            hint="save chant.toml as UTF-8",
        ) from None


class TomlChecker:
    """Checks parsed TOML values, collecting every problem (``errors``) with the line of
    its table or key where known."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.lines = text.splitlines()
        self.errors: list[ConfigError] = []

    def line_of(self, table: str, key: str | None = None) -> int | None:
        """The line of ``key`` in ``[table]`` (``table`` "" for top-level keys), else the
        table's header line."""
        header = re.compile(r"^\s*\[+\s*" + re.escape(table) + r"\s*\]+")
        start = (
            next((i for i, ln in enumerate(self.lines) if header.match(ln)), None) if table else -1
        )
        if key is None:
            return None if start is None or start < 0 else start + 1
        pattern = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
        for i in range(0 if start is None else start + 1, len(self.lines)):
            if i > (start or 0) and self.lines[i].lstrip().startswith("[") and start is not None:
                break
            if pattern.match(self.lines[i]):
                return i + 1
        return None if start is None or start < 0 else start + 1

    def fail(
        self, message: str, table: str, key: str | None = None, hint: str | None = None
    ) -> None:
        line = self.line_of(table, key)
        self.errors.append(ConfigError(message, file=self.file, line=line, hint=hint))

    def table(
        self,
        data: object,
        name: str,
        allowed: tuple[str, ...],
        *,
        at: tuple[str, str | None] | None = None,
    ) -> dict[str, Any]:
        """``data`` as a dict, reporting keys outside ``allowed``. ``at`` locates an inline
        table: (the table holding it, its key)."""
        table, key = at or (name, None)
        if not isinstance(data, Mapping):
            self.fail(f"{name} must be a table", table, key)
            return {}
        for k in data:
            if k not in allowed:
                self.fail(
                    f'unknown key "{k}" in {name}',
                    table,
                    key or k,
                    hint=f"allowed keys: {', '.join(allowed)}",
                )
        return {k: v for k, v in data.items() if k in allowed}

    def typed(self, value: object, kind: Any, what: str, name: str, table: str, key: str) -> Any:
        """``value`` if it is a ``kind`` (a bool is not a number here), else report it."""
        if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
            return value
        self.fail(f"{name} must be {what}, got {cut(value)}", table, key)
        return None

    def strings(self, value: object, name: str, table: str, key: str) -> tuple[str, ...]:
        if isinstance(value, list) and all(isinstance(v, str) and "\x00" not in v for v in value):
            return tuple(value)
        self.fail(f"{name} must be a list of strings, got {cut(value)}", table, key)
        return ()

    def text(self, value: object, name: str, table: str, key: str) -> str | None:
        """``value`` if it is a non-empty string without control characters, else report it."""
        if isinstance(value, str) and value.strip() and not _CONTROL.search(value):
            return value
        self.fail(f"{name} must be a non-empty string, got {cut(value)}", table, key)
        return None

    def duration(self, value: object, name: str, table: str, key: str, default: str) -> str:
        """``value`` if it is a duration, else report it and return ``default``."""
        try:
            parse_duration(value)
        except ValueError as exc:
            self.fail(f"{name}: {exc}", table, key)
            return default
        return str(value)
