"""Event source mapping configurations (dynoxide_streams/triggers/mappings): request
validation (error class and exact message), FunctionName parsing, Lambda's defaults,
the EventSourceMappingConfiguration shape, storage round trip and updates."""

from __future__ import annotations

import re
from typing import Any

import botocore.session
import orjson
import pytest

from dynoxide_streams.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    LambdaError,
    LambdaValidationException,
)
from dynoxide_streams.triggers.mappings import (
    FunctionRef,
    Mapping,
    apply_params,
    check_create,
    check_update,
    new_mapping,
    parse_function_name,
)

STREAM = "arn:aws:dynamodb:us-east-1:000000000000:table/Orders/stream/2024-01-01T00:00:00.000"
BASE: dict[str, Any] = {
    "FunctionName": "f",
    "EventSourceArn": STREAM,
    "StartingPosition": "TRIM_HORIZON",
}
TYPE_PREFIX = (
    "Could not parse request body into json: Could not parse payload into json: "
    "Cannot deserialize value of type "
)


def model_pattern(member: str) -> str:
    """The regular expression botocore's Lambda model gives a CreateEventSourceMapping member."""
    model = botocore.session.get_session().get_service_model("lambda")
    shape = model.operation_model("CreateEventSourceMapping").input_shape.members[member]
    pattern: str = shape.metadata["pattern"]
    return pattern


def error_of(params: dict[str, Any], check: Any = check_create) -> LambdaError:
    with pytest.raises(LambdaError) as caught:
        check(params)
    return caught.value


# ------------------------------------------------------------ FunctionName


@pytest.mark.parametrize(
    ("value", "name", "qualifier"),
    [
        ("my-function", "my-function", None),
        ("my_function.v2", "my_function.v2", None),
        ("my-function:prod", "my-function", "prod"),
        ("my-function:7", "my-function", "7"),
        ("my-function:$LATEST", "my-function", "$LATEST"),
        ("123456789012:function:my-function", "my-function", None),
        ("123456789012:function:my-function:prod", "my-function", "prod"),
        ("arn:aws:lambda:us-west-2:123456789012:function:my-function", "my-function", None),
        ("arn:aws:lambda:us-west-2:123456789012:function:my-function:1", "my-function", "1"),
        ("arn:aws-cn:lambda:cn-north-1:123456789012:function:f:live", "f", "live"),
        ("arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:f", "f", None),
    ],
)
def test_parse_function_name(value: str, name: str, qualifier: str | None) -> None:
    assert re.fullmatch(model_pattern("FunctionName"), value)  # valid per the AWS model
    assert parse_function_name(value) == FunctionRef(name, qualifier)


@pytest.mark.parametrize(
    "value",
    ["", "bad name", "name!", "a:b:c:d", "arn:aws:lambda:us-east-1:12:function:f", "f:bad/q"],
)
def test_parse_function_name_rejects_invalid_names(value: str) -> None:
    assert re.fullmatch(model_pattern("FunctionName"), value) is None
    assert parse_function_name(value) is None


def test_parse_function_name_accepts_every_region_form_of_the_aws_model() -> None:
    # The model's pattern allows an optional "eusc-" region prefix (European Sovereign Cloud).
    value = "arn:aws-eusc:lambda:eusc-de-east-1:123456789012:function:f"
    assert re.fullmatch(model_pattern("FunctionName"), value)
    assert parse_function_name(value) == FunctionRef("f", None)


def test_function_ref_arn() -> None:
    assert FunctionRef("f", None).arn("eu-west-1", "123456789012") == (
        "arn:aws:lambda:eu-west-1:123456789012:function:f"
    )
    assert FunctionRef("f", "prod").arn("us-east-1", "000000000000") == (
        "arn:aws:lambda:us-east-1:000000000000:function:f:prod"
    )


# --------------------------------------------------------- ValidationException


def test_check_create_returns_the_parsed_function_name() -> None:
    assert check_create(BASE) == FunctionRef("f", None)
    full = {**BASE, "FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:g:live"}
    assert check_create(full) == FunctionRef("g", "live")


def test_missing_function_name_is_a_validation_error() -> None:
    error = error_of({"EventSourceArn": STREAM, "StartingPosition": "LATEST"})
    assert isinstance(error, LambdaValidationException)
    assert error.name == "ValidationException"
    assert error.status == 400
    assert error.message == (
        "1 validation error detected: Value null at 'functionName' failed to satisfy "
        "constraint: Member must not be null"
    )


def test_two_violations_are_listed_in_one_message() -> None:
    error = error_of({**BASE, "FunctionName": "", "BatchSize": 0})
    assert isinstance(error, LambdaValidationException)
    assert error.message == (
        "2 validation errors detected: "
        "Value '' at 'functionName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1; "
        "Value '0' at 'batchSize' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


def test_many_violations_are_counted_and_joined_with_semicolons() -> None:
    params = {
        **BASE,
        "BatchSize": 10001,
        "MaximumRetryAttempts": -2,
        "ParallelizationFactor": 11,
        "StartingPosition": "EARLIEST",
    }
    error = error_of(params)
    assert isinstance(error, LambdaValidationException)
    assert error.message == (
        "4 validation errors detected: "
        "Value '10001' at 'batchSize' failed to satisfy constraint: "
        "Member must have value less than or equal to 10000; "
        "Value '11' at 'parallelizationFactor' failed to satisfy constraint: "
        "Member must have value less than or equal to 10; "
        "Value '-2' at 'maximumRetryAttempts' failed to satisfy constraint: "
        "Member must have value greater than or equal to -1; "
        "Value 'EARLIEST' at 'startingPosition' failed to satisfy constraint: "
        "Member must satisfy enum value set: [TRIM_HORIZON, LATEST, AT_TIMESTAMP]"
    )


@pytest.mark.parametrize(
    ("name", "member", "low", "high"),
    [
        ("BatchSize", "batchSize", 1, 10000),
        ("MaximumBatchingWindowInSeconds", "maximumBatchingWindowInSeconds", 0, 300),
        ("ParallelizationFactor", "parallelizationFactor", 1, 10),
        ("MaximumRecordAgeInSeconds", "maximumRecordAgeInSeconds", -1, 604800),
        ("MaximumRetryAttempts", "maximumRetryAttempts", -1, 10000),
        ("TumblingWindowInSeconds", "tumblingWindowInSeconds", 0, 900),
    ],
)
def test_integer_ranges(name: str, member: str, low: int, high: int) -> None:
    check_create({**BASE, name: high})
    check_update({name: high})
    below = error_of({**BASE, name: low - 1})
    assert isinstance(below, LambdaValidationException)
    assert below.message == (
        f"1 validation error detected: Value '{low - 1}' at '{member}' failed to satisfy "
        f"constraint: Member must have value greater than or equal to {low}"
    )
    above = error_of({name: high + 1}, check_update)
    assert isinstance(above, LambdaValidationException)
    assert above.message == (
        f"1 validation error detected: Value '{high + 1}' at '{member}' failed to satisfy "
        f"constraint: Member must have value less than or equal to {high}"
    )


def test_function_name_longer_than_256() -> None:
    name = "f" * 257
    error = error_of({**BASE, "FunctionName": name})
    assert isinstance(error, LambdaValidationException)
    assert error.message == (
        f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy "
        "constraint: Member must have length less than or equal to 256"
    )


def test_function_name_pattern_violation_quotes_the_aws_model_pattern() -> None:
    error = error_of({**BASE, "FunctionName": "bad name"})
    assert isinstance(error, LambdaValidationException)
    assert error.message == (
        "1 validation error detected: Value 'bad name' at 'functionName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
        + model_pattern("FunctionName")
    )


def test_event_source_arn_pattern_violation_quotes_the_aws_model_pattern() -> None:
    error = error_of({**BASE, "EventSourceArn": "not-an-arn"})
    assert isinstance(error, LambdaValidationException)
    assert error.message == (
        "1 validation error detected: Value 'not-an-arn' at 'eventSourceArn' failed to "
        "satisfy constraint: Member must satisfy regular expression pattern: "
        + model_pattern("EventSourceArn")
    )


def test_function_response_types_constraints() -> None:
    check_create({**BASE, "FunctionResponseTypes": ["ReportBatchItemFailures"]})
    check_create({**BASE, "FunctionResponseTypes": []})
    unknown = error_of({**BASE, "FunctionResponseTypes": ["Bogus"]})
    assert isinstance(unknown, LambdaValidationException)
    assert unknown.message == (
        "1 validation error detected: Value '[Bogus]' at 'functionResponseTypes' failed to "
        "satisfy constraint: Member must satisfy constraint: "
        "[Member must satisfy enum value set: [ReportBatchItemFailures]]"
    )
    two = error_of(
        {"FunctionResponseTypes": ["ReportBatchItemFailures", "ReportBatchItemFailures"]},
        check_update,
    )
    assert isinstance(two, LambdaValidationException)
    assert two.message == (
        "1 validation error detected: "
        "Value '[ReportBatchItemFailures, ReportBatchItemFailures]' at 'functionResponseTypes' "
        "failed to satisfy constraint: Member must have length less than or equal to 1"
    )


# ---------------------------------------------------- InvalidRequestContentException


@pytest.mark.parametrize(
    ("name", "value", "expected", "got"),
    [
        ("BatchSize", "10", "java.lang.Integer", "str"),
        ("BatchSize", True, "java.lang.Integer", "bool"),
        ("BatchSize", 1.5, "java.lang.Integer", "float"),
        ("MaximumRetryAttempts", [1], "java.lang.Integer", "list"),
        ("Enabled", 1, "java.lang.Boolean", "int"),
        ("BisectBatchOnFunctionError", "true", "java.lang.Boolean", "str"),
        ("FunctionName", 5, "java.lang.String", "int"),
        ("EventSourceArn", {"a": 1}, "java.lang.String", "dict"),
        ("StartingPosition", False, "java.lang.String", "bool"),
        ("FilterCriteria", [], "structure", "list"),
        ("DestinationConfig", "http://x", "structure", "str"),
        ("FunctionResponseTypes", "ReportBatchItemFailures", "java.util.List<String>", "str"),
        ("FunctionResponseTypes", [1], "java.util.List<String>", "list"),
    ],
)
def test_wrong_json_types_are_invalid_request_content(
    name: str, value: Any, expected: str, got: str
) -> None:
    for check, params in ((check_create, {**BASE, name: value}), (check_update, {name: value})):
        error = error_of(params, check)
        assert type(error) is InvalidRequestContentException
        assert error.name == "InvalidRequestContentException"
        assert error.message == f"{TYPE_PREFIX}`{expected}` for {name} from {got}"


def test_type_errors_come_before_constraint_errors() -> None:
    error = error_of({"FunctionName": "", "BatchSize": "x"})
    assert type(error) is InvalidRequestContentException


# --------------------------------------------------- InvalidParameterValueException


def invalid_parameter(params: dict[str, Any], check: Any = check_create) -> str:
    error = error_of(params, check)
    assert type(error) is InvalidParameterValueException
    assert error.name == "InvalidParameterValueException"
    return error.message


def test_missing_event_source_arn() -> None:
    assert invalid_parameter({"FunctionName": "f", "StartingPosition": "LATEST"}) == (
        "Unrecognized event source, must be kinesis, dynamodb stream or sqs."
    )


def test_event_source_that_is_not_a_dynamodb_stream() -> None:
    queue = "arn:aws:sqs:us-east-1:000000000000:q"
    message = invalid_parameter({**BASE, "EventSourceArn": queue})
    assert message.startswith(f"Unsupported event source {queue}")
    table = "arn:aws:dynamodb:us-east-1:000000000000:table/Orders"
    assert invalid_parameter({**BASE, "EventSourceArn": table}).startswith(
        f"Unsupported event source {table}"
    )


def test_missing_and_unsupported_starting_position() -> None:
    params = {"FunctionName": "f", "EventSourceArn": STREAM}
    assert invalid_parameter(params) == (
        "1 validation error detected: Value null at 'startingPosition' failed to satisfy "
        "constraint: Member must not be null."
    )
    assert invalid_parameter({**params, "StartingPosition": "AT_TIMESTAMP"}) == (
        f"Unsupported starting position for arn type: {STREAM}"
    )


@pytest.mark.parametrize("age", [0, 1, 59])
def test_maximum_record_age_below_sixty(age: int) -> None:
    expected = "MaximumRecordAgeInSeconds must be -1 or between 60 and 604800."
    assert invalid_parameter({**BASE, "MaximumRecordAgeInSeconds": age}) == expected
    assert invalid_parameter({"MaximumRecordAgeInSeconds": age}, check_update) == expected


@pytest.mark.parametrize("age", [-1, 60, 604800])
def test_maximum_record_age_accepted(age: int) -> None:
    assert check_create({**BASE, "MaximumRecordAgeInSeconds": age}) == FunctionRef("f", None)
    assert check_update({"MaximumRecordAgeInSeconds": age}) is None


def test_bad_filter_pattern() -> None:
    criteria = {"Filters": [{"Pattern": "not json"}]}
    message = invalid_parameter({**BASE, "FilterCriteria": criteria})
    assert message.startswith("Invalid filter pattern definition")
    assert invalid_parameter({"FilterCriteria": criteria}, check_update).startswith(
        "Invalid filter pattern definition"
    )
    six = {"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}] * 6}
    assert "6 filters" in invalid_parameter({**BASE, "FilterCriteria": six})


def test_destination_config_rules() -> None:
    assert invalid_parameter({**BASE, "DestinationConfig": {"OnSuccess": {}}}) == (
        "Unsupported DestinationConfig parameter for given event source mapping type."
    )
    assert invalid_parameter(
        {**BASE, "DestinationConfig": {"OnFailure": {"Destination": "nowhere"}}}
    ) == (
        "The provided destination config DestinationConfig(onSuccess=null, "
        "onFailure=OnFailure(destination=nowhere)) is invalid."
    )
    for target in ("arn:aws:sqs:us-east-1:000000000000:dlq", "http://127.0.0.1:9/dlq"):
        config = {"OnFailure": {"Destination": target}}
        assert check_create({**BASE, "DestinationConfig": config}) == FunctionRef("f", None)
    empties: list[dict[str, Any]] = [{}, {"OnFailure": {}}]
    for empty in empties:
        assert check_create({**BASE, "DestinationConfig": empty}) == FunctionRef("f", None)
    wrong = error_of({**BASE, "DestinationConfig": {"OnFailure": "x"}})
    assert type(wrong) is InvalidRequestContentException


def test_constraint_errors_come_before_semantic_errors() -> None:
    error = error_of({"BatchSize": 0, "MaximumRecordAgeInSeconds": 5}, check_update)
    assert isinstance(error, LambdaValidationException)


def test_check_update() -> None:
    assert check_update({}) is None
    assert check_update({"FunctionName": None, "BatchSize": None}) is None
    assert check_update({"FunctionName": "g:live"}) == FunctionRef("g", "live")
    assert check_update({"Enabled": False, "BatchSize": 5}) is None


# --------------------------------------------------------------- the mapping

CREATED_AT = 1_700_000_000.5


def make(params: dict[str, Any] | None = None) -> Mapping:
    merged = {**BASE, **(params or {})}
    check_create(merged)
    return new_mapping(
        merged,
        uuid="a1b2c3d4-0000-4000-8000-000000000001",
        function_arn="arn:aws:lambda:eu-west-1:123456789012:function:f",
        start_after="0",
        now=CREATED_AT,
        region="eu-west-1",
        account_id="123456789012",
    )


def test_new_mapping_defaults() -> None:
    mapping = make()
    assert mapping.uuid == "a1b2c3d4-0000-4000-8000-000000000001"
    assert mapping.function_name == "f"
    assert mapping.event_source_arn == STREAM
    assert mapping.starting_position == "TRIM_HORIZON"
    assert mapping.start_after == "0"
    assert mapping.batch_size == 100
    assert mapping.maximum_batching_window == 0
    assert mapping.parallelization_factor == 1
    assert mapping.filter_criteria is None
    assert mapping.destination_config is None
    assert mapping.maximum_record_age == -1
    assert mapping.bisect is False
    assert mapping.maximum_retry_attempts == -1
    assert mapping.tumbling_window == 0
    assert mapping.response_types == []
    assert mapping.enabled is True
    assert mapping.state == "Creating"
    assert mapping.last_modified == CREATED_AT
    assert mapping.last_result == "No records processed"
    assert mapping.region == "eu-west-1"
    assert mapping.account_id == "123456789012"
    assert mapping.report_failures is False
    assert mapping.on_failure is None
    assert mapping.filters() is None


def test_new_mapping_takes_every_parameter() -> None:
    pattern = '{"eventName": ["INSERT"]}'
    mapping = make(
        {
            "StartingPosition": "LATEST",
            "Enabled": False,
            "BatchSize": 10,
            "MaximumBatchingWindowInSeconds": 5,
            "ParallelizationFactor": 4,
            "MaximumRecordAgeInSeconds": 3600,
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": 2,
            "TumblingWindowInSeconds": 60,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "FilterCriteria": {"Filters": [{"Pattern": pattern}]},
            "DestinationConfig": {"OnFailure": {"Destination": "http://127.0.0.1:9/dlq"}},
        }
    )
    assert mapping.starting_position == "LATEST"
    assert mapping.enabled is False
    assert mapping.batch_size == 10
    assert mapping.maximum_batching_window == 5
    assert mapping.parallelization_factor == 4
    assert mapping.maximum_record_age == 3600
    assert mapping.bisect is True
    assert mapping.maximum_retry_attempts == 2
    assert mapping.tumbling_window == 60
    assert mapping.report_failures is True
    assert mapping.on_failure == "http://127.0.0.1:9/dlq"
    compiled = mapping.filters()
    assert compiled is not None
    assert compiled.patterns == (pattern,)
    assert compiled.matches({"eventName": "INSERT"}) is True
    assert compiled.matches({"eventName": "REMOVE"}) is False


DESCRIBE_KEYS = {
    "UUID",
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
    "EventSourceMappingArn",
}


def test_describe_defaults_exact() -> None:
    described = make().describe()
    assert set(described) == DESCRIBE_KEYS  # no FilterCriteria when none was given
    assert described == {
        "UUID": "a1b2c3d4-0000-4000-8000-000000000001",
        "StartingPosition": "TRIM_HORIZON",
        "BatchSize": 100,
        "MaximumBatchingWindowInSeconds": 0,
        "ParallelizationFactor": 1,
        "EventSourceArn": STREAM,
        "FunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:f",
        "LastModified": CREATED_AT,
        "LastProcessingResult": "No records processed",
        "State": "Creating",
        "StateTransitionReason": "User action",
        "DestinationConfig": {"OnFailure": {}},
        "MaximumRecordAgeInSeconds": -1,
        "BisectBatchOnFunctionError": False,
        "MaximumRetryAttempts": -1,
        "TumblingWindowInSeconds": 0,
        "FunctionResponseTypes": [],
        "EventSourceMappingArn": (
            "arn:aws:lambda:eu-west-1:123456789012:event-source-mapping:"
            "a1b2c3d4-0000-4000-8000-000000000001"
        ),
    }


def test_describe_with_filters_destination_and_a_state_reason() -> None:
    criteria = {"Filters": [{"Pattern": '{"eventName": ["REMOVE"]}'}]}
    mapping = make(
        {
            "FilterCriteria": criteria,
            "DestinationConfig": {
                "OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}
            },
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        }
    )
    mapping.state = "Disabled"
    mapping.state_reason = "Stream not found"
    described = mapping.describe()
    assert set(described) == DESCRIBE_KEYS | {"FilterCriteria"}
    assert described["FilterCriteria"] == criteria
    assert described["DestinationConfig"] == {
        "OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:dlq"}
    }
    assert described["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert described["State"] == "Disabled"
    assert described["StateTransitionReason"] == "Stream not found"
    # describe() hands out a copy of the response types, not the mapping's own list
    described["FunctionResponseTypes"].append("x")
    assert mapping.response_types == ["ReportBatchItemFailures"]


def test_to_json_from_json_round_trip() -> None:
    mapping = make(
        {
            "BatchSize": 7,
            "FilterCriteria": {"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}]},
            "DestinationConfig": {"OnFailure": {"Destination": "http://127.0.0.1:9/d"}},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BisectBatchOnFunctionError": True,
        }
    )
    mapping.state = "Enabled"
    mapping.last_result = "OK"
    stored = orjson.dumps(mapping.to_json())  # what the store keeps
    restored = Mapping.from_json(orjson.loads(stored))
    assert restored == mapping
    assert restored.describe() == mapping.describe()


def test_from_json_ignores_unknown_keys() -> None:
    data = make().to_json()
    data["a_field_from_a_later_version"] = 1
    assert Mapping.from_json(data) == make()


# ------------------------------------------------------------------ updates


def test_apply_params_changes_only_what_is_given() -> None:
    mapping = make({"BatchSize": 10, "MaximumRetryAttempts": 3})
    before = mapping.to_json()
    apply_params(mapping, {"BatchSize": 50, "Enabled": False, "MaximumRetryAttempts": None})
    after = mapping.to_json()
    assert after["batch_size"] == 50
    assert after["enabled"] is False
    assert after["maximum_retry_attempts"] == 3
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"batch_size", "enabled"}


@pytest.mark.parametrize("cleared", [{"Filters": []}, {}])
def test_filter_criteria_without_filters_clears_the_filters(cleared: dict[str, Any]) -> None:
    mapping = make({"FilterCriteria": {"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}]}})
    assert mapping.filters() is not None
    apply_params(mapping, {"FilterCriteria": None})  # null: unchanged
    assert mapping.filters() is not None
    apply_params(mapping, {"FilterCriteria": cleared})
    assert not mapping.filter_criteria
    assert mapping.filters() is None
    assert "Filters" not in mapping.describe().get("FilterCriteria", {})


def test_apply_params_clears_response_types_and_destination() -> None:
    mapping = make(
        {
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "DestinationConfig": {"OnFailure": {"Destination": "http://127.0.0.1:9/d"}},
        }
    )
    apply_params(mapping, {"FunctionResponseTypes": [], "DestinationConfig": {"OnFailure": {}}})
    assert mapping.report_failures is False
    assert mapping.on_failure is None
    assert mapping.describe()["DestinationConfig"] == {"OnFailure": {}}
    assert mapping.describe()["FunctionResponseTypes"] == []


def test_destination_config_is_normalised() -> None:
    config = {"OnFailure": {"Destination": "http://127.0.0.1:9/d", "Extra": 1}}
    mapping = make({"DestinationConfig": config})
    assert mapping.destination_config == {"OnFailure": {"Destination": "http://127.0.0.1:9/d"}}
    apply_params(mapping, {"DestinationConfig": {"OnFailure": {"Destination": ""}}})
    assert mapping.destination_config == {"OnFailure": {}}
    assert mapping.on_failure is None
