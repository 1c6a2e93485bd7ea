"""The JSON Schemas (draft 2020-12) of the documents chant writes, one file each:

- ``ir``: an Op's IR, as ``chant build`` writes it to ``dist/ops/<name>.op.json``;
- ``result``: the run result ``chant run --json`` prints;
- ``events``: one event of ``chant run --progress-json`` (one line of its JSON Lines);
- ``plan``: the plan ``chant plan NAME --json`` prints.

``chant schema NAME`` prints a schema's file as it is; ``load(NAME)`` reads it as data.
docs/how-to/schemas.md shows how to point an editor or CI at them.
"""

from __future__ import annotations

from typing import Any

NAMES = ("ir", "result", "events", "plan")
"""The schemas, in the order ``chant schema`` lists them."""


def text(name: str) -> str:
    """The schema ``name`` (one of ``NAMES``) as its file holds it: JSON text ending in a
    newline. A ``ValueError`` naming the known schemas for any other name."""
    from importlib import resources

    if name not in NAMES:
        raise ValueError(f"no schema {name!r} (one of: {', '.join(NAMES)})")
    return resources.files(__name__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")


def load(name: str) -> dict[str, Any]:
    """The schema ``name`` (one of ``NAMES``) as a dict, e.g. for
    ``jsonschema.Draft202012Validator(load("result")).validate(document)``."""
    import json

    schema: dict[str, Any] = json.loads(text(name))
    return schema
