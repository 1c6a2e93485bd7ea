"""``chant schema DOCUMENT``: print the JSON Schema of a document chant writes."""

from __future__ import annotations

import argparse
import sys

from chant.errors import ExitCode
from chant.schemas import text


def execute(args: argparse.Namespace) -> int:
    """Print schema ``args.document`` (ir, result, events or plan) exactly as its file
    in ``chant.schemas`` holds it, so ``chant schema ir > ir.schema.json`` is that file."""
    sys.stdout.write(text(args.document))
    return ExitCode.OK
