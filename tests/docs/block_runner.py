"""The child process that runs a document's Python blocks for ``test_readme.py``.

All Python blocks of one document run in this one process, one after another, in one
shared namespace (``__name__ == "__main__"``), as if a reader pasted them into one
interpreter session: a later block may use what an earlier one defined (``ddb``).

Protocol, one JSON object per line: the parent writes ``{"name", "code"}`` on stdin;
the child answers ``{"ok": true}`` or ``{"ok": false, "error": TRACEBACK}`` on the file
descriptor that was its stdout when it started. Everything the blocks print (file
descriptor 1 included, so child processes too) goes to stderr, the parent's log file.
"""

from __future__ import annotations

import json
import linecache
import os
import sys
import traceback
from typing import Any


def main() -> None:
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the blocks' own output goes to the log, not into the protocol
    sys.stdout = sys.stderr
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    for line in sys.stdin:
        request = json.loads(line)
        print(f"===== {request['name']}", flush=True)
        code = request["code"]
        linecache.cache[request["name"]] = (len(code), None, code.splitlines(True), request["name"])
        try:
            exec(compile(code, request["name"], "exec"), namespace)
        except BaseException:
            answer = {"ok": False, "error": traceback.format_exc()}
        else:
            answer = {"ok": True}
        sys.stdout.flush()
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
