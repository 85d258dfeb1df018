"""DynamoDB's per-expression limits on a parsed expression: operators and path depth.

Checked on the resolved tree, after the grammar and the placeholders, for every kind of
expression (Condition, Filter, KeyCondition, Update, Projection):

* at most :data:`MAX_OPERATORS` operators and functions: each comparator, ``BETWEEN``,
  ``IN`` (one, whatever its operand count), ``NOT``, each ``AND``/``OR`` joining two
  terms, each function (``attribute_exists``, ``size``, ``if_not_exists``,
  ``list_append``, ...) and each ``+``/``-``; the ``=`` of a SET action is syntax, not
  an operator. DynamoDB stops counting at the first operator over the limit, so its
  message always says ``operator count: 301``;
* document paths at most :data:`MAX_PATH_DEPTH` elements long (``a.b[0]`` is three).
"""

from __future__ import annotations

from typing import Any

import dynoxide_streams.engine.messages as messages
from dynoxide_streams.engine.expressions.ast import (
    And,
    Arithmetic,
    AttributeExists,
    AttributeNotExists,
    AttributeType,
    BeginsWith,
    Between,
    Comparison,
    Contains,
    IfNotExists,
    In,
    ListAppend,
    Not,
    Or,
    SizeOperand,
)
from dynoxide_streams.errors import ValidationException

MAX_OPERATORS = 300
"""Operators and functions allowed in one expression (AWS: 300)."""
MAX_PATH_DEPTH = 32
"""Elements allowed in one document path (AWS: 32 nesting levels)."""
TOO_MANY_OPERATORS = messages.TOO_MANY_OPERATORS
TOO_DEEP = messages.PATH_TOO_DEEP

_ONE_OPERATOR = (
    Comparison,
    Between,
    In,
    Not,
    AttributeExists,
    AttributeNotExists,
    AttributeType,
    BeginsWith,
    Contains,
    SizeOperand,
    Arithmetic,
    IfNotExists,
    ListAppend,
)


_COUNTED = frozenset(_ONE_OPERATOR)
_FIELDS: dict[type, tuple[str, ...]] = {}
"""Each node class's attributes, from its ``__slots__`` (every AST node is slotted)."""


def check_limits(tree: object, kind: str) -> None:
    """Raise AWS's ValidationException if ``tree`` (a resolved condition, update plan
    or projection path list) has too many operators or too deep a document path.

    One walk; operators are checked before path depth."""
    totals = [0, 0]  # operators, deepest path
    _walk(tree, totals)
    if totals[0] > MAX_OPERATORS:
        raise ValidationException(TOO_MANY_OPERATORS.format(kind=kind, count=MAX_OPERATORS + 1))
    if totals[1] > MAX_PATH_DEPTH:
        raise ValidationException(TOO_DEEP.format(kind=kind, depth=totals[1]))


def _walk(node: Any, totals: list[int]) -> None:
    cls = type(node)
    if cls is tuple or cls is list:
        if node and type(node[0]) is str:  # a document path
            if len(node) > totals[1]:
                totals[1] = len(node)
        else:
            for item in node:
                _walk(item, totals)
        return
    if cls is str or cls is int or cls is dict:
        return
    if cls is And or cls is Or:
        totals[0] += len(node.items) - 1
    elif cls in _COUNTED:
        totals[0] += 1
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(getattr(cls, "__slots__", ()))
    for name in names:
        _walk(getattr(node, name), totals)
