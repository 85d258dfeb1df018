"""The syntax tree: what the parsers build, before placeholders are resolved.

These nodes record exactly what was written — ``#name`` and ``:value`` placeholders are
kept as references, function names are unchecked — so that ``resolve.py`` can report
semantic errors in the order DynamoDB does once the text is known to be grammatical.
Every node is immutable and carries no source positions: the only positional error,
the syntax error, is raised by the parser itself. Comparisons, ``BETWEEN``, ``IN``, the
connectives and update arithmetic are the generic nodes of ``ast.py``, here over
:data:`SOperand`; the nodes below are the ones whose written form differs from the
resolved one.
"""

from __future__ import annotations

from dynoxide_streams.engine.expressions.ast import (
    And,
    Arithmetic,
    Between,
    Comparison,
    In,
    Not,
    Or,
    node,
)


@node
class NameRef:
    """A ``#name`` placeholder inside a document path."""

    text: str


PathElement = str | int | NameRef


@node
class SPath:
    """A document path as written: names, ``#name`` references and list indexes."""

    elements: tuple[PathElement, ...]


@node
class SValue:
    """A ``:value`` placeholder."""

    name: str


@node
class SCall:
    """A function call ``name(args…)`` (any name; checked later)."""

    name: str
    args: tuple[SOperand, ...]


SOperand = SPath | SValue | SCall


# ----------------------------------------------------------------- conditions


@node
class SFunction:
    """A function call used as a whole condition (``attribute_exists(a)``)."""

    call: SCall


SLeaf = Comparison[SOperand] | Between[SOperand] | In[SOperand] | SFunction
SCondition = SLeaf | And["SCondition"] | Or["SCondition"] | Not["SCondition"]


# ------------------------------------------------------------------- updates


@node
class SSet:
    """``SET path = value``."""

    path: SPath
    value: SOperand | Arithmetic[SOperand]


@node
class SRemove:
    """``REMOVE path``."""

    path: SPath


@node
class SAddOrDelete:
    """``ADD path :value`` or ``DELETE path :value``, as ``keyword`` (upper-cased) says."""

    keyword: str
    path: SPath
    value: SValue


SAction = SSet | SRemove | SAddOrDelete


@node
class SClause:
    """One ``SET``/``REMOVE``/``ADD``/``DELETE`` section (keyword upper-cased)."""

    keyword: str
    actions: tuple[SAction, ...]


@node
class SUpdate:
    """An UpdateExpression as written: its clauses in source order."""

    clauses: tuple[SClause, ...]
