"""The resolved expression AST: what the ``parse_*`` functions return.

Placeholders are already substituted: a :data:`Path` holds literal attribute names and
list indexes, a :class:`ValueOperand` holds the AttributeValue itself. Nodes are frozen,
slotted dataclasses, declared with :func:`node` (which the syntax tree of ``syntax.py``
and the PartiQL tree of ``engine/partiql/ast.py`` use too); evaluation lives in
``evaluate.py`` / ``update.py`` / ``projection.py``.
Boolean connectives are n-ary (``a AND b AND c`` is one :class:`And` of three items),
which keeps the tree shallow for long generated expressions.

The nodes whose shape does not depend on resolution — comparisons, ``BETWEEN``, ``IN``,
``AND``/``OR``/``NOT`` and update arithmetic — are generic in their operand (or
condition) type and shared with the syntax tree of ``syntax.py`` and with the PartiQL
tree (``engine/partiql/ast.py``), and so are the walkers :func:`leaves` and
:func:`operands`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar, dataclass_transform

from dynoxide_streams.engine.values import AttributeValue

Path = tuple[str | int, ...]
"""A document path: ``("a", "b", 0, "c")`` is ``a.b[0].c``."""

_T = TypeVar("_T")
_O = TypeVar("_O")
"""The operand type of a shared node: :data:`Operand` here, ``SOperand`` as written."""
_C = TypeVar("_C")
"""The condition type of a connective: :data:`Condition` here, ``SCondition`` as written."""


@dataclass_transform(frozen_default=True)
def node(cls: type[_T]) -> type[_T]:
    """Declare a tree node: a frozen, slotted dataclass (equal by value, hashable,
    immutable), the one form every node of the expression, syntax and PartiQL trees
    takes."""
    return dataclass(frozen=True, slots=True)(cls)


# ------------------------------------------------------------------- operands


@node
class PathOperand:
    """The value at a document path of the item (absent if the path does not exist)."""

    path: Path


@node
class ValueOperand:
    """A constant: the AttributeValue an ``:value`` placeholder stands for."""

    value: AttributeValue


@node
class SizeOperand:
    """``size(operand)``: a number, absent when the operand has no size."""

    operand: Operand


Operand = PathOperand | ValueOperand | SizeOperand


# ----------------------------------------------------------------- conditions

COMPARATORS = ("=", "<>", "<", "<=", ">", ">=")


@node
class Comparison(Generic[_O]):
    """``left op right``, ``op`` one of :data:`COMPARATORS`."""

    op: str
    left: _O
    right: _O


@node
class Between(Generic[_O]):
    """``operand BETWEEN low AND high``."""

    operand: _O
    low: _O
    high: _O


@node
class In(Generic[_O]):
    """``operand IN (choices…)``."""

    operand: _O
    choices: tuple[_O, ...]


@node
class AttributeExists:
    """``attribute_exists(path)``: whether the item has a value at ``path``."""

    path: Path


@node
class AttributeNotExists:
    """``attribute_not_exists(path)``: whether the item has no value at ``path``."""

    path: Path


@node
class AttributeType:
    """``attribute_type(operand, :t)``: whether the operand has the type named ``type_name``."""

    operand: Operand
    type_name: str


@node
class BeginsWith:
    """``begins_with(operand, prefix)``: a string or binary prefix test."""

    operand: Operand
    prefix: Operand


@node
class Contains:
    """``contains(operand, needle)``: substring, set member or list element."""

    operand: Operand
    needle: Operand


@node
class And(Generic[_C]):
    """``a AND b AND …``: true when every item is."""

    items: tuple[_C, ...]


@node
class Or(Generic[_C]):
    """``a OR b OR …``: true when any item is."""

    items: tuple[_C, ...]


@node
class Not(Generic[_C]):
    """``NOT item``."""

    item: _C


Condition = (
    Comparison[Operand]
    | Between[Operand]
    | In[Operand]
    | AttributeExists
    | AttributeNotExists
    | AttributeType
    | BeginsWith
    | Contains
    | And["Condition"]
    | Or["Condition"]
    | Not["Condition"]
)


def leaves(condition: _C) -> Iterator[_C]:
    """The conditions under the AND/OR/NOT connectives of ``condition``, in expression
    order; never a connective. Works on both trees."""
    if isinstance(condition, And | Or):
        for item in condition.items:
            yield from leaves(item)
    elif isinstance(condition, Not):
        yield from leaves(condition.item)
    else:
        yield condition


def operands(node: Comparison[_O] | Between[_O] | In[_O]) -> tuple[_O, ...]:
    """The operands of a comparison, BETWEEN or IN, in expression order (either tree)."""
    if isinstance(node, Comparison):
        return (node.left, node.right)
    if isinstance(node, Between):
        return (node.operand, node.low, node.high)
    return (node.operand, *node.choices)


def leaf_operands(leaf: Condition) -> tuple[Operand, ...]:
    """The operands of a condition, in expression order.

    A connective has none of its own, nor has ``attribute_(not_)exists`` (it takes a
    path, not an operand).
    """
    if isinstance(leaf, Comparison | Between | In):
        return operands(leaf)
    if isinstance(leaf, AttributeType):
        return (leaf.operand,)
    if isinstance(leaf, BeginsWith):
        return (leaf.operand, leaf.prefix)
    if isinstance(leaf, Contains):
        return (leaf.operand, leaf.needle)
    return ()


# -------------------------------------------------------------------- updates


@node
class IfNotExists:
    """``if_not_exists(path, default)``: the value at ``path``, else ``default``."""

    path: Path
    default: UpdateOperand


@node
class ListAppend:
    """``list_append(first, second)``: the two lists concatenated."""

    first: UpdateOperand
    second: UpdateOperand


UpdateOperand = PathOperand | ValueOperand | IfNotExists | ListAppend


@node
class Arithmetic(Generic[_O]):
    """``left + right`` or ``left - right`` (numbers only)."""

    op: str
    left: _O
    right: _O


SetValue = UpdateOperand | Arithmetic[UpdateOperand]


@node
class SetAction:
    """``SET path = value``."""

    path: Path
    value: SetValue


@node
class RemoveAction:
    """``REMOVE path``."""

    path: Path


@node
class AddAction:
    """``ADD path :v`` — :v is a number or a set (checked at parse time)."""

    path: Path
    value: AttributeValue


@node
class DeleteAction:
    """``DELETE path :v`` — :v is a set (checked at parse time)."""

    path: Path
    value: AttributeValue


UpdateAction = SetAction | RemoveAction | AddAction | DeleteAction


@node
class UpdatePlan:
    """A parsed UpdateExpression: its actions in expression order.

    Target paths never overlap or conflict (the parser rejects that), so the actions
    can be applied independently of one another.
    """

    actions: tuple[UpdateAction, ...]

    @property
    def paths(self) -> list[Path]:
        """Every target path of SET/REMOVE/ADD/DELETE, in expression order."""
        return [action.path for action in self.actions]


# -------------------------------------------------------------- key conditions

KEY_OPERATORS = ("=", "<", "<=", ">", ">=", "BETWEEN", "begins_with")


@node
class KeyTerm:
    """One condition of a KeyConditionExpression, on one top-level attribute.

    ``op`` is one of :data:`KEY_OPERATORS`; ``values`` holds one AttributeValue, or two
    (low, high) for ``BETWEEN``. A comparison written value-first (``:v < sk``) is
    normalised so that the attribute is on the left (``sk > :v``).
    """

    name: str
    op: str
    values: tuple[AttributeValue, ...]
