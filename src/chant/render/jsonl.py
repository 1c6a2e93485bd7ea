"""``--progress-json``: one JSON object per event, flushed as it happens."""

from __future__ import annotations

import json
from typing import TextIO

from chant.events import Event
from chant.render import LineWriter, json_text


class JsonLinesRenderer:
    def __init__(self, stream: TextIO) -> None:
        self.write = LineWriter(stream)

    def __call__(self, event: Event) -> None:
        # Non-ASCII text stays readable; controls and bidi characters are escaped.
        self.write(json_text(json.dumps(event.to_dict(), ensure_ascii=False, default=str)))
