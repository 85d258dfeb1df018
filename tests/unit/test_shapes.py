"""Request shape validation (dynoxide_streams/engine/shapes.py): the normalisation step
leaves the request it is given alone, the Lambda model carries this project's
documented deviations, and the committed models are what tools/gen_model.py writes."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dynoxide_streams.engine.shapes import LAMBDA, _model, normalise_request, validate_request
from dynoxide_streams.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    LambdaValidationException,
    ValidationException,
)
from dynoxide_streams.triggers.mappings import _STREAM_ARN, FunctionRef, check_create

DYNAMODB = "DynamoDB_20120810"
ROOT = Path(__file__).resolve().parents[2]


@cache
def gen_model() -> ModuleType:
    """tools/gen_model.py (a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("gen_model", ROOT / "tools" / "gen_model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------ step 0: normalisation


@pytest.mark.parametrize(
    ("operation", "given", "read"),
    [
        ("Query", {"TableName": "tbl", "Limit": 25.0}, {"TableName": "tbl", "Limit": 25}),
        ("BatchWriteItem", {"RequestItems": {"t": None}}, {"RequestItems": {"t": []}}),
        ("TransactGetItems", {"TransactItems": [None]}, {"TransactItems": [{}]}),
    ],
)
def test_normalisation_returns_a_new_request_and_leaves_the_given_one(
    operation: str, given: dict[str, Any], read: dict[str, Any]
) -> None:
    before = copy.deepcopy(given)
    assert normalise_request(DYNAMODB, operation, given) == read
    assert given == before


def test_a_request_that_reads_as_given_is_returned_itself() -> None:
    request = {"TableName": "tbl", "Limit": 25, "KeyConditionExpression": "pk = :p"}
    assert normalise_request(DYNAMODB, "Query", request) is request
    assert validate_request(DYNAMODB, "Query", request) is request


def test_validate_request_returns_the_normalised_request() -> None:
    given = {"TableName": "tbl", "Limit": 2.0}
    assert validate_request(DYNAMODB, "Scan", given) == {"TableName": "tbl", "Limit": 2}
    assert given == {"TableName": "tbl", "Limit": 2.0}


def test_violations_of_a_normalised_request_are_reported_without_changing_it() -> None:
    given: dict[str, Any] = {"RequestItems": {"t": None}}
    with pytest.raises(ValidationException) as caught:
        validate_request(DYNAMODB, "BatchWriteItem", given)
    assert "Map value must satisfy constraint" in caught.value.message
    assert given == {"RequestItems": {"t": None}}


def test_lambda_requests_read_as_given() -> None:
    given = {"FunctionName": "f", "BatchSize": 10.0}
    with pytest.raises(InvalidRequestContentException) as caught:
        validate_request(LAMBDA, "CreateEventSourceMapping", given)
    assert caught.value.message.endswith("`java.lang.Integer` for BatchSize from float")
    assert given == {"FunctionName": "f", "BatchSize": 10.0}


# ------------------------------------------------------------ Lambda deviations

STREAM_OF_ANOTHER_ENGINE = "arn:aws:dynamodb:ddblocal:000000000000:table/T/stream/2024-01-01T00:00"


@pytest.mark.parametrize(
    "arn",
    [
        STREAM_OF_ANOTHER_ENGINE,
        "arn:aws:dynamodb:dynoxide:000000000000:table/T/stream/x",
        "arn:aws:dynamodb:us-east-1:000000000000:table/T/stream/x",
    ],
)
def test_a_stream_arn_of_any_region_is_an_event_source(arn: str) -> None:
    params = {"FunctionName": "f", "EventSourceArn": arn, "StartingPosition": "LATEST"}
    assert check_create(params) == FunctionRef("f", None)


def test_the_model_admits_every_stream_the_mappings_serve() -> None:
    assert _model()[LAMBDA]["shapes"]["Arn"]["alsoMatches"] == _STREAM_ARN.pattern


def test_other_arns_outside_aws_regions_still_break_the_aws_pattern() -> None:
    params = {
        "FunctionName": "f",
        "EventSourceArn": "arn:aws:sqs:ddblocal:000000000000:q",
        "StartingPosition": "LATEST",
    }
    with pytest.raises(LambdaValidationException) as caught:
        check_create(params)
    assert "Member must satisfy regular expression pattern: arn:(aws" in caught.value.message


@pytest.mark.parametrize("target", ["http://127.0.0.1:9/dlq", "https://example.com/x"])
def test_http_on_failure_destinations_are_accepted(target: str) -> None:
    params = {
        "FunctionName": "f",
        "EventSourceArn": STREAM_OF_ANOTHER_ENGINE,
        "StartingPosition": "LATEST",
        "DestinationConfig": {"OnFailure": {"Destination": target}},
    }
    assert check_create(params) == FunctionRef("f", None)
    bad = {**params, "DestinationConfig": {"OnFailure": {"Destination": "ftp://x"}}}
    with pytest.raises(InvalidParameterValueException):
        check_create(bad)


# ------------------------------------------------------------ the generated models


def test_every_deviation_gives_its_reason() -> None:
    for deviation in gen_model().DEVIATIONS:
        assert deviation.reason.strip(), deviation


def test_committed_models_are_what_the_generator_writes() -> None:
    tool = gen_model()
    for prefix, service in tool.SERVICES.items():
        committed = json.loads((tool.TARGET / service.output).read_text())
        assert committed[prefix] == tool.build(prefix, service), prefix
