"""Event source mapping configurations: validation, defaults and the wire shape.

Pure code. :func:`validate_create` and :func:`validate_update` check request
parameters the way Lambda does — model constraints (ranges, enums, lengths) as a
``ValidationException`` listing every violation, semantic rules as an
``InvalidParameterValueException`` — and return a :class:`Mapping`;
:meth:`Mapping.describe` renders the ``EventSourceMappingConfiguration`` JSON.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from dynoxide_streams.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    LambdaValidationException,
)
from dynoxide_streams.triggers.filters import (
    CompiledFilters,
    FilterPatternError,
    compile_filter_criteria,
)

STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")
RESPONSE_TYPES = ("ReportBatchItemFailures",)

FUNCTION_NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
"""The FunctionName pattern of the Lambda model (quoted in validation messages)."""

_FUNCTION_NAME = re.compile(
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((?P<region>(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}):)?"
    r"((?P<account>\d{12}):)?(function:)?(?P<name>[a-zA-Z0-9-_\.]+)"
    r"(:(?P<qualifier>\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
_ARN = re.compile(
    r"arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?"
    r":(\d{12})?:(.*)"
)
_STREAM_ARN = re.compile(r"arn:aws[a-zA-Z0-9-]*:dynamodb:[^:]*:\d{12}:table/[^/]+/stream/.+")
_URL = re.compile(r"https?://[^\s]+")

# name -> (wire member name in error messages, minimum, maximum)
_RANGES: dict[str, tuple[str, int, int]] = {
    "BatchSize": ("batchSize", 1, 10000),
    "MaximumBatchingWindowInSeconds": ("maximumBatchingWindowInSeconds", 0, 300),
    "ParallelizationFactor": ("parallelizationFactor", 1, 10),
    "MaximumRecordAgeInSeconds": ("maximumRecordAgeInSeconds", -1, 604800),
    "MaximumRetryAttempts": ("maximumRetryAttempts", -1, 10000),
    "TumblingWindowInSeconds": ("tumblingWindowInSeconds", 0, 900),
}
_BOOLS = ("Enabled", "BisectBatchOnFunctionError")


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
    last_result: str = "No records processed"
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


def _type_error(name: str, expected: str, value: Any) -> InvalidRequestContentException:
    return InvalidRequestContentException(
        "Could not parse request body into json: Could not parse payload into json: "
        f"Cannot deserialize value of type `{expected}` for {name} from {type(value).__name__}"
    )


def _check_types(params: dict[str, Any]) -> None:
    """Wrong JSON types are a body the service cannot parse (as Lambda answers)."""
    for name in _RANGES:
        value = params.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise _type_error(name, "java.lang.Integer", value)
    for name in _BOOLS:
        value = params.get(name)
        if value is not None and not isinstance(value, bool):
            raise _type_error(name, "java.lang.Boolean", value)
    for name in ("FunctionName", "EventSourceArn", "StartingPosition"):
        value = params.get(name)
        if value is not None and not isinstance(value, str):
            raise _type_error(name, "java.lang.String", value)
    for name in ("FilterCriteria", "DestinationConfig"):
        value = params.get(name)
        if value is not None and not isinstance(value, dict):
            raise _type_error(name, "structure", value)
    types = params.get("FunctionResponseTypes")
    if types is not None and (
        not isinstance(types, list) or not all(isinstance(t, str) for t in types)
    ):
        raise _type_error("FunctionResponseTypes", "java.util.List<String>", types)


def _constraint_errors(params: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    function = params.get("FunctionName")
    if isinstance(function, str):
        if not 1 <= len(function) <= 256:
            errors.append(
                f"Value '{function}' at 'functionName' failed to satisfy constraint: "
                "Member must have length less than or equal to 256"
                if function
                else "Value '' at 'functionName' failed to satisfy constraint: "
                "Member must have length greater than or equal to 1"
            )
        elif parse_function_name(function) is None:
            errors.append(
                f"Value '{function}' at 'functionName' failed to satisfy constraint: "
                f"Member must satisfy regular expression pattern: {FUNCTION_NAME_PATTERN}"
            )
    arn = params.get("EventSourceArn")
    if isinstance(arn, str) and _ARN.fullmatch(arn) is None:
        errors.append(
            f"Value '{arn}' at 'eventSourceArn' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {_ARN.pattern}"
        )
    for name, (member, low, high) in _RANGES.items():
        value = params.get(name)
        if value is None:
            continue
        if value < low:
            errors.append(
                f"Value '{value}' at '{member}' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {low}"
            )
        elif value > high:
            errors.append(
                f"Value '{value}' at '{member}' failed to satisfy constraint: "
                f"Member must have value less than or equal to {high}"
            )
    position = params.get("StartingPosition")
    if isinstance(position, str) and position not in STARTING_POSITIONS:
        errors.append(
            f"Value '{position}' at 'startingPosition' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(STARTING_POSITIONS)}]"
        )
    types = params.get("FunctionResponseTypes")
    if isinstance(types, list):
        if len(types) > 1:
            errors.append(
                f"Value '[{', '.join(types)}]' at 'functionResponseTypes' failed to satisfy "
                "constraint: Member must have length less than or equal to 1"
            )
        elif any(t not in RESPONSE_TYPES for t in types):
            errors.append(
                f"Value '[{', '.join(types)}]' at 'functionResponseTypes' failed to satisfy "
                "constraint: Member must satisfy constraint: "
                "[Member must satisfy enum value set: [ReportBatchItemFailures]]"
            )
    return errors


def _raise_constraints(errors: list[str]) -> None:
    if errors:
        count = len(errors)
        noun = "error" if count == 1 else "errors"
        raise LambdaValidationException(f"{count} validation {noun} detected: " + "; ".join(errors))


def _check_semantics(params: dict[str, Any]) -> None:
    age = params.get("MaximumRecordAgeInSeconds")
    if age is not None and 0 <= age < 60:
        raise InvalidParameterValueException(
            "MaximumRecordAgeInSeconds must be -1 or between 60 and 604800."
        )
    criteria = params.get("FilterCriteria")
    if criteria is not None:
        try:
            compile_filter_criteria(criteria)
        except FilterPatternError as exc:
            raise InvalidParameterValueException(str(exc)) from None
    destination = params.get("DestinationConfig")
    if destination is not None:
        if "OnSuccess" in destination:
            raise InvalidParameterValueException(
                "Unsupported DestinationConfig parameter for given event source mapping type."
            )
        on_failure = destination.get("OnFailure", {})
        target = on_failure.get("Destination") if isinstance(on_failure, dict) else None
        if not isinstance(on_failure, dict):
            raise _type_error("DestinationConfig.OnFailure", "structure", on_failure)
        if not isinstance(target, (str, type(None))):
            raise _type_error("DestinationConfig.OnFailure.Destination", "java.lang.String", target)
        if target and _ARN.fullmatch(target) is None and _URL.fullmatch(target) is None:
            raise InvalidParameterValueException(
                f"The provided destination config DestinationConfig(onSuccess=null, "
                f"onFailure=OnFailure(destination={target})) is invalid."
            )


def normalize_destination(destination: dict[str, Any] | None) -> dict[str, Any] | None:
    if destination is None:
        return None
    target = destination.get("OnFailure", {}).get("Destination")
    return {"OnFailure": {"Destination": target}} if target else {"OnFailure": {}}


def check_create(params: dict[str, Any]) -> FunctionRef:
    """Validate CreateEventSourceMapping parameters that need no server state.

    Returns the parsed FunctionName. Raises InvalidRequestContentException (wrong
    types), LambdaValidationException (model constraints) or
    InvalidParameterValueException (semantic rules).
    """
    _check_types(params)
    errors = _constraint_errors(params)
    if params.get("FunctionName") is None:
        errors.insert(
            0,
            "Value null at 'functionName' failed to satisfy constraint: Member must not be null",
        )
    _raise_constraints(errors)
    arn = params.get("EventSourceArn")
    if arn is None:
        raise InvalidParameterValueException(
            "Unrecognized event source, must be kinesis, dynamodb stream or sqs."
        )
    if _STREAM_ARN.fullmatch(arn) is None:
        raise InvalidParameterValueException(
            f"Unsupported event source {arn}: dynoxide-streams serves DynamoDB stream "
            "event sources only."
        )
    position = params.get("StartingPosition")
    if position is None:
        raise InvalidParameterValueException(
            "1 validation error detected: Value null at 'startingPosition' failed to satisfy "
            "constraint: Member must not be null."
        )
    if position == "AT_TIMESTAMP":
        raise InvalidParameterValueException(f"Unsupported starting position for arn type: {arn}")
    _check_semantics(params)
    ref = parse_function_name(params["FunctionName"])
    assert ref is not None
    return ref


def check_update(params: dict[str, Any]) -> FunctionRef | None:
    """Validate UpdateEventSourceMapping parameters; the parsed FunctionName if given."""
    _check_types(params)
    _raise_constraints(_constraint_errors(params))
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
