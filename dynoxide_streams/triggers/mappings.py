"""Event source mapping configurations: validation, defaults and the wire shape.

Pure code. :func:`check_create` and :func:`check_update` check request parameters
the way Lambda does: the shape against the Lambda model (``engine/shapes.py``: wrong
JSON types, then every violated constraint in one ``ValidationException``), then the
semantic rules, each an ``InvalidParameterValueException``. :func:`new_mapping` and
:func:`apply_params` build a :class:`Mapping` from checked parameters;
:meth:`Mapping.describe` renders the ``EventSourceMappingConfiguration`` JSON.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from dynoxide_streams.engine import messages
from dynoxide_streams.engine.shapes import LAMBDA, model_pattern, validate_request
from dynoxide_streams.errors import (
    InvalidParameterValueException,
    constraint_violation,
    validation_error,
)

if TYPE_CHECKING:
    # the filter compiler is imported when a mapping with FilterCriteria is checked or run
    from dynoxide_streams.triggers.filters import CompiledFilters

_FUNCTION_NAME = re.compile(
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((?P<region>(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}):)?"
    r"((?P<account>\d{12}):)?(function:)?(?P<name>[a-zA-Z0-9-_\.]+)"
    r"(:(?P<qualifier>\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
"""The Lambda model's FunctionName pattern, with its parts named (validation uses the
model's own; this takes a valid name apart)."""
_STREAM_ARN = re.compile(  # the Lambda model's Arn also admits these (tools/gen_model.py)
    r"arn:aws[a-zA-Z0-9-]*:dynamodb:[^:]*:\d{12}:table/[^/]+/stream/.+"
)
_URL = re.compile(r"https?://[^\s]+")
STAND_IN_SOURCE = "arn:aws:dynamodb:us-east-1:000000000000:table/listed/stream/listed"
"""What a listed event source of any form is checked as (see :func:`check_create`)."""


def well_formed_source(arn: str) -> bool:
    """Whether ``arn`` has the form of a DynamoDB stream ARN, in any region."""
    return _STREAM_ARN.fullmatch(arn) is not None


def _as_checked(params: dict[str, Any], listed: bool) -> dict[str, Any]:
    """``params`` as the model checks them: a listed EventSourceArn stands in as a
    well-formed one, so only the other members can be refused."""
    if not listed or not isinstance(params.get("EventSourceArn"), str):
        return params
    return {**params, "EventSourceArn": STAND_IN_SOURCE}


@dataclass(frozen=True)
class FunctionRef:
    """A FunctionName parameter taken apart."""

    name: str
    qualifier: str | None

    def arn(self, region: str, account_id: str) -> str:
        arn = f"arn:aws:lambda:{region}:{account_id}:function:{self.name}"
        return arn if self.qualifier is None else f"{arn}:{self.qualifier}"


def parse_function_name(value: str) -> FunctionRef | None:
    """Name, ``name:qualifier``, partial or full ARN; None if it is not one."""
    found = _FUNCTION_NAME.fullmatch(value)
    if found is None:
        return None
    return FunctionRef(found["name"], found["qualifier"])


@dataclass
class Mapping:
    """One event source mapping (what is stored, and what the API describes)."""

    uuid: str
    function_name: str
    function_arn: str
    event_source_arn: str
    starting_position: str
    start_after: str  # the position the mapping started from (checkpoint default)
    batch_size: int = 100
    maximum_batching_window: int = 0
    parallelization_factor: int = 1
    filter_criteria: dict[str, Any] | None = None
    destination_config: dict[str, Any] | None = None
    maximum_record_age: int = -1
    bisect: bool = False
    maximum_retry_attempts: int = -1
    tumbling_window: int = 0
    response_types: list[str] = field(default_factory=list)
    enabled: bool = True
    state: str = "Creating"
    state_reason: str = "USER_INITIATED"
    last_modified: float = 0.0
    last_result: str = messages.LAMBDA_NO_RECORDS.template
    region: str = "us-east-1"
    account_id: str = "000000000000"

    @property
    def report_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.response_types

    @property
    def on_failure(self) -> str | None:
        if not self.destination_config:
            return None
        destination = self.destination_config.get("OnFailure", {}).get("Destination")
        return destination if isinstance(destination, str) and destination else None

    def filters(self) -> CompiledFilters | None:
        if not self.filter_criteria or not self.filter_criteria.get("Filters"):
            return None
        from dynoxide_streams.triggers.filters import compile_filter_criteria

        return compile_filter_criteria(self.filter_criteria)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Mapping:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def describe(self) -> dict[str, Any]:
        """The EventSourceMappingConfiguration JSON."""
        out: dict[str, Any] = {
            "UUID": self.uuid,
            "StartingPosition": self.starting_position,
            "BatchSize": self.batch_size,
            "MaximumBatchingWindowInSeconds": self.maximum_batching_window,
            "ParallelizationFactor": self.parallelization_factor,
            "EventSourceArn": self.event_source_arn,
        }
        if self.filter_criteria is not None:
            out["FilterCriteria"] = self.filter_criteria
        out["FunctionArn"] = self.function_arn
        out["LastModified"] = self.last_modified
        out["LastProcessingResult"] = self.last_result
        out["State"] = self.state
        out["StateTransitionReason"] = (
            "User action" if self.state_reason == "USER_INITIATED" else self.state_reason
        )
        out["DestinationConfig"] = self.destination_config or {"OnFailure": {}}
        out["MaximumRecordAgeInSeconds"] = self.maximum_record_age
        out["BisectBatchOnFunctionError"] = self.bisect
        out["MaximumRetryAttempts"] = self.maximum_retry_attempts
        out["TumblingWindowInSeconds"] = self.tumbling_window
        out["FunctionResponseTypes"] = list(self.response_types)
        out["EventSourceMappingArn"] = (
            f"arn:aws:lambda:{self.region}:{self.account_id}:event-source-mapping:{self.uuid}"
        )
        return out


def _arn_pattern() -> str:
    return model_pattern(LAMBDA, "Arn")


def _check_semantics(params: dict[str, Any]) -> None:
    age = params.get("MaximumRecordAgeInSeconds")
    if age is not None and 0 <= age < 60:
        raise InvalidParameterValueException(messages.LAMBDA_RECORD_AGE.template)
    criteria = params.get("FilterCriteria")
    if criteria is not None:
        from dynoxide_streams.triggers.filters import FilterPatternError, compile_filter_criteria

        try:
            compile_filter_criteria(criteria)
        except FilterPatternError as exc:
            raise InvalidParameterValueException(str(exc)) from None
    destination = params.get("DestinationConfig")
    if destination is not None:
        if "OnSuccess" in destination:
            raise InvalidParameterValueException(messages.LAMBDA_ON_SUCCESS.template)
        target = (destination.get("OnFailure") or {}).get("Destination")
        if target and not _URL.fullmatch(target) and not re.fullmatch(_arn_pattern(), target):
            raise InvalidParameterValueException(
                messages.LAMBDA_BAD_DESTINATION.format(target=target)
            )


def normalize_destination(destination: dict[str, Any] | None) -> dict[str, Any] | None:
    if destination is None:
        return None
    target = destination.get("OnFailure", {}).get("Destination")
    return {"OnFailure": {"Destination": target}} if target else {"OnFailure": {}}


def check_create(params: dict[str, Any], *, listed: bool = False) -> FunctionRef:
    """Validate CreateEventSourceMapping parameters that need no server state.

    ``listed``: the change source lists the EventSourceArn as a stream, so it is
    accepted whatever its form (an engine's ARNs need not look like AWS's); otherwise
    it must match the Lambda model's ``Arn`` pattern or a DynamoDB stream ARN in any
    region (the deviation in ``tools/gen_model.py``).

    Returns the parsed FunctionName. Raises InvalidRequestContentException (wrong
    types), LambdaValidationException (model constraints, ``engine/shapes.py``) or
    InvalidParameterValueException (semantic rules).
    """
    validate_request(LAMBDA, "CreateEventSourceMapping", _as_checked(params, listed))
    arn = params.get("EventSourceArn")
    if arn is None:
        raise InvalidParameterValueException(messages.LAMBDA_NO_EVENT_SOURCE.template)
    if not listed and _STREAM_ARN.fullmatch(arn) is None:
        raise InvalidParameterValueException(messages.LAMBDA_UNSUPPORTED_SOURCE.format(arn=arn))
    position = params.get("StartingPosition")
    if position is None:
        raise validation_error(
            [constraint_violation(None, "startingPosition", messages.LAMBDA_NOT_NULL.template)],
            InvalidParameterValueException,
        )
    if position == "AT_TIMESTAMP":
        raise InvalidParameterValueException(messages.LAMBDA_STARTING_POSITION.format(arn=arn))
    _check_semantics(params)
    ref = parse_function_name(params["FunctionName"])
    assert ref is not None
    return ref


def check_update(params: dict[str, Any], *, listed: bool = False) -> FunctionRef | None:
    """Validate UpdateEventSourceMapping parameters; the parsed FunctionName if given.

    ``listed`` and the errors raised are as for :func:`check_create`.
    """
    validate_request(LAMBDA, "UpdateEventSourceMapping", _as_checked(params, listed))
    _check_semantics(params)
    function = params.get("FunctionName")
    return None if function is None else parse_function_name(function)


def new_mapping(
    params: dict[str, Any],
    *,
    uuid: str,
    function_arn: str,
    start_after: str,
    now: float,
    region: str,
    account_id: str,
) -> Mapping:
    """A mapping from validated Create parameters, with Lambda's defaults."""
    mapping = Mapping(
        uuid=uuid,
        function_name=params["FunctionName"],
        function_arn=function_arn,
        event_source_arn=params["EventSourceArn"],
        starting_position=params["StartingPosition"],
        start_after=start_after,
        last_modified=now,
        region=region,
        account_id=account_id,
    )
    apply_params(mapping, params)
    return mapping


def apply_params(mapping: Mapping, params: dict[str, Any]) -> None:
    """Apply the updatable parameters present in ``params``."""
    if params.get("Enabled") is not None:
        mapping.enabled = params["Enabled"]
    simple = {
        "BatchSize": "batch_size",
        "MaximumBatchingWindowInSeconds": "maximum_batching_window",
        "ParallelizationFactor": "parallelization_factor",
        "MaximumRecordAgeInSeconds": "maximum_record_age",
        "BisectBatchOnFunctionError": "bisect",
        "MaximumRetryAttempts": "maximum_retry_attempts",
        "TumblingWindowInSeconds": "tumbling_window",
    }
    for name, attribute in simple.items():
        if params.get(name) is not None:
            setattr(mapping, attribute, params[name])
    if params.get("FunctionResponseTypes") is not None:
        mapping.response_types = list(params["FunctionResponseTypes"])
    if "FilterCriteria" in params and params["FilterCriteria"] is not None:
        criteria = params["FilterCriteria"]
        mapping.filter_criteria = criteria if criteria.get("Filters") else {}
    if params.get("DestinationConfig") is not None:
        mapping.destination_config = normalize_destination(params["DestinationConfig"])
