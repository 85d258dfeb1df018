"""Evaluating a condition against an item.

Semantics (DynamoDB's, as documented and as dynalite reproduces them):

* an operand whose path does not exist is *absent*; any comparison, BETWEEN, IN or
  function involving an absent operand is false — except ``<>``, which is true unless
  both sides are present and equal;
* values of different types are never equal and never ordered; only S, N and B order
  (numbers by value, strings by UTF-8 bytes, binaries by bytes);
* ``size()`` counts UTF-16 code units of a string (as DynamoDB, a Java service, does),
  bytes of a binary, members of a set, elements of a list and entries of a map; other
  types have no size (absent);
* ``contains(a, x)``: substring of a string (or of a binary), member of a set of the
  same scalar type, or element (deep equality) of a list.
"""

from __future__ import annotations

from decimal import Decimal

from dynoxide_streams.engine.expressions.ast import (
    And,
    AttributeExists,
    AttributeNotExists,
    AttributeType,
    BeginsWith,
    Between,
    Comparison,
    Condition,
    Contains,
    In,
    Not,
    Operand,
    Or,
    PathOperand,
    SizeOperand,
    ValueOperand,
)
from dynoxide_streams.engine.expressions.paths import lookup
from dynoxide_streams.engine.values import (
    AttributeValue,
    Item,
    binary_bytes,
    compare,
    value_type,
    values_equal,
)

_EMPTY: Item = {}


def evaluate(condition: Condition, item: Item | None) -> bool:
    """Whether ``item`` (None: no item exists) satisfies ``condition``."""
    return _holds(condition, _EMPTY if item is None else item)


def operand_value(operand: Operand, item: Item) -> AttributeValue | None:
    """The value of an operand for ``item``; None when it is absent."""
    if isinstance(operand, ValueOperand):
        return operand.value
    if isinstance(operand, PathOperand):
        return lookup(item, operand.path)
    assert isinstance(operand, SizeOperand)
    inner = operand_value(operand.operand, item)
    size = None if inner is None else size_of(inner)
    return None if size is None else {"N": str(size)}


def size_of(value: AttributeValue) -> int | None:
    """``size()`` of a value, or None for types that have no size (N, BOOL, NULL)."""
    kind = value_type(value)
    inner = value[kind]
    if kind == "S":
        return len(inner.encode("utf-16-le")) // 2
    if kind == "B":
        return len(binary_bytes(inner))
    if kind in ("SS", "NS", "BS", "L", "M"):
        return len(inner)
    return None


def _holds(node: Condition, item: Item) -> bool:
    if isinstance(node, And):
        return all(_holds(child, item) for child in node.items)
    if isinstance(node, Or):
        return any(_holds(child, item) for child in node.items)
    if isinstance(node, Not):
        return not _holds(node.item, item)
    if isinstance(node, Comparison):
        return _compare(node.op, operand_value(node.left, item), operand_value(node.right, item))
    if isinstance(node, Between):
        value = operand_value(node.operand, item)
        low = operand_value(node.low, item)
        high = operand_value(node.high, item)
        if value is None or low is None or high is None:
            return False
        above, below = compare(value, low), compare(value, high)
        return above is not None and below is not None and above >= 0 and below <= 0
    if isinstance(node, In):
        value = operand_value(node.operand, item)
        if value is None:
            return False
        for choice in node.choices:
            candidate = operand_value(choice, item)
            if candidate is not None and values_equal(value, candidate):
                return True
        return False
    if isinstance(node, AttributeExists):
        return lookup(item, node.path) is not None
    if isinstance(node, AttributeNotExists):
        return lookup(item, node.path) is None
    if isinstance(node, AttributeType):
        value = operand_value(node.operand, item)
        return value is not None and value_type(value) == node.type_name
    if isinstance(node, BeginsWith):
        return _begins_with(operand_value(node.operand, item), operand_value(node.prefix, item))
    assert isinstance(node, Contains)
    return _contains(operand_value(node.operand, item), operand_value(node.needle, item))


def _compare(op: str, left: AttributeValue | None, right: AttributeValue | None) -> bool:
    if op == "=":
        return left is not None and right is not None and values_equal(left, right)
    if op == "<>":
        return left is None or right is None or not values_equal(left, right)
    if left is None or right is None:
        return False
    order = compare(left, right)
    if order is None:
        return False
    if op == "<":
        return order < 0
    if op == "<=":
        return order <= 0
    if op == ">":
        return order > 0
    return order >= 0


def _begins_with(value: AttributeValue | None, prefix: AttributeValue | None) -> bool:
    if value is None or prefix is None:
        return False
    kind = value_type(value)
    if kind != value_type(prefix):
        return False
    if kind == "S":
        return bool(value["S"].startswith(prefix["S"]))
    if kind == "B":
        return binary_bytes(value["B"]).startswith(binary_bytes(prefix["B"]))
    return False


_MEMBER_TYPES = {"SS": "S", "NS": "N", "BS": "B"}


def _contains(value: AttributeValue | None, needle: AttributeValue | None) -> bool:
    if value is None or needle is None:
        return False
    kind = value_type(value)
    needle_kind = value_type(needle)
    if kind == "S" and needle_kind == "S":
        return bool(needle["S"] in value["S"])
    if kind == "B" and needle_kind == "B":
        return binary_bytes(needle["B"]) in binary_bytes(value["B"])
    if _MEMBER_TYPES.get(kind) == needle_kind:
        members = value[kind]
        if kind == "SS":
            return needle["S"] in members
        if kind == "NS":
            target = Decimal(needle["N"])
            return any(Decimal(member) == target for member in members)
        target_bytes = binary_bytes(needle["B"])
        return any(binary_bytes(member) == target_bytes for member in members)
    if kind == "L":
        return any(values_equal(element, needle) for element in value["L"])
    return False
