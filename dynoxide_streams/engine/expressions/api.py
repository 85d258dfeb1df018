"""The ``parse_*`` entry points: text → checked, placeholder-free AST.

Each runs the same pipeline: the request-independent limits (size, emptiness), the
grammar (``parser.py``, syntax errors first), then the semantic checks and placeholder
resolution (``resolve.py``), and for key conditions the key shape rules.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import dynoxide_streams.engine.messages as messages
from dynoxide_streams.engine.expressions.ast import (
    AttributeExists,
    AttributeNotExists,
    Condition,
    KeyTerm,
    Path,
    PathOperand,
    SizeOperand,
    UpdatePlan,
    leaf_operands,
    leaves,
)
from dynoxide_streams.engine.expressions.keycondition import key_terms
from dynoxide_streams.engine.expressions.limits import check_limits
from dynoxide_streams.engine.expressions.parser import (
    parse_condition_syntax,
    parse_projection_syntax,
    parse_update_syntax,
)
from dynoxide_streams.engine.expressions.resolve import (
    resolve_condition,
    resolve_projection,
    resolve_update,
)
from dynoxide_streams.engine.expressions.substitutions import Substitutions
from dynoxide_streams.engine.expressions.syntax import SCondition
from dynoxide_streams.errors import ValidationException

MAX_EXPRESSION_BYTES = 4096
"""DynamoDB's limit on any expression string, in UTF-8 bytes, before substitution."""

CONDITION_KINDS = ("ConditionExpression", "FilterExpression")
SYNTAX_CACHE_ENTRIES = 512
"""Distinct (condition text, kind) pairs whose syntax tree is kept for reuse."""


def _check_text(text: str, kind: str) -> None:
    size = len(text.encode("utf-8"))
    if size > MAX_EXPRESSION_BYTES:
        raise ValidationException(messages.EXPRESSION_TOO_LARGE.format(kind=kind, size=size))
    if not text.strip(" \t\r\n"):
        raise ValidationException(messages.EXPRESSION_EMPTY.format(kind=kind))


def _condition(text: str, subs: Substitutions, kind: str) -> Condition:
    _check_text(text, kind)
    tree, redundant = _condition_syntax(text, kind)
    condition = resolve_condition(tree, redundant, subs, kind)
    check_limits(condition, kind)
    return condition


@functools.lru_cache(maxsize=SYNTAX_CACHE_ENTRIES)
def _condition_syntax(text: str, kind: str) -> tuple[SCondition, bool]:
    """``parse_condition_syntax``, remembered per text (the tree is immutable and
    request-independent; a syntax error is raised again each time, never cached)."""
    return parse_condition_syntax(text, kind)


def parse_condition(text: str, subs: Substitutions, kind: str = "ConditionExpression") -> Condition:
    """Parse a ConditionExpression or (``kind="FilterExpression"``) a FilterExpression."""
    if kind not in CONDITION_KINDS:
        raise ValueError(f"not a condition expression kind: {kind!r}")
    return _condition(text, subs, kind)


def parse_key_condition(text: str, subs: Substitutions) -> list[KeyTerm]:
    """Parse a KeyConditionExpression into its terms, in expression order.

    Checks everything that does not need the key schema; the caller still matches the
    terms against the schema (which attributes are keys, how many terms it allows,
    value types).
    """
    return key_terms(_condition(text, subs, "KeyConditionExpression"))


def parse_update(text: str, subs: Substitutions) -> UpdatePlan:
    """Parse an UpdateExpression."""
    _check_text(text, "UpdateExpression")
    plan = resolve_update(parse_update_syntax(text), subs)
    check_limits(plan, "UpdateExpression")
    return plan


def parse_projection(text: str, subs: Substitutions) -> list[Path]:
    """Parse a ProjectionExpression into its document paths, in expression order."""
    _check_text(text, "ProjectionExpression")
    paths = resolve_projection(parse_projection_syntax(text), subs)
    check_limits(paths, "ProjectionExpression")
    return paths


def condition_paths(condition: Condition) -> Iterator[Path]:
    """Every document path a condition reads, in expression order."""
    for leaf in leaves(condition):
        if isinstance(leaf, AttributeExists | AttributeNotExists):
            yield leaf.path
        for operand in leaf_operands(leaf):
            while isinstance(operand, SizeOperand):
                operand = operand.operand
            if isinstance(operand, PathOperand):
                yield operand.path


def references(condition: Condition, name: str) -> bool:
    """Whether ``condition`` reads the top-level attribute ``name`` (or inside it)."""
    return any(path[0] == name for path in condition_paths(condition))
