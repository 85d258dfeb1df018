#!/usr/bin/env python3
"""Cost of the request shape checks (``engine/shapes.py``) in-process, per request.

    .venv/bin/python bench/shapes.py [--requests 4000]

Validates a 25-item BatchWriteItem body (items as ``loadgen.py`` writes them) and a
PutItem body against the service model, as the server does before every operation,
and prints one JSON line: microseconds per request for each. No server involved, so
the figure is this project's only (compare it between commits, not between servers).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from dynoxide_streams.engine.shapes import validate_request

PREFIX = "DynamoDB_20120810"


def item(i: int) -> dict[str, Any]:
    return {
        "pk": {"S": f"p{i}"},
        "sk": {"S": f"b{i:02d}"},
        "payload": {"S": "x" * 148},
        "n": {"N": "42"},
        "active": {"BOOL": True},
        "category": {"S": "c1"},
    }


def per_request_us(operation: str, params: dict[str, Any], requests: int) -> float:
    validate_request(PREFIX, operation, params)  # compile and warm up
    started = time.perf_counter()
    for _ in range(requests):
        validate_request(PREFIX, operation, params)
    return round((time.perf_counter() - started) / requests * 1e6, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    batch = {
        "RequestItems": {"bench_table": [{"PutRequest": {"Item": item(i)}} for i in range(25)]}
    }
    put = {"TableName": "bench_table", "Item": item(0)}
    print(
        json.dumps(
            {
                "bench": "shapes",
                "requests": args.requests,
                "batch_write_item_us": per_request_us("BatchWriteItem", batch, args.requests),
                "put_item_us": per_request_us("PutItem", put, args.requests * 10),
            }
        )
    )


if __name__ == "__main__":
    main()
