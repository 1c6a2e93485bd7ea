"""``--progress-json``: one JSON object per event, flushed as it happens (step output:
as each chunk of it is read, the lines of the chunk in one write)."""

from __future__ import annotations

import json
from itertools import count
from json.encoder import encode_basestring
from typing import TextIO

from chant.events import EVENT_VERSION, Event, OutputLines
from chant.render import LineWriter, all_str, json_text

_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode
"""``json.dumps(value, ensure_ascii=False, default=str)``, without a new encoder per call."""


class JsonLinesRenderer:
    def __init__(self, stream: TextIO) -> None:
        self.write = LineWriter(stream)

    def __call__(self, event: Event) -> None:
        # Non-ASCII text stays readable; controls and bidi characters are escaped.
        self.write(json_text(json.dumps(event.to_dict(), ensure_ascii=False, default=str)))

    def output_lines(self, batch: OutputLines) -> None:
        """The events of ``batch``, each the very line ``__call__`` writes for it."""
        enc = _encode
        head = (
            f', "ts": {enc(batch.ts)}, "run_id": {enc(batch.run_id)}, "op": {enc(batch.op)}, '
            f'"step": {enc(batch.step)}, "stream": {enc(batch.stream)}, "line": '
        )
        start = f'{{"v": {EVENT_VERSION}, "type": "step_output", "seq": '
        lines = batch.lines
        # A str as the encoder writes one (with the same function), at C speed.
        shown = map(encode_basestring, lines) if all_str(lines) else map(enc, lines)
        texts = [f"{start}{seq}{head}{line}}}" for seq, line in zip(count(batch.seq), shown)]
        doc = "\n".join(texts)
        if doc.isascii():
            self.write.raw(doc + "\n")
        else:
            self.write.lines([json_text(text) for text in texts])
