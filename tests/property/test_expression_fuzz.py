"""Random well-formed-ish expressions over the wire never get a 500.

A small grammar builds condition, filter, key-condition, projection and update
expressions — comparisons, BETWEEN, IN, every function, NOT/AND/OR, nested and
indexed paths, arithmetic, list_append, if_not_exists, SET/REMOVE/ADD/DELETE — and
pairs them with values of every type (numbers at the edges of DynamoDB's range,
empty strings, sets, lists, maps), so evaluation meets every type mismatch. Each
request goes raw to the real server against a seeded item; every answer must be a
200 or a DynamoDB-shaped 400. Seeded: a failure names a replayable request.
"""

from __future__ import annotations

import json
import random
from typing import Any

from tests.conftest import RawClient

REQUESTS = 800
VALUES: list[dict[str, Any]] = [
    {"S": "x"},
    {"S": ""},
    {"N": "1"},
    {"N": "-9E+125"},
    {"N": "9.99E+125"},
    {"SS": ["a"]},
    {"NS": ["1", "2"]},
    {"BS": ["YWJj"]},
    {"L": [{"N": "2"}]},
    {"L": []},
    {"M": {"y": {"S": "z"}}},
    {"M": {}},
    {"BOOL": True},
    {"NULL": True},
    {"B": "YWJj"},
]
PATHS = ["a", "#n", "m", "l", "m.y", "l[0]", "l[5]", "#x.y", "m.y.z", "l[1][0]", "nope", "ss"]
SEED_ITEM = {
    "pk": {"S": "a"},
    "sk": {"S": "1"},
    "m": {"M": {"y": {"S": "z"}}},
    "l": {"L": [{"N": "1"}, {"L": [{"S": "q"}]}]},
    "a": {"N": "5"},
    "ss": {"SS": ["a", "b"]},
}


class Grammar:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def path(self) -> str:
        return self.rng.choice(PATHS)

    def operand(self) -> str:
        roll = self.rng.random()
        if roll < 0.5:
            return self.rng.choice([":v", ":w"])
        if roll < 0.8:
            return self.path()
        return f"size({self.path()})"

    def condition(self, depth: int = 0) -> str:
        rng, roll = self.rng, self.rng.random()
        if depth < 2 and roll < 0.2:
            joiner = rng.choice(["AND", "OR"])
            return f"({self.condition(depth + 1)}) {joiner} {self.condition(depth + 1)}"
        if depth < 2 and roll < 0.27:
            return f"NOT {self.condition(depth + 1)}"
        if roll < 0.5:
            comparator = rng.choice(["=", "<>", "<", "<=", ">", ">="])
            return f"{self.operand()} {comparator} {self.operand()}"
        if roll < 0.6:
            return f"{self.operand()} BETWEEN {self.operand()} AND {self.operand()}"
        if roll < 0.7:
            return f"{self.operand()} IN ({self.operand()}, {self.operand()})"
        function = rng.choice(
            [
                "attribute_exists",
                "attribute_not_exists",
                "attribute_type",
                "begins_with",
                "contains",
            ]
        )
        if function in ("attribute_exists", "attribute_not_exists"):
            return f"{function}({self.path()})"
        return f"{function}({self.path()}, {self.operand()})"

    def value(self) -> str:
        roll = self.rng.random()
        if roll < 0.4:
            return self.operand()
        if roll < 0.6:
            return f"{self.operand()} {self.rng.choice(['+', '-'])} {self.operand()}"
        if roll < 0.8:
            return f"list_append({self.operand()}, {self.operand()})"
        return f"if_not_exists({self.path()}, {self.operand()})"

    def update(self) -> str:
        rng, parts = self.rng, []
        for clause in rng.sample(["SET", "REMOVE", "ADD", "DELETE"], rng.randint(1, 3)):
            if clause == "SET":
                assignments = (f"{self.path()} = {self.value()}" for _ in range(rng.randint(1, 3)))
                parts.append("SET " + ", ".join(assignments))
            elif clause == "REMOVE":
                parts.append("REMOVE " + ", ".join(self.path() for _ in range(rng.randint(1, 2))))
            else:
                parts.append(f"{clause} {self.path()} {rng.choice([':v', ':w'])}")
        return " ".join(parts)


def request(grammar: Grammar, table: str) -> tuple[str, dict[str, Any]]:
    rng = grammar.rng
    operation = rng.choice(["UpdateItem", "UpdateItem", "PutItem", "Query", "Scan", "DeleteItem"])
    params: dict[str, Any] = {"TableName": table}
    key = {"pk": {"S": "a"}, "sk": {"S": "1"}}
    if operation in ("UpdateItem", "DeleteItem"):
        params["Key"] = key
    if operation == "UpdateItem":
        params["UpdateExpression"] = grammar.update()
        params["ReturnValues"] = rng.choice(
            ["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"]
        )
    if operation == "PutItem":
        params["Item"] = {**key, "a": rng.choice(VALUES)}
    if operation in ("UpdateItem", "PutItem", "DeleteItem") and rng.random() < 0.5:
        params["ConditionExpression"] = grammar.condition()
    if operation == "Query":
        params["KeyConditionExpression"] = rng.choice(
            [
                "pk = :v",
                "pk = :v AND sk > :w",
                "pk = :v AND begins_with(sk, :w)",
                grammar.condition(),
            ]
        )
    if operation in ("Query", "Scan"):
        if rng.random() < 0.7:
            params["FilterExpression"] = grammar.condition()
        if rng.random() < 0.4:
            params["ProjectionExpression"] = ", ".join(grammar.path() for _ in range(2))
    used = json.dumps(params)
    names = {k: v for k, v in {"#n": "a", "#x": "m"}.items() if k in used}
    values = {k: rng.choice(VALUES) for k in (":v", ":w") if k in used}
    if names:
        params["ExpressionAttributeNames"] = names
    if values:
        params["ExpressionAttributeValues"] = values
    return operation, params


def test_random_expressions_get_a_dynamodb_shaped_answer(raw: RawClient, make_table: Any) -> None:
    table = make_table()
    rng = random.Random("expression-fuzz")
    grammar = Grammar(rng)
    answered: dict[int, int] = {}
    for n in range(REQUESTS):
        if n % 50 == 0:  # updates and deletes wear the item down: put it back
            seed = {"TableName": table, "Item": SEED_ITEM}
            assert raw.call("PutItem", seed).status == 200
        operation, params = request(grammar, table)
        response = raw.call(operation, params)
        where = f"request {n}: {operation} {json.dumps(params)[:500]}"
        assert response.status in (200, 400), (where, response.status, response.body[:300])
        if response.status == 400:
            assert response.error_type.endswith("Exception"), where
        answered[response.status] = answered.get(response.status, 0) + 1
    # the grammar reaches evaluation, not only the parser: both outcomes are common
    assert answered.get(200, 0) > REQUESTS // 10, answered
    assert answered.get(400, 0) > REQUESTS // 10, answered
