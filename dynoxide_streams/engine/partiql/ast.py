"""The PartiQL statement tree the parser returns.

Values are written forms, not yet bound: a ``?`` is a :class:`Param` numbered in
statement order, a document literal keeps its shape until the planner binds it to an
AttributeValue. Conditions mirror the expression grammar's (``engine/expressions``) so
that the planner can translate them one to one.
"""

from __future__ import annotations

from dataclasses import dataclass

from dynoxide_streams.engine.values import AttributeValue

Path = tuple[str | int, ...]
"""A document path: ``("a", "b", 0)`` is ``a.b[0]``."""


@dataclass(frozen=True, slots=True)
class Literal:
    """A scalar literal, already an AttributeValue (``S``, ``N``, ``BOOL`` or ``NULL``)."""

    value: AttributeValue


@dataclass(frozen=True, slots=True)
class Param:
    """The ``index``-th ``?`` of the statement (from 0)."""

    index: int


@dataclass(frozen=True, slots=True)
class ListLit:
    """``[v, ...]``."""

    items: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class MapLit:
    """``{'k': v, ...}``."""

    pairs: tuple[tuple[str, Value], ...]


@dataclass(frozen=True, slots=True)
class SetLit:
    """``<<v, ...>>``: a string or number set of literals."""

    items: tuple[Literal, ...]


@dataclass(frozen=True, slots=True)
class PathRef:
    """The value at a document path of the item."""

    path: Path


@dataclass(frozen=True, slots=True)
class Call:
    """``name(args...)``; ``name`` lower-cased."""

    name: str
    args: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Arith:
    """``left + right`` or ``left - right``."""

    op: str
    left: Value
    right: Value


Value = Literal | Param | ListLit | MapLit | SetLit | PathRef | Call | Arith


@dataclass(frozen=True, slots=True)
class Compare:
    """``left op right``, ``op`` one of ``= <> < <= > >=`` (``!=`` is read as ``<>``)."""

    op: str
    left: Value
    right: Value


@dataclass(frozen=True, slots=True)
class Between:
    operand: Value
    low: Value
    high: Value


@dataclass(frozen=True, slots=True)
class InList:
    operand: Value
    choices: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class IsTest:
    """``operand IS [NOT] MISSING|NULL``; ``what`` is ``MISSING`` or ``NULL``."""

    operand: Value
    what: str
    negated: bool


@dataclass(frozen=True, slots=True)
class FuncCond:
    """A function call used as a condition (``begins_with(a, 'x')``)."""

    call: Call


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Cond, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Cond, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Cond


Cond = Compare | Between | InList | IsTest | FuncCond | And | Or | Not


@dataclass(frozen=True, slots=True)
class Select:
    """``SELECT projection FROM table[.index] [WHERE] [ORDER BY]``; ``projection`` is
    None for ``*``; ``order_by`` holds (attribute name, descending)."""

    projection: tuple[Path, ...] | None
    table: str
    index: str | None
    where: Cond | None
    order_by: tuple[tuple[str, bool], ...] = ()


@dataclass(frozen=True, slots=True)
class Insert:
    table: str
    item: Value


@dataclass(frozen=True, slots=True)
class SetItem:
    """``SET path = value``."""

    path: Path
    value: Value


@dataclass(frozen=True, slots=True)
class RemoveItem:
    """``REMOVE path``."""

    path: Path


@dataclass(frozen=True, slots=True)
class Update:
    """``returning`` is ``ALL_OLD``, ``ALL_NEW``, ``UPDATED_OLD``, ``UPDATED_NEW`` or None."""

    table: str
    actions: tuple[SetItem | RemoveItem, ...]
    where: Cond
    returning: str | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    """``returning`` is ``ALL_OLD`` or None."""

    table: str
    where: Cond
    returning: str | None = None


@dataclass(frozen=True, slots=True)
class Exists:
    """``EXISTS(SELECT ...)``: a condition check, in ExecuteTransaction writes only."""

    select: Select


Statement = Select | Insert | Update | Delete | Exists


@dataclass(frozen=True, slots=True)
class Parsed:
    """A statement and the number of ``?`` it holds."""

    statement: Statement
    params: int
