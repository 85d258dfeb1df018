"""A ``cmd:`` function: the Lambda event on stdin, one line per record appended to a file.

    echo_handler.py OUTFILE [--exit-code N] [--hang SECONDS] [--pid-file FILE]

Each line appended to OUTFILE is JSON: ``{"seq": SequenceNumber, "key": <first key
attribute's value>, "name": eventName, "ppid": pid of the invoking server}``; a batch's
lines go in one ``write`` (O_APPEND), so concurrent invocations never interleave.
Prints ``{}`` (a successful, empty response) and exits with ``--exit-code`` (default 0).
``--hang`` sleeps before reading the event (after appending its pid to ``--pid-file``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("outfile")
    parser.add_argument("--exit-code", type=int, default=0)
    parser.add_argument("--hang", type=float, default=0.0)
    parser.add_argument("--pid-file")
    args = parser.parse_args()
    parent = os.getppid()
    if args.pid_file:
        with open(args.pid_file, "a", encoding="utf-8") as pids:
            pids.write(f"{os.getpid()}\n")
    if args.hang:
        time.sleep(args.hang)
    event = json.load(sys.stdin)
    lines = []
    for record in event["Records"]:
        keys = record["dynamodb"]["Keys"]
        first = keys[sorted(keys)[0]]
        line = {
            "seq": record["dynamodb"]["SequenceNumber"],
            "key": next(iter(first.values())),
            "name": record["eventName"],
            "ppid": parent,
        }
        lines.append(json.dumps(line) + "\n")
    fd = os.open(args.outfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, "".join(lines).encode())
    finally:
        os.close(fd)
    try:
        print("{}", flush=True)
    except BrokenPipeError:  # the invoker gave up on this invocation (cancelled)
        os.close(sys.stdout.fileno())
    return args.exit_code


if __name__ == "__main__":
    sys.exit(main())
