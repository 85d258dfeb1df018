"""The DynamoDB JSON protocol itself: routing, headers, CRC32, protocol errors."""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest

from tests.conftest import RawClient


def test_get_root_answers_aws_health_text(raw: RawClient) -> None:
    response = raw.request(b"", None, method="GET")
    assert response.status == 200
    assert response.body == b"healthy: dynamodb.us-east-1.amazonaws.com "


def test_success_carries_request_id_and_correct_crc32(raw: RawClient) -> None:
    response = raw.call("ListTables", {})
    assert response.status == 200
    assert response.headers["content-type"] == "application/x-amz-json-1.0"
    rid = response.headers["x-amzn-requestid"]
    assert len(rid) == 52 and rid.isalnum() and rid.upper() == rid
    assert int(response.headers["x-amz-crc32"]) == zlib.crc32(response.body)
    assert "TableNames" in response.json


def test_request_ids_are_unique(raw: RawClient) -> None:
    ids = {raw.call("ListTables", {}).headers["x-amzn-requestid"] for _ in range(20)}
    assert len(ids) == 20


def test_path_is_ignored_like_aws(raw: RawClient) -> None:
    response = raw.request(b"{}", "DynamoDB_20120810.ListTables", path="/some/path")
    assert response.status == 200 and "TableNames" in response.json


def test_application_json_content_type_is_answered_in_kind(raw: RawClient) -> None:
    response = raw.request(b"{}", "DynamoDB_20120810.ListTables", content_type="application/json")
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("body", [b"{", b"not json", b"", b"[1,", b"\xff\xfe"])
def test_malformed_json_is_a_serialization_exception(raw: RawClient, body: bytes) -> None:
    response = raw.request(body, "DynamoDB_20120810.ListTables")
    assert response.status == 400
    assert response.json["__type"] == "com.amazon.coral.service#SerializationException"
    assert int(response.headers["x-amz-crc32"]) == zlib.crc32(response.body)


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "DynamoDB_20120810.NoSuchOp",
        "Nope_20120810.ListTables",
        "DynamoDB_20120810.CreateBackup",
        "ListTables",
    ],
)
def test_unknown_target_is_unknown_operation(raw: RawClient, target: str | None) -> None:
    response = raw.request(b"{}", target)
    assert response.status == 400
    assert response.json["__type"] == "com.amazon.coral.service#UnknownOperationException"


def test_non_post_is_404_unknown_operation(raw: RawClient) -> None:
    response = raw.request(b"", None, method="PUT")
    assert response.status == 404
    assert b"UnknownOperationException" in response.body


def test_validation_error_json_shape(raw: RawClient) -> None:
    response = raw.call("DescribeTable", {"TableName": "ab"})
    assert response.status == 400
    assert response.json == {
        "__type": "com.amazon.coral.validate#ValidationException",
        "message": "1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3",
    }


def test_missing_table_name_json_shape(raw: RawClient) -> None:
    """DescribeTable's own sentence for a missing TableName (aws-sdk-java#977)."""
    response = raw.call("DescribeTable", {})
    assert response.status == 400
    assert response.json == {
        "__type": "com.amazon.coral.validate#ValidationException",
        "message": "The parameter 'TableName' is required but was not present in the request",
    }


def test_resource_not_found_json_shape(raw: RawClient) -> None:
    response = raw.call("DescribeTable", {"TableName": "does_not_exist"})
    assert response.status == 400
    assert response.json == {
        "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
        "message": "Requested resource not found: Table: does_not_exist not found",
    }


def test_oversized_body_is_refused_without_reading_it(raw: RawClient) -> None:
    body = b'{"TableName": "' + b"a" * (17 * 1024 * 1024) + b'"}'
    response = raw.request(body, "DynamoDB_20120810.DescribeTable")
    assert response.status == 413
    assert response.error_type == "RequestEntityTooLarge"


def test_boto3_sees_modeled_errors(ddb: Any) -> None:
    with pytest.raises(ddb.exceptions.ResourceNotFoundException) as info:
        ddb.describe_table(TableName="missing_table")
    assert (
        info.value.response["Error"]["Message"]
        == "Requested resource not found: Table: missing_table not found"
    )
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert len(info.value.response["ResponseMetadata"]["RequestId"]) == 52


def test_many_concurrent_connections_all_answered(raw: RawClient) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(32) as pool:
        statuses = list(
            pool.map(lambda _: raw.call("ListTables", json.dumps({})).status, range(200))
        )
    assert statuses == [200] * 200
