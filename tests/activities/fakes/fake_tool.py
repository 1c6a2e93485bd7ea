"""A stand-in for ``kubectl`` and ``helm`` in tests: ``fake_tool.py TOOL ARGS...``.

Every call appends one JSON line ``{"tool", "argv", "pid", "cwd"}`` to the file named
by ``FAKE_TOOLS_LOG`` (``argv`` without the tool's name). What it does is read from the
environment variable ``FAKE_<TOOL>`` (e.g. ``FAKE_KUBECTL``): a JSON object keyed by the
first argument (``"apply"``, ``"rollout"``, ``"upgrade"``) or ``"*"``, each value a
behaviour ``{"stdout", "stderr", "exit", "sleep", "fail_first"}``:

- ``stdout`` / ``stderr``: text written (and flushed) first;
- ``sleep``: seconds to sleep afterwards (to hang, use a large number);
- ``exit``: the exit code (default 0);
- ``fail_first``: apply ``exit`` and ``stderr`` only to the first N calls of that
  tool and subcommand; later calls print the default output and exit 0.

Unless told what to print, a call that succeeds prints what the real tool prints on
success, and a failing one prints nothing on stdout.
"""

from __future__ import annotations

import json
import os
import sys
import time

DEFAULTS = {
    ("kubectl", "apply"): "deployment.apps/api configured\nservice/api unchanged\n",
    ("kubectl", "rollout"): 'deployment "api" successfully rolled out\n',
    ("helm", "upgrade"): 'Release "api" has been upgraded. Happy Helming!\nSTATUS: deployed\n',
}


def main() -> int:
    tool, argv = sys.argv[1], sys.argv[2:]
    sub = argv[0] if argv else ""
    log = os.environ.get("FAKE_TOOLS_LOG")
    earlier = 0
    if log:
        if os.path.exists(log):
            with open(log, encoding="utf-8") as f:
                for line in f:
                    call = json.loads(line)
                    earlier += call["tool"] == tool and call["argv"][:1] == [sub]
        with open(log, "a", encoding="utf-8") as f:
            record = {"tool": tool, "argv": argv, "pid": os.getpid(), "cwd": os.getcwd()}
            f.write(json.dumps(record) + "\n")
    plan = json.loads(os.environ.get(f"FAKE_{tool.upper()}", "{}"))
    behaviour = plan.get(sub, plan.get("*", {}))
    if "fail_first" in behaviour and earlier >= behaviour["fail_first"]:
        behaviour = {}
    failing = behaviour.get("exit", 0) != 0
    stdout = behaviour.get("stdout", "" if failing else DEFAULTS.get((tool, sub), ""))
    sys.stdout.write(stdout)
    sys.stdout.flush()
    sys.stderr.write(behaviour.get("stderr", ""))
    sys.stderr.flush()
    time.sleep(behaviour.get("sleep", 0))
    return int(behaviour.get("exit", 0))


if __name__ == "__main__":
    sys.exit(main())
