"""Validation order, one row per operation the server serves: which error wins when a
request breaks several rules at once.

DynamoDB checks a request in a fixed order (spec digest ``errors.md`` §1, from AWS
captures against missing tables — https://github.com/ExtendDB/extenddb/pull/192 — and
https://github.com/scylladb/scylladb/pull/12608, https://github.com/aws/aws-sdk-java/issues/977):

1. the body parses and fits the shapes (SerializationException);
2. AWS's own sentences for a few missing members, then every member constraint at
   once ("N validation errors detected: …");
3. the request's own semantics: expressions and placeholders, legacy/expression
   mixing, key-schema shape, Select/projection, Scan segments, … (ValidationException);
4. only then the resource (ResourceNotFoundException for a missing table, stream,
   mapping);
5. then conditions and transactions.

Each row below sends, over raw HTTP to the real server, a request that breaks the
rules of several of these steps (usually its resource is missing too) and asserts the
exact error of the earliest one: HTTP status, ``__type`` with its namespace, and the
message. The row set is checked against ``OPERATIONS``/``STREAM_OPERATIONS`` and the
Lambda event-source-mapping routes, so a new operation needs a row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from dynoxide_streams.engine.operations import OPERATIONS, STREAM_OPERATIONS
from tests.conftest import RawClient, RawResponse

DYNAMODB = "DynamoDB_20120810"
STREAMS = "DynamoDBStreams_20120810"
LAMBDA = "Lambda"
CORAL_VALIDATE = "com.amazon.coral.validate#ValidationException"
CORAL_SERIALIZATION = "com.amazon.coral.service#SerializationException"

MISSING = "order_missing_table"
MISSING_ARN = f"arn:aws:dynamodb:us-east-1:000000000000:table/{MISSING}"
MISSING_STREAM = f"{MISSING_ARN}/stream/2020-01-01T00:00:00.000"
MISSING_MAPPING = "9f2b1c1e-0000-4000-8000-000000000000"
KEY = {"pk": {"S": "a"}}
ITEM = {"pk": {"S": "a"}, "n": {"N": "1"}}
MAPPINGS = "/2015-03-31/event-source-mappings"
LAMBDA_AUTHORIZATION = "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/lambda/aws4_request"


@dataclass(frozen=True)
class Row:
    """One operation's request and the error AWS answers it with."""

    service: str
    operation: str
    request: Any
    """The JSON body (a str is sent as it is); for Lambda, ``(method, path, body)``."""
    error: str
    """``namespace#Name`` for DynamoDB and Streams, the error name for Lambda."""
    message: str | None
    """None: the error carries no message at all."""
    step: int
    """The validation step that answers (see the module docstring)."""


def validation(count: int, *items: str) -> str:
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(items)


def violation(value: str | None, path: str, rule: str) -> str:
    shown = "null" if value is None else f"'{value}'"
    return f"Value {shown} at '{path}' failed to satisfy constraint: {rule}"


KEY_SCHEMA_RANGE_FIRST = {
    "TableName": "order_existing",
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "RANGE"}],
    "BillingMode": "PAY_PER_REQUEST",
}

ROWS = [
    # ------------------------------------------------------------------ control plane
    Row(
        DYNAMODB,
        "CreateTable",
        KEY_SCHEMA_RANGE_FIRST,  # the table exists (step 4: ResourceInUse) and the key schema is wrong
        CORAL_VALIDATE,
        "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        3,
    ),
    Row(
        DYNAMODB,
        "DescribeTable",
        {"TableName": "ab"},  # too short, and no such table
        CORAL_VALIDATE,
        validation(
            1, violation("ab", "tableName", "Member must have length greater than or equal to 3")
        ),
        2,
    ),
    Row(
        DYNAMODB,
        "ListTables",
        {"Limit": "5", "ExclusiveStartTableName": "a"},  # a string for an integer; too short
        CORAL_SERIALIZATION,
        "STRING_VALUE cannot be converted to Integer",
        1,
    ),
    Row(
        DYNAMODB,
        "UpdateTable",
        {"TableName": MISSING},  # nothing to change, and no such table
        CORAL_VALIDATE,
        "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
        "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required",
        3,
    ),
    Row(
        DYNAMODB,
        "DeleteTable",
        {"TableName": None, "Bogus": 1},  # null is absent; unknown members are dropped
        CORAL_VALIDATE,
        "The parameter 'TableName' is required but was not present in the request",
        2,
    ),
    Row(
        DYNAMODB,
        "DescribeContinuousBackups",
        {"TableName": "a!"},  # bad characters, too short, and no such table
        CORAL_VALIDATE,
        validation(
            2,
            violation(
                "a!", "tableName", "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
            ),
            violation("a!", "tableName", "Member must have length greater than or equal to 3"),
        ),
        2,
    ),
    Row(
        DYNAMODB,
        "UpdateContinuousBackups",
        {"TableName": MISSING, "PointInTimeRecoverySpecification": {}},
        CORAL_VALIDATE,
        validation(
            1,
            violation(
                None,
                "pointInTimeRecoverySpecification.pointInTimeRecoveryEnabled",
                "Member must not be null",
            ),
        ),
        2,
    ),
    Row(
        DYNAMODB,
        "UpdateTimeToLive",
        {
            "TableName": MISSING,
            "TimeToLiveSpecification": {"Enabled": True, "AttributeName": ""},
        },
        CORAL_VALIDATE,
        validation(
            1,
            violation(
                "",
                "timeToLiveSpecification.attributeName",
                "Member must have length greater than or equal to 1",
            ),
        ),
        2,
    ),
    Row(
        DYNAMODB,
        "DescribeTimeToLive",
        {"Bogus": [1]},
        CORAL_VALIDATE,
        "The parameter 'TableName' is required but was not present in the request",
        2,
    ),
    Row(
        DYNAMODB,
        "TagResource",
        {"ResourceArn": MISSING_ARN, "Tags": [{"Key": "", "Value": "v"}]},
        CORAL_VALIDATE,
        validation(
            1,
            violation(
                "", "tags.1.member.key", "Member must have length greater than or equal to 1"
            ),
        ),
        2,
    ),
    Row(
        DYNAMODB,
        "UntagResource",
        {"ResourceArn": MISSING_ARN, "TagKeys": "k"},  # a string for a list
        CORAL_SERIALIZATION,
        "Unexpected field type",
        1,
    ),
    Row(
        DYNAMODB,
        "ListTagsOfResource",
        {"ResourceArn": MISSING_ARN, "NextToken": "not-a-token"},
        CORAL_VALIDATE,
        "Invalid NextToken",
        3,
    ),
    Row(DYNAMODB, "DescribeLimits", "{not json", CORAL_SERIALIZATION, None, 1),
    Row(DYNAMODB, "DescribeEndpoints", "[1,", CORAL_SERIALIZATION, None, 1),
    # --------------------------------------------------------------------- items
    Row(
        DYNAMODB,
        "PutItem",
        {"TableName": MISSING, "Item": ITEM, "ConditionExpression": "attribute_exists(#p)"},
        CORAL_VALIDATE,
        "Invalid ConditionExpression: An expression attribute name used in the document "
        "path is not defined; attribute name: #p",
        3,
    ),
    Row(
        DYNAMODB,
        "GetItem",
        {"TableName": MISSING, "Key": KEY, "ProjectionExpression": "a,,b"},
        CORAL_VALIDATE,
        'Invalid ProjectionExpression: Syntax error; token: ",", near: ",,b"',
        3,
    ),
    Row(
        DYNAMODB,
        "DeleteItem",
        {
            "TableName": MISSING,
            "Key": KEY,
            "Expected": {"a": {"Exists": False}},
            "ConditionExpression": "attribute_exists(a)",
        },
        CORAL_VALIDATE,
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}",
        3,
    ),
    Row(
        DYNAMODB,
        "UpdateItem",
        {
            "TableName": MISSING,
            "Key": KEY,
            "UpdateExpression": "SET",
            "ReturnValues": "EVERYTHING",
        },
        CORAL_VALIDATE,
        validation(
            1,
            violation(
                "EVERYTHING",
                "returnValues",
                "Member must satisfy enum value set: "
                "[ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]",
            ),
        ),
        2,
    ),
    # --------------------------------------------------------------------- reads
    Row(
        DYNAMODB,
        "Query",
        {"TableName": MISSING, "IndexName": "no_such_index"},
        CORAL_VALIDATE,
        "Either the KeyConditions or KeyConditionExpression parameter must be specified in "
        "the request.",
        3,
    ),
    Row(
        DYNAMODB,
        "Scan",
        {"TableName": MISSING, "IndexName": "no_such_index", "Segment": 1},
        CORAL_VALIDATE,
        "The TotalSegments parameter is required but was not present in the request when "
        "Segment parameter is present",
        3,
    ),
    # ------------------------------------------------------------------- batches
    Row(
        DYNAMODB,
        "BatchGetItem",
        {
            "RequestItems": {
                MISSING: {"Keys": [KEY]},
                "order_missing_too": {"Keys": [KEY], "ProjectionExpression": "#x"},
            }
        },
        CORAL_VALIDATE,
        "Invalid ProjectionExpression: An expression attribute name used in the document "
        "path is not defined; attribute name: #x",
        3,
    ),
    Row(
        DYNAMODB,
        "BatchGetItem",
        {"RequestItems": {MISSING: {"Keys": [KEY, {"pk": {"S": "a"}}]}}},
        CORAL_VALIDATE,
        "Provided list of item keys contains duplicates",
        3,
    ),
    Row(
        DYNAMODB,
        "BatchWriteItem",
        {"RequestItems": {MISSING: [{"PutRequest": {"Item": ITEM}}, {}]}},
        CORAL_VALIDATE,
        "One or more parameter values were invalid: A WriteRequest must contain exactly one "
        "of PutRequest or DeleteRequest",
        3,
    ),
    Row(
        DYNAMODB,
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": MISSING, "Item": ITEM}},
                {
                    "Update": {
                        "TableName": "order_missing_too",
                        "Key": KEY,
                        "UpdateExpression": "SET a = :v",
                    }
                },
            ]
        },
        CORAL_VALIDATE,
        "Invalid UpdateExpression: An expression attribute value used in expression is not "
        "defined; attribute value: :v",
        3,
    ),
    Row(
        DYNAMODB,
        "TransactGetItems",
        {
            "TransactItems": [
                {"Get": {"TableName": MISSING, "Key": KEY}},
                {
                    "Get": {
                        "TableName": MISSING,
                        "Key": KEY,
                        "ExpressionAttributeNames": {"#n": "n"},
                    }
                },
            ]
        },
        CORAL_VALIDATE,
        "ExpressionAttributeNames can only be specified when using expressions",
        3,
    ),
    # -------------------------------------------------------------------- PartiQL
    Row(
        DYNAMODB,
        "ExecuteStatement",
        {"Statement": f'SELECT * FROM "{MISSING}" WHERE', "Limit": 0},
        CORAL_VALIDATE,
        validation(1, violation("0", "limit", "Member must have value greater than or equal to 1")),
        2,
    ),
    Row(
        DYNAMODB,
        "ExecuteStatement",
        {"Statement": f'SELECT * FROM "{MISSING}" WHERE'},
        CORAL_VALIDATE,
        "Statement wasn't well formed, can't be processed: unexpected end of statement at "
        f"line 1, column {len(MISSING) + 23}; expected a value",
        3,
    ),
    Row(
        DYNAMODB,
        "BatchExecuteStatement",
        {"Statements": [], "ReturnConsumedCapacity": "ALL"},
        CORAL_VALIDATE,
        validation(
            2,
            violation("[]", "statements", "Member must have length greater than or equal to 1"),
            violation(
                "ALL",
                "returnConsumedCapacity",
                "Member must satisfy enum value set: [INDEXES, TOTAL, NONE]",
            ),
        ),
        2,
    ),
    Row(
        DYNAMODB,
        "ExecuteTransaction",
        {
            "TransactStatements": [
                {"Statement": f"DELETE FROM \"{MISSING}\" WHERE pk = 'a'"},
                {"Statement": f"INSERT INTO \"{MISSING}\" VALUE {{'pk': ?}}"},
            ]
        },
        CORAL_VALIDATE,
        "Number of parameters in request and statement don't match.",
        3,
    ),
    # ---------------------------------------------------------------- Streams API
    Row(
        STREAMS,
        "ListStreams",
        {"TableName": MISSING, "Limit": 0},
        CORAL_VALIDATE,
        validation(1, violation("0", "limit", "Member must have value greater than or equal to 1")),
        2,
    ),
    Row(
        STREAMS,
        "DescribeStream",
        {"StreamArn": MISSING_STREAM, "ShardFilter": {"Type": "CHILD_SHARDS"}},
        CORAL_VALIDATE,
        "ShardFilter must have Type CHILD_SHARDS and a ShardId",
        3,
    ),
    Row(
        STREAMS,
        "GetShardIterator",
        {
            "StreamArn": MISSING_STREAM,
            "ShardId": "shardId-00000001600000000000-00000000",
            "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
        },
        CORAL_VALIDATE,
        "SequenceNumber is required for ShardIteratorType AFTER_SEQUENCE_NUMBER",
        3,
    ),
    Row(
        STREAMS,
        "GetRecords",
        {"ShardIterator": "", "Limit": 0},
        CORAL_VALIDATE,
        validation(
            2,
            violation("", "shardIterator", "Member must have length greater than or equal to 1"),
            violation("0", "limit", "Member must have value greater than or equal to 1"),
        ),
        2,
    ),
    # ------------------------------------------------- Lambda event-source mappings
    Row(
        LAMBDA,
        "CreateEventSourceMapping",
        ("POST", MAPPINGS, {"FunctionName": "f", "EventSourceArn": MISSING_STREAM, "BatchSize": 0}),
        "ValidationException",
        validation(
            1, violation("0", "batchSize", "Member must have value greater than or equal to 1")
        ),
        2,
    ),
    Row(
        LAMBDA,
        "GetEventSourceMapping",
        ("GET", f"{MAPPINGS}/{MISSING_MAPPING}", None),
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
        4,
    ),
    Row(
        LAMBDA,
        "UpdateEventSourceMapping",
        ("PUT", f"{MAPPINGS}/{MISSING_MAPPING}", {"BatchSize": 0}),
        "ValidationException",
        validation(
            1, violation("0", "batchSize", "Member must have value greater than or equal to 1")
        ),
        2,
    ),
    Row(
        LAMBDA,
        "DeleteEventSourceMapping",
        ("DELETE", f"{MAPPINGS}/{MISSING_MAPPING}", None),
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
        4,
    ),
    Row(
        LAMBDA,
        "ListEventSourceMappings",
        ("GET", f"{MAPPINGS}?MaxItems=0&EventSourceArn={MISSING_STREAM}", None),
        "ValidationException",
        validation(
            1, violation("0", "maxItems", "Member must have value greater than or equal to 1")
        ),
        2,
    ),
]

LAMBDA_OPERATIONS = {
    "CreateEventSourceMapping",
    "GetEventSourceMapping",
    "UpdateEventSourceMapping",
    "DeleteEventSourceMapping",
    "ListEventSourceMappings",
}


def test_every_served_operation_has_a_row() -> None:
    served = (
        {(DYNAMODB, name) for name in OPERATIONS}
        | {(STREAMS, name) for name in STREAM_OPERATIONS}
        | {(LAMBDA, name) for name in LAMBDA_OPERATIONS}
    )
    rows = {(row.service, row.operation) for row in ROWS}
    assert rows == served


@pytest.fixture(scope="module")
def existing_table(raw: RawClient) -> str:
    """The table CreateTable's row names (so CreateTable would also fail at step 4)."""
    raw.call(
        "CreateTable",
        {
            "TableName": "order_existing",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )
    assert raw.call("DescribeTable", {"TableName": "order_existing"}).status == 200
    return "order_existing"


def _send(raw: RawClient, row: Row) -> RawResponse:
    if row.service == LAMBDA:
        method, path, body = row.request
        return raw.request(
            None if body is None else json.dumps(body),
            None,
            method=method,
            path=path,
            content_type="application/json",
            authorization=LAMBDA_AUTHORIZATION,
        )
    return raw.call(row.operation, row.request, prefix=row.service)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: f"{row.operation}-step{row.step}")
def test_the_earliest_broken_rule_answers(raw: RawClient, existing_table: str, row: Row) -> None:
    response = _send(raw, row)
    if row.service == LAMBDA:
        key = "Message" if row.error == "ResourceNotFoundException" else "message"
        assert (response.status, response.amzn_error_type) == (
            404 if row.error == "ResourceNotFoundException" else 400,
            row.error,
        ), response.body
        assert response.json == {"Type": "User", key: row.message}
        return
    assert response.status == 400, response.body
    expected: dict[str, Any] = {"__type": row.error}
    if row.message is not None:
        expected["Message" if row.error == CORAL_SERIALIZATION else "message"] = row.message
    assert response.json == expected
    # nothing was created on the way
    assert raw.call("DescribeTable", {"TableName": MISSING}).error_type == (
        "ResourceNotFoundException"
    )
