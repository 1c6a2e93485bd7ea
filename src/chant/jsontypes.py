"""JSON as chant means it: the ``JSON`` type, and ``to_json`` to make a value JSON.

``JSON`` is the read-only recursive type of JSON data (``None``, ``bool``, ``int``,
``float``, ``str``, sequences and string-keyed mappings of ``JSON``): every value chant
reads from or writes as JSON (the IR, events, results) is one. Nothing here performs
I/O, so Temporal's workflow sandbox can import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias, cast

JSON: TypeAlias = bool | int | float | str | Sequence["JSON"] | Mapping[str, "JSON"] | None
"""A JSON value. Read-only (``Sequence``, ``Mapping``), so that a ``list[str]`` or a
tuple is one too; build a new value rather than changing one."""

JSONObject: TypeAlias = Mapping[str, JSON]
"""A JSON object."""


class NotJSONError(TypeError):
    """A value that ``to_json`` does not convert; ``path`` says where it is."""

    def __init__(self, value: object, path: str, why: str = "") -> None:
        self.type_name = type(value).__name__
        self.path = path
        self.why = why or f"a {self.type_name}, which is not JSON"
        self.where = path if len(path) <= 80 else f"…{path[-60:]}"
        """``path``, shortened to its end when long."""
        super().__init__(f"{self.where or 'the value'} is {self.why}")


MAX_DEPTH = 100
"""How deeply ``to_json`` follows nested containers; deeper data is refused (a container
that holds itself is refused at once)."""


def to_json(value: object, path: str = "") -> JSON:
    """``value`` as JSON data (str, int, float, bool, None, lists, dicts with str keys).

    Converted, as Temporal's and Python's JSON encoders would or as a reader expects:
    tuples → lists; sets and frozensets → lists sorted by their JSON text; ``bytes``
    (and ``bytearray``, ``memoryview``) → UTF-8 text, undecodable bytes as U+FFFD;
    paths (``os.PathLike``) → their text; other mappings → dicts; dict keys that are
    int, float, bool or None → their JSON text (``1``, ``true``, ``null``), bytes keys →
    text; subclasses of str, int and float → the plain type. Anything else (a
    ``datetime``, a ``Decimal``, a dataclass, an object of a user's class, a key that
    is a tuple, a container that holds itself) raises ``NotJSONError`` naming the type
    and where it is (``path``, e.g. ``["items"][2]``)."""
    return _json(value, path, 0, set())


def _container(value: Any, path: str, depth: int, seen: set[int]) -> JSON:
    # Plain values (most of any result) are kept as they are without a call; the path
    # of a nested value is only spelled out for one that needs converting.
    if isinstance(value, Mapping):
        out: dict[str, JSON] = {}
        for k, v in value.items():
            key = k if type(k) is str else _key(k, path)
            out[key] = (
                v
                if v is None or type(v) in _PLAIN
                else _json(v, f"{path}[{key!r}]", depth + 1, seen)
            )
        return out
    if isinstance(value, list | tuple):
        return [
            v if v is None or type(v) in _PLAIN else _json(v, f"{path}[{i}]", depth + 1, seen)
            for i, v in enumerate(value)
        ]
    import json

    items = [_json(v, f"{path}{{…}}", depth + 1, seen) for v in value]
    return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))


_PLAIN = frozenset((str, int, float, bool))


def _json(value: Any, path: str, depth: int, seen: set[int]) -> JSON:
    if value is None or type(value) in _PLAIN:
        return cast(JSON, value)
    if depth > MAX_DEPTH:
        raise NotJSONError(value, path, f"nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        if id(value) in seen:
            raise NotJSONError(value, path, f"a {type(value).__name__} that contains itself")
        seen.add(id(value))
        try:
            return _container(value, path, depth, seen)
        finally:
            seen.discard(id(value))
    fspath = getattr(value, "__fspath__", None)
    if fspath is not None:
        name = fspath()
        return name.decode("utf-8", errors="replace") if isinstance(name, bytes) else str(name)
    raise NotJSONError(value, path)


def _key(key: object, path: str) -> str:
    if isinstance(key, str):
        return str.__str__(key)
    if key is None or isinstance(key, bool):
        return {None: "null", True: "true", False: "false"}[key]
    if isinstance(key, int | float):
        import json

        return json.dumps(key)
    if isinstance(key, bytes):
        return key.decode("utf-8", errors="replace")
    raise NotJSONError(
        key, path, f"a dict with a key of type {type(key).__name__}, which is not JSON"
    )
