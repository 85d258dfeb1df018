"""Bad input over the wire: every refused request gets AWS's error and changes nothing.

Each case sends one malformed or invalid request to the real server with the raw JSON
client and checks the exact error body (``__type`` with its namespace, HTTP 400, and
the message), then checks that nothing changed: the seeded table's description
(ItemCount, TableSizeBytes, …) and its full contents are identical, a table that
should not exist still does not.

Expected messages come from the DynamoDB documentation and from captures of real
DynamoDB (dynalite's test suite, checked against AWS, and later per-region captures).
AWS is rolling out a ``1 validation error detected: `` envelope around many of its
bespoke messages region by region; :func:`core` accepts a message bare or enveloped,
and nothing else. Where AWS's exact text is not known, only a stable part is pinned.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import RawClient

CORAL_VALIDATE = "com.amazon.coral.validate"
CORAL_SERVICE = "com.amazon.coral.service"
DYNAMODB = "com.amazonaws.dynamodb.v20120810"
NAMESPACES = {
    "ValidationException": CORAL_VALIDATE,
    "SerializationException": CORAL_SERVICE,
    "UnknownOperationException": CORAL_SERVICE,
    "ResourceNotFoundException": DYNAMODB,
    "ResourceInUseException": DYNAMODB,
}
ENVELOPE = "1 validation error detected: "
MAP_OF_ATTRIBUTE_VALUES = (
    "Unrecognized collection type java.util.Map<java.lang.String, "
    "com.amazonaws.dynamodb.v20120810.AttributeValue>"
)  # AWS 2020: https://github.com/JuliaCloud/AWS.jl/issues/246
INVALID = "One or more parameter values were invalid: "


# ------------------------------------------------------------------ message matchers


@dataclass(frozen=True)
class Message:
    """What the error message must be; ``check`` says whether a message matches."""

    description: str
    check: Callable[[str], bool] = field(compare=False)

    def __repr__(self) -> str:
        return self.description


def exact(text: str) -> Message:
    return Message(f"== {text!r}", lambda m: m == text)


def core(text: str) -> Message:
    """AWS's bespoke message, bare or inside the ``1 validation error detected:`` envelope."""
    return Message(f"== {text!r} (or enveloped)", lambda m: m in (text, ENVELOPE + text))


def contains(*parts: str) -> Message:
    return Message(f"contains {parts!r}", lambda m: all(p in m for p in parts))


def mentions(member: str) -> Message:
    """Names the member (any case): for refusals whose exact AWS wording is unknown."""
    return Message(f"mentions {member!r}", lambda m: member.lower() in m.lower())


def one_of(*texts: str) -> Message:
    return Message(f"one of {texts!r}", lambda m: m in texts)


def coral(value: str, path: str, constraint: str) -> Message:
    """A single Coral shape-constraint violation."""
    return exact(
        f"{ENVELOPE}Value '{value}' at '{path}' failed to satisfy constraint: {constraint}"
    )


def coral_null(path: str) -> Message:
    return exact(
        f"{ENVELOPE}Value null at '{path}' failed to satisfy constraint: Member must not be null"
    )


def coral_enum(value: str, path: str, members: Sequence[str]) -> Message:
    """A Coral enum violation. AWS prints the members in Java hash-set order, which is
    not the documented order, so the set is compared, not its order."""
    prefix = (
        f"{ENVELOPE}Value '{value}' at '{path}' failed to satisfy constraint: "
        "Member must satisfy enum value set: ["
    )

    def check(message: str) -> bool:
        if not message.startswith(prefix) or not message.endswith("]"):
            return False
        return sorted(message[len(prefix) : -1].split(", ")) == sorted(members)

    return Message(f"{prefix}<any order of {sorted(members)}>]", check)


def limit_below_1(value: str) -> Message:
    """Coral's Limit >= 1 violation; captures show both ``Value '0' at 'limit'`` and
    ``Value at 'Limit'`` depending on the region."""
    return one_of(
        f"{ENVELOPE}Value '{value}' at 'limit' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1",
        f"{ENVELOPE}Value at 'Limit' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1",
    )


def table_name_length(name: str, path: str = "tableName") -> Message:
    """DynamoDB's own table-name check, or (newer regions) Coral's length constraint."""
    bound = (
        "Member must have length greater than or equal to 3"
        if len(name) < 3
        else "Member must have length less than or equal to 255"
    )
    return one_of(
        "TableName must be at least 3 characters long and at most 255 characters long",
        f"{ENVELOPE}Value '{name}' at '{path}' failed to satisfy constraint: {bound}",
    )


def assert_error(response: Any, error: str, message: Message | None) -> None:
    assert response.status == 400, (response.status, response.body[:500])
    body = response.json
    assert body["__type"] == f"{NAMESPACES[error]}#{error}", body
    if message is not None:
        assert message.check(response.message), (
            f"message {response.message!r} does not match {message!r}"
        )


# ------------------------------------------------------------------------ fixtures

SEED_KEY = {"pk": {"S": "seed"}, "sk": {"S": "0"}}
SEED = {
    **SEED_KEY,
    "v": {"N": "1"},
    "s": {"S": "text"},
    "ss": {"SS": ["a", "b"]},
    "l": {"L": [{"S": "x"}]},
    "m": {"M": {"x": {"N": "1"}}},
    "big": {"N": "9E+125"},
}
NEW_KEY = {"pk": {"S": "new"}, "sk": {"S": "1"}}


def new_item(**attributes: Any) -> dict[str, Any]:
    return {**NEW_KEY, **attributes}


def snapshot(raw: RawClient, table: str) -> tuple[Any, Any]:
    """Everything a client can observe of a table: its description and its items."""
    described = raw.call("DescribeTable", {"TableName": table})
    assert described.status == 200, described.body
    scanned = raw.call("Scan", {"TableName": table, "ConsistentRead": True})
    assert scanned.status == 200, scanned.body
    return described.json["Table"], sorted(scanned.json["Items"], key=json.dumps)


@pytest.fixture
def seeded(raw: RawClient, make_table: Callable[..., str]) -> str:
    """A pk/sk table holding exactly SEED."""
    name = make_table()
    assert raw.call("PutItem", {"TableName": name, "Item": SEED}).status == 200
    return name


def missing_name() -> str:
    return f"missing_{uuid.uuid4().hex[:12]}"


def assert_table_absent(raw: RawClient, name: str) -> None:
    response = raw.call("DescribeTable", {"TableName": name})
    assert_error(
        response,
        "ResourceNotFoundException",
        exact(f"Requested resource not found: Table: {name} not found"),
    )


@dataclass(frozen=True)
class Bad:
    """One bad request against the seeded table ``t``."""

    op: str
    request: Callable[[str], Any]
    error: str
    message: Message | None


def case(
    id: str, op: str, request: Callable[[str], Any], error: str, message: Message | None
) -> Any:
    return pytest.param(Bad(op, request, error, message), id=id)


def run_case(raw: RawClient, table: str, bad: Bad) -> None:
    before = snapshot(raw, table)
    response = raw.call(bad.op, bad.request(table))
    assert_error(response, bad.error, bad.message)
    assert snapshot(raw, table) == before


def cond_put(condition: str, **extra: Any) -> Callable[[str], Any]:
    return lambda t: {
        "TableName": t,
        "Item": new_item(),
        "ConditionExpression": condition,
        **extra,
    }


def update(
    expression: str, key: dict[str, Any] | None = None, **extra: Any
) -> Callable[[str], Any]:
    return lambda t: {
        "TableName": t,
        "Key": key or SEED_KEY,
        "UpdateExpression": expression,
        **extra,
    }


def put(item: dict[str, Any], **extra: Any) -> Callable[[str], Any]:
    return lambda t: {"TableName": t, "Item": item, **extra}


def put_attr(value: Any) -> Callable[[str], Any]:
    return put(new_item(a=value))


def query(
    kce: str | None, values: dict[str, Any] | None = None, **extra: Any
) -> Callable[[str], Any]:
    def build(t: str) -> dict[str, Any]:
        request: dict[str, Any] = {"TableName": t, **extra}
        if kce is not None:
            request["KeyConditionExpression"] = kce
        if values is not None:
            request["ExpressionAttributeValues"] = values
        return request

    return build


PK_V = {":v": {"S": "seed"}}
N1 = {"N": "1"}


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(depth):
        value = {"M": {"n": value}}
    return value


# ------------------------------------------------------- JSON types (SerializationException)

SERIALIZATION_CASES = [
    case(
        "put-tablename-number",
        "PutItem",
        lambda t: {"TableName": 123, "Item": new_item()},
        "SerializationException",
        contains("NUMBER_VALUE cannot be converted to String"),
    ),
    case(
        "put-item-list",
        "PutItem",
        lambda t: {"TableName": t, "Item": [new_item()]},
        "SerializationException",
        exact(MAP_OF_ATTRIBUTE_VALUES),
    ),
    case(
        "get-key-string",
        "GetItem",
        lambda t: {"TableName": t, "Key": "pk=seed"},
        "SerializationException",
        None,
    ),
    case(
        "query-limit-string",
        "Query",
        query("pk = :v", PK_V, Limit="5"),
        "SerializationException",
        exact("STRING_VALUE cannot be converted to Integer"),
    ),
    case(
        "get-consistentread-string",
        "GetItem",
        lambda t: {"TableName": t, "Key": SEED_KEY, "ConsistentRead": "dog"},
        "SerializationException",
        exact("Unexpected token received from parser"),
    ),
    case(
        "put-S-value-number",
        "PutItem",
        put_attr({"S": 5}),
        "SerializationException",
        contains("NUMBER_VALUE cannot be converted to String"),
    ),
    case(
        "put-BOOL-value-string",
        "PutItem",
        put_attr({"BOOL": "true"}),
        "SerializationException",
        contains("Boolean"),
    ),
    case("put-L-value-string", "PutItem", put_attr({"L": "x"}), "SerializationException", None),
    case(
        "put-returnvalues-number",
        "PutItem",
        put(new_item(), ReturnValues=1),
        "SerializationException",
        contains("NUMBER_VALUE cannot be converted to String"),
    ),
    case(
        "scan-totalsegments-string",
        "Scan",
        lambda t: {"TableName": t, "Segment": 0, "TotalSegments": "2"},
        "SerializationException",
        exact("STRING_VALUE cannot be converted to Integer"),
    ),
    case(
        "update-eav-list",
        "UpdateItem",
        update("SET a = :v", ExpressionAttributeValues=[{":v": N1}]),
        "SerializationException",
        exact(MAP_OF_ATTRIBUTE_VALUES),
    ),
    case(
        "query-scanindexforward-string",
        "Query",
        query("pk = :v", PK_V, ScanIndexForward="backwards"),  # AWS reads "no" as false
        "SerializationException",
        exact("Unexpected token received from parser"),
    ),
    case(
        "put-bad-base64",
        "PutItem",
        put_attr({"B": "!!not base64!!"}),
        "SerializationException",
        None,
    ),
]


@pytest.mark.parametrize("bad", SERIALIZATION_CASES)
def test_wrong_json_type_is_serialization_exception(raw: RawClient, seeded: str, bad: Bad) -> None:
    run_case(raw, seeded, bad)


# ------------------------------------------------------------ Coral shape constraints

LONG_NAME = "a" * 256

SHAPE_CASES = [
    case(
        "put-no-tablename-no-item",
        "PutItem",
        lambda t: {},
        "ValidationException",
        exact(
            "2 validation errors detected: "
            "Value null at 'tableName' failed to satisfy constraint: Member must not be null; "
            "Value null at 'item' failed to satisfy constraint: Member must not be null"
        ),
    ),
    case(
        "put-no-item",
        "PutItem",
        lambda t: {"TableName": t},
        "ValidationException",
        coral_null("item"),
    ),
    case(
        "get-no-key",
        "GetItem",
        lambda t: {"TableName": t},
        "ValidationException",
        coral_null("key"),
    ),
    case(
        "update-no-key",
        "UpdateItem",
        lambda t: {"TableName": t, "UpdateExpression": "REMOVE v"},
        "ValidationException",
        coral_null("key"),
    ),
    case(
        "delete-no-tablename",
        "DeleteItem",
        lambda t: {"Key": SEED_KEY},
        "ValidationException",
        coral_null("tableName"),
    ),
    case(
        "query-no-tablename",
        "Query",
        lambda t: {"KeyConditionExpression": "pk = :v", "ExpressionAttributeValues": PK_V},
        "ValidationException",
        coral_null("tableName"),
    ),
    case(
        "query-limit-0",
        "Query",
        query("pk = :v", PK_V, Limit=0),
        "ValidationException",
        limit_below_1("0"),
    ),
    case(
        "scan-limit-negative",
        "Scan",
        lambda t: {"TableName": t, "Limit": -5},
        "ValidationException",
        limit_below_1("-5"),
    ),
    case(
        "scan-totalsegments-0",
        "Scan",
        lambda t: {"TableName": t, "Segment": 0, "TotalSegments": 0},
        "ValidationException",
        coral("0", "totalSegments", "Member must have value greater than or equal to 1"),
    ),
    case(
        "scan-segment-negative",
        "Scan",
        lambda t: {"TableName": t, "Segment": -1, "TotalSegments": 2},
        "ValidationException",
        coral("-1", "segment", "Member must have value greater than or equal to 0"),
    ),
    case(
        "scan-totalsegments-too-many",
        "Scan",
        lambda t: {"TableName": t, "Segment": 0, "TotalSegments": 1000001},
        "ValidationException",
        coral("1000001", "totalSegments", "Member must have value less than or equal to 1000000"),
    ),
    case(
        "listtables-limit-101",
        "ListTables",
        lambda t: {"Limit": 101},
        "ValidationException",
        coral("101", "limit", "Member must have value less than or equal to 100"),
    ),
    case(
        "listtables-limit-0",
        "ListTables",
        lambda t: {"Limit": 0},
        "ValidationException",
        coral("0", "limit", "Member must have value greater than or equal to 1"),
    ),
    case(
        "put-returnvalues-bogus",
        "PutItem",
        put(new_item(), ReturnValues="BOGUS"),
        "ValidationException",
        coral_enum(
            "BOGUS", "returnValues", ["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"]
        ),
    ),
    case(
        "update-returnvalues-bogus",
        "UpdateItem",
        update("SET a = :v", ExpressionAttributeValues={":v": N1}, ReturnValues="BOGUS"),
        "ValidationException",
        coral_enum(
            "BOGUS", "returnValues", ["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"]
        ),
    ),
    case(
        "query-select-nope",
        "Query",
        query("pk = :v", PK_V, Select="NOPE"),
        "ValidationException",
        coral_enum(
            "NOPE",
            "select",
            ["ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "SPECIFIC_ATTRIBUTES", "COUNT"],
        ),
    ),
    case(
        "scan-select-nope",
        "Scan",
        lambda t: {"TableName": t, "Select": "NOPE"},
        "ValidationException",
        coral_enum(
            "NOPE",
            "select",
            ["ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES", "SPECIFIC_ATTRIBUTES", "COUNT"],
        ),
    ),
    case(
        "put-returnconsumedcapacity-all",
        "PutItem",
        put(new_item(), ReturnConsumedCapacity="ALL"),
        "ValidationException",
        coral_enum("ALL", "returnConsumedCapacity", ["INDEXES", "TOTAL", "NONE"]),
    ),
    case(
        "delete-returnitemcollectionmetrics-all",
        "DeleteItem",
        lambda t: {"TableName": t, "Key": SEED_KEY, "ReturnItemCollectionMetrics": "ALL"},
        "ValidationException",
        coral_enum("ALL", "returnItemCollectionMetrics", ["SIZE", "NONE"]),
    ),
    case(
        "put-returnvaluesonconditioncheckfailure-new",
        "PutItem",
        put(new_item(), ReturnValuesOnConditionCheckFailure="NEW"),
        "ValidationException",
        coral_enum("NEW", "returnValuesOnConditionCheckFailure", ["ALL_OLD", "NONE"]),
    ),
    case(
        "put-tablename-bad-chars",
        "PutItem",
        lambda t: {"TableName": "bad table!@#", "Item": new_item()},
        "ValidationException",
        coral(
            "bad table!@#",
            "tableName",
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ),
    ),
    case(
        "get-tablename-empty",
        "GetItem",
        lambda t: {"TableName": "", "Key": SEED_KEY},
        "ValidationException",
        contains(
            "failed to satisfy constraint: Member must have length greater than or equal to 1"
        ),
    ),
    case(
        "put-tablename-256",
        "PutItem",
        lambda t: {"TableName": LONG_NAME, "Item": new_item()},
        "ValidationException",
        table_name_length(LONG_NAME),
    ),
    case(
        "describe-tablename-2",
        "DescribeTable",
        lambda t: {"TableName": "ab"},
        "ValidationException",
        table_name_length("ab"),
    ),
]


@pytest.mark.parametrize("bad", SHAPE_CASES)
def test_shape_constraint_violation(raw: RawClient, seeded: str, bad: Bad) -> None:
    run_case(raw, seeded, bad)


# A JSON null where the model has a structure, list or map — as an element of a list or
# a value of a map — is read as an empty one, so its own constraints answer (boto3
# never sends these; raw JSON can, and used to get a 500).
NULL_ELEMENT_CASES = [
    case(
        "batch-write-null-table-requests",
        "BatchWriteItem",
        lambda t: {"RequestItems": {t: None}},
        "ValidationException",
        contains(
            "=[]}' at 'requestItems' failed to satisfy constraint: Map value must satisfy "
            "constraint: [Member must have length less than or equal to 25, Member must have "
            "length greater than or equal to 1]"
        ),
    ),
    case(
        "batch-write-null-request",
        "BatchWriteItem",
        lambda t: {"RequestItems": {t: [None]}},
        "ValidationException",
        exact(
            "One or more parameter values were invalid: A WriteRequest must contain exactly "
            "one of PutRequest or DeleteRequest"
        ),
    ),
    case(
        "batch-get-null-table-keys",
        "BatchGetItem",
        lambda t: {"RequestItems": {t: None}},
        "ValidationException",
        contains(".member.keys' failed to satisfy constraint: Member must not be null"),
    ),
    case(
        "transact-write-null-item",
        "TransactWriteItems",
        lambda t: {"TransactItems": [None]},
        "ValidationException",
        exact("TransactItems can only contain one of Check, Put, Update or Delete"),
    ),
    case(
        "transact-get-null-item",
        "TransactGetItems",
        lambda t: {"TransactItems": [None]},
        "ValidationException",
        coral_null("transactItems.1.member.get"),
    ),
    case(
        "create-table-null-definitions",
        "CreateTable",
        lambda t: {
            "TableName": missing_name(),
            "AttributeDefinitions": [None],
            "KeySchema": [None],
            "BillingMode": "PAY_PER_REQUEST",
        },
        "ValidationException",
        contains(
            "4 validation errors detected: ",
            "Value null at 'attributeDefinitions.1.member.attributeName'",
            "Value null at 'keySchema.1.member.keyType'",
        ),
    ),
    case(
        "update-table-null-index-update",
        "UpdateTable",
        lambda t: {"TableName": t, "GlobalSecondaryIndexUpdates": [None]},
        "ValidationException",
        contains("One of GlobalSecondaryIndexUpdate.Create, Update or Delete must be specified"),
    ),
]


@pytest.mark.parametrize("bad", NULL_ELEMENT_CASES)
def test_null_list_elements_and_map_values_are_refused_not_500(
    raw: RawClient, seeded: str, bad: Bad
) -> None:
    run_case(raw, seeded, bad)


# ------------------------------------------------------------------ AttributeValues

EMPTY_AV = "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
MULTI_AV = (
    "Supplied AttributeValue has more than one datatypes set, "
    "must contain exactly one of the supported datatypes"
)

ATTRIBUTE_VALUE_CASES = [
    case("empty-av", "PutItem", put_attr({}), "ValidationException", core(EMPTY_AV)),
    case(
        "two-types",
        "PutItem",
        put_attr({"S": "a", "N": "1"}),
        "ValidationException",
        core(MULTI_AV),
    ),
    case(
        "unknown-type-only",
        "PutItem",
        put_attr({"SZ": "a"}),
        "ValidationException",
        core(EMPTY_AV),
    ),
    case(
        "null-false",
        "PutItem",
        put_attr({"NULL": False}),
        "ValidationException",
        contains(INVALID + "Null attribute value types must have the value of true"),
    ),
    case(
        "empty-SS",
        "PutItem",
        put_attr({"SS": []}),
        "ValidationException",
        core(INVALID + "An string set  may not be empty"),
    ),
    case(
        "empty-NS",
        "PutItem",
        put_attr({"NS": []}),
        "ValidationException",
        core(INVALID + "An number set  may not be empty"),
    ),
    case(
        "empty-BS",
        "PutItem",
        put_attr({"BS": []}),
        "ValidationException",
        core(INVALID + "Binary sets should not be empty"),
    ),
    case(
        "duplicate-SS",
        "PutItem",
        put_attr({"SS": ["a", "a"]}),
        "ValidationException",
        one_of(
            *(
                p + INVALID + f"Input collection {c} contains duplicates."
                for p in ("", ENVELOPE)
                for c in ("[a, a]", '["a", "a"]')
            )
        ),
    ),
    case(
        "duplicate-BS",
        "PutItem",
        put_attr({"BS": ["Yg==", "Yg=="]}),
        "ValidationException",
        contains(INVALID + "Input collection", "of type BS contains duplicates"),
    ),
    case(
        "number-not-numeric",
        "PutItem",
        put_attr({"N": "abc"}),
        "ValidationException",
        contains("The parameter cannot be converted to a numeric value"),
    ),
    case(
        "NS-member-not-numeric",
        "PutItem",
        put_attr({"NS": ["1", "x"]}),
        "ValidationException",
        contains("The parameter cannot be converted to a numeric value"),
    ),
    case(
        "number-39-digits",
        "PutItem",
        put_attr({"N": "1" * 39}),
        "ValidationException",
        core("Attempting to store more than 38 significant digits in a Number"),
    ),
    case(
        "number-overflow",
        "PutItem",
        put_attr({"N": "1E+126"}),
        "ValidationException",
        core(
            "Number overflow. Attempting to store a number with magnitude larger than supported range"
        ),
    ),
    case(
        "number-underflow",
        "PutItem",
        put_attr({"N": "1E-131"}),
        "ValidationException",
        core(
            "Number underflow. Attempting to store a number with magnitude smaller than supported range"
        ),
    ),
    case(
        "empty-av-inside-map",
        "PutItem",
        put_attr({"M": {"inner": {"L": [{}]}}}),
        "ValidationException",
        core(EMPTY_AV),
    ),
    case(
        "two-types-inside-list",
        "PutItem",
        put_attr({"L": [{"S": "ok"}, {"BOOL": True, "NULL": True}]}),
        "ValidationException",
        core(MULTI_AV),
    ),
    case(
        "nested-33-levels",
        "PutItem",
        put_attr(nested(33)),
        "ValidationException",
        contains("Nesting Levels have exceeded supported limits"),
    ),
    case(
        "empty-attribute-name",
        "PutItem",
        put({**new_item(), "": {"S": "x"}}),
        "ValidationException",
        None,
    ),
]


@pytest.mark.parametrize("bad", ATTRIBUTE_VALUE_CASES)
def test_invalid_attribute_value(raw: RawClient, seeded: str, bad: Bad) -> None:
    run_case(raw, seeded, bad)


# ------------------------------------------------------------------------ keys

NO_MATCH = exact("The provided key element does not match the schema")
EMPTY_KEY = "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: {}"
HASH_TOO_BIG = core(INVALID + "Size of hashkey has exceeded the maximum size limit of2048 bytes")
RANGE_TOO_BIG = core(
    INVALID + "Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
)

KEY_CASES = [
    case(
        "put-missing-range-key",
        "PutItem",
        put({"pk": {"S": "new"}, "a": N1}),
        "ValidationException",
        core(INVALID + "Missing the key sk in the item"),
    ),
    case(
        "put-missing-hash-key",
        "PutItem",
        put({"sk": {"S": "1"}, "a": N1}),
        "ValidationException",
        core(INVALID + "Missing the key pk in the item"),
    ),
    case(
        "put-hash-key-wrong-type",
        "PutItem",
        put({"pk": {"N": "1"}, "sk": {"S": "1"}}),
        "ValidationException",
        core(INVALID + "Type mismatch for key pk expected: S actual: N"),
    ),
    case(
        "put-range-key-map",
        "PutItem",
        put({"pk": {"S": "new"}, "sk": {"M": {}}}),
        "ValidationException",
        core(INVALID + "Type mismatch for key sk expected: S actual: M"),
    ),
    case(
        "put-empty-hash-key",
        "PutItem",
        put({"pk": {"S": ""}, "sk": {"S": "1"}}),
        "ValidationException",
        core(EMPTY_KEY.format("pk")),
    ),
    case(
        "put-empty-range-key",
        "PutItem",
        put({"pk": {"S": "new"}, "sk": {"S": ""}}),
        "ValidationException",
        core(EMPTY_KEY.format("sk")),
    ),
    case(
        "put-hash-key-2049-bytes",
        "PutItem",
        put({"pk": {"S": "k" * 2049}, "sk": {"S": "1"}}),
        "ValidationException",
        HASH_TOO_BIG,
    ),
    case(
        "put-hash-key-1025-two-byte-chars",
        "PutItem",
        put({"pk": {"S": "é" * 1025}, "sk": {"S": "1"}}),
        "ValidationException",
        HASH_TOO_BIG,
    ),
    case(
        "put-range-key-1025-bytes",
        "PutItem",
        put({"pk": {"S": "new"}, "sk": {"S": "k" * 1025}}),
        "ValidationException",
        RANGE_TOO_BIG,
    ),
    case(
        "delete-range-key-1025-bytes",
        "DeleteItem",
        lambda t: {"TableName": t, "Key": {"pk": {"S": "seed"}, "sk": {"S": "k" * 1025}}},
        "ValidationException",
        RANGE_TOO_BIG,
    ),
    case(
        "get-extra-key-attribute",
        "GetItem",
        lambda t: {"TableName": t, "Key": {**SEED_KEY, "v": N1}},
        "ValidationException",
        NO_MATCH,
    ),
    case(
        "get-missing-range-key",
        "GetItem",
        lambda t: {"TableName": t, "Key": {"pk": {"S": "seed"}}},
        "ValidationException",
        NO_MATCH,
    ),
    case(
        "get-key-wrong-type",
        "GetItem",
        lambda t: {"TableName": t, "Key": {"pk": {"N": "1"}, "sk": {"S": "0"}}},
        "ValidationException",
        NO_MATCH,
    ),
    case(
        "get-empty-hash-key",
        "GetItem",
        lambda t: {"TableName": t, "Key": {"pk": {"S": ""}, "sk": {"S": "0"}}},
        "ValidationException",
        core(EMPTY_KEY.format("pk")),
    ),
    case(
        "delete-empty-key-map",
        "DeleteItem",
        lambda t: {"TableName": t, "Key": {}},
        "ValidationException",
        NO_MATCH,
    ),
    case(
        "delete-key-wrong-name",
        "DeleteItem",
        lambda t: {"TableName": t, "Key": {"pk": {"S": "seed"}, "other": {"S": "0"}}},
        "ValidationException",
        NO_MATCH,
    ),
    case(
        "update-extra-key-attribute",
        "UpdateItem",
        update(
            "SET a = :v", key={**SEED_KEY, "s": {"S": "text"}}, ExpressionAttributeValues={":v": N1}
        ),
        "ValidationException",
        NO_MATCH,
    ),
]


@pytest.mark.parametrize("bad", KEY_CASES)
def test_invalid_key(raw: RawClient, seeded: str, bad: Bad) -> None:
    run_case(raw, seeded, bad)


# ----------------------------------------------------------------- expressions

EXPRESSION_CASES = [
    case(
        "condition-syntax-error",
        "PutItem",
        cond_put("a = = b"),
        "ValidationException",
        core('Invalid ConditionExpression: Syntax error; token: "=", near: "= = b"'),
    ),
    case(
        "update-syntax-error",
        "UpdateItem",
        update("INVALID SYNTAX HERE"),
        "ValidationException",
        core('Invalid UpdateExpression: Syntax error; token: "INVALID", near: "INVALID SYNTAX"'),
    ),
    case(
        "projection-syntax-error",
        "GetItem",
        lambda t: {"TableName": t, "Key": SEED_KEY, "ProjectionExpression": "!!! INVALID !!!"},
        "ValidationException",
        core('Invalid ProjectionExpression: Syntax error; token: "!", near: "!!"'),
    ),
    case(
        "condition-undefined-name",
        "PutItem",
        cond_put("#missing = :v", ExpressionAttributeValues={":v": N1}),
        "ValidationException",
        core(
            "Invalid ConditionExpression: An expression attribute name used in the document "
            "path is not defined; attribute name: #missing"
        ),
    ),
    case(
        "update-undefined-value",
        "UpdateItem",
        update("SET a = :v"),
        "ValidationException",
        core(
            "Invalid UpdateExpression: An expression attribute value used in expression is not "
            "defined; attribute value: :v"
        ),
    ),
    case(
        "unused-name",
        "UpdateItem",
        update(
            "SET a = :v",
            ExpressionAttributeValues={":v": N1},
            ExpressionAttributeNames={"#unused": "x"},
        ),
        "ValidationException",
        core("Value provided in ExpressionAttributeNames unused in expressions: keys: {#unused}"),
    ),
    case(
        "unused-value",
        "UpdateItem",
        update("SET a = :v", ExpressionAttributeValues={":v": N1, ":unused": N1}),
        "ValidationException",
        core("Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}"),
    ),
    case(
        "reserved-word-in-update",
        "UpdateItem",
        update("SET comment = :v", ExpressionAttributeValues={":v": N1}),
        "ValidationException",
        core(
            "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: comment"
        ),
    ),
    case(
        "reserved-word-in-condition",
        "DeleteItem",
        lambda t: {
            "TableName": t,
            "Key": SEED_KEY,
            "ConditionExpression": "attribute_exists(status)",
        },
        "ValidationException",
        core(
            "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: status"
        ),
    ),
    case(
        "function-arity",
        "PutItem",
        cond_put("attribute_exists(a, b)"),
        "ValidationException",
        core(
            "Invalid ConditionExpression: Incorrect number of operands for operator or function; "
            "operator or function: attribute_exists, number of operands: 2"
        ),
    ),
    case(
        "update-function-arity",
        "UpdateItem",
        update("SET l = list_append(:l)", ExpressionAttributeValues={":l": {"L": []}}),
        "ValidationException",
        core(
            "Invalid UpdateExpression: Incorrect number of operands for operator or function; "
            "operator or function: list_append, number of operands: 1"
        ),
    ),
    case(
        "function-operand-type",
        "PutItem",
        cond_put("begins_with(a, :n)", ExpressionAttributeValues={":n": N1}),
        "ValidationException",
        core(
            "Invalid ConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: begins_with, operand type: N"
        ),
    ),
    case(
        "ordering-a-boolean",
        "PutItem",
        cond_put("a < :b", ExpressionAttributeValues={":b": {"BOOL": True}}),
        "ValidationException",
        core(
            "Invalid ConditionExpression: Incorrect operand type for operator or function; "
            "operator or function: <, operand type: BOOL"
        ),
    ),
    case(
        "unknown-function",
        "PutItem",
        cond_put("foo(a)"),
        "ValidationException",
        core("Invalid ConditionExpression: Invalid function name; function: foo"),
    ),
    case(
        "same-operand-twice",
        "PutItem",
        cond_put("a = a"),
        "ValidationException",
        core(
            "Invalid ConditionExpression: The first operand must be distinct from the remaining "
            "operands for this operator or function; operator: =, first operand: [a]"
        ),
    ),
    case(
        "contains-same-operand",
        "PutItem",
        cond_put("contains(#a, #a)", ExpressionAttributeNames={"#a": "data"}),
        "ValidationException",
        core(
            "Invalid ConditionExpression: The first operand must be distinct from the remaining "
            "operands for this operator or function; operator: contains, first operand: [data]"
        ),
    ),
    case(
        "between-bounds-reversed",
        "PutItem",
        cond_put("a BETWEEN :hi AND :lo", ExpressionAttributeValues={":hi": {"N": "5"}, ":lo": N1}),
        "ValidationException",
        core(
            "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater "
            "than or equal to lower bound; lower bound operand: AttributeValue: {N:5}, upper "
            "bound operand: AttributeValue: {N:1}"
        ),
    ),
    case(
        "attribute-type-unknown-type",
        "PutItem",
        cond_put("attribute_type(a, :t)", ExpressionAttributeValues={":t": {"S": "XX"}}),
        "ValidationException",
        core(
            "Invalid ConditionExpression: Invalid attribute type name found; type: XX, valid "
            "types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"
        ),
    ),
    case(
        "redundant-parentheses",
        "PutItem",
        cond_put("((attribute_not_exists(pk)))"),
        "ValidationException",
        core("Invalid ConditionExpression: The expression has redundant parentheses;"),
    ),
    case(
        "empty-condition",
        "PutItem",
        cond_put(""),
        "ValidationException",
        core("Invalid ConditionExpression: The expression can not be empty;"),
    ),
    case(
        "empty-update-expression",
        "UpdateItem",
        update(""),
        "ValidationException",
        core("Invalid UpdateExpression: The expression can not be empty;"),
    ),
    case(
        "condition-over-4kb",
        "DeleteItem",
        lambda t: {
            "TableName": t,
            "Key": SEED_KEY,
            "ConditionExpression": "a = :v" + " AND a = :v" * 373,
            "ExpressionAttributeValues": {":v": {"S": "x"}},
        },
        "ValidationException",
        core(
            "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; "
            "expression size: 4109"
        ),
    ),
    case(
        "values-without-expression",
        "PutItem",
        put(new_item(), ExpressionAttributeValues={":v": N1}),
        "ValidationException",
        contains("ExpressionAttributeValues can only be specified when using expressions"),
    ),
    case(
        "names-without-expression",
        "DeleteItem",
        lambda t: {"TableName": t, "Key": SEED_KEY, "ExpressionAttributeNames": {"#a": "a"}},
        "ValidationException",
        contains("ExpressionAttributeNames can only be specified when using expressions"),
    ),
    case(
        "empty-names-map",
        "DeleteItem",
        lambda t: {
            "TableName": t,
            "Key": SEED_KEY,
            "ConditionExpression": "attribute_exists(a)",
            "ExpressionAttributeNames": {},
        },
        "ValidationException",
        core("ExpressionAttributeNames must not be empty"),
    ),
    case(
        "empty-values-map",
        "DeleteItem",
        lambda t: {
            "TableName": t,
            "Key": SEED_KEY,
            "ConditionExpression": "attribute_exists(a)",
            "ExpressionAttributeValues": {},
        },
        "ValidationException",
        core("ExpressionAttributeValues must not be empty"),
    ),
    case(
        "name-key-without-hash",
        "PutItem",
        cond_put("attribute_exists(a)", ExpressionAttributeNames={"a": "x"}),
        "ValidationException",
        core('ExpressionAttributeNames contains invalid key: Syntax error; key: "a"'),
    ),
    case(
        "value-key-without-colon",
        "PutItem",
        cond_put("a = :v", ExpressionAttributeValues={"v": N1}),
        "ValidationException",
        core('ExpressionAttributeValues contains invalid key: Syntax error; key: "v"'),
    ),
    case(
        "value-empty-attribute-value",
        "PutItem",
        cond_put("a = :v", ExpressionAttributeValues={":v": {}}),
        "ValidationException",
        core(f"ExpressionAttributeValues contains invalid value: {EMPTY_AV} for key :v"),
    ),
    case(
        "update-hash-key",
        "UpdateItem",
        update("SET pk = :v", ExpressionAttributeValues={":v": {"S": "x"}}),
        "ValidationException",
        exact(INVALID + "Cannot update attribute pk. This attribute is part of the key"),
    ),
    case(
        "update-range-key",
        "UpdateItem",
        update("REMOVE sk"),
        "ValidationException",
        exact(INVALID + "Cannot update attribute sk. This attribute is part of the key"),
    ),
    case(
        "overlapping-set-remove",
        "UpdateItem",
        update("SET a = :v REMOVE a", ExpressionAttributeValues={":v": N1}),
        "ValidationException",
        core(
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove "
            "or rewrite one of these paths; path one: [a], path two: [a]"
        ),
    ),
    case(
        "overlapping-parent-child",
        "UpdateItem",
        update("SET m = :v, m.x = :v", ExpressionAttributeValues={":v": N1}),
        "ValidationException",
        core(
            "Invalid UpdateExpression: Two document paths overlap with each other; must remove "
            "or rewrite one of these paths; path one: [m], path two: [m, x]"
        ),
    ),
    case(
        "section-twice",
        "UpdateItem",
        update("SET a = :v SET b = :v", ExpressionAttributeValues={":v": N1}),
        "ValidationException",
        core(
            'Invalid UpdateExpression: The "SET" section can only be used once in an update '
            "expression;"
        ),
    ),
    case(
        "add-a-string-value",
        "UpdateItem",
        update("ADD a :s", ExpressionAttributeValues={":s": {"S": "x"}}),
        "ValidationException",
        core(
            "Invalid UpdateExpression: Incorrect operand type for operator or function; "
            "operator: ADD, operand type: STRING"
        ),
    ),
    case(
        "delete-a-number-value",
        "UpdateItem",
        update("DELETE ss :n", ExpressionAttributeValues={":n": N1}),
        "ValidationException",
        core(
            "Invalid UpdateExpression: Incorrect operand type for operator or function; "
            "operator: DELETE, operand type: NUMBER"
        ),
    ),
    case(
        "arithmetic-on-string-literal",
        "UpdateItem",
        update("SET a = :s + :n", ExpressionAttributeValues={":s": {"S": "x"}, ":n": N1}),
        "ValidationException",
        core(
            "Invalid UpdateExpression: Incorrect operand type for operator or function; "
            "operator or function: +, operand type: S"
        ),
    ),
    case(
        "projection-overlap",
        "GetItem",
        lambda t: {"TableName": t, "Key": SEED_KEY, "ProjectionExpression": "m, m.x"},
        "ValidationException",
        core(
            "Invalid ProjectionExpression: Two document paths overlap with each other; must "
            "remove or rewrite one of these paths; path one: [m], path two: [m, x]"
        ),
    ),
    case(
        "projection-undefined-name",
        "GetItem",
        lambda t: {"TableName": t, "Key": SEED_KEY, "ProjectionExpression": "#undef"},
        "ValidationException",
        core(
            "Invalid ProjectionExpression: An expression attribute name used in the document "
            "path is not defined; attribute name: #undef"
        ),
    ),
    case(
        "put-returnvalues-updated-new",
        "PutItem",
        put(new_item(), ReturnValues="UPDATED_NEW"),
        "ValidationException",
        core("ReturnValues can only be ALL_OLD or NONE"),
    ),
    case(
        "put-returnvalues-all-new",
        "PutItem",
        put(new_item(), ReturnValues="ALL_NEW"),
        "ValidationException",
        core("ReturnValues can only be ALL_OLD or NONE"),
    ),
    case(
        "delete-returnvalues-updated-old",
        "DeleteItem",
        lambda t: {"TableName": t, "Key": SEED_KEY, "ReturnValues": "UPDATED_OLD"},
        "ValidationException",
        core("ReturnValues can only be ALL_OLD or NONE"),
    ),
    case(
        "expression-and-legacy-parameter",
        "PutItem",
        cond_put("attribute_not_exists(pk)", Expected={"pk": {"Exists": False}}),
        "ValidationException",
        contains(
            "Can not use both expression and non-expression parameters in the same request: "
            "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}"
        ),
    ),
]


@pytest.mark.parametrize("bad", EXPRESSION_CASES)
def test_invalid_expression(raw: RawClient, seeded: str, bad: Bad) -> None:
    run_case(raw, seeded, bad)


# ------------------------------------------ UpdateItem errors found against the item

WRONG_TYPE = exact("An operand in the update expression has an incorrect data type")
INVALID_PATH = exact("The document path provided in the update expression is invalid for update")

UPDATE_RUNTIME_CASES = [
    case(
        "arithmetic-on-string-attribute",
        "UpdateItem",
        update("SET s = s + :one", ExpressionAttributeValues={":one": N1}),
        "ValidationException",
        WRONG_TYPE,
    ),
    case(
        "add-number-to-string",
        "UpdateItem",
        update("ADD s :one", ExpressionAttributeValues={":one": N1}),
        "ValidationException",
        WRONG_TYPE,
    ),
    case(
        "delete-from-a-string",
        "UpdateItem",
        update("DELETE s :ss", ExpressionAttributeValues={":ss": {"SS": ["t"]}}),
        "ValidationException",
        WRONG_TYPE,
    ),
    case(
        "delete-number-set-from-string-set",
        "UpdateItem",
        update("DELETE ss :ns", ExpressionAttributeValues={":ns": {"NS": ["1"]}}),
        "ValidationException",
        WRONG_TYPE,
    ),
    case(
        "list-append-to-string",
        "UpdateItem",
        update("SET l = list_append(s, :l)", ExpressionAttributeValues={":l": {"L": []}}),
        "ValidationException",
        WRONG_TYPE,
    ),
    case(
        "set-inside-missing-map",
        "UpdateItem",
        update("SET nomap.b = :v", ExpressionAttributeValues={":v": N1}),
        "ValidationException",
        INVALID_PATH,
    ),
    case(
        "set-inside-a-string",
        "UpdateItem",
        update("SET s.b = :v", ExpressionAttributeValues={":v": N1}),
        "ValidationException",
        INVALID_PATH,
    ),
    case(
        "operand-missing-attribute",
        "UpdateItem",
        update("SET a = nothere"),
        "ValidationException",
        exact("The provided expression refers to an attribute that does not exist in the item"),
    ),
    case(
        "sum-overflows",
        "UpdateItem",
        update("SET big = big + big"),
        "ValidationException",
        core(
            "Number overflow. Attempting to store a number with magnitude larger than supported range"
        ),
    ),
]


@pytest.mark.parametrize("bad", UPDATE_RUNTIME_CASES)
def test_update_fails_against_the_item_and_leaves_it(raw: RawClient, seeded: str, bad: Bad) -> None:
    run_case(raw, seeded, bad)


# ---------------------------------------------------------------- Query and Scan

QUERY_SCAN_CASES = [
    case(
        "query-no-key-condition",
        "Query",
        query(None),
        "ValidationException",
        core(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified in "
            "the request."
        ),
    ),
    case(
        "query-empty-key-condition",
        "Query",
        query("", PK_V),
        "ValidationException",
        core("Invalid KeyConditionExpression: The expression can not be empty;"),
    ),
    case(
        "query-only-non-key-attribute",
        "Query",
        query("attr1 = :v", PK_V),
        "ValidationException",
        core("Query condition missed key schema element: pk"),
    ),
    case(
        "query-only-range-key",
        "Query",
        query("sk = :v", PK_V),
        "ValidationException",
        core("Query condition missed key schema element: pk"),
    ),
    case(
        "query-hash-and-non-key-attribute",
        "Query",
        query("pk = :v AND attr1 = :w", {**PK_V, ":w": {"S": "x"}}),
        "ValidationException",
        core("Query key condition not supported"),
    ),
    case(
        "query-hash-range-comparison",
        "Query",
        query("pk > :v", PK_V),
        "ValidationException",
        core("Query key condition not supported"),
    ),
    case(
        "query-begins-with-on-hash",
        "Query",
        query("begins_with(pk, :v)", PK_V),
        "ValidationException",
        core("Query key condition not supported"),
    ),
    case(
        "query-key-value-wrong-type",
        "Query",
        query("pk = :n", {":n": N1}),
        "ValidationException",
        core(INVALID + "Condition parameter type does not match schema type"),
    ),
    case(
        "query-key-condition-or",
        "Query",
        query("pk = :v OR sk = :v", PK_V),
        "ValidationException",
        core("Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: OR"),
    ),
    case(
        "query-two-conditions-on-hash",
        "Query",
        query("pk = :v AND pk = :v", PK_V),
        "ValidationException",
        core(
            "Invalid KeyConditionExpression: KeyConditionExpressions must only contain one "
            "condition per key"
        ),
    ),
    case(
        "query-redundant-parentheses",
        "Query",
        query("((pk = :v))", PK_V),
        "ValidationException",
        core("Invalid KeyConditionExpression: The expression has redundant parentheses;"),
    ),
    case(
        "query-filter-on-key",
        "Query",
        query("pk = :v", {**PK_V, ":s": {"S": "0"}}, FilterExpression="sk = :s"),
        "ValidationException",
        core(
            "Filter Expression can only contain non-primary key attributes: Primary key "
            "attribute: sk"
        ),
    ),
    case(
        "query-bad-exclusive-start-key",
        "Query",
        query("pk = :v", PK_V, ExclusiveStartKey={"bad": {"S": "p"}}),
        "ValidationException",
        Message(
            "starts with 'The provided starting key is invalid'",
            lambda m: m.startswith("The provided starting key is invalid"),
        ),
    ),
    case(
        "query-specific-attributes-without-projection",
        "Query",
        query("pk = :v", PK_V, Select="SPECIFIC_ATTRIBUTES"),
        "ValidationException",
        core(
            "Must specify the AttributesToGet or ProjectionExpression when choosing to get "
            "SPECIFIC_ATTRIBUTES"
        ),
    ),
    case(
        "query-unknown-index",
        "Query",
        query("pk = :v", PK_V, IndexName="nope_idx"),
        "ValidationException",
        core("The table does not have the specified index: nope_idx"),
    ),
    case(
        "scan-unknown-index",
        "Scan",
        lambda t: {"TableName": t, "IndexName": "nope_idx"},
        "ValidationException",
        core("The table does not have the specified index: nope_idx"),
    ),
    case(
        "scan-specific-attributes-without-projection",
        "Scan",
        lambda t: {"TableName": t, "Select": "SPECIFIC_ATTRIBUTES"},
        "ValidationException",
        core(
            "Must specify the AttributesToGet or ProjectionExpression when choosing to get "
            "SPECIFIC_ATTRIBUTES"
        ),
    ),
    case(
        "scan-bad-exclusive-start-key",
        "Scan",
        lambda t: {"TableName": t, "ExclusiveStartKey": {"bad": {"S": "p"}}},
        "ValidationException",
        core(
            "The provided starting key is invalid: The provided key element does not match the "
            "schema"
        ),
    ),
    case(
        "scan-segment-without-total",
        "Scan",
        lambda t: {"TableName": t, "Segment": 0},
        "ValidationException",
        core(
            "The TotalSegments parameter is required but was not present in the request when "
            "Segment parameter is present"
        ),
    ),
    case(
        "scan-total-without-segment",
        "Scan",
        lambda t: {"TableName": t, "TotalSegments": 2},
        "ValidationException",
        core(
            "The Segment parameter is required but was not present in the request when "
            "parameter TotalSegments is present"
        ),
    ),
    case(
        "scan-segment-not-less-than-total",
        "Scan",
        lambda t: {"TableName": t, "Segment": 2, "TotalSegments": 2},
        "ValidationException",
        core(
            "The Segment parameter is zero-based and must be less than parameter TotalSegments: "
            "Segment: 2 is not less than TotalSegments: 2"
        ),
    ),
]


@pytest.mark.parametrize("bad", QUERY_SCAN_CASES)
def test_invalid_query_or_scan(raw: RawClient, seeded: str, bad: Bad) -> None:
    run_case(raw, seeded, bad)


# -------------------------------------------------------------- unknown tables

ITEM_NOT_FOUND = exact("Requested resource not found")

UNKNOWN_TABLE_CASES = [
    pytest.param("DescribeTable", lambda t: {"TableName": t}, True, id="DescribeTable"),
    pytest.param("DeleteTable", lambda t: {"TableName": t}, True, id="DeleteTable"),
    pytest.param(
        "UpdateTable",
        lambda t: {"TableName": t, "BillingMode": "PAY_PER_REQUEST"},
        True,
        id="UpdateTable",
    ),
    pytest.param("PutItem", lambda t: {"TableName": t, "Item": new_item()}, False, id="PutItem"),
    pytest.param("GetItem", lambda t: {"TableName": t, "Key": NEW_KEY}, False, id="GetItem"),
    pytest.param(
        "UpdateItem",
        lambda t: {
            "TableName": t,
            "Key": NEW_KEY,
            "UpdateExpression": "SET a = :v",
            "ExpressionAttributeValues": {":v": N1},
        },
        False,
        id="UpdateItem",
    ),
    pytest.param("DeleteItem", lambda t: {"TableName": t, "Key": NEW_KEY}, False, id="DeleteItem"),
    pytest.param(
        "Query",
        lambda t: {
            "TableName": t,
            "KeyConditionExpression": "pk = :v",
            "ExpressionAttributeValues": {":v": {"S": "new"}},
        },
        False,
        id="Query",
    ),
    pytest.param("Scan", lambda t: {"TableName": t}, False, id="Scan"),
    pytest.param(
        "GetItem-by-arn",
        lambda t: {
            "TableName": f"arn:aws:dynamodb:us-east-1:000000000000:table/{t}",
            "Key": NEW_KEY,
        },
        False,
        id="GetItem-by-arn",
    ),
]


@pytest.mark.parametrize(("op", "request_for", "table_level"), UNKNOWN_TABLE_CASES)
def test_unknown_table(
    raw: RawClient, op: str, request_for: Callable[[str], Any], table_level: bool
) -> None:
    name = missing_name()
    response = raw.call(op.split("-")[0], request_for(name))
    expected = (
        exact(f"Requested resource not found: Table: {name} not found")
        if table_level
        else ITEM_NOT_FOUND
    )
    assert_error(response, "ResourceNotFoundException", expected)
    assert_table_absent(raw, name)


# ------------------------------------------------------------------- CreateTable


def create_request(
    name: str,
    definitions: list[tuple[str, str]] | None,
    key_schema: list[tuple[str, str]] | None,
    **extra: Any,
) -> dict[str, Any]:
    request: dict[str, Any] = {"TableName": name, **extra}
    if definitions is not None:
        request["AttributeDefinitions"] = [
            {"AttributeName": n, "AttributeType": t} for n, t in definitions
        ]
    if key_schema is not None:
        request["KeySchema"] = [{"AttributeName": n, "KeyType": k} for n, k in key_schema]
    return request


PPR = {"BillingMode": "PAY_PER_REQUEST"}
A_HASH = [("a", "HASH")]
A_DEF = [("a", "S")]

CREATE_CASES = [
    pytest.param(
        lambda n: create_request(n, A_DEF, None, **PPR),
        mentions("keySchema"),
        id="no-key-schema",
    ),
    pytest.param(
        lambda n: create_request(n, None, A_HASH, **PPR),
        mentions("attributeDefinitions"),
        id="no-attribute-definitions",
    ),
    pytest.param(
        lambda n: create_request(n, A_DEF, [], **PPR),
        coral("[]", "keySchema", "Member must have length greater than or equal to 1"),
        id="empty-key-schema",
    ),
    pytest.param(
        lambda n: create_request(n, [("a", "SS")], A_HASH, **PPR),
        coral_enum("SS", "attributeDefinitions.1.member.attributeType", ["S", "N", "B"]),
        id="attribute-type-SS",
    ),
    pytest.param(
        lambda n: create_request(n, A_DEF, [("a", "WOOP")], **PPR),
        coral_enum("WOOP", "keySchema.1.member.keyType", ["HASH", "RANGE"]),
        id="key-type-WOOP",
    ),
    pytest.param(
        lambda n: create_request(
            n,
            [("a", "S"), ("b", "S"), ("c", "S")],
            [("a", "HASH"), ("b", "RANGE"), ("c", "RANGE")],
            **PPR,
        ),
        contains(
            "at 'keySchema' failed to satisfy constraint: Member must have length less than or "
            "equal to 2"
        ),
        id="three-key-elements",
    ),
    pytest.param(
        lambda n: create_request(
            n, [("a", "S"), ("b", "S")], [("a", "RANGE"), ("b", "HASH")], **PPR
        ),
        core("Invalid KeySchema: The first KeySchemaElement is not a HASH key type"),
        id="first-key-not-hash",
    ),
    pytest.param(
        lambda n: create_request(
            n, [("a", "S"), ("b", "S")], [("a", "HASH"), ("b", "HASH")], **PPR
        ),
        core("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type"),
        id="second-key-not-range",
    ),
    pytest.param(
        lambda n: create_request(
            n, [("a", "S"), ("b", "S")], [("a", "HASH"), ("a", "RANGE")], **PPR
        ),
        core("Both the Hash Key and the Range Key element in the KeySchema have the same name"),
        id="hash-and-range-same-name",
    ),
    pytest.param(
        lambda n: create_request(
            n, [("a", "S"), ("b", "S")], [("a", "HASH"), ("a", "HASH")], **PPR
        ),
        core("Both the Hash Key and the Range Key element in the KeySchema have the same name"),
        id="same-name-twice-as-hash",
    ),
    pytest.param(
        lambda n: create_request(n, A_DEF, [("a", "HASH"), ("b", "RANGE")], **PPR),
        core("Invalid KeySchema: Some index key attribute have no definition"),
        id="range-key-not-defined",
    ),
    pytest.param(
        lambda n: create_request(n, [("a", "S"), ("b", "S")], A_HASH, **PPR),
        core(
            INVALID + "Number of attributes in KeySchema does not exactly match number of "
            "attributes defined in AttributeDefinitions"
        ),
        id="extra-attribute-definition",
    ),
    pytest.param(
        lambda n: create_request(n, [("a", "S"), ("a", "S")], A_HASH, **PPR),
        None,
        id="duplicate-attribute-definitions",
    ),
    pytest.param(
        lambda n: create_request(
            n,
            A_DEF,
            A_HASH,
            BillingMode="PAY_PER_REQUEST",
            ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        ),
        core(
            INVALID + "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when "
            "BillingMode is PAY_PER_REQUEST"
        ),
        id="on-demand-with-throughput",
    ),
    pytest.param(
        lambda n: create_request(n, A_DEF, A_HASH, BillingMode="PROVISIONED"),
        core(
            INVALID + "ReadCapacityUnits and WriteCapacityUnits must both be specified when "
            "BillingMode is PROVISIONED"
        ),
        id="provisioned-without-throughput",
    ),
    pytest.param(
        lambda n: create_request(
            n,
            A_DEF,
            A_HASH,
            ProvisionedThroughput={"ReadCapacityUnits": 0, "WriteCapacityUnits": 1},
        ),
        coral(
            "0",
            "provisionedThroughput.readCapacityUnits",
            "Member must have value greater than or equal to 1",
        ),
        id="zero-read-capacity",
    ),
    pytest.param(
        lambda n: create_request(
            n,
            A_DEF,
            A_HASH,
            ProvisionedThroughput={"ReadCapacityUnits": 1000000000001, "WriteCapacityUnits": 1},
        ),
        core("Given value 1000000000001 for ReadCapacityUnits is out of bounds"),
        id="read-capacity-out-of-bounds",
    ),
    pytest.param(
        lambda n: create_request(n, A_DEF, A_HASH, BillingMode="FREE"),
        coral_enum("FREE", "billingMode", ["PROVISIONED", "PAY_PER_REQUEST"]),
        id="billing-mode-FREE",
    ),
    pytest.param(
        lambda n: create_request(n, A_DEF, A_HASH, ProvisionedThroughput=[]),
        exact(
            "Unrecognized collection type class "
            "com.amazonaws.dynamodb.v20120810.ProvisionedThroughput"
        ),
        id="throughput-as-list",
    ),
    pytest.param(
        lambda n: {**create_request(n, A_DEF, A_HASH, **PPR), "KeySchema": {"a": "HASH"}},
        contains("Start of structure or map found where not expected"),
        id="key-schema-as-map",
    ),
    pytest.param(
        lambda n: {
            **create_request(n, None, A_HASH, **PPR),
            "AttributeDefinitions": [{"AttributeName": 5, "AttributeType": "S"}],
        },
        contains("NUMBER_VALUE cannot be converted to String"),
        id="attribute-name-number",
    ),
    pytest.param(
        lambda n: create_request(
            n,
            A_DEF,
            A_HASH,
            ProvisionedThroughput={"ReadCapacityUnits": "5", "WriteCapacityUnits": 1},
        ),
        exact("STRING_VALUE cannot be converted to Long"),
        id="read-capacity-string",
    ),
]

SERIALIZATION_CREATE_CASES = {
    "throughput-as-list",
    "key-schema-as-map",
    "attribute-name-number",
    "read-capacity-string",
}


@pytest.mark.parametrize(("request_for", "message"), CREATE_CASES)
def test_create_table_rejected_and_not_created(
    request: pytest.FixtureRequest,
    raw: RawClient,
    request_for: Callable[[str], Any],
    message: Message | None,
) -> None:
    serialization = request.node.callspec.id in SERIALIZATION_CREATE_CASES
    name = missing_name()
    response = raw.call("CreateTable", request_for(name))
    assert_error(
        response, "SerializationException" if serialization else "ValidationException", message
    )
    assert_table_absent(raw, name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("ab", table_name_length("ab"), id="short"),
        pytest.param(LONG_NAME, table_name_length(LONG_NAME), id="long"),
        pytest.param(
            "bad name!",
            coral(
                "bad name!",
                "tableName",
                "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
            ),
            id="bad-chars",
        ),
    ],
)
def test_create_table_with_invalid_name(raw: RawClient, name: str, message: Message) -> None:
    before = raw.call("ListTables", {}).json  # these names sort ahead of every test table
    response = raw.call("CreateTable", create_request(name, A_DEF, A_HASH, **PPR))
    assert_error(response, "ValidationException", message)
    after = raw.call("ListTables", {}).json
    assert after == before
    assert name not in after["TableNames"]


def test_create_existing_table_is_resource_in_use(raw: RawClient, seeded: str) -> None:
    before = snapshot(raw, seeded)
    response = raw.call("CreateTable", create_request(seeded, A_DEF, A_HASH, **PPR))
    assert_error(response, "ResourceInUseException", exact(f"Table already exists: {seeded}"))
    assert snapshot(raw, seeded) == before


# ------------------------------------------------------------------- UpdateTable

UPDATE_TABLE_CASES = [
    pytest.param(
        {},
        core(
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
            "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required"
        ),
        id="nothing-to-update",
    ),
    pytest.param(
        {"ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}},
        contains(
            "The provisioned throughput for the table will not change. The requested value "
            "equals the current value."
        ),
        id="same-throughput",
    ),
    pytest.param(
        {
            "BillingMode": "PAY_PER_REQUEST",
            "ProvisionedThroughput": {"ReadCapacityUnits": 2, "WriteCapacityUnits": 2},
        },
        core(
            INVALID + "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when "
            "BillingMode is PAY_PER_REQUEST"
        ),
        id="on-demand-with-throughput",
    ),
    pytest.param(
        {"ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 1}},
        coral(
            "0",
            "provisionedThroughput.readCapacityUnits",
            "Member must have value greater than or equal to 1",
        ),
        id="zero-read-capacity",
    ),
    pytest.param(
        {"BillingMode": "FREE"},
        coral_enum("FREE", "billingMode", ["PROVISIONED", "PAY_PER_REQUEST"]),
        id="billing-mode-FREE",
    ),
]


@pytest.mark.parametrize(("changes", "message"), UPDATE_TABLE_CASES)
def test_update_table_rejected_and_unchanged(
    raw: RawClient, table_name: str, changes: dict[str, Any], message: Message
) -> None:
    created = raw.call(
        "CreateTable",
        create_request(
            table_name,
            A_DEF,
            A_HASH,
            ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        ),
    )
    assert created.status == 200, created.body
    before = snapshot(raw, table_name)
    response = raw.call("UpdateTable", {"TableName": table_name, **changes})
    assert_error(response, "ValidationException", message)
    assert snapshot(raw, table_name) == before


# ---------------------------------------------------------------- item size limits


def test_put_item_over_400_kb_is_refused(raw: RawClient, seeded: str) -> None:
    before = snapshot(raw, seeded)
    item = new_item(blob={"S": "x" * (400 * 1024)})
    response = raw.call("PutItem", {"TableName": seeded, "Item": item})
    assert_error(
        response, "ValidationException", core("Item size has exceeded the maximum allowed size")
    )
    assert snapshot(raw, seeded) == before


def test_update_growing_an_item_past_400_kb_leaves_it_unchanged(
    raw: RawClient, seeded: str
) -> None:
    grown_key = {"pk": {"S": "grown"}, "sk": {"S": "0"}}
    grown = {**grown_key, "a": {"S": "a" * 300_000}}
    assert raw.call("PutItem", {"TableName": seeded, "Item": grown}).status == 200
    before = snapshot(raw, seeded)
    response = raw.call(
        "UpdateItem",
        {
            "TableName": seeded,
            "Key": grown_key,
            "UpdateExpression": "SET b = :b",
            "ExpressionAttributeValues": {":b": {"S": "b" * 150_000}},
        },
    )
    assert_error(
        response,
        "ValidationException",
        core("Item size to update has exceeded the maximum allowed size"),
    )
    assert snapshot(raw, seeded) == before
    got = raw.call("GetItem", {"TableName": seeded, "Key": grown_key, "ConsistentRead": True})
    assert got.json == {"Item": grown}


def test_update_creating_an_item_over_400_kb_creates_nothing(raw: RawClient, seeded: str) -> None:
    before = snapshot(raw, seeded)
    response = raw.call(
        "UpdateItem",
        {
            "TableName": seeded,
            "Key": NEW_KEY,
            "UpdateExpression": "SET b = :b",
            "ExpressionAttributeValues": {":b": {"S": "b" * (401 * 1024)}},
        },
    )
    assert_error(
        response,
        "ValidationException",
        core("Item size to update has exceeded the maximum allowed size"),
    )
    assert snapshot(raw, seeded) == before


# ------------------------------------------------------------ protocol-level refusals

PUT_NEW = '{{"TableName": "{t}", "Item": {{"pk": {{"S": "new"}}, "sk": {{"S": "1"}}}}}}'


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(lambda t: PUT_NEW.format(t=t)[:-3], id="truncated"),
        pytest.param(lambda t: PUT_NEW.format(t=t).replace('"', "'"), id="single-quotes"),
        pytest.param(lambda t: PUT_NEW.format(t=t).replace("}}}", "},}}"), id="trailing-comma"),
        pytest.param(lambda t: PUT_NEW.format(t=t).replace('"new"', '"new'), id="unterminated"),
        pytest.param(lambda t: "PutItem " + t, id="not-json"),
        pytest.param(lambda t: "", id="empty"),
    ],
)
def test_malformed_json_body_writes_nothing(
    raw: RawClient, seeded: str, body: Callable[[str], str]
) -> None:
    before = snapshot(raw, seeded)
    response = raw.call("PutItem", body(seeded))
    assert_error(response, "SerializationException", None)
    assert snapshot(raw, seeded) == before


@pytest.mark.parametrize(
    "target",
    ["DynamoDB_20120810.PutItems", "DynamoDB_20111205.PutItem", "DynamoDB_20120810.", "PutItem"],
)
def test_unknown_target_writes_nothing(raw: RawClient, seeded: str, target: str) -> None:
    before = snapshot(raw, seeded)
    response = raw.request(PUT_NEW.format(t=seeded), target)
    assert_error(response, "UnknownOperationException", None)
    assert snapshot(raw, seeded) == before


def test_body_over_16_mb_is_413_and_writes_nothing(raw: RawClient, seeded: str) -> None:
    before = snapshot(raw, seeded)
    item = new_item(blob={"S": "x" * (16 * 1024 * 1024)})
    response = raw.call("PutItem", {"TableName": seeded, "Item": item})
    assert response.status == 413
    assert snapshot(raw, seeded) == before


# -------------------------------------------------------------- the same through boto3


def _client_error(call: Callable[[], Any]) -> tuple[str, str]:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as info:
        call()
    error = info.value.response["Error"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Code"], error["Message"]


def test_boto3_raises_modeled_resource_not_found(ddb: Any) -> None:
    name = missing_name()
    with pytest.raises(ddb.exceptions.ResourceNotFoundException) as info:
        ddb.get_item(TableName=name, Key={"pk": {"S": "x"}})
    assert info.value.response["Error"]["Message"] == "Requested resource not found"
    with pytest.raises(ddb.exceptions.ResourceNotFoundException) as info:
        ddb.delete_table(TableName=name)
    assert (
        info.value.response["Error"]["Message"]
        == f"Requested resource not found: Table: {name} not found"
    )


def test_boto3_raises_modeled_resource_in_use(ddb: Any, raw: RawClient, seeded: str) -> None:
    before = snapshot(raw, seeded)
    with pytest.raises(ddb.exceptions.ResourceInUseException):
        ddb.create_table(
            TableName=seeded,
            AttributeDefinitions=[{"AttributeName": "a", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "a", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    assert snapshot(raw, seeded) == before


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda c, t: c.get_item(TableName=t, Key={"pk": {"S": "seed"}}),
            NO_MATCH,
            id="key-mismatch",
        ),
        pytest.param(
            lambda c, t: c.put_item(TableName=t, Item=new_item(blob={"S": "x" * 410_000})),
            core("Item size has exceeded the maximum allowed size"),
            id="item-too-large",
        ),
        pytest.param(
            lambda c, t: c.update_item(
                TableName=t,
                Key=SEED_KEY,
                UpdateExpression="SET s = s + :one",
                ExpressionAttributeValues={":one": N1},
            ),
            WRONG_TYPE,
            id="update-wrong-type",
        ),
        pytest.param(
            lambda c, t: c.query(
                TableName=t,
                KeyConditionExpression="sk = :v",
                ExpressionAttributeValues={":v": {"S": "0"}},
            ),
            core("Query condition missed key schema element: pk"),
            id="query-missed-hash",
        ),
        pytest.param(
            lambda c, t: c.put_item(TableName=t, Item=new_item(), ReturnValues="ALL_NEW"),
            core("ReturnValues can only be ALL_OLD or NONE"),
            id="put-return-values",
        ),
    ],
)
def test_boto3_sees_validation_exception(
    ddb: Any, raw: RawClient, seeded: str, call: Callable[[Any, str], Any], message: Message
) -> None:
    before = snapshot(raw, seeded)
    code, text = _client_error(lambda: call(ddb, seeded))
    assert code == "ValidationException"
    assert message.check(text), (text, message)
    assert snapshot(raw, seeded) == before
