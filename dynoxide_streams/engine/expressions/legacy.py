"""Legacy (pre-expression) request parameters → the expression AST.

DynamoDB still accepts the parameters it had before expressions existed: ``Expected``,
``AttributeUpdates``, ``KeyConditions``, ``QueryFilter`` / ``ScanFilter``,
``ConditionalOperator`` and ``AttributesToGet``. Each function here checks one of them
the way DynamoDB does (its messages, in its order, as dynalite reproduces them) and
builds the *same* AST the expression parser builds, so evaluation, updates and
projection are shared with the expression API:

================================  ==============================================
legacy                            expression
================================  ==============================================
``EQ`` / ``{"Value": v}``         ``a = :v`` (also ``Exists: true`` with a Value)
``NE``                            ``a <> :v`` (true when ``a`` is missing)
``LE LT GE GT``                   ``a <= :v`` … ``a > :v``
``NOT_NULL``                      ``attribute_exists(a)``
``NULL`` / ``Exists: false``      ``attribute_not_exists(a)``
``CONTAINS``                      ``contains(a, :v)``
``NOT_CONTAINS``                  ``NOT contains(a, :v)`` (true when ``a`` is missing)
``BEGINS_WITH``                   ``begins_with(a, :v)``
``IN``                            ``a IN (:v1, :v2, …)``
``BETWEEN``                       ``a BETWEEN :lo AND :hi``
``ConditionalOperator`` AND / OR  the conditions joined by ``AND`` (default) / ``OR``
``PUT`` (the default Action)      ``SET a = :v``
``DELETE`` without a Value        ``REMOVE a``
``DELETE`` with a set             ``DELETE a :set``
``ADD`` with a number or a set    ``ADD a :v``
``ADD`` with a list               ``SET a = list_append(if_not_exists(a, :empty), :v)``
``AttributesToGet``               a ProjectionExpression of top-level names
================================  ==============================================

Attribute names in these parameters are literal top-level names: ``"a.b"`` is one
attribute called ``a.b``. AttributeValues are validated with
:func:`values.validate_value` (numbers normalised). Everything that needs the table's
key schema (which attributes are keys, their types, how many key conditions the schema
allows) is left to the caller, except the key attributes ``AttributeUpdates`` must not
touch, which the caller passes in.

Runtime errors of a legacy update come from ``update.py``; run a plan built here with
:func:`apply_attribute_updates` to get the legacy wording of a type mismatch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dynoxide_streams.engine.messages as messages
from dynoxide_streams.engine.expressions.ast import (
    AddAction,
    And,
    AttributeExists,
    AttributeNotExists,
    BeginsWith,
    Between,
    Comparison,
    Condition,
    Contains,
    DeleteAction,
    IfNotExists,
    In,
    KeyTerm,
    ListAppend,
    Not,
    Or,
    Path,
    PathOperand,
    RemoveAction,
    SetAction,
    UpdateAction,
    UpdatePlan,
    ValueOperand,
)
from dynoxide_streams.engine.expressions.update import WRONG_TYPE, apply_update
from dynoxide_streams.engine.values import (
    AttributeValue,
    Item,
    compare,
    validate_value,
    value_type,
)
from dynoxide_streams.errors import (
    SerializationException,
    ValidationException,
    constraint_violation,
    validation_error,
)

INVALID = messages.INVALID

COMPARISON_OPERATORS = messages.ENUM_ORDER["ComparisonOperator"][0]
"""Every ComparisonOperator, in the order DynamoDB lists them in its enum message."""

CONDITIONAL_OPERATORS = ("OR", "AND")
"""ConditionalOperator values, in the order DynamoDB lists them in its enum message."""

ATTRIBUTE_ACTIONS = ("ADD", "DELETE", "PUT")
"""AttributeValueUpdate Actions, in the order DynamoDB lists them in its enum message."""

TYPE_MISMATCH = messages.LEGACY_TYPE_MISMATCH.template
"""The legacy wording of an ADD/DELETE against an attribute of another type."""

# How many values each operator takes: (at least, at most); None is "no limit".
_ARGUMENT_COUNTS: dict[str, tuple[int, int | None]] = {
    "NULL": (0, 0),
    "NOT_NULL": (0, 0),
    "EQ": (1, 1),
    "NE": (1, 1),
    "LE": (1, 1),
    "LT": (1, 1),
    "GE": (1, 1),
    "GT": (1, 1),
    "CONTAINS": (1, 1),
    "NOT_CONTAINS": (1, 1),
    "BEGINS_WITH": (1, 1),
    "IN": (1, None),
    "BETWEEN": (2, 2),
}

_SCALARS = frozenset({"S", "N", "B"})
# The value types an operator accepts; EQ and NE accept every type.
_VALUE_TYPES: dict[str, frozenset[str]] = {
    "LE": _SCALARS,
    "LT": _SCALARS,
    "GE": _SCALARS,
    "GT": _SCALARS,
    "IN": _SCALARS,
    "BETWEEN": _SCALARS,
    "BEGINS_WITH": frozenset({"S", "B"}),
    # "b cannot be a set, a map, or a list" (AWS, of "a CONTAINS b")
    "CONTAINS": frozenset({"S", "N", "B", "BOOL", "NULL"}),
    "NOT_CONTAINS": frozenset({"S", "N", "B", "BOOL", "NULL"}),
}

_COMPARATORS = {"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}
_KEY_OPERATORS = {
    "EQ": "=",
    "LE": "<=",
    "LT": "<",
    "GE": ">=",
    "GT": ">",
    "BEGINS_WITH": "begins_with",
    "BETWEEN": "BETWEEN",
}
_SET_TYPES = frozenset({"SS", "NS", "BS"})
_ADD_TYPES = frozenset({"N", "SS", "NS", "BS", "L"})
_EMPTY_LIST: AttributeValue = {"L": []}


# ------------------------------------------------------------ request shape


def _wrong_type(value: Any, expected: str) -> SerializationException:
    """The error for a request member of the wrong JSON type (``expected``: its kind)."""
    if isinstance(value, list):
        return SerializationException(messages.START_OF_LIST.template)
    if isinstance(value, dict):
        return SerializationException(messages.START_OF_MAP.template)
    if expected == "Structure":
        return SerializationException(messages.UNEXPECTED_VALUE_TYPE.template)
    if expected == "List":
        return SerializationException(messages.UNEXPECTED_FIELD_TYPE.template)
    if isinstance(value, bool):
        token = "TRUE_VALUE" if value else "FALSE_VALUE"
    elif isinstance(value, (int, float)):
        token = "NUMBER_VALUE"
    else:
        token = "STRING_VALUE"
    return SerializationException(messages.CANNOT_CONVERT.format(token=token, target=expected))


def _members(value: Any) -> Mapping[str, Any]:
    """A structure member of a map parameter (JSON null counts as empty)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _wrong_type(value, "Structure")
    return value


def _map(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        if isinstance(value, list):
            raise SerializationException(messages.START_OF_LIST.template)
        raise SerializationException(messages.UNEXPECTED_FIELD_TYPE.template)
    return value


def _value_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _wrong_type(value, "List")
    return value


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _check_operator(operator: Any, where: str) -> str:
    """The ComparisonOperator of one condition, or the request-shape error."""
    if operator is None:
        raise validation_error([constraint_violation(None, where, messages.NOT_NULL.template)])
    if not isinstance(operator, str):
        raise _wrong_type(operator, "String")
    if operator not in _ARGUMENT_COUNTS:
        enum = ", ".join(COMPARISON_OPERATORS)
        raise validation_error(
            [constraint_violation(operator, where, messages.ENUM.format(values=enum))]
        )
    return operator


# ------------------------------------------------------------- conditions


def check_conditional_operator(
    conditional_operator: str | None, conditions: Mapping[str, Any] | None
) -> None:
    """DynamoDB's rules for ConditionalOperator beside the map it joins.

    ``conditions`` is the request's ``Expected``, ``QueryFilter`` or ``ScanFilter``
    (None when absent). Call it even when that map is absent: a ConditionalOperator
    alone is an error. :func:`expected_condition` and :func:`filter_condition` call it.
    """
    if conditional_operator is None:
        return
    if conditional_operator not in CONDITIONAL_OPERATORS:
        enum = ", ".join(CONDITIONAL_OPERATORS)
        raise validation_error(
            [
                constraint_violation(
                    conditional_operator,
                    "conditionalOperator",
                    messages.ENUM.format(values=enum),
                )
            ]
        )
    if not conditions:
        raise ValidationException(messages.CONDITIONAL_OPERATOR_ALONE.template)
    if len(conditions) < 2:
        raise ValidationException(messages.CONDITIONAL_OPERATOR_ONE.template)


def _check_arguments(operator: str, values: list[AttributeValue]) -> None:
    """Argument count, a single value type, the operator's types, BETWEEN's bounds."""
    least, most = _ARGUMENT_COUNTS[operator]
    if len(values) < least or (most is not None and len(values) > most):
        raise ValidationException(messages.ARGUMENT_COUNT.format(operator=operator))
    if not values:
        return
    kinds = [value_type(value) for value in values]
    if any(kind != kinds[0] for kind in kinds):
        raise ValidationException(messages.ARGUMENTS_MIXED.template)
    allowed = _VALUE_TYPES.get(operator)
    if allowed is not None and kinds[0] not in allowed:
        raise ValidationException(messages.OPERATOR_TYPE.format(operator=operator, kind=kinds[0]))
    if operator == "BETWEEN" and (compare(values[0], values[1]) or 0) > 0:
        raise ValidationException(messages.LEGACY_BETWEEN_BOUNDS.template)


def _condition(name: str, operator: str, values: list[AttributeValue]) -> Condition:
    """The expression-AST form of ``name <operator> values`` (already checked)."""
    path: Path = (name,)
    attribute = PathOperand(path)
    comparator = _COMPARATORS.get(operator)
    if comparator is not None:
        return Comparison(comparator, attribute, ValueOperand(values[0]))
    if operator == "NOT_NULL":
        return AttributeExists(path)
    if operator == "NULL":
        return AttributeNotExists(path)
    if operator == "CONTAINS":
        return Contains(attribute, ValueOperand(values[0]))
    if operator == "NOT_CONTAINS":
        return Not(Contains(attribute, ValueOperand(values[0])))
    if operator == "BEGINS_WITH":
        return BeginsWith(attribute, ValueOperand(values[0]))
    if operator == "IN":
        return In(attribute, tuple(ValueOperand(value) for value in values))
    assert operator == "BETWEEN"
    return Between(attribute, ValueOperand(values[0]), ValueOperand(values[1]))


def _join(items: list[Condition], conditional_operator: str | None) -> Condition:
    if len(items) == 1:
        return items[0]
    if conditional_operator == "OR":
        return Or(tuple(items))
    return And(tuple(items))


def _checked_condition(entry: Any, where: str) -> tuple[str, list[AttributeValue]]:
    """One ``Condition`` (of a filter or KeyConditions): its operator and values."""
    members = _members(entry)
    operator = _check_operator(members.get("ComparisonOperator"), f"{where}.comparisonOperator")
    values = [validate_value(raw) for raw in _value_list(members.get("AttributeValueList"))]
    _check_arguments(operator, values)
    return operator, values


def expected_condition(expected: dict[str, Any], conditional_operator: str | None) -> Condition:
    """The condition of an ``Expected`` parameter (PutItem, UpdateItem, DeleteItem).

    Each entry is ``{"Value": v, "Exists": bool}`` (Exists defaults to true: the
    attribute must equal ``v``; ``Exists: false`` without a Value: it must not exist)
    or ``{"ComparisonOperator": op, "AttributeValueList": [...]}`` (a single ``Value``
    may stand for the list). The entries are joined by ``conditional_operator``
    (AND when None). An empty map is a condition that always holds.
    """
    check_conditional_operator(conditional_operator, _map(expected))
    items = [_expected_entry(name, entry) for name, entry in expected.items()]
    return _join(items, conditional_operator)


def _expected_entry(name: str, entry: Any) -> Condition:
    members = _members(entry)
    raw_value = members.get("Value")
    raw_list = members.get("AttributeValueList")
    operator = members.get("ComparisonOperator")
    exists = members.get("Exists")
    if exists is not None and not isinstance(exists, bool):
        raise _wrong_type(exists, "Boolean")
    if raw_value is not None and raw_list is not None:
        raise ValidationException(messages.VALUE_AND_LIST.format(name=name))
    if operator is not None:
        operator = _check_operator(operator, f"expected.{name}.member.comparisonOperator")
        if exists is not None:
            raise ValidationException(messages.EXISTS_AND_OPERATOR.format(name=name))
        if operator not in ("NULL", "NOT_NULL") and raw_value is None and raw_list is None:
            raise ValidationException(
                messages.OPERATOR_WITHOUT_VALUE.format(operator=operator, name=name)
            )
        raws = [raw_value] if raw_value is not None else _value_list(raw_list)
        values = [validate_value(raw) for raw in raws]
        _check_arguments(operator, values)
        return _condition(name, operator, values)
    if raw_list is not None:
        raise ValidationException(messages.LIST_WITHOUT_OPERATOR.format(name=name))
    if exists is None or exists:
        if raw_value is None:
            shown = "null" if exists is None else "true"
            raise ValidationException(messages.EXISTS_WITHOUT_VALUE.format(shown=shown, name=name))
        return _condition(name, "EQ", [validate_value(raw_value)])
    if raw_value is not None:
        raise ValidationException(messages.VALUE_WHEN_NOT_EXISTS.format(name=name))
    return AttributeNotExists((name,))


def filter_condition(
    filter: dict[str, Any],
    conditional_operator: str | None,
    *,
    parameter: str = "ScanFilter",
) -> Condition:
    """The condition of a ``QueryFilter`` or ``ScanFilter`` parameter.

    Each entry is ``{"ComparisonOperator": op, "AttributeValueList": [...]}``; the
    entries are joined by ``conditional_operator`` (AND when None). ``parameter``
    names the map in request-shape messages only. Whether a QueryFilter names a key
    attribute is the caller's check (``api.references`` on the result).
    """
    check_conditional_operator(conditional_operator, _map(filter))
    where = _camel(parameter)
    items: list[Condition] = []
    for name, entry in filter.items():
        operator, values = _checked_condition(entry, f"{where}.{name}.member")
        items.append(_condition(name, operator, values))
    return _join(items, conditional_operator)


def key_conditions_terms(conditions: dict[str, Any]) -> list[KeyTerm]:
    """The terms of a ``KeyConditions`` parameter (Query), in request order.

    Operators map to the KeyConditionExpression ones (``EQ`` → ``=``, ``BEGINS_WITH``
    → ``begins_with`` …). Matching the terms against the key schema (names, value
    types, hash-key ``EQ``) is left to the caller, as for ``parse_key_condition``.
    """
    checked: list[tuple[str, str, list[AttributeValue]]] = []
    for name, entry in _map(conditions).items():
        operator, values = _checked_condition(entry, f"keyConditions.{name}.member")
        checked.append((name, operator, values))
    if len(checked) not in (1, 2):
        raise ValidationException(messages.KEY_CONDITIONS_COUNT.template)
    terms: list[KeyTerm] = []
    for name, operator, values in checked:
        key_operator = _KEY_OPERATORS.get(operator)
        if key_operator is None:
            raise ValidationException(messages.NOT_INDEXABLE.template)
        terms.append(KeyTerm(name, key_operator, tuple(values)))
    return terms


# ---------------------------------------------------------------- projection


def attributes_to_get_paths(names: list[str]) -> list[Path]:
    """The projection of an ``AttributesToGet`` parameter: one top-level path a name."""
    if not isinstance(names, list):
        raise _wrong_type(names, "List")
    if not names:
        raise validation_error(
            [constraint_violation(names, "attributesToGet", messages.MIN_LENGTH.format(n=1))]
        )
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str):
            raise _wrong_type(name, "String")
        if name in seen:
            raise ValidationException(messages.DUPLICATE_ATTRIBUTE_NAME.format(name=name))
        seen.add(name)
    return [(name,) for name in names]


# -------------------------------------------------------------------- updates


def attribute_updates_plan(updates: dict[str, Any], key_names: tuple[str, ...]) -> UpdatePlan:
    """The update plan of an ``AttributeUpdates`` parameter (UpdateItem).

    Each entry is ``{"Action": "PUT" | "ADD" | "DELETE", "Value": v}`` (Action
    defaults to PUT). ``key_names`` are the table's key attributes, which cannot be
    updated. Run the plan with :func:`apply_attribute_updates`.
    """
    entries = _map(updates)
    errors: list[str] = []
    for name, entry in entries.items():
        action = _members(entry).get("Action")
        if action is None:
            continue
        if not isinstance(action, str):
            raise _wrong_type(action, "String")
        if action not in ATTRIBUTE_ACTIONS:
            enum = ", ".join(ATTRIBUTE_ACTIONS)
            errors.append(
                constraint_violation(
                    action,
                    f"attributeUpdates.{name}.member.action",
                    messages.ENUM.format(values=enum),
                )
            )
    if errors:
        raise validation_error(errors)
    actions = [_update_action(name, _members(entry)) for name, entry in entries.items()]
    for key in key_names:
        if key in entries:
            raise ValidationException(messages.KEY_ATTRIBUTE_UPDATE.format(name=key))
    return UpdatePlan(tuple(actions))


def _update_action(name: str, entry: Mapping[str, Any]) -> UpdateAction:
    if not name:
        raise ValidationException(messages.EMPTY_ATTRIBUTE_NAME.template)
    path: Path = (name,)
    action = entry.get("Action") or "PUT"
    raw = entry.get("Value")
    if raw is None:
        if action != "DELETE":
            raise ValidationException(messages.DELETE_ONLY_WITHOUT_VALUE.template)
        return RemoveAction(path)
    value = validate_value(raw)
    kind = value_type(value)
    if action == "DELETE":
        if kind not in _SET_TYPES:
            raise ValidationException(messages.DELETE_TYPE.format(kind=kind))
        return DeleteAction(path, value)
    if action == "ADD":
        if kind not in _ADD_TYPES:
            raise ValidationException(messages.ADD_TYPE.format(kind=kind))
        if kind == "L":
            start = IfNotExists(path, ValueOperand(_EMPTY_LIST))
            return SetAction(path, ListAppend(start, ValueOperand(value)))
        return AddAction(path, value)
    return SetAction(path, ValueOperand(value))


def apply_attribute_updates(plan: UpdatePlan, item: Item) -> Item:
    """:func:`update.apply_update` with the legacy wording of its type-mismatch error.

    A plan from :func:`attribute_updates_plan` only edits top-level attributes with
    constants, so a type mismatch (ADD or DELETE against an attribute of another type)
    is the one runtime error it can meet besides number range errors.
    """
    try:
        return apply_update(plan, item)
    except ValidationException as error:
        if error.message == WRONG_TYPE:
            raise ValidationException(TYPE_MISMATCH) from None
        raise
