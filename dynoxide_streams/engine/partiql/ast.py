"""The PartiQL statement tree the parser returns.

Values are written forms, not yet bound: a ``?`` is a :class:`Param` numbered in
statement order, a document literal keeps its shape until the planner binds it to an
AttributeValue. Conditions mirror the expression grammar's (``engine/expressions``) so
that the planner can translate them one to one: comparisons, ``BETWEEN``, ``IN``, the
connectives and ``+``/``-`` arithmetic *are* the expression tree's generic nodes, here
over :data:`Value` (re-exported below, so that ``A.Comparison`` names a PartiQL node);
only the nodes whose PartiQL form differs are declared here.
"""

from __future__ import annotations

from dynoxide_streams.engine.expressions.ast import And as And
from dynoxide_streams.engine.expressions.ast import Arithmetic as Arithmetic
from dynoxide_streams.engine.expressions.ast import Between as Between
from dynoxide_streams.engine.expressions.ast import Comparison as Comparison
from dynoxide_streams.engine.expressions.ast import In as In
from dynoxide_streams.engine.expressions.ast import Not as Not
from dynoxide_streams.engine.expressions.ast import Or as Or
from dynoxide_streams.engine.expressions.ast import node
from dynoxide_streams.engine.values import AttributeValue

Path = tuple[str | int, ...]
"""A document path: ``("a", "b", 0)`` is ``a.b[0]``."""


@node
class Literal:
    """A scalar literal, already an AttributeValue (``S``, ``N``, ``BOOL`` or ``NULL``)."""

    value: AttributeValue


@node
class Param:
    """The ``index``-th ``?`` of the statement (from 0)."""

    index: int


@node
class ListLit:
    """``[v, ...]``."""

    items: tuple[Value, ...]


@node
class MapLit:
    """``{'k': v, ...}``."""

    pairs: tuple[tuple[str, Value], ...]


@node
class SetLit:
    """``<<v, ...>>``: a string or number set of literals."""

    items: tuple[Literal, ...]


@node
class PathRef:
    """The value at a document path of the item."""

    path: Path


@node
class Call:
    """``name(args...)``; ``name`` lower-cased."""

    name: str
    args: tuple[Value, ...]


Value = Literal | Param | ListLit | MapLit | SetLit | PathRef | Call | Arithmetic["Value"]


@node
class IsTest:
    """``operand IS [NOT] MISSING|NULL``; ``what`` is ``MISSING`` or ``NULL``."""

    operand: Value
    what: str
    negated: bool


@node
class FuncCond:
    """A function call used as a condition (``begins_with(a, 'x')``)."""

    call: Call


Cond = (
    Comparison[Value]
    | Between[Value]
    | In[Value]
    | IsTest
    | FuncCond
    | And["Cond"]
    | Or["Cond"]
    | Not["Cond"]
)
"""A WHERE condition; a comparison's ``op`` is one of ``= <> < <= > >=`` (``!=`` is read
as ``<>``)."""


@node
class Select:
    """``SELECT projection FROM table[.index] [WHERE] [ORDER BY]``; ``projection`` is
    None for ``*``; ``order_by`` holds (attribute name, descending)."""

    projection: tuple[Path, ...] | None
    table: str
    index: str | None
    where: Cond | None
    order_by: tuple[tuple[str, bool], ...] = ()


@node
class Insert:
    table: str
    item: Value


@node
class SetItem:
    """``SET path = value``."""

    path: Path
    value: Value


@node
class RemoveItem:
    """``REMOVE path``."""

    path: Path


@node
class Update:
    """``returning`` is ``ALL_OLD``, ``ALL_NEW``, ``UPDATED_OLD``, ``UPDATED_NEW`` or None."""

    table: str
    actions: tuple[SetItem | RemoveItem, ...]
    where: Cond
    returning: str | None = None


@node
class Delete:
    """``returning`` is ``ALL_OLD`` or None."""

    table: str
    where: Cond
    returning: str | None = None


@node
class Exists:
    """``EXISTS(SELECT ...)``: a condition check, in ExecuteTransaction writes only."""

    select: Select


Statement = Select | Insert | Update | Delete | Exists


@node
class Parsed:
    """A statement and the number of ``?`` it holds."""

    statement: Statement
    params: int
