"""The syntax tree: what the parsers build, before placeholders are resolved.

These nodes record exactly what was written — ``#name`` and ``:value`` placeholders are
kept as references, function names are unchecked — so that ``resolve.py`` can report
semantic errors in the order DynamoDB does once the text is known to be grammatical.
Every node is immutable and carries no source positions: the only positional error,
the syntax error, is raised by the parser itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NameRef:
    """A ``#name`` placeholder inside a document path."""

    text: str


PathElement = str | int | NameRef


@dataclass(frozen=True, slots=True)
class SPath:
    """A document path as written: names, ``#name`` references and list indexes."""

    elements: tuple[PathElement, ...]


@dataclass(frozen=True, slots=True)
class SValue:
    """A ``:value`` placeholder."""

    name: str


@dataclass(frozen=True, slots=True)
class SCall:
    """A function call ``name(args…)`` (any name; checked later)."""

    name: str
    args: tuple[SOperand, ...]


SOperand = SPath | SValue | SCall


# ----------------------------------------------------------------- conditions


@dataclass(frozen=True, slots=True)
class SCompare:
    op: str
    left: SOperand
    right: SOperand


@dataclass(frozen=True, slots=True)
class SBetween:
    operand: SOperand
    low: SOperand
    high: SOperand


@dataclass(frozen=True, slots=True)
class SIn:
    operand: SOperand
    choices: tuple[SOperand, ...]


@dataclass(frozen=True, slots=True)
class SFunction:
    """A function call used as a whole condition (``attribute_exists(a)``)."""

    call: SCall


@dataclass(frozen=True, slots=True)
class SAnd:
    items: tuple[SCondition, ...]


@dataclass(frozen=True, slots=True)
class SOr:
    items: tuple[SCondition, ...]


@dataclass(frozen=True, slots=True)
class SNot:
    item: SCondition


SLeaf = SCompare | SBetween | SIn | SFunction
SCondition = SLeaf | SAnd | SOr | SNot


# ------------------------------------------------------------------- updates


@dataclass(frozen=True, slots=True)
class SArithmetic:
    op: str
    left: SOperand
    right: SOperand


@dataclass(frozen=True, slots=True)
class SSet:
    path: SPath
    value: SOperand | SArithmetic


@dataclass(frozen=True, slots=True)
class SRemove:
    path: SPath


@dataclass(frozen=True, slots=True)
class SAdd:
    path: SPath
    value: SValue


@dataclass(frozen=True, slots=True)
class SDelete:
    path: SPath
    value: SValue


SAction = SSet | SRemove | SAdd | SDelete


@dataclass(frozen=True, slots=True)
class SClause:
    """One ``SET``/``REMOVE``/``ADD``/``DELETE`` section (keyword upper-cased)."""

    keyword: str
    actions: tuple[SAction, ...]


@dataclass(frozen=True, slots=True)
class SUpdate:
    clauses: tuple[SClause, ...]
