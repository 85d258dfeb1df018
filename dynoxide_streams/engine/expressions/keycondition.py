"""KeyConditionExpression: the shape rules on top of the condition grammar.

A key condition is parsed and checked as a condition first (so it has every condition
error), then it must be a conjunction of simple conditions, each naming one top-level
attribute once: ``=``, ``<``, ``<=``, ``>``, ``>=``, ``BETWEEN`` or ``begins_with``.
Which attributes are keys is the caller's business (it knows the schema), and so is
the number of conditions the schema allows.
"""

from __future__ import annotations

import dynoxide_streams.engine.messages as messages
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
    KeyTerm,
    Not,
    Or,
    PathOperand,
    SizeOperand,
    ValueOperand,
    leaf_operands,
)
from dynoxide_streams.engine.values import AttributeValue
from dynoxide_streams.errors import ValidationException

_FLIPPED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_FUNCTION_NAMES: dict[type, str] = {
    AttributeExists: "attribute_exists",
    AttributeNotExists: "attribute_not_exists",
    AttributeType: "attribute_type",
    Contains: "contains",
}


def _error(message: str) -> ValidationException:
    return ValidationException(messages.KEY_CONDITION_INVALID.format(message=message))


def key_terms(condition: Condition) -> list[KeyTerm]:
    """The conditions of a key condition, in expression order (at least one)."""
    terms: list[KeyTerm] = []
    _collect(condition, terms)
    return terms


def _collect(node: Condition, terms: list[KeyTerm]) -> None:
    if isinstance(node, And):
        for item in node.items:
            _collect(item, terms)
        return
    if isinstance(node, Or):
        raise _error(messages.KEY_CONDITION_OPERATOR.format(operator="OR"))
    if isinstance(node, Not):
        raise _error(messages.KEY_CONDITION_OPERATOR.format(operator="NOT"))
    if isinstance(node, In):
        raise _error(messages.KEY_CONDITION_OPERATOR.format(operator="IN"))
    if isinstance(node, Comparison) and node.op == "<>":
        raise _error(messages.KEY_CONDITION_OPERATOR.format(operator="<>"))
    if isinstance(node, AttributeExists | AttributeNotExists | AttributeType | Contains):
        function = _FUNCTION_NAMES[type(node)]
        raise _error(messages.KEY_CONDITION_OPERATOR.format(operator=function))
    assert isinstance(node, Comparison | Between | BeginsWith)
    operands = leaf_operands(node)
    if isinstance(node, Comparison):
        op = node.op
    else:
        op = "BETWEEN" if isinstance(node, Between) else "begins_with"
    if op in ("BETWEEN", "begins_with") and not isinstance(operands[0], PathOperand):
        raise _error(messages.KEY_CONDITION_FIRST_OPERAND.format(operator=op))
    name: str | None = None
    position = 0
    values: list[AttributeValue] = []
    for index, operand in enumerate(operands):
        if isinstance(operand, PathOperand):
            if name is not None:
                raise _error(messages.KEY_CONDITION_TWO_NAMES.template)
            if len(operand.path) > 1:
                raise _error(messages.KEY_CONDITION_NESTED.template)
            head = operand.path[0]
            assert isinstance(head, str)
            name, position = head, index
        elif isinstance(operand, SizeOperand):
            raise _error(messages.KEY_CONDITION_OPERATION.template)
        elif isinstance(operand, ValueOperand):
            values.append(operand.value)
    if name is None:
        raise _error(messages.KEY_CONDITION_NO_KEY.template)
    if any(term.name == name for term in terms):
        raise _error(messages.KEY_CONDITION_TWICE.template)
    if position != 0:
        op = _FLIPPED[op]
    terms.append(KeyTerm(name, op, tuple(values)))
