"""The resolved expression AST: what the ``parse_*`` functions return.

Placeholders are already substituted: a :data:`Path` holds literal attribute names and
list indexes, a :class:`ValueOperand` holds the AttributeValue itself. Nodes are frozen
dataclasses; evaluation lives in ``evaluate.py`` / ``update.py`` / ``projection.py``.
Boolean connectives are n-ary (``a AND b AND c`` is one :class:`And` of three items),
which keeps the tree shallow for long generated expressions.
"""

from __future__ import annotations

from dataclasses import dataclass

from dynoxide_streams.engine.values import AttributeValue

Path = tuple[str | int, ...]
"""A document path: ``("a", "b", 0, "c")`` is ``a.b[0].c``."""


# ------------------------------------------------------------------- operands


@dataclass(frozen=True, slots=True)
class PathOperand:
    """The value at a document path of the item (absent if the path does not exist)."""

    path: Path


@dataclass(frozen=True, slots=True)
class ValueOperand:
    """A constant: the AttributeValue an ``:value`` placeholder stands for."""

    value: AttributeValue


@dataclass(frozen=True, slots=True)
class SizeOperand:
    """``size(operand)``: a number, absent when the operand has no size."""

    operand: Operand


Operand = PathOperand | ValueOperand | SizeOperand


# ----------------------------------------------------------------- conditions

COMPARATORS = ("=", "<>", "<", "<=", ">", ">=")


@dataclass(frozen=True, slots=True)
class Comparison:
    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True, slots=True)
class Between:
    operand: Operand
    low: Operand
    high: Operand


@dataclass(frozen=True, slots=True)
class In:
    operand: Operand
    choices: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class AttributeExists:
    path: Path


@dataclass(frozen=True, slots=True)
class AttributeNotExists:
    path: Path


@dataclass(frozen=True, slots=True)
class AttributeType:
    operand: Operand
    type_name: str


@dataclass(frozen=True, slots=True)
class BeginsWith:
    operand: Operand
    prefix: Operand


@dataclass(frozen=True, slots=True)
class Contains:
    operand: Operand
    needle: Operand


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Condition


Condition = (
    Comparison
    | Between
    | In
    | AttributeExists
    | AttributeNotExists
    | AttributeType
    | BeginsWith
    | Contains
    | And
    | Or
    | Not
)
Leaf = Comparison | Between | In | AttributeType | BeginsWith | Contains
"""A condition on operands (not a connective, not ``attribute_(not_)exists``)."""


def leaf_operands(leaf: Leaf) -> tuple[Operand, ...]:
    """The operands of a leaf condition, in expression order."""
    if isinstance(leaf, Comparison):
        return (leaf.left, leaf.right)
    if isinstance(leaf, Between):
        return (leaf.operand, leaf.low, leaf.high)
    if isinstance(leaf, In):
        return (leaf.operand, *leaf.choices)
    if isinstance(leaf, AttributeType):
        return (leaf.operand,)
    if isinstance(leaf, BeginsWith):
        return (leaf.operand, leaf.prefix)
    return (leaf.operand, leaf.needle)


# -------------------------------------------------------------------- updates


@dataclass(frozen=True, slots=True)
class IfNotExists:
    """``if_not_exists(path, default)``: the value at ``path``, else ``default``."""

    path: Path
    default: UpdateOperand


@dataclass(frozen=True, slots=True)
class ListAppend:
    """``list_append(first, second)``: the two lists concatenated."""

    first: UpdateOperand
    second: UpdateOperand


UpdateOperand = PathOperand | ValueOperand | IfNotExists | ListAppend


@dataclass(frozen=True, slots=True)
class Arithmetic:
    """``left + right`` or ``left - right`` (numbers only)."""

    op: str
    left: UpdateOperand
    right: UpdateOperand


SetValue = UpdateOperand | Arithmetic


@dataclass(frozen=True, slots=True)
class SetAction:
    path: Path
    value: SetValue


@dataclass(frozen=True, slots=True)
class RemoveAction:
    path: Path


@dataclass(frozen=True, slots=True)
class AddAction:
    """``ADD path :v`` — :v is a number or a set (checked at parse time)."""

    path: Path
    value: AttributeValue


@dataclass(frozen=True, slots=True)
class DeleteAction:
    """``DELETE path :v`` — :v is a set (checked at parse time)."""

    path: Path
    value: AttributeValue


UpdateAction = SetAction | RemoveAction | AddAction | DeleteAction


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class KeyTerm:
    """One condition of a KeyConditionExpression, on one top-level attribute.

    ``op`` is one of :data:`KEY_OPERATORS`; ``values`` holds one AttributeValue, or two
    (low, high) for ``BETWEEN``. A comparison written value-first (``:v < sk``) is
    normalised so that the attribute is on the left (``sk > :v``).
    """

    name: str
    op: str
    values: tuple[AttributeValue, ...]
