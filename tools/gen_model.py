"""Generate the service models ``engine/shapes.py`` validates requests against.

Writes ``dynoxide_streams/engine/model.json`` (DynamoDB and DynamoDB Streams, every
operation) and ``dynoxide_streams/engine/lambda_model.json`` (the Lambda event source
mapping operations the server serves): compact copies of botocore's models holding
only what validation reads (types, required members, lengths, ranges, enums,
patterns), so the checks and their order follow the service definition. Members bound
to the URI (``{UUID}``) are left out: they are path segments, not body members.
:data:`DEVIATIONS` lists, with reasons, where dynoxide-streams departs from the AWS
model on purpose; the generator applies them. Run with a Python that has botocore:

    python tools/gen_model.py
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore

DATA = Path(botocore.__file__).parent / "data"
TARGET = Path(__file__).resolve().parent.parent / "dynoxide_streams" / "engine"
KEEP = ("type", "required", "min", "max", "enum", "pattern", "member", "key", "value", "members")


@dataclass(frozen=True)
class Service:
    """One botocore service model and where its compact copy goes."""

    name: str
    version: str
    output: str
    operations: tuple[str, ...] | None = None  # None: every operation


SERVICES = {
    "DynamoDB_20120810": Service("dynamodb", "2012-08-10", "model.json"),
    "DynamoDBStreams_20120810": Service("dynamodbstreams", "2012-08-10", "model.json"),
    "Lambda_20150331": Service(
        "lambda",
        "2015-03-31",
        "lambda_model.json",
        (
            "CreateEventSourceMapping",
            "GetEventSourceMapping",
            "UpdateEventSourceMapping",
            "DeleteEventSourceMapping",
            "ListEventSourceMappings",
        ),
    ),
}

STREAM_ARN_IN_ANY_REGION = r"arn:aws[a-zA-Z0-9-]*:dynamodb:[^:]*:\d{12}:table/[^/]+/stream/.+"
"""The event sources triggers/mappings.py serves (its ``_STREAM_ARN``), in any region."""

# The order the event source mapping members are checked (and their violations listed)
# in; the other members follow in model order.
MAPPING_MEMBER_ORDER = (
    "FunctionName",
    "EventSourceArn",
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "ParallelizationFactor",
    "MaximumRecordAgeInSeconds",
    "MaximumRetryAttempts",
    "TumblingWindowInSeconds",
    "StartingPosition",
    "FunctionResponseTypes",
)


@dataclass(frozen=True)
class Deviation:
    """A deliberate departure from the AWS model: ``changes`` sets keys of one shape
    (None deletes the key; ``add`` adds members, ``order`` lists the members to check
    first) for ``reason``."""

    prefix: str
    shape: str
    changes: dict[str, Any]
    reason: str


DEVIATIONS = (
    Deviation(
        "Lambda_20150331",
        "Arn",
        {"alsoMatches": STREAM_ARN_IN_ANY_REGION},
        "An event source may be any stream the change source lists, also of engines "
        "whose region is not an AWS region (DynamoDB Local's `ddblocal`, Dynoxide's "
        "`dynoxide`); AWS's pattern admits AWS regions only. A listed stream whose ARN "
        "matches neither pattern is accepted too (triggers/runner.py checks the source "
        "first and validates it as a stand-in). Violations still quote AWS's pattern. "
        "Tested through boto3 on a sidecar over Dynoxide and over an upstream with a "
        "13-digit account (tests/wire/test_sidecar_engines.py).",
    ),
    Deviation(
        "Lambda_20150331",
        "DestinationArn",
        {"pattern": None},
        "OnFailure destinations may also be http(s) URLs (the trigger targets of this "
        "server); any other value is refused by triggers/mappings.py with Lambda's "
        "InvalidParameterValueException ('The provided destination config ... is invalid.'). "
        "Tested through boto3 on a sidecar over every engine (tests/wire/test_sidecar_engines.py).",
    ),
    Deviation(
        "Lambda_20150331",
        "Pattern",
        {"max": None},
        "An over-long filter pattern is refused by triggers/filters.py with Lambda's "
        "InvalidParameterValueException naming the filter and its length "
        "(tests/wire/test_triggers_oversized.py), as all filter pattern errors are.",
    ),
    Deviation(
        "Lambda_20150331",
        "CreateEventSourceMappingRequest",
        {"order": MAPPING_MEMBER_ORDER},
        "Violations are listed in the order this API has always listed them "
        "(tests/unit/test_trigger_mappings.py); the model lists StartingPosition "
        "before MaximumRetryAttempts.",
    ),
    Deviation(
        "Lambda_20150331",
        "UpdateEventSourceMappingRequest",
        {
            "add": {"EventSourceArn": "Arn", "StartingPosition": "EventSourcePosition"},
            "order": MAPPING_MEMBER_ORDER,
        },
        "Order: as for CreateEventSourceMappingRequest. EventSourceArn and "
        "StartingPosition cannot be updated, but this API has always checked them on "
        "Update as on Create (a wrong type or value is refused, not silently ignored).",
    ),
)


def load(service: Service) -> dict[str, Any]:
    path = DATA / service.name / service.version / "service-2.json.gz"
    model: dict[str, Any] = json.loads(gzip.decompress(path.read_bytes()))
    return model


def compact(shape: dict[str, Any]) -> dict[str, Any]:
    """The validation-relevant part of a botocore shape, references by name."""
    out = {k: shape[k] for k in KEEP if k in shape}
    for ref in ("member", "key", "value"):
        if ref in out:
            out[ref] = out[ref]["shape"]
    if "members" in out:
        out["members"] = {
            name: spec["shape"]
            for name, spec in out["members"].items()
            if spec.get("location") != "uri"
        }
        if "required" in out:
            out["required"] = [name for name in out["required"] if name in out["members"]]
            if not out["required"]:
                del out["required"]
    return out


def reachable(shapes: dict[str, Any], roots: list[str]) -> list[str]:
    """The shapes the ``roots`` refer to, directly or not, in model order."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = shapes[name]
        todo.extend(shape[ref] for ref in ("member", "key", "value") if ref in shape)
        todo.extend(shape.get("members", {}).values())
    return [name for name in shapes if name in seen]


def apply(shapes: dict[str, Any], deviation: Deviation) -> None:
    shape = shapes[deviation.shape]
    for key, value in deviation.changes.items():
        if key == "add":
            shape["members"] = shape["members"] | value
        elif key == "order":
            members = shape["members"]
            first = {name: members[name] for name in value if name in members}
            shape["members"] = first | {k: v for k, v in members.items() if k not in first}
        elif value is None:
            del shape[key]
        else:
            shape[key] = value


def build(prefix: str, service: Service) -> dict[str, Any]:
    model = load(service)
    shapes = {name: compact(shape) for name, shape in model["shapes"].items()}
    ops = {
        op: spec["input"]["shape"]
        for op, spec in model["operations"].items()
        if "input" in spec and (service.operations is None or op in service.operations)
    }
    if service.operations is not None:
        shapes = {name: shapes[name] for name in reachable(shapes, list(ops.values()))}
    for deviation in DEVIATIONS:
        if deviation.prefix == prefix:
            apply(shapes, deviation)
    return {"operations": ops, "shapes": shapes}


def main() -> None:
    outputs: dict[str, dict[str, Any]] = {}
    for prefix, service in SERVICES.items():
        outputs.setdefault(service.output, {})[prefix] = build(prefix, service)
    for name, content in outputs.items():
        target = TARGET / name
        target.write_text(json.dumps(content, separators=(",", ":")) + "\n")
        print(f"wrote {target} ({target.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
