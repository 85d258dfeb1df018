"""Applying an :class:`UpdatePlan` to an item.

Every action is evaluated against the item as it was *before* the update (DynamoDB:
"actions aren't applied one after another"): SET operands read the old item, and list
indexes in REMOVE and SET refer to the old list, so ``REMOVE a[0], a[2]`` removes the
old first and third elements. Since target paths never overlap (the parser refuses
that), the plan is turned into a tree of edits keyed by path steps and applied in one
pass that rebuilds only the containers on edited paths.

* SET on a list index past the end appends (several such appends go in index order);
* any step through a missing attribute or a value of the wrong type is
  ``The document path provided in the update expression is invalid for update``;
* reading a missing attribute in a SET operand is
  ``The provided expression refers to an attribute that does not exist in the item``;
* arithmetic on non-numbers, list_append on non-lists and ADD/DELETE against an
  attribute of another type are ``An operand in the update expression has an incorrect
  data type``;
* ADD of a number to a missing attribute starts from 0; ADD of a set creates it; DELETE
  from a missing attribute does nothing; a DELETE that empties a set removes it.

Like DynamoDB these runtime messages carry no ``Invalid UpdateExpression:`` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import dynoxide_streams.engine.messages as messages
from dynoxide_streams.engine.expressions.ast import (
    AddAction,
    Arithmetic,
    DeleteAction,
    IfNotExists,
    ListAppend,
    PathOperand,
    RemoveAction,
    SetAction,
    SetValue,
    UpdateOperand,
    UpdatePlan,
    ValueOperand,
)
from dynoxide_streams.engine.expressions.paths import lookup
from dynoxide_streams.engine.values import (
    AttributeValue,
    Item,
    add_numbers,
    binary_bytes,
    subtract_numbers,
    value_type,
)
from dynoxide_streams.errors import ValidationException

INVALID_PATH = messages.UPDATE_PATH_INVALID.template
MISSING_ATTRIBUTE = messages.MISSING_ATTRIBUTE.template
WRONG_TYPE = messages.UPDATE_WRONG_TYPE.template
_SET_TYPES = frozenset({"SS", "NS", "BS"})


@dataclass(slots=True)
class _Edit:
    """What to do at one step of the item: a final action, or edits further down."""

    kind: str | None = None  # "set" | "remove" | "add" | "delete" at a path's last step
    value: AttributeValue | None = None
    children: dict[str | int, _Edit] = field(default_factory=dict)


def apply_update(plan: UpdatePlan, item: Item) -> Item:
    """The item after ``plan``; ``item`` itself is never modified.

    The result shares the attribute values the plan leaves untouched with ``item``
    (treat AttributeValues as immutable); containers on edited paths are new.
    """
    root = _Edit()
    for action in plan.actions:
        if isinstance(action, SetAction):
            kind, value = "set", _clone(_evaluate(action.value, item))
        elif isinstance(action, RemoveAction):
            kind, value = "remove", None
        elif isinstance(action, AddAction):
            kind, value = "add", action.value
        else:
            assert isinstance(action, DeleteAction)
            kind, value = "delete", action.value
        node = root
        for step in action.path:
            node = node.children.setdefault(step, _Edit())
        node.kind, node.value = kind, value
    return _edit_map(item, root)


def only_removes(plan: UpdatePlan) -> bool:
    """Whether ``plan`` has actions and every one only takes something away (REMOVE,
    DELETE from a set, legacy DELETE). DynamoDB writes nothing when such an update
    meets a missing item: no item is created and no stream record is emitted."""
    return bool(plan.actions) and all(
        isinstance(action, RemoveAction | DeleteAction) for action in plan.actions
    )


# ------------------------------------------------------------- SET operands


def _evaluate(value: SetValue, item: Item) -> AttributeValue:
    if isinstance(value, Arithmetic):
        left = _evaluate(value.left, item)
        right = _evaluate(value.right, item)
        if "N" not in left or "N" not in right:
            raise ValidationException(WRONG_TYPE)
        return {"N": _arithmetic(value.op, left["N"], right["N"])}
    return _operand(value, item)


def _arithmetic(op: str, left: str, right: str) -> str:
    """``left op right``, exact; a result out of range is refused, never rounded."""
    return add_numbers(left, right) if op == "+" else subtract_numbers(left, right)


def _operand(operand: UpdateOperand, item: Item) -> AttributeValue:
    if isinstance(operand, ValueOperand):
        return operand.value
    if isinstance(operand, PathOperand):
        found = lookup(item, operand.path)
        if found is None:
            raise ValidationException(MISSING_ATTRIBUTE)
        return found
    if isinstance(operand, IfNotExists):
        found = lookup(item, operand.path)
        return found if found is not None else _operand(operand.default, item)
    assert isinstance(operand, ListAppend)
    first = _operand(operand.first, item)
    second = _operand(operand.second, item)
    if "L" not in first or "L" not in second:
        raise ValidationException(WRONG_TYPE)
    return {"L": [*first["L"], *second["L"]]}


# ------------------------------------------------------------ applying edits


def _edit_map(entries: dict[str, AttributeValue], node: _Edit) -> dict[str, AttributeValue]:
    result = dict(entries)
    for step, child in node.children.items():
        if not isinstance(step, str):
            raise ValidationException(INVALID_PATH)
        updated = _edit_value(entries.get(step), child)
        if updated is None:
            result.pop(step, None)
        else:
            result[step] = updated
    return result


def _edit_list(elements: list[AttributeValue], node: _Edit) -> list[AttributeValue]:
    if any(not isinstance(step, int) for step in node.children):
        raise ValidationException(INVALID_PATH)
    result: list[AttributeValue] = []
    for index, element in enumerate(elements):
        child = node.children.get(index)
        updated = element if child is None else _edit_value(element, child)
        if updated is not None:
            result.append(updated)
    for step in sorted(s for s in node.children if isinstance(s, int) and s >= len(elements)):
        updated = _edit_value(None, node.children[step])
        if updated is not None:
            result.append(updated)
    return result


def _edit_value(current: AttributeValue | None, node: _Edit) -> AttributeValue | None:
    """The new value at one step (None: no value there)."""
    if node.kind is None:  # edits further down: the container must exist
        if current is None:
            raise ValidationException(INVALID_PATH)
        if "M" in current:
            return {"M": _edit_map(current["M"], node)}
        if "L" in current:
            return {"L": _edit_list(current["L"], node)}
        raise ValidationException(INVALID_PATH)
    if node.kind == "remove":
        return None
    value = node.value
    assert value is not None
    if node.kind == "set":
        return value
    if node.kind == "add":
        return _add(current, value)
    return _delete(current, value)


def _add(current: AttributeValue | None, value: AttributeValue) -> AttributeValue:
    kind = value_type(value)
    if kind == "N":
        if current is None:
            return {"N": add_numbers("0", value["N"])}
        if "N" not in current:
            raise ValidationException(WRONG_TYPE)
        return {"N": _arithmetic("+", current["N"], value["N"])}
    if kind not in _SET_TYPES:
        raise ValidationException(WRONG_TYPE)
    if current is None:
        return {kind: list(value[kind])}
    if kind not in current:
        raise ValidationException(WRONG_TYPE)
    members = list(current[kind])
    seen = {_member_key(kind, m) for m in members}
    for member in value[kind]:
        key = _member_key(kind, member)
        if key not in seen:
            seen.add(key)
            members.append(member)
    return {kind: members}


def _delete(current: AttributeValue | None, value: AttributeValue) -> AttributeValue | None:
    kind = value_type(value)
    if current is None:
        return None
    if kind not in _SET_TYPES or kind not in current:
        raise ValidationException(WRONG_TYPE)
    removed = {_member_key(kind, m) for m in value[kind]}
    kept = [m for m in current[kind] if _member_key(kind, m) not in removed]
    return {kind: kept} if kept else None


def _member_key(kind: str, member: str) -> object:
    if kind == "NS":
        return Decimal(member)
    if kind == "BS":
        return binary_bytes(member)
    return member


def _clone(value: AttributeValue) -> AttributeValue:
    """A deep copy of a value (values from the plan or the old item get stored)."""
    ((kind, inner),) = value.items()
    if kind == "M":
        return {"M": {k: _clone(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_clone(v) for v in inner]}
    if kind in _SET_TYPES:
        return {kind: list(inner)}
    copied: dict[str, Any] = {kind: inner}
    return copied
