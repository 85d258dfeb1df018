"""Request-level rules shared by the item operations.

Expression placeholders (ExpressionAttributeNames/Values) are validated here once per
request, the way DynamoDB does before it parses any expression; legacy (pre-expression)
parameters are recognised so that they are never silently ignored.
"""

from __future__ import annotations

from typing import Any

from dynoxide_streams.engine.expressions import Substitutions
from dynoxide_streams.engine.values import Item, validate_item, validate_value
from dynoxide_streams.errors import DynamoDBError, ValidationException

LEGACY_PARAMETERS = (
    "AttributesToGet",
    "Expected",
    "AttributeUpdates",
    "KeyConditions",
    "QueryFilter",
    "ScanFilter",
    "ConditionalOperator",
)


EXPRESSION_PARAMETERS = (
    "ProjectionExpression",
    "ConditionExpression",
    "UpdateExpression",
    "KeyConditionExpression",
    "FilterExpression",
)


def reject_legacy(params: dict[str, Any]) -> None:
    """Refuse legacy parameters: mixed with expressions as AWS does, alone until the
    legacy API is implemented (never silently ignored)."""
    legacy = [name for name in LEGACY_PARAMETERS if params.get(name) is not None]
    modern = [name for name in EXPRESSION_PARAMETERS if params.get(name) is not None]
    if legacy and modern:
        raise ValidationException(
            "Can not use both expression and non-expression parameters in the same request: "
            f"Non-expression parameters: {{{', '.join(legacy)}}} "
            f"Expression parameters: {{{', '.join(modern)}}}"
        )
    for name in legacy:
        if params.get(name) is not None:
            raise ValidationException(
                f"The legacy parameter {name} is not supported by this server yet; "
                "use the expression parameters instead"
            )


def substitutions(params: dict[str, Any], expressions: tuple[str, ...]) -> Substitutions:
    """Validate ExpressionAttributeNames/Values against the expressions present.

    ``expressions`` names the expression parameters the operation accepts, in the
    order AWS lists them in its "can only be specified when using expressions" text.
    """
    names = params.get("ExpressionAttributeNames")
    values = params.get("ExpressionAttributeValues")
    used = [e for e in expressions if params.get(e) is not None]
    if names is not None:
        if not used:
            raise ValidationException(
                "ExpressionAttributeNames can only be specified when using expressions"
            )
        if not names:
            raise ValidationException("ExpressionAttributeNames must not be empty")
        for key in names:
            if not key.startswith("#") or len(key) < 2:
                raise ValidationException(
                    f'ExpressionAttributeNames contains invalid key: Syntax error; key: "{key}"'
                )
    checked_values: dict[str, Any] | None = None
    if values is not None:
        if not used:
            missing = " and ".join(expressions)
            verb = "is" if len(expressions) == 1 else "are"
            raise ValidationException(
                "ExpressionAttributeValues can only be specified when using expressions: "
                f"{missing} {verb} null"
            )
        if not values:
            raise ValidationException("ExpressionAttributeValues must not be empty")
        checked_values = {}
        for key, value in values.items():
            if not key.startswith(":") or len(key) < 2:
                raise ValidationException(
                    f'ExpressionAttributeValues contains invalid key: Syntax error; key: "{key}"'
                )
            try:
                checked_values[key] = validate_value(value)
            except DynamoDBError as exc:
                raise ValidationException(
                    f"ExpressionAttributeValues contains invalid value: {exc.message} for key {key}"
                ) from None
    return Substitutions(names, checked_values)


def checked_key(params: dict[str, Any], member: str = "Key") -> Item:
    """A validated ``Key``-like parameter (numbers normalised)."""
    return validate_item(params[member])


def return_values(params: dict[str, Any], allowed: tuple[str, ...]) -> str:
    """The ReturnValues setting, restricted to what the operation allows."""
    value: str = params.get("ReturnValues") or "NONE"
    if value not in allowed:
        raise ValidationException(f"ReturnValues can only be {' or '.join(allowed[::-1])}")
    return value
