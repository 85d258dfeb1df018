"""The Lambda event source mapping control plane over the wire.

CreateEventSourceMapping / Get / Update / Delete / List through boto3 ``lambda`` clients,
raw HTTP (exact JSON bodies, status codes and the ``x-amzn-ErrorType`` header), the real
AWS CLI, a restarted server process, and many concurrent clients.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from dynoxide_streams import Server
from tests.conftest import RawClient, RawResponse, make_client
from tests.process import start_server

REGION = "us-east-1"
ACCOUNT = "000000000000"
MAPPINGS = "/2015-03-31/event-source-mappings"
NOT_FOUND_BODY = {"Type": "User", "Message": "The resource you requested does not exist."}
STREAMS = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
CONFIG_KEYS = {
    "UUID",
    "EventSourceMappingArn",
    "StartingPosition",
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "ParallelizationFactor",
    "EventSourceArn",
    "FunctionArn",
    "LastModified",
    "LastProcessingResult",
    "State",
    "StateTransitionReason",
    "DestinationConfig",
    "MaximumRecordAgeInSeconds",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "TumblingWindowInSeconds",
    "FunctionResponseTypes",
}
STATE_DEADLINE_S = 10.0


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def handler(event: Any, context: Any) -> None:
    """A trivial function; nothing in this file needs it to be invoked."""
    return None


# ----------------------------------------------------------------------------- raw HTTP


LAMBDA_AUTHORIZATION = "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/lambda/aws4_request"


class LambdaRaw:
    """Plain HTTP requests to the Lambda REST-JSON API."""

    def __init__(self, endpoint: str) -> None:
        self.raw = RawClient(endpoint)

    def request(
        self, method: str, path: str, body: bytes | str | dict[str, Any] | None = None
    ) -> RawResponse:
        if isinstance(body, dict):
            body = json.dumps(body)
        return self.raw.request(
            body,
            None,
            method=method,
            path=path,
            content_type="application/json",
            authorization=LAMBDA_AUTHORIZATION,
        )

    def create(self, params: dict[str, Any] | bytes | str) -> RawResponse:
        return self.request("POST", MAPPINGS, params)

    def get(self, mapping_id: str) -> RawResponse:
        return self.request("GET", f"{MAPPINGS}/{quote(mapping_id)}")

    def update(self, mapping_id: str, params: dict[str, Any] | bytes | str) -> RawResponse:
        return self.request("PUT", f"{MAPPINGS}/{quote(mapping_id)}", params)

    def delete(self, mapping_id: str) -> RawResponse:
        return self.request("DELETE", f"{MAPPINGS}/{quote(mapping_id)}")

    def list(self, **query: Any) -> RawResponse:
        suffix = f"?{urlencode(query)}" if query else ""
        return self.request("GET", MAPPINGS + suffix)


def assert_error(response: RawResponse, name: str, status: int, message: str) -> None:
    """An exact Lambda error: status, x-amzn-ErrorType and the body (message key casing
    per the error's model)."""
    key = "Message" if name == "ResourceNotFoundException" else "message"
    assert (response.status, response.amzn_error_type) == (status, name), response.body
    assert response.json == {"Type": "User", key: message}


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def lam(endpoint: str) -> Any:
    return make_client(endpoint, "lambda")


@pytest.fixture(scope="module")
def lam_nv(endpoint: str) -> Any:
    """A lambda client that sends out-of-range values instead of rejecting them."""
    return boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(
            parameter_validation=False,
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        ),
    )


@pytest.fixture(scope="module")
def http_api(endpoint: str) -> LambdaRaw:
    return LambdaRaw(endpoint)


@pytest.fixture
def new_function(server: Any) -> Callable[[], str]:
    """Register a uniquely named trivial function on the shared server."""

    def register() -> str:
        name = f"fn_{uuid.uuid4().hex[:12]}"
        server.register_function(name, handler)
        return name

    return register


@pytest.fixture
def function(new_function: Callable[[], str]) -> str:
    return new_function()


@pytest.fixture
def new_stream(ddb: Any, http_api: LambdaRaw) -> Iterator[Callable[[], str]]:
    """Create stream-enabled tables; their mappings are deleted afterwards so the shared
    server keeps no pollers from this file."""
    arns: list[str] = []

    def create() -> str:
        name = f"esm_{uuid.uuid4().hex[:12]}"
        created = ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification=STREAMS,
        )
        arn = created["TableDescription"]["LatestStreamArn"]
        arns.append(arn)
        return str(arn)

    yield create
    for arn in arns:
        for mapping in list_all(http_api, EventSourceArn=arn):
            http_api.delete(mapping["UUID"])


@pytest.fixture
def stream(new_stream: Callable[[], str]) -> str:
    return new_stream()


# ----------------------------------------------------------------------------- helpers


def list_all(http_api: LambdaRaw, **query: Any) -> list[dict[str, Any]]:
    """Every mapping matching ``query`` (following NextMarker)."""
    out: list[dict[str, Any]] = []
    marker: str | None = None
    while True:
        params = dict(query)
        if marker is not None:
            params["Marker"] = marker
        response = http_api.list(**params)
        assert response.status == 200, response.body
        page = response.json
        out.extend(page["EventSourceMappings"])
        marker = page.get("NextMarker")
        if marker is None:
            return out


def count(http_api: LambdaRaw, stream_arn: str) -> int:
    return len(list_all(http_api, EventSourceArn=stream_arn))


def wait_state(http_api: LambdaRaw, mapping_id: str, state: str) -> dict[str, Any]:
    """Poll GetEventSourceMapping until the mapping reaches ``state`` (bounded)."""
    deadline = time.monotonic() + STATE_DEADLINE_S
    seen: list[str] = []
    while True:
        response = http_api.get(mapping_id)
        assert response.status == 200, response.body
        config: dict[str, Any] = response.json
        if not seen or seen[-1] != config["State"]:
            seen.append(config["State"])
        if config["State"] == state:
            return config
        assert time.monotonic() < deadline, f"state never became {state}: saw {seen}"
        time.sleep(0.01)


def client_error(call: Callable[..., Any], **params: Any) -> ClientError:
    with pytest.raises(ClientError) as info:
        call(**params)
    return info.value


def assert_client_error(error: ClientError, name: str, status: int, message: str) -> None:
    assert error.response["Error"]["Code"] == name
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error.response["Error"]["Message"] == message


def without_metadata(parsed: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in parsed.items() if k != "ResponseMetadata"}


def assert_same_as_raw(parsed: dict[str, Any], raw_config: dict[str, Any]) -> None:
    """boto3's parse of a configuration equals the raw JSON (LastModified as datetime)."""
    parsed = without_metadata(parsed)
    assert set(parsed) == set(raw_config)
    modified = parsed.pop("LastModified")
    assert isinstance(modified, datetime.datetime)
    assert modified.timestamp() == pytest.approx(raw_config["LastModified"], abs=1e-3)
    assert parsed == {k: v for k, v in raw_config.items() if k != "LastModified"}


# ============================================================================ 1. Create


def test_create_returns_202_and_the_full_default_configuration(
    http_api: LambdaRaw, lam: Any, function: str, stream: str
) -> None:
    before = time.time()
    response = http_api.create(
        {"FunctionName": function, "EventSourceArn": stream, "StartingPosition": "TRIM_HORIZON"}
    )
    after = time.time()

    assert response.status == 202, response.body
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("x-amzn-requestid")
    assert "x-amzn-errortype" not in response.headers
    config = response.json
    assert set(config) == CONFIG_KEYS
    mapping_id = config["UUID"]
    assert isinstance(mapping_id, str) and len(mapping_id) == 36
    assert str(uuid.UUID(mapping_id)) == mapping_id
    modified = config.pop("LastModified")
    assert isinstance(modified, (int, float)) and not isinstance(modified, bool)
    assert before - 5 <= modified <= after + 5
    assert config == {
        "UUID": mapping_id,
        "EventSourceMappingArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:"
        + mapping_id,
        "StartingPosition": "TRIM_HORIZON",
        "BatchSize": 100,
        "MaximumBatchingWindowInSeconds": 0,
        "ParallelizationFactor": 1,
        "EventSourceArn": stream,
        "FunctionArn": function_arn(function),
        "LastProcessingResult": "No records processed",
        "State": "Creating",
        "StateTransitionReason": "User action",
        "DestinationConfig": {"OnFailure": {}},
        "MaximumRecordAgeInSeconds": -1,
        "BisectBatchOnFunctionError": False,
        "MaximumRetryAttempts": -1,
        "TumblingWindowInSeconds": 0,
        "FunctionResponseTypes": [],
    }

    enabled = wait_state(http_api, mapping_id, "Enabled")
    assert enabled == {**config, "LastModified": modified, "State": "Enabled"}

    # boto3 parses the same document (LastModified becomes a datetime).
    assert_same_as_raw(lam.get_event_source_mapping(UUID=mapping_id), enabled)


def test_create_through_boto3_matches_the_raw_shape(
    http_api: LambdaRaw, lam: Any, function: str, stream: str
) -> None:
    created = lam.create_event_source_mapping(
        FunctionName=function_arn(function),
        EventSourceArn=stream,
        StartingPosition="LATEST",
        BatchSize=25,
        MaximumBatchingWindowInSeconds=2,
        ParallelizationFactor=3,
        MaximumRecordAgeInSeconds=3600,
        MaximumRetryAttempts=5,
        BisectBatchOnFunctionError=True,
        TumblingWindowInSeconds=60,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        FilterCriteria={"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}]},
        DestinationConfig={"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}},
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert created["State"] == "Creating"
    assert isinstance(created["LastModified"], datetime.datetime)
    assert created["FunctionArn"] == function_arn(function)
    assert created["StartingPosition"] == "LATEST"
    assert created["BatchSize"] == 25
    assert created["MaximumBatchingWindowInSeconds"] == 2
    assert created["ParallelizationFactor"] == 3
    assert created["MaximumRecordAgeInSeconds"] == 3600
    assert created["MaximumRetryAttempts"] == 5
    assert created["BisectBatchOnFunctionError"] is True
    assert created["TumblingWindowInSeconds"] == 60
    assert created["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert created["FilterCriteria"] == {"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}]}
    assert created["DestinationConfig"] == {
        "OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}
    }

    enabled = wait_state(http_api, created["UUID"], "Enabled")
    assert set(enabled) == CONFIG_KEYS | {"FilterCriteria"}
    created_doc = without_metadata(created)
    assert {k: v for k, v in created_doc.items() if k not in ("State", "LastModified")} == {
        k: v for k, v in enabled.items() if k not in ("State", "LastModified")
    }
    assert_same_as_raw(lam.get_event_source_mapping(UUID=created["UUID"]), enabled)


def test_create_disabled_settles_as_disabled(
    http_api: LambdaRaw, lam: Any, function: str, stream: str
) -> None:
    response = http_api.create(
        {
            "FunctionName": function,
            "EventSourceArn": stream,
            "StartingPosition": "LATEST",
            "Enabled": False,
        }
    )
    assert response.status == 202, response.body
    assert response.json["State"] == "Creating"
    assert response.json["StartingPosition"] == "LATEST"
    disabled = wait_state(http_api, response.json["UUID"], "Disabled")
    assert disabled["StateTransitionReason"] == "User action"
    assert lam.get_event_source_mapping(UUID=response.json["UUID"])["State"] == "Disabled"


# =========================================================== 2. Get / Update / Delete


def test_update_changes_settings_and_passes_through_updating(
    http_api: LambdaRaw, lam: Any, function: str, stream: str
) -> None:
    created = lam.create_event_source_mapping(
        FunctionName=function, EventSourceArn=stream, StartingPosition="TRIM_HORIZON"
    )
    mapping_id = created["UUID"]
    original = wait_state(http_api, mapping_id, "Enabled")

    response = http_api.update(
        mapping_id,
        {
            "BatchSize": 7,
            "MaximumBatchingWindowInSeconds": 5,
            "MaximumRetryAttempts": 3,
            "MaximumRecordAgeInSeconds": 120,
            "BisectBatchOnFunctionError": True,
            "ParallelizationFactor": 2,
            "TumblingWindowInSeconds": 30,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    )
    assert response.status == 202, response.body
    updated = response.json
    assert updated["State"] == "Updating"
    assert updated["LastModified"] >= original["LastModified"]
    changed = {
        "BatchSize": 7,
        "MaximumBatchingWindowInSeconds": 5,
        "MaximumRetryAttempts": 3,
        "MaximumRecordAgeInSeconds": 120,
        "BisectBatchOnFunctionError": True,
        "ParallelizationFactor": 2,
        "TumblingWindowInSeconds": 30,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
    }
    assert updated == {
        **original,
        **changed,
        "State": "Updating",
        "LastModified": updated["LastModified"],
    }
    settled = wait_state(http_api, mapping_id, "Enabled")
    assert settled == {**updated, "State": "Enabled"}

    # boto3 update: only the named parameter changes.
    again = lam.update_event_source_mapping(UUID=mapping_id, BatchSize=9)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert again["State"] == "Updating"
    assert again["BatchSize"] == 9
    assert again["MaximumRetryAttempts"] == 3
    assert again["UUID"] == mapping_id
    assert again["EventSourceArn"] == stream
    assert again["StartingPosition"] == "TRIM_HORIZON"
    assert_same_as_raw(
        lam.get_event_source_mapping(UUID=mapping_id), wait_state(http_api, mapping_id, "Enabled")
    )


def test_update_enabled_toggles_between_disabled_and_enabled(
    http_api: LambdaRaw, lam: Any, function: str, stream: str
) -> None:
    mapping_id = lam.create_event_source_mapping(
        FunctionName=function, EventSourceArn=stream, StartingPosition="TRIM_HORIZON"
    )["UUID"]
    wait_state(http_api, mapping_id, "Enabled")

    off = http_api.update(mapping_id, {"Enabled": False})
    assert off.status == 202, off.body
    assert off.json["State"] == "Updating"
    disabled = wait_state(http_api, mapping_id, "Disabled")
    assert disabled["BatchSize"] == 100

    on = lam.update_event_source_mapping(UUID=mapping_id, Enabled=True)
    assert on["State"] == "Updating"
    wait_state(http_api, mapping_id, "Enabled")

    off_again = lam.update_event_source_mapping(UUID=mapping_id, Enabled=False)
    assert off_again["State"] == "Updating"
    assert lam.get_event_source_mapping(UUID=mapping_id)["State"] in ("Updating", "Disabled")
    wait_state(http_api, mapping_id, "Disabled")


def test_delete_answers_deleting_then_the_mapping_is_gone(
    http_api: LambdaRaw, lam: Any, function: str, stream: str
) -> None:
    mapping_id = http_api.create(
        {"FunctionName": function, "EventSourceArn": stream, "StartingPosition": "TRIM_HORIZON"}
    ).json["UUID"]
    enabled = wait_state(http_api, mapping_id, "Enabled")

    deleted = http_api.delete(mapping_id)
    assert deleted.status == 202, deleted.body
    assert deleted.json == {**enabled, "State": "Deleting"}

    gone = http_api.get(mapping_id)
    assert (gone.status, gone.amzn_error_type) == (404, "ResourceNotFoundException")
    assert gone.json == NOT_FOUND_BODY
    again = http_api.delete(mapping_id)
    assert (again.status, again.amzn_error_type) == (404, "ResourceNotFoundException")
    assert again.json == NOT_FOUND_BODY
    assert count(http_api, stream) == 0

    # boto3 sees the modelled exception.
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as info:
        lam.get_event_source_mapping(UUID=mapping_id)
    assert_client_error(
        info.value, "ResourceNotFoundException", 404, "The resource you requested does not exist."
    )
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.delete_event_source_mapping(UUID=mapping_id)


def test_delete_through_boto3(http_api: LambdaRaw, lam: Any, function: str, stream: str) -> None:
    mapping_id = lam.create_event_source_mapping(
        FunctionName=function, EventSourceArn=stream, StartingPosition="LATEST", Enabled=False
    )["UUID"]
    deleted = lam.delete_event_source_mapping(UUID=mapping_id)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert deleted["State"] == "Deleting"
    assert deleted["UUID"] == mapping_id
    assert isinstance(deleted["LastModified"], datetime.datetime)
    assert_error(
        http_api.get(mapping_id),
        "ResourceNotFoundException",
        404,
        "The resource you requested does not exist.",
    )
    # The same function and stream can be mapped again once the old mapping is gone.
    again = lam.create_event_source_mapping(
        FunctionName=function, EventSourceArn=stream, StartingPosition="LATEST"
    )
    assert again["UUID"] != mapping_id
    assert count(http_api, stream) == 1


def test_update_function_name_moves_the_mapping_but_never_duplicates_a_pair(
    http_api: LambdaRaw, lam: Any, new_function: Callable[[], str], stream: str
) -> None:
    fa, fb, fc = new_function(), new_function(), new_function()
    a = lam.create_event_source_mapping(
        FunctionName=fa, EventSourceArn=stream, StartingPosition="LATEST"
    )["UUID"]
    b = lam.create_event_source_mapping(
        FunctionName=fb, EventSourceArn=stream, StartingPosition="LATEST"
    )["UUID"]

    # To a function with no mapping on this stream: allowed, FunctionArn follows.
    moved = http_api.update(b, {"FunctionName": fc})
    assert moved.status == 202, moved.body
    assert moved.json["FunctionArn"] == function_arn(fc)
    assert moved.json["State"] == "Updating"
    assert wait_state(http_api, b, "Enabled")["FunctionArn"] == function_arn(fc)

    # To a function that already has a mapping on this stream: the same conflict Create
    # gives, and nothing changes.
    before = http_api.get(b).json
    conflict = http_api.update(b, {"FunctionName": fa})
    assert (conflict.status, conflict.amzn_error_type) == (409, "ResourceConflictException"), (
        conflict.status,
        conflict.body,
    )
    assert a in conflict.json["message"]
    assert http_api.get(b).json == before
    arns = sorted(m["FunctionArn"] for m in list_all(http_api, EventSourceArn=stream))
    assert arns == sorted([function_arn(fa), function_arn(fc)])


def test_get_update_delete_of_an_unknown_uuid_are_404(http_api: LambdaRaw, lam: Any) -> None:
    unknown = str(uuid.uuid4())
    for response in (
        http_api.get(unknown),
        http_api.update(unknown, {"BatchSize": 5}),
        http_api.delete(unknown),
    ):
        assert_error(
            response,
            "ResourceNotFoundException",
            404,
            "The resource you requested does not exist.",
        )
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as info:
        lam.update_event_source_mapping(UUID=unknown, BatchSize=5)
    assert_client_error(
        info.value, "ResourceNotFoundException", 404, "The resource you requested does not exist."
    )


# ============================================================================== 3. List


def test_list_filters_by_event_source_and_function(
    http_api: LambdaRaw,
    lam: Any,
    new_function: Callable[[], str],
    new_stream: Callable[[], str],
) -> None:
    fa, fb = new_function(), new_function()
    s1, s2 = new_stream(), new_stream()
    ids = {}
    for fn, arn in ((fa, s1), (fb, s1), (fa, s2)):
        ids[fn, arn] = lam.create_event_source_mapping(
            FunctionName=fn, EventSourceArn=arn, StartingPosition="TRIM_HORIZON"
        )["UUID"]

    def uuids(response: RawResponse) -> set[str]:
        assert response.status == 200, response.body
        assert "x-amzn-errortype" not in response.headers
        assert "NextMarker" not in response.json
        return {m["UUID"] for m in response.json["EventSourceMappings"]}

    assert uuids(http_api.list(EventSourceArn=s1)) == {ids[fa, s1], ids[fb, s1]}
    assert uuids(http_api.list(EventSourceArn=s2)) == {ids[fa, s2]}
    assert uuids(http_api.list(FunctionName=fa)) == {ids[fa, s1], ids[fa, s2]}
    assert uuids(http_api.list(FunctionName=function_arn(fa))) == {ids[fa, s1], ids[fa, s2]}
    assert uuids(http_api.list(FunctionName=fb)) == {ids[fb, s1]}
    assert uuids(http_api.list(EventSourceArn=s1, FunctionName=fa)) == {ids[fa, s1]}
    assert uuids(http_api.list(EventSourceArn=s2, FunctionName=fb)) == set()

    # Unfiltered: every one of ours is there (the shared server may hold others).
    everything = {m["UUID"] for m in list_all(http_api)}
    assert set(ids.values()) <= everything

    # Entries are full configurations, the same as Get.
    listed = http_api.list(EventSourceArn=s2).json["EventSourceMappings"][0]
    assert set(listed) == CONFIG_KEYS
    got = http_api.get(ids[fa, s2]).json
    assert {k: v for k, v in listed.items() if k != "State"} == {
        k: v for k, v in got.items() if k != "State"
    }

    # boto3 forms.
    by_arn = lam.list_event_source_mappings(FunctionName=function_arn(fa))
    assert {m["UUID"] for m in by_arn["EventSourceMappings"]} == {ids[fa, s1], ids[fa, s2]}
    assert "NextMarker" not in by_arn
    both = lam.list_event_source_mappings(EventSourceArn=s1, FunctionName=fb)
    assert [m["UUID"] for m in both["EventSourceMappings"]] == [ids[fb, s1]]
    assert isinstance(both["EventSourceMappings"][0]["LastModified"], datetime.datetime)


def test_list_pages_with_marker(
    http_api: LambdaRaw, lam: Any, new_function: Callable[[], str], stream: str
) -> None:
    created = [
        lam.create_event_source_mapping(
            FunctionName=new_function(), EventSourceArn=stream, StartingPosition="LATEST"
        )["UUID"]
        for _ in range(7)
    ]

    collected: list[str] = []
    sizes: list[int] = []
    marker: str | None = None
    for _ in range(10):
        query: dict[str, Any] = {"EventSourceArn": stream, "MaxItems": 3}
        if marker is not None:
            query["Marker"] = marker
        response = http_api.list(**query)
        assert response.status == 200, response.body
        page = response.json
        sizes.append(len(page["EventSourceMappings"]))
        collected += [m["UUID"] for m in page["EventSourceMappings"]]
        marker = page.get("NextMarker")
        if marker is None:
            break
        assert isinstance(marker, str) and marker
    assert marker is None
    assert sizes == [3, 3, 1]
    assert len(collected) == len(set(collected)) == 7
    assert set(collected) == set(created)

    # The same through boto3 with explicit Marker.
    boto_ids: list[str] = []
    params: dict[str, Any] = {"EventSourceArn": stream, "MaxItems": 3}
    while True:
        page = lam.list_event_source_mappings(**params)
        boto_ids += [m["UUID"] for m in page["EventSourceMappings"]]
        if "NextMarker" not in page:
            break
        params["Marker"] = page["NextMarker"]
    assert boto_ids == collected

    # And the boto3 paginator.
    paginator = lam.get_paginator("list_event_source_mappings")
    pages = list(paginator.paginate(EventSourceArn=stream, PaginationConfig={"PageSize": 3}))
    assert [len(p["EventSourceMappings"]) for p in pages] == [3, 3, 1]
    assert [m["UUID"] for p in pages for m in p["EventSourceMappings"]] == collected
    limited = paginator.paginate(
        EventSourceArn=stream, PaginationConfig={"PageSize": 2, "MaxItems": 5}
    ).build_full_result()
    assert [m["UUID"] for m in limited["EventSourceMappings"]] == collected[:5]
    resumed = paginator.paginate(
        EventSourceArn=stream,
        PaginationConfig={"PageSize": 2, "StartingToken": limited["NextToken"]},
    ).build_full_result()
    assert [m["UUID"] for m in resumed["EventSourceMappings"]] == collected[5:]

    # A page exactly as large as the rest has no NextMarker.
    whole = http_api.list(EventSourceArn=stream, MaxItems=7).json
    assert len(whole["EventSourceMappings"]) == 7
    assert "NextMarker" not in whole


def test_list_paging_misses_no_mapping_when_one_is_deleted_between_pages(
    http_api: LambdaRaw, lam: Any, new_function: Callable[[], str], stream: str
) -> None:
    created = [
        lam.create_event_source_mapping(
            FunctionName=new_function(), EventSourceArn=stream, StartingPosition="LATEST"
        )["UUID"]
        for _ in range(7)
    ]
    first = http_api.list(EventSourceArn=stream, MaxItems=3).json
    seen = [m["UUID"] for m in first["EventSourceMappings"]]
    assert len(seen) == 3 and first.get("NextMarker")

    # Another client deletes a mapping the pager has already seen.
    assert http_api.delete(seen[0]).status == 202

    marker = first["NextMarker"]
    for _ in range(10):
        page = http_api.list(EventSourceArn=stream, MaxItems=3, Marker=marker).json
        seen += [m["UUID"] for m in page["EventSourceMappings"]]
        marker = page.get("NextMarker")
        if marker is None:
            break
    assert marker is None
    assert len(seen) == len(set(seen))
    # Every mapping that existed for the whole listing is listed.
    assert set(seen) == set(created), sorted(set(created) - set(seen))


def test_list_rejects_a_bad_marker(http_api: LambdaRaw, stream: str) -> None:
    for marker in ("not-a-marker", "999999"):
        response = http_api.list(EventSourceArn=stream, Marker=marker)
        assert (response.status, response.amzn_error_type) == (
            400,
            "InvalidParameterValueException",
        )
        assert response.json["Type"] == "User"


def test_list_rejects_invalid_max_items(http_api: LambdaRaw, lam_nv: Any, stream: str) -> None:
    assert_error(
        http_api.list(EventSourceArn=stream, MaxItems=0),
        "ValidationException",
        400,
        "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1",
    )
    assert_error(
        http_api.list(MaxItems=10001),
        "ValidationException",
        400,
        "1 validation error detected: Value '10001' at 'maxItems' failed to satisfy "
        "constraint: Member must have value less than or equal to 10000",
    )
    error = client_error(lam_nv.list_event_source_mappings, EventSourceArn=stream, MaxItems=0)
    assert_client_error(
        error,
        "ValidationException",
        400,
        "1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1",
    )


# ======================================================================== 4. Validation


def _ranges(value: int, member: str, bound: str) -> str:
    return (
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: Member must have value {bound}"
    )


# (id, extra params (or a callable of (function, stream) -> params), error, status, message
# (or a callable of (function, stream) -> message))
CREATE_ERRORS: list[tuple[str, Any, str, int, Any]] = [
    (
        "batch-size-0",
        {"BatchSize": 0},
        "ValidationException",
        400,
        _ranges(0, "batchSize", "greater than or equal to 1"),
    ),
    (
        "batch-size-10001",
        {"BatchSize": 10001},
        "ValidationException",
        400,
        _ranges(10001, "batchSize", "less than or equal to 10000"),
    ),
    (
        "parallelization-11",
        {"ParallelizationFactor": 11},
        "ValidationException",
        400,
        _ranges(11, "parallelizationFactor", "less than or equal to 10"),
    ),
    (
        "retry-attempts-minus-2",
        {"MaximumRetryAttempts": -2},
        "ValidationException",
        400,
        _ranges(-2, "maximumRetryAttempts", "greater than or equal to -1"),
    ),
    (
        "record-age-30",
        {"MaximumRecordAgeInSeconds": 30},
        "InvalidParameterValueException",
        400,
        "MaximumRecordAgeInSeconds must be -1 or between 60 and 604800.",
    ),
    (
        "record-age-604801",
        {"MaximumRecordAgeInSeconds": 604801},
        "ValidationException",
        400,
        _ranges(604801, "maximumRecordAgeInSeconds", "less than or equal to 604800"),
    ),
    (
        "batching-window-301",
        {"MaximumBatchingWindowInSeconds": 301},
        "ValidationException",
        400,
        _ranges(301, "maximumBatchingWindowInSeconds", "less than or equal to 300"),
    ),
    (
        "tumbling-window-901",
        {"TumblingWindowInSeconds": 901},
        "ValidationException",
        400,
        _ranges(901, "tumblingWindowInSeconds", "less than or equal to 900"),
    ),
    (
        "starting-position-missing",
        {"StartingPosition": None},
        "InvalidParameterValueException",
        400,
        "1 validation error detected: Value null at 'startingPosition' failed to satisfy "
        "constraint: Member must not be null.",
    ),
    (
        "starting-position-at-timestamp",
        {"StartingPosition": "AT_TIMESTAMP"},
        "InvalidParameterValueException",
        400,
        lambda fn, arn: f"Unsupported starting position for arn type: {arn}",
    ),
    (
        "starting-position-bad-enum",
        {"StartingPosition": "EARLIEST"},
        "ValidationException",
        400,
        "1 validation error detected: Value 'EARLIEST' at 'startingPosition' failed to "
        "satisfy constraint: Member must satisfy enum value set: "
        "[TRIM_HORIZON, LATEST, AT_TIMESTAMP]",
    ),
    (
        "function-response-types-foo",
        {"FunctionResponseTypes": ["Foo"]},
        "ValidationException",
        400,
        "1 validation error detected: Value '[Foo]' at 'functionResponseTypes' failed to "
        "satisfy constraint: Member must satisfy constraint: "
        "[Member must satisfy enum value set: [ReportBatchItemFailures]]",
    ),
    (
        "two-validation-errors",
        {"BatchSize": 0, "ParallelizationFactor": 11},
        "ValidationException",
        400,
        "2 validation errors detected: Value '0' at 'batchSize' failed to satisfy "
        "constraint: Member must have value greater than or equal to 1; Value '11' at "
        "'parallelizationFactor' failed to satisfy constraint: Member must have value less "
        "than or equal to 10",
    ),
    (
        "unknown-function",
        lambda fn, arn: {"FunctionName": fn + "_missing"},
        "ResourceNotFoundException",
        404,
        lambda fn, arn: f"Function not found: {function_arn(fn + '_missing')}",
    ),
    (
        "unknown-function-arn",
        lambda fn, arn: {"FunctionName": function_arn(fn + "_missing")},
        "ResourceNotFoundException",
        404,
        lambda fn, arn: f"Function not found: {function_arn(fn + '_missing')}",
    ),
    (
        "unknown-stream",
        lambda fn, arn: {"EventSourceArn": arn.replace("/stream/", "_missing/stream/")},
        "InvalidParameterValueException",
        400,
        lambda fn, arn: f"Stream not found: {arn.replace('/stream/', '_missing/stream/')}",
    ),
    (
        "sqs-event-source",
        {"EventSourceArn": "arn:aws:sqs:us-east-1:000000000000:queue"},
        "InvalidParameterValueException",
        400,
        "Unsupported event source arn:aws:sqs:us-east-1:000000000000:queue: dynoxide-streams "
        "serves DynamoDB stream event sources only.",
    ),
    (
        "malformed-filter-pattern",
        {"FilterCriteria": {"Filters": [{"Pattern": "{not json"}]}},
        "InvalidParameterValueException",
        400,
        None,  # prefix checked below
    ),
    (
        "six-filters",
        {
            "FilterCriteria": {
                "Filters": [{"Pattern": json.dumps({"eventName": [f"E{i}"]})} for i in range(6)]
            }
        },
        "InvalidParameterValueException",
        400,
        "Invalid FilterCriteria: 6 filters given; at most 5 are allowed per event source mapping.",
    ),
    (
        "destination-on-success",
        {
            "DestinationConfig": {
                "OnSuccess": {"Destination": "arn:aws:sqs:us-east-1:000000000000:ok"}
            }
        },
        "InvalidParameterValueException",
        400,
        "Unsupported DestinationConfig parameter for given event source mapping type.",
    ),
]


@pytest.mark.parametrize(
    ("extra", "name", "status", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in CREATE_ERRORS],
)
def test_create_validation_errors(
    http_api: LambdaRaw,
    lam_nv: Any,
    function: str,
    stream: str,
    extra: Any,
    name: str,
    status: int,
    message: Any,
) -> None:
    params: dict[str, Any] = {
        "FunctionName": function,
        "EventSourceArn": stream,
        "StartingPosition": "TRIM_HORIZON",
        **(extra(function, stream) if callable(extra) else extra),
    }
    params = {k: v for k, v in params.items() if v is not None}
    expected = message(function, stream) if callable(message) else message

    # Raw HTTP: exact status, header and body.
    response = http_api.create(params)
    key = "Message" if name == "ResourceNotFoundException" else "message"
    assert (response.status, response.amzn_error_type) == (status, name), response.body
    body = response.json
    assert set(body) == {"Type", key}
    assert body["Type"] == "User"
    if expected is None:
        assert body[key].startswith(
            "Invalid filter pattern definition: Filters[0].Pattern is not valid JSON"
        ), body
        expected = body[key]
    else:
        assert body[key] == expected

    # boto3 (client-side validation off): the same error, parsed.
    error = client_error(lam_nv.create_event_source_mapping, **params)
    assert_client_error(error, name, status, expected)

    # Nothing was created.
    assert count(http_api, stream) == 0
    assert http_api.list(FunctionName=function).json == {"EventSourceMappings": []}


def test_create_duplicate_function_and_stream_is_a_conflict(
    http_api: LambdaRaw, lam: Any, function: str, stream: str
) -> None:
    first = lam.create_event_source_mapping(
        FunctionName=function, EventSourceArn=stream, StartingPosition="TRIM_HORIZON"
    )
    existing = first["UUID"]

    # The same function, named by ARN this time, and a different starting position.
    response = http_api.create(
        {
            "FunctionName": function_arn(function),
            "EventSourceArn": stream,
            "StartingPosition": "LATEST",
        }
    )
    assert (response.status, response.amzn_error_type) == (409, "ResourceConflictException")
    body = response.json
    assert set(body) == {"Type", "message"} and body["Type"] == "User"
    assert existing in body["message"]
    assert stream in body["message"]

    with pytest.raises(lam.exceptions.ResourceConflictException) as info:
        lam.create_event_source_mapping(
            FunctionName=function, EventSourceArn=stream, StartingPosition="TRIM_HORIZON"
        )
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert existing in info.value.response["Error"]["Message"]

    assert [m["UUID"] for m in list_all(http_api, EventSourceArn=stream)] == [existing]


def test_malformed_json_body_is_invalid_request_content(
    http_api: LambdaRaw, function: str, stream: str
) -> None:
    for body in (
        b'{"FunctionName": ',
        b"not json at all",
        b"[1, 2, 3]",
        b'"a string"',
    ):
        response = http_api.create(body)
        assert (response.status, response.amzn_error_type) == (
            400,
            "InvalidRequestContentException",
        ), body
        data = response.json
        assert set(data) == {"Type", "message"} and data["Type"] == "User"
        assert data["message"].startswith("Could not parse request body into json"), data
    assert count(http_api, stream) == 0


@pytest.mark.parametrize(
    "wrong",
    [
        {"BatchSize": "ten"},
        {"BatchSize": 10.5},
        {"BatchSize": True},
        {"Enabled": "yes"},
        {"BisectBatchOnFunctionError": 1},
        {"StartingPosition": 5},
        {"FunctionResponseTypes": "ReportBatchItemFailures"},
        {"FilterCriteria": "{}"},
    ],
    ids=lambda wrong: "-".join(f"{k}={v!r}" for k, v in wrong.items()),
)
def test_wrong_json_types_are_invalid_request_content(
    http_api: LambdaRaw, function: str, stream: str, wrong: dict[str, Any]
) -> None:
    params = {
        "FunctionName": function,
        "EventSourceArn": stream,
        "StartingPosition": "TRIM_HORIZON",
        **wrong,
    }
    response = http_api.create(params)
    assert (response.status, response.amzn_error_type) == (400, "InvalidRequestContentException")
    body = response.json
    assert set(body) == {"Type", "message"} and body["Type"] == "User"
    assert body["message"].startswith("Could not parse request body into json"), body
    assert count(http_api, stream) == 0


def test_update_validation_errors_leave_the_mapping_unchanged(
    http_api: LambdaRaw, lam: Any, lam_nv: Any, function: str, stream: str
) -> None:
    mapping_id = lam.create_event_source_mapping(
        FunctionName=function, EventSourceArn=stream, StartingPosition="TRIM_HORIZON", BatchSize=4
    )["UUID"]
    before = wait_state(http_api, mapping_id, "Enabled")

    error = client_error(lam_nv.update_event_source_mapping, UUID=mapping_id, BatchSize=0)
    assert_client_error(
        error, "ValidationException", 400, _ranges(0, "batchSize", "greater than or equal to 1")
    )
    assert_error(
        http_api.update(mapping_id, {"ParallelizationFactor": 0}),
        "ValidationException",
        400,
        _ranges(0, "parallelizationFactor", "greater than or equal to 1"),
    )
    assert_error(
        http_api.update(mapping_id, {"MaximumRecordAgeInSeconds": 10}),
        "InvalidParameterValueException",
        400,
        "MaximumRecordAgeInSeconds must be -1 or between 60 and 604800.",
    )
    assert_error(
        http_api.update(mapping_id, {"FilterCriteria": {"Filters": [{"Pattern": "[1]"}]}}),
        "InvalidParameterValueException",
        400,
        "Invalid filter pattern definition: Filters[0].Pattern must be a JSON object.",
    )
    bad_type = http_api.update(mapping_id, {"BatchSize": "ten"})
    assert (bad_type.status, bad_type.amzn_error_type) == (400, "InvalidRequestContentException")
    malformed = http_api.update(mapping_id, b"{")
    assert (malformed.status, malformed.amzn_error_type) == (400, "InvalidRequestContentException")
    missing = http_api.update(mapping_id, {"FunctionName": function + "_missing"})
    assert_error(
        missing,
        "ResourceNotFoundException",
        404,
        f"Function not found: {function_arn(function + '_missing')}",
    )

    assert http_api.get(mapping_id).json == before


# =========================================================================== 5. AWS CLI


@pytest.mark.slow
def test_aws_cli_create_list_get(
    endpoint: str, tmp_path: Path, http_api: LambdaRaw, function: str, stream: str
) -> None:
    executable = Path(sys.executable).parent / "aws"
    assert executable.exists(), executable
    config = tmp_path / "config"
    credentials = tmp_path / "credentials"
    config.write_text("")
    credentials.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_RETRY_MODE": "standard",
        "AWS_MAX_ATTEMPTS": "1",
        "HOME": str(tmp_path),
    }

    def aws(*args: str) -> Any:
        result = subprocess.run(
            [str(executable), "lambda", *args, "--endpoint-url", endpoint, "--output", "json"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        assert result.returncode == 0, (args, result.returncode, result.stderr)
        return json.loads(result.stdout)

    created = aws(
        "create-event-source-mapping",
        "--function-name",
        function,
        "--event-source-arn",
        stream,
        "--starting-position",
        "TRIM_HORIZON",
        "--batch-size",
        "10",
    )
    mapping_id = created["UUID"]
    assert len(mapping_id) == 36
    assert created["State"] == "Creating"
    assert created["BatchSize"] == 10
    assert created["StartingPosition"] == "TRIM_HORIZON"
    assert created["EventSourceArn"] == stream
    assert created["FunctionArn"] == function_arn(function)
    assert created["EventSourceMappingArn"] == (
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{mapping_id}"
    )
    assert created["MaximumRetryAttempts"] == -1
    assert created["LastModified"]

    wait_state(http_api, mapping_id, "Enabled")

    listed = aws("list-event-source-mappings", "--event-source-arn", stream)
    assert [m["UUID"] for m in listed["EventSourceMappings"]] == [mapping_id]
    assert listed["EventSourceMappings"][0]["BatchSize"] == 10
    by_function = aws("list-event-source-mappings", "--function-name", function)
    assert [m["UUID"] for m in by_function["EventSourceMappings"]] == [mapping_id]

    got = aws("get-event-source-mapping", "--uuid", mapping_id)
    assert got["State"] == "Enabled"
    assert got["StateTransitionReason"] == "User action"
    assert got["LastProcessingResult"] == "No records processed"
    assert got["BatchSize"] == 10
    assert {k: v for k, v in got.items() if k != "State"} == {
        k: v for k, v in created.items() if k != "State"
    }


# ======================================================================= 6. Persistence


def test_mappings_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    flags = ("--function", "fn=cmd:true", "--function", "fn2=cmd:true")
    proc = start_server(data_dir, *flags)
    try:
        ddb = make_client(proc.endpoint)
        arn = ddb.create_table(
            TableName="persisted",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification=STREAMS,
        )["TableDescription"]["LatestStreamArn"]
        lam = make_client(proc.endpoint, "lambda")
        api = LambdaRaw(proc.endpoint)
        enabled_id = lam.create_event_source_mapping(
            FunctionName="fn",
            EventSourceArn=arn,
            StartingPosition="TRIM_HORIZON",
            BatchSize=17,
            MaximumRetryAttempts=4,
            FilterCriteria={"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}]},
        )["UUID"]
        disabled_id = lam.create_event_source_mapping(
            FunctionName="fn2", EventSourceArn=arn, StartingPosition="LATEST", Enabled=False
        )["UUID"]
        enabled = wait_state(api, enabled_id, "Enabled")
        disabled = wait_state(api, disabled_id, "Disabled")
    finally:
        proc.terminate()

    proc = start_server(data_dir, *flags)
    try:
        api = LambdaRaw(proc.endpoint)
        assert api.get(enabled_id).json == enabled
        assert api.get(disabled_id).json == disabled
        assert enabled["State"] == "Enabled" and enabled["BatchSize"] == 17
        listed = list_all(api, EventSourceArn=arn)
        assert sorted(m["UUID"] for m in listed) == sorted([enabled_id, disabled_id])
        # Still a duplicate after the restart.
        conflict = api.create(
            {"FunctionName": "fn", "EventSourceArn": arn, "StartingPosition": "TRIM_HORIZON"}
        )
        assert (conflict.status, conflict.amzn_error_type) == (409, "ResourceConflictException")
        assert enabled_id in conflict.json["message"]
        # And still manageable.
        deleted = api.delete(disabled_id)
        assert deleted.status == 202 and deleted.json["State"] == "Deleting"
    finally:
        proc.terminate()


# ======================================================================= 7. Concurrency


def test_concurrent_creates_of_the_same_pair_yield_one_mapping(
    endpoint: str, http_api: LambdaRaw, function: str, stream: str
) -> None:
    workers = 8
    clients = [make_client(endpoint, "lambda") for _ in range(workers)]
    barrier = threading.Barrier(workers)
    results: list[Any] = [None] * workers

    def create(index: int) -> None:
        barrier.wait(timeout=10)
        try:
            results[index] = clients[index].create_event_source_mapping(
                FunctionName=function, EventSourceArn=stream, StartingPosition="TRIM_HORIZON"
            )
        except ClientError as error:
            results[index] = error

    threads = [threading.Thread(target=create, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()

    successes = [r for r in results if isinstance(r, dict)]
    failures = [r for r in results if isinstance(r, ClientError)]
    assert len(successes) == 1, results
    assert len(failures) == workers - 1, results
    winner = successes[0]["UUID"]
    for failure in failures:
        assert failure.response["Error"]["Code"] == "ResourceConflictException"
        assert failure.response["ResponseMetadata"]["HTTPStatusCode"] == 409
        assert winner in failure.response["Error"]["Message"]
    assert [m["UUID"] for m in list_all(http_api, EventSourceArn=stream)] == [winner]
    wait_state(http_api, winner, "Enabled")


def test_an_internal_failure_is_a_lambda_service_exception_and_the_server_carries_on() -> None:
    """A bug behind a Lambda route answers 500 ``ServiceException`` in Lambda's
    REST-JSON shape (never a traceback or a dropped connection), and the next request
    is served."""
    with Server().run_in_thread() as srv:
        service = srv._service
        assert service is not None and service.triggers is not None
        lam = make_client(srv.endpoint, "lambda")  # no retries
        assert lam.list_event_source_mappings()["EventSourceMappings"] == []

        def broken(*args: object, **kwargs: object) -> object:
            raise RuntimeError("a bug")

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(service.triggers, "list_mappings", broken)
            raw = RawClient(srv.endpoint)
            response = raw.request(
                b"", None, method="GET", path="/2015-03-31/event-source-mappings/"
            )
            assert response.status == 500
            assert response.headers["x-amzn-errortype"] == "ServiceException"
            assert response.json == {"Type": "Service", "Message": "Internal server error"}
            with pytest.raises(ClientError) as failed:
                lam.list_event_source_mappings()
            assert failed.value.response["Error"]["Code"] == "ServiceException"
            assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert lam.list_event_source_mappings()["EventSourceMappings"] == []
