"""Generate dynoxide_streams/wire/model.json from botocore's service models.

The wire layer validates request shapes (types, required members, lengths, ranges,
enums, patterns) against this compact copy of the AWS model, so its checks and their
order follow the service definition. Run with a Python that has botocore installed:

    python tools/gen_model.py
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import botocore

DATA = Path(botocore.__file__).parent / "data"
SERVICES = {"DynamoDB_20120810": "dynamodb", "DynamoDBStreams_20120810": "dynamodbstreams"}
KEEP = ("type", "required", "min", "max", "enum", "pattern", "member", "key", "value", "members")


def load(service: str) -> dict:
    path = DATA / service / "2012-08-10" / "service-2.json.gz"
    return json.loads(gzip.decompress(path.read_bytes()))


def main() -> None:
    out: dict[str, dict] = {}
    for prefix, service in SERVICES.items():
        model = load(service)
        shapes = {}
        for name, shape in model["shapes"].items():
            compact = {k: shape[k] for k in KEEP if k in shape}
            for ref in ("member", "key", "value"):
                if ref in compact:
                    compact[ref] = compact[ref]["shape"]
            if "members" in compact:
                compact["members"] = {m: spec["shape"] for m, spec in compact["members"].items()}
            shapes[name] = compact
        ops = {
            op: spec["input"]["shape"]
            for op, spec in model["operations"].items()
            if "input" in spec
        }
        out[prefix] = {"operations": ops, "shapes": shapes}
    target = Path(__file__).resolve().parent.parent / "dynoxide_streams" / "wire" / "model.json"
    target.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {target} ({target.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
