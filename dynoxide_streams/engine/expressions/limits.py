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

from collections.abc import Iterable, Iterator
from dataclasses import fields, is_dataclass

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
    Path,
    SizeOperand,
)
from dynoxide_streams.errors import ValidationException

MAX_OPERATORS = 300
"""Operators and functions allowed in one expression (AWS: 300)."""
MAX_PATH_DEPTH = 32
"""Elements allowed in one document path (AWS: 32 nesting levels)."""
TOO_MANY_OPERATORS = (
    "Invalid {kind}: The expression contains too many operators; operator count: {count}"
)
TOO_DEEP = "Invalid {kind}: The document path has too many nesting levels; nesting levels: {depth}"

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


def check_limits(tree: object, kind: str) -> None:
    """Raise AWS's ValidationException if ``tree`` (a resolved condition, update plan
    or projection path list) has too many operators or too deep a document path."""
    count = 0
    for node in _nodes(tree):
        if isinstance(node, And | Or):
            count += len(node.items) - 1
        elif isinstance(node, _ONE_OPERATOR):
            count += 1
        if count > MAX_OPERATORS:
            raise ValidationException(TOO_MANY_OPERATORS.format(kind=kind, count=MAX_OPERATORS + 1))
    for path in _paths(tree):
        if len(path) > MAX_PATH_DEPTH:
            raise ValidationException(TOO_DEEP.format(kind=kind, depth=len(path)))


def _children(node: object) -> Iterable[object]:
    if isinstance(node, list | tuple):
        return node
    if is_dataclass(node) and not isinstance(node, type):
        return [getattr(node, f.name) for f in fields(node)]
    return ()


def _nodes(tree: object) -> Iterator[object]:
    """Every AST node of ``tree``, depth first (paths and values are leaves)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if _is_path(node) or isinstance(node, dict | str | int):
            continue
        yield node
        stack.extend(_children(node))


def _paths(tree: object) -> Iterator[Path]:
    stack = [tree]
    while stack:
        node = stack.pop()
        if _is_path(node):
            yield node  # type: ignore[misc]
        elif not isinstance(node, dict | str | int):
            stack.extend(_children(node))


def _is_path(node: object) -> bool:
    return (
        isinstance(node, tuple)
        and bool(node)
        and isinstance(node[0], str)
        and all(isinstance(step, str | int) for step in node)
    )
