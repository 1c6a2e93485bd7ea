"""An Op's parameter as the IR declares it: ``Param(str, default=…, choices=[…], help=…)``.

A module of its own, imported only by an Op that declares parameters (and by what checks
or shows them): ``chant run`` of an Op without any never defines the class. ``chant.ir``
gives it as ``chant.ir.Param`` too. Nothing here performs I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chant.errors import IRError
from chant.irschema import PARAM, read_object
from chant.irvalues import caller_origin
from chant.jsontypes import JSON


class _Required:
    """The default of a parameter that has none: the run must give a value."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
PARAM_TYPES: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool, "list": list}
"""A parameter's type as the IR names it, and as Python does (``list`` is a list of
strings)."""


def param_type_name(value: object) -> str | None:
    """The IR name of a parameter type given in Python (``str``, ``list[str]``…), or
    None when it is not one."""
    for name, kind in PARAM_TYPES.items():
        if value is kind:
            return name
    if getattr(value, "__origin__", None) is list and getattr(value, "__args__", None) == (str,):
        return "list"
    return None


@dataclass(frozen=True)
class Param:
    """A parameter of an Op: ``Param(str, default="staging", choices=[...], help="…")``.

    ``type`` is ``str``, ``int``, ``float``, ``bool`` or ``list[str]``; without a
    ``default`` the parameter is required. A step uses its value with
    ``param("name")``; ``chant run OP name=value`` gives it."""

    type: Any = str
    default: JSON = field(default=REQUIRED, kw_only=True)
    choices: Sequence[JSON] | None = field(default=None, kw_only=True)
    """The only values allowed, when given."""
    help: str = field(default="", kw_only=True)
    """One line saying what the parameter is for (``chant list`` shows it)."""
    origin: str | None = field(default=None, compare=False, repr=False, kw_only=True)

    def __post_init__(self) -> None:
        if isinstance(self.choices, tuple | list):
            object.__setattr__(self, "choices", tuple(self.choices))
        if self.origin is None:
            object.__setattr__(self, "origin", caller_origin(2))

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def type_name(self) -> str:
        """The type as the IR writes it (``str``, ``int``, ``float``, ``bool``, ``list``)."""
        return param_type_name(self.type) or str(getattr(self.type, "__name__", repr(self.type)))

    def to_dict(self) -> dict[str, JSON]:
        data: dict[str, JSON] = {"type": self.type_name}
        if not self.required:
            default = self.default
            data["default"] = list(default) if isinstance(default, tuple) else default
        data["choices"] = list(self.choices) if self.choices is not None else None
        data["help"] = self.help
        return data

    @classmethod
    def from_dict(cls, data: JSON, path: str = "param") -> Param:
        d = read_object(data, path, PARAM, required=("type",))
        kind = PARAM_TYPES.get(d["type"])
        if kind is None:
            raise IRError(
                f"{path}.type: expected one of {', '.join(PARAM_TYPES)}, got {d['type']!r}"
            )
        if kind is list:
            kind = list[str]
        return cls(
            kind,
            default=d.get("default", REQUIRED),
            choices=d.get("choices"),
            help=d.get("help", ""),
            origin="",
        )
