"""``chant plan NAME``: what a run would do, without running anything (also ``chant run
NAME --dry-run``). An adapter over ``chant.api.planning.plan_of``."""

from __future__ import annotations

import argparse
import sys

from chant.api.planning import plan_of
from chant.cli.run import _say
from chant.errors import ExitCode
from chant.render import LineWriter


def execute(args: argparse.Namespace) -> int:
    """Print the plan of the Op called NAME with the values given, as text (default),
    JSON, Mermaid or Graphviz DOT."""
    doc = plan_of(
        args.name,
        param_args=args.params,
        params_file=args.params_file,
        no_retry=args.no_retry,
        say=_say,
    )
    if args.as_json:
        import json

        from chant.render import json_text

        text = json_text(json.dumps(doc, indent=2, ensure_ascii=False)) + "\n"
    elif args.mermaid or args.dot:
        from chant.render import graph

        text = graph.mermaid(doc) if args.mermaid else graph.dot(doc)
    else:
        from chant.render.plantext import plan_text

        text = plan_text(doc)
    LineWriter(sys.stdout).raw(text)
    return ExitCode.OK
