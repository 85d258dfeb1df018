"""Random requests, built from the service model, never get a 500.

For every DynamoDB and DynamoDB Streams operation the server implements, requests are
generated from the operation's input shape in ``model.json`` — members present or not,
wrong JSON types, nulls in structures, lists and maps, lengths and numbers at and past
their bounds, enum values and junk — and sent as raw JSON to the real server, half of
them naming an existing table. Every answer must be a 200 or a DynamoDB-shaped 400
(``__type`` plus a message): never a 500, a traceback or a dropped connection. The
generator is seeded, so a failure names a request that can be replayed.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from dynoxide_streams.engine.operations import OPERATIONS, STREAM_OPERATIONS
from dynoxide_streams.engine.shapes import _model
from tests.conftest import RawClient

PER_OPERATION = 40
OPAQUE = ("AttributeValue", "AttributeValueUpdate")
JUNK: list[Any] = [1, "s", True, [], {}, 1.5, [1], {"a": 1}, None]
STRINGS = ["", "a", "abc", "x" * 300, "A-b.c_d", "#n", ":v", "pk = :v", "SET a = :v"]
NUMBERS: list[Any] = [0, 1, -1, 5, 100, 1001, 10**12, 1.0, 2.5]


class Generator:
    def __init__(self, shapes: dict[str, Any], rng: random.Random, table: str) -> None:
        self.shapes, self.rng, self.table = shapes, rng, table

    def value(self, name: str, depth: int = 0) -> Any:
        rng = self.rng
        if name in OPAQUE:
            return rng.choice([{"S": "x"}, {"N": "1"}, {"SS": []}, "bad", None, {"Action": "PUT"}])
        shape = self.shapes[name]
        kind = shape["type"]
        roll = rng.random()
        if roll < 0.04:
            return None
        if roll < 0.08:
            return rng.choice(JUNK)
        if depth > 6:
            return None
        if kind == "structure":
            out: dict[str, Any] = {}
            required = shape.get("required", [])
            for member, member_shape in shape.get("members", {}).items():
                wanted = 0.9 if member in required else 0.5
                if rng.random() < wanted:
                    out[member] = self.value(member_shape, depth + 1)
            if "TableName" in out and rng.random() < 0.5:
                out["TableName"] = self.table
            return out
        if kind == "list":
            size = rng.choice([0, 1, 2, 3, 30])
            return [self.value(shape["member"], depth + 1) for _ in range(size)]
        if kind == "map":
            size = rng.choice([0, 1, 2, 30])
            keys = [self.table] if rng.random() < 0.5 else []
            keys += [f"k{i}" for i in range(size)]
            return {key: self.value(shape["value"], depth + 1) for key in keys[: size or 1]}
        if kind == "string":
            if "enum" in shape and rng.random() < 0.7:
                return rng.choice(shape["enum"])
            return rng.choice(STRINGS)
        if kind in ("integer", "long", "double"):
            return rng.choice(NUMBERS)
        if kind == "boolean":
            return rng.choice([True, False])
        if kind == "blob":
            return rng.choice(["YWJj", "not base64!"])
        return rng.choice(JUNK)


def _cases() -> list[Any]:
    model = _model()
    cases = []
    for prefix, implemented in (
        ("DynamoDB_20120810", OPERATIONS),
        ("DynamoDBStreams_20120810", STREAM_OPERATIONS),
    ):
        for operation in sorted(implemented):
            if operation in model[prefix]["operations"]:
                cases.append(pytest.param(prefix, operation, id=operation))
    return cases


@pytest.mark.parametrize(("prefix", "operation"), _cases())
def test_random_requests_get_a_dynamodb_shaped_answer(
    raw: RawClient, make_table: Any, prefix: str, operation: str
) -> None:
    model = _model()[prefix]
    table = make_table()
    rng = random.Random(f"{operation}-fuzz")
    generate = Generator(model["shapes"], rng, table)
    for n in range(PER_OPERATION):
        params = generate.value(model["operations"][operation])
        body = json.dumps(params)
        response = raw.request(body, f"{prefix}.{operation}")
        where = f"request {n} of {operation}: {body[:400]}"
        assert response.status in (200, 400), (where, response.status, response.body[:300])
        if response.status == 400:
            answer = response.json
            assert answer["__type"].rsplit("#", 1)[-1].endswith(("Exception", "Error")), where
            assert isinstance(answer.get("message", answer.get("Message")), str), where


def test_an_integral_json_number_is_an_integer(raw: RawClient, make_table: Any) -> None:
    """``"Limit": 1.0`` is the integer 1 (JSON has one number type; Coral reads
    ``1.0`` as an int), found by the fuzz above as a 500."""
    make_table()
    make_table()
    response = raw.request(json.dumps({"Limit": 1.0}), "DynamoDB_20120810.ListTables")
    assert response.status == 200, response.body
    assert len(response.json["TableNames"]) == 1
    assert "LastEvaluatedTableName" in response.json
