"""``--progress-json``: one JSON object per event, flushed as it happens."""

from __future__ import annotations

import json
from typing import TextIO

from chant.events import Event


class JsonLinesRenderer:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def __call__(self, event: Event) -> None:
        self.stream.write(json.dumps(event.to_dict(), ensure_ascii=False, default=str) + "\n")
        self.stream.flush()
