"""Request-level rules shared by the item operations.

Expression placeholders (ExpressionAttributeNames/Values) are validated here once per
request, the way DynamoDB does before it parses any expression. Legacy (pre-expression)
parameters — Expected, AttributeUpdates, KeyConditions, QueryFilter, ScanFilter,
ConditionalOperator, AttributesToGet — are translated into the same AST by
``expressions/legacy.py``, so both forms share one evaluator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dynoxide_streams.engine import expressions as ex
from dynoxide_streams.engine import messages
from dynoxide_streams.engine.expressions import Substitutions, legacy
from dynoxide_streams.engine.values import Item, item_size, validate_item, validate_value
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


_LEGACY_SET = frozenset(LEGACY_PARAMETERS)
_EXPRESSION_SET = frozenset(EXPRESSION_PARAMETERS)


def reject_mixing(params: dict[str, Any]) -> None:
    """Refuse expression and legacy parameters in one request, as AWS does."""
    if params.keys().isdisjoint(_LEGACY_SET) or params.keys().isdisjoint(_EXPRESSION_SET):
        return
    legacy = [name for name in LEGACY_PARAMETERS if params.get(name) is not None]
    modern = [name for name in EXPRESSION_PARAMETERS if params.get(name) is not None]
    if legacy and modern:
        raise ValidationException(
            messages.MIXED_PARAMETERS.format(legacy=", ".join(legacy), modern=", ".join(modern))
        )


MAX_PLACEHOLDER_BYTES = 255
"""Longest ``#name`` / ``:value`` placeholder (the map key), in UTF-8 bytes."""
MAX_SUBSTITUTION_BYTES = 2 * 1024 * 1024
"""All ExpressionAttributeNames and ExpressionAttributeValues of a request together."""
SUBSTITUTIONS_TOO_LARGE = messages.SUBSTITUTIONS_TOO_LARGE.template


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
            raise ValidationException(messages.NAMES_WITHOUT_EXPRESSION.format())
        if not names:
            raise ValidationException(messages.NAMES_EMPTY.format())
        for key in names:
            if not key.startswith("#") or len(key) < 2:
                raise ValidationException(
                    messages.INVALID_PLACEHOLDER_KEY.format(
                        member="ExpressionAttributeNames", key=key
                    )
                )
            _check_key_size("ExpressionAttributeNames", key)
    checked_values: dict[str, Any] | None = None
    if values is not None:
        if not used:
            missing = " and ".join(expressions)
            verb = "is" if len(expressions) == 1 else "are"
            raise ValidationException(
                messages.VALUES_WITHOUT_EXPRESSION.format(missing=missing, verb=verb)
            )
        if not values:
            raise ValidationException(messages.VALUES_EMPTY.format())
        checked_values = {}
        for key, value in values.items():
            if not key.startswith(":") or len(key) < 2:
                raise ValidationException(
                    messages.INVALID_PLACEHOLDER_KEY.format(
                        member="ExpressionAttributeValues", key=key
                    )
                )
            _check_key_size("ExpressionAttributeValues", key)
            try:
                checked_values[key] = validate_value(value)
            except DynamoDBError as exc:
                raise ValidationException(
                    messages.INVALID_PLACEHOLDER_VALUE.format(message=exc.message, key=key)
                ) from None
    total = sum(len(k.encode()) + len(v.encode()) for k, v in (names or {}).items())
    if checked_values is not None:
        total += item_size(checked_values)
    if total > MAX_SUBSTITUTION_BYTES:
        raise ValidationException(SUBSTITUTIONS_TOO_LARGE)
    return Substitutions(names, checked_values)


def _check_key_size(member: str, key: str) -> None:
    size = len(key.encode())
    if size > MAX_PLACEHOLDER_BYTES:
        raise ValidationException(messages.PLACEHOLDER_TOO_LONG.format(member=member, size=size))


def checked_key(params: dict[str, Any], member: str = "Key") -> Item:
    """A validated ``Key``-like parameter (numbers normalised)."""
    return validate_item(params[member])


def return_values(params: dict[str, Any], allowed: tuple[str, ...]) -> str:
    """The ReturnValues setting, restricted to what the operation allows."""
    value: str = params.get("ReturnValues") or "NONE"
    if value not in allowed:
        raise ValidationException(messages.RETURN_VALUES.format(allowed=" or ".join(allowed[::-1])))
    return value


@dataclass
class ReadRequest:
    """The parsed read parameters of a Query or Scan."""

    key_terms: list[ex.KeyTerm] | None
    condition: ex.Condition | None
    projection: list[ex.Path] | None
    legacy_projection: bool = False


def read_request(params: dict[str, Any], *, query: bool) -> ReadRequest:
    """Parse a Query's or Scan's key condition, filter and projection (expression or
    legacy form).

    Raises ValidationException for bad or inconsistent parameters, as AWS does.
    """
    reject_mixing(params)
    expressions: tuple[str, ...] = ("KeyConditionExpression",) if query else ()
    expressions += ("FilterExpression", "ProjectionExpression")
    subs = substitutions(params, expressions)
    filter_name = "QueryFilter" if query else "ScanFilter"
    terms = None
    if query:
        if params.get("KeyConditionExpression") is not None:
            terms = ex.parse_key_condition(params["KeyConditionExpression"], subs)
        elif params.get("KeyConditions") is not None:
            terms = legacy.key_conditions_terms(params["KeyConditions"])
        else:
            raise ValidationException(messages.KEY_CONDITION_MISSING.format())
    condition = None
    if params.get("FilterExpression") is not None:
        condition = ex.parse_condition(params["FilterExpression"], subs, "FilterExpression")
    elif params.get(filter_name) is not None:
        condition = legacy.filter_condition(
            params[filter_name], params.get("ConditionalOperator"), parameter=filter_name
        )
    else:
        legacy.check_conditional_operator(params.get("ConditionalOperator"), None)
    projection = None
    legacy_projection = False
    if params.get("ProjectionExpression") is not None:
        projection = ex.parse_projection(params["ProjectionExpression"], subs)
    elif params.get("AttributesToGet") is not None:
        projection = legacy.attributes_to_get_paths(params["AttributesToGet"])
        legacy_projection = True
    subs.check_all_used()
    return ReadRequest(terms, condition, projection, legacy_projection)


_NO_SUBSTITUTIONS = Substitutions(None, None)
_PLACEHOLDERS = frozenset({"ExpressionAttributeNames", "ExpressionAttributeValues"})
_ITEM_PROJECTION_MEMBERS = _PLACEHOLDERS | {"ProjectionExpression", "AttributesToGet"}


def write_substitutions(params: dict[str, Any], expressions: tuple[str, ...]) -> Substitutions:
    """Placeholders of a write request, after refusing mixed parameters."""
    if params.keys().isdisjoint(_PLACEHOLDERS):
        reject_mixing(params)
        return _NO_SUBSTITUTIONS  # nothing to track: every placeholder is undefined
    reject_mixing(params)
    return substitutions(params, expressions)


def write_condition(params: dict[str, Any], subs: Substitutions) -> ex.Condition | None:
    """The condition of a write (ConditionExpression or Expected), or None."""
    text = params.get("ConditionExpression")
    if text is not None:
        return ex.parse_condition(text, subs)
    expected = params.get("Expected")
    if expected is not None:
        return legacy.expected_condition(expected, params.get("ConditionalOperator"))
    legacy.check_conditional_operator(params.get("ConditionalOperator"), None)
    return None


Applier = Callable[[ex.UpdatePlan, Item], Item]


def update_plan(
    params: dict[str, Any], subs: Substitutions
) -> tuple[ex.UpdatePlan | None, Applier]:
    """The update of an UpdateItem (UpdateExpression or AttributeUpdates) and the
    function that applies it. Changes to key attributes need the table: see
    :func:`refuse_key_updates`."""
    updates = params.get("AttributeUpdates")
    if updates is not None:
        return legacy.attribute_updates_plan(updates, ()), legacy.apply_attribute_updates
    text = params.get("UpdateExpression")
    if text is None:
        return None, ex.apply_update
    return ex.parse_update(text, subs), ex.apply_update


def refuse_key_updates(
    params: dict[str, Any], plan: ex.UpdatePlan | None, key_names: tuple[str, ...]
) -> None:
    """Refuse an update (``plan``, or the legacy AttributeUpdates) that changes one of
    the table's key attributes."""
    updates = params.get("AttributeUpdates")
    if updates is not None:
        touched = [key for key in key_names if key in updates]
    elif plan is not None:
        touched = [path[0] for path in plan.paths if path[0] in key_names][:1]
    else:
        touched = []
    if touched:
        raise ValidationException(messages.KEY_ATTRIBUTE_UPDATE.format(name=touched[0]))


def item_projection(params: dict[str, Any]) -> list[ex.Path] | None:
    """The projection of a GetItem-shaped read (ProjectionExpression or
    AttributesToGet), or None."""
    if params.keys().isdisjoint(_ITEM_PROJECTION_MEMBERS):
        reject_mixing(params)
        return None  # no projection and no placeholders: nothing else to check
    reject_mixing(params)
    subs = substitutions(params, ("ProjectionExpression",))
    projection = None
    if params.get("ProjectionExpression") is not None:
        projection = ex.parse_projection(params["ProjectionExpression"], subs)
    elif params.get("AttributesToGet") is not None:
        projection = legacy.attributes_to_get_paths(params["AttributesToGet"])
    subs.check_all_used()
    return projection
