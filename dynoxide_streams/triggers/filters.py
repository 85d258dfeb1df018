"""Lambda event-source-mapping FilterCriteria: validating patterns and matching stream records.

Pure and synchronous. :func:`compile_filter_criteria` validates the ``FilterCriteria``
parameter value (``{"Filters": [{"Pattern": "<json>"}, ...]}``) the way Lambda does and
compiles each pattern once into small matcher objects; :meth:`CompiledFilters.matches`
then runs on every Lambda-format stream record.

Matching follows AWS content filtering (EventBridge / event-ruler):

* A pattern is a nested object. Every named field must match (AND); unnamed fields are
  ignored. A nested pattern object descends into the record's nested object; when the record
  holds an array there, it matches if any element matches; a scalar there (or a missing
  field) counts as absent, so only fields allowed to be absent (``exists: false``) match.
* A leaf is a non-empty array of matchers and matches if ANY matcher does (OR). When the
  record value is an array, the leaf matches if any (flattened) element matches. A record
  value that is an object matches only ``{"exists": true}``.
* Matchers: a string, number, boolean or null literal (exact equality; a number literal also
  matches a record string equal to its JSON text), ``prefix``, ``suffix``,
  ``equals-ignore-case``, ``anything-but`` (a literal, a list of string/number literals, or a
  ``prefix``/``suffix``/``equals-ignore-case`` object; matches any present scalar that none
  of them match), ``numeric`` (one comparison, or a ``>``/``>=`` then ``<``/``<=`` range; it
  applies to JSON numbers and to strings that parse as decimal numbers, compared as
  :class:`decimal.Decimal`, so DynamoDB ``N`` strings work) and ``exists`` (``true``: the
  field is present with any value; ``false``: the field is absent).
* ``"$or": [pattern, pattern, ...]`` inside a pattern object (event-ruler's syntax) requires
  at least one of the sub-patterns to match the same object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from dynoxide_streams.engine import messages

MAX_FILTERS = 5
MAX_PATTERN_LENGTH = 4096

_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NUMERIC_OPS = frozenset({"=", "<", "<=", ">", ">="})
_LOWER_OPS = frozenset({">", ">="})
_UPPER_OPS = frozenset({"<", "<="})


class FilterPatternError(ValueError):
    """A pattern Lambda would reject; str(exc) is the message for InvalidParameterValueException."""


# --------------------------------------------------------------------------- values


def _is_number(value: Any) -> bool:
    """True for JSON numbers (int, float, Decimal), never for booleans."""
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _to_decimal(value: Any) -> Decimal | None:
    """The finite decimal value of a JSON number or a decimal-number string, else None."""
    if isinstance(value, str):
        if not _NUMBER_TEXT.fullmatch(value):
            return None
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the regex admits only valid text
            return None
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        result = Decimal(repr(value))
        return result if result.is_finite() else None
    return None


def _json_text(value: Any) -> str:
    """A pattern literal as JSON renders it (``101`` -> ``"101"``, ``1.5`` -> ``"1.5"``)."""
    return orjson.dumps(value).decode()


# --------------------------------------------------------------------------- matchers


@dataclass(frozen=True, slots=True)
class NumericRange:
    """``low <(=) value <(=) high``; a missing bound is unbounded. ``=`` is low == high, both
    inclusive."""

    low: Decimal | None
    low_inclusive: bool
    high: Decimal | None
    high_inclusive: bool

    def contains(self, value: Decimal) -> bool:
        low, high = self.low, self.high
        if low is not None and (value < low or (value == low and not self.low_inclusive)):
            return False
        return high is None or value < high or (value == high and self.high_inclusive)


@dataclass(frozen=True, slots=True)
class ScalarMatcher:
    """The value matchers of one leaf, merged for speed; matches one scalar record value
    (string, number, boolean or null) when any of its parts does."""

    strings: frozenset[str] = frozenset()
    numbers: frozenset[Decimal] = frozenset()
    booleans: frozenset[bool] = frozenset()
    null: bool = False
    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    ignore_case: frozenset[str] = frozenset()
    numeric: tuple[NumericRange, ...] = ()
    anything_but: tuple[ScalarMatcher, ...] = ()

    def match(self, value: Any) -> bool:
        if isinstance(value, str):
            if value in self.strings:
                return True
            if self.prefixes and value.startswith(self.prefixes):
                return True
            if self.suffixes and value.endswith(self.suffixes):
                return True
            if self.ignore_case and value.lower() in self.ignore_case:
                return True
            if self.numeric and self._numeric(value):
                return True
        elif isinstance(value, bool):
            if value in self.booleans:
                return True
        elif value is None:
            if self.null:
                return True
        elif _is_number(value):
            if self.numbers or self.numeric:
                number = _to_decimal(value)
                if number is not None and (
                    number in self.numbers or any(r.contains(number) for r in self.numeric)
                ):
                    return True
        else:
            return False
        return any(not excluded.match(value) for excluded in self.anything_but)

    def _numeric(self, value: Any) -> bool:
        number = _to_decimal(value)
        return number is not None and any(r.contains(number) for r in self.numeric)


@dataclass(frozen=True, slots=True)
class LeafMatcher:
    """One pattern leaf (an array of matchers) for one field of a record object."""

    scalar: ScalarMatcher | None
    exists: bool  # {"exists": true}: any present value matches
    absent_ok: bool  # {"exists": false}: a missing field matches

    def match_present(self, value: Any) -> bool:
        """Whether the field's present ``value`` matches."""
        if self.exists:
            return True
        scalar = self.scalar
        if scalar is None or isinstance(value, dict):
            return False
        if isinstance(value, list):
            return any(scalar.match(element) for element in _flatten(value))
        return scalar.match(value)


def _flatten(values: list[Any]) -> list[Any]:
    """The non-object scalars of a (possibly nested) record array."""
    out: list[Any] = []
    for value in values:
        if isinstance(value, list):
            out.extend(_flatten(value))
        elif not isinstance(value, dict):
            out.append(value)
    return out


@dataclass(frozen=True, slots=True)
class ObjectMatcher:
    """A pattern object: every field matches (AND), and one of each ``$or`` group does."""

    fields: tuple[tuple[str, LeafMatcher | ObjectMatcher], ...]
    any_of: tuple[ObjectMatcher, ...]
    absent_ok: bool  # the whole object may be missing (every field allows absence)

    def match(self, obj: dict[str, Any]) -> bool:
        """Whether the record object ``obj`` matches this pattern object."""
        for key, node in self.fields:
            if key in obj:
                if not node.match_present(obj[key]):
                    return False
            elif not node.absent_ok:
                return False
        return not self.any_of or any(option.match(obj) for option in self.any_of)

    def match_present(self, value: Any) -> bool:
        """Whether a present nested record value matches (an array: any element does)."""
        if isinstance(value, dict):
            return self.match(value)
        if isinstance(value, list) and value:
            return any(self.match_present(element) for element in value)
        return self.absent_ok


@dataclass(frozen=True)
class CompiledFilters:
    """Validated, compiled FilterCriteria; ``patterns`` keeps the source texts in order."""

    patterns: tuple[str, ...] = ()
    matchers: tuple[ObjectMatcher, ...] = ()

    def matches(self, record: dict[str, Any]) -> bool:
        """True if ANY filter matches ``record``; an empty filter list matches everything."""
        if not self.matchers:
            return True
        return any(matcher.match(record) for matcher in self.matchers)


# --------------------------------------------------------------------------- compiling


def compile_filter_criteria(criteria: Any) -> CompiledFilters:
    """Validate the FilterCriteria parameter value: {"Filters": [{"Pattern": "<json string>"}, ...]}.

    A missing ``Filters`` is an empty list (matches everything). Raises FilterPatternError for:
    criteria not an object; Filters not a list; more than 5 filters; an entry that is not an
    object or lacks a string Pattern; Pattern longer than 4096 chars; Pattern not valid JSON or
    not a JSON object; an empty object pattern {}; a leaf that is not a non-empty JSON array; an
    unknown operator object; wrong operand types (e.g. numeric with an odd operator list,
    prefix with a non-string, exists with a non-bool, anything-but with objects).
    """
    if not isinstance(criteria, dict):
        raise FilterPatternError(messages.FILTER_CRITERIA_NOT_OBJECT.template)
    filters = criteria.get("Filters", [])
    if not isinstance(filters, list):
        raise FilterPatternError(messages.FILTER_CRITERIA_NOT_LIST.template)
    if len(filters) > MAX_FILTERS:
        raise FilterPatternError(
            messages.FILTER_CRITERIA_TOO_MANY.format(count=len(filters), limit=MAX_FILTERS)
        )
    patterns: list[str] = []
    matchers: list[ObjectMatcher] = []
    for index, entry in enumerate(filters):
        where = f"Filters[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("Pattern"), str):
            raise FilterPatternError(messages.FILTER_CRITERIA_ENTRY.format(where=where))
        pattern: str = entry["Pattern"]
        matchers.append(compile_pattern(pattern, where=f"{where}.Pattern"))
        patterns.append(pattern)
    return CompiledFilters(patterns=tuple(patterns), matchers=tuple(matchers))


def compile_pattern(pattern: str, *, where: str = "Pattern") -> ObjectMatcher:
    """Validate and compile one filter pattern (JSON text); raises FilterPatternError."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise FilterPatternError(
            messages.FILTER_PATTERN_TOO_LONG.format(
                where=where, length=len(pattern), limit=MAX_PATTERN_LENGTH
            )
        )
    try:
        parsed = orjson.loads(pattern)
    except orjson.JSONDecodeError as exc:
        raise FilterPatternError(
            messages.FILTER_PATTERN_NOT_JSON.format(where=where, error=exc)
        ) from None
    if not isinstance(parsed, dict):
        raise FilterPatternError(messages.FILTER_PATTERN_NOT_OBJECT.format(where=where))
    return _Compiler(where).object(parsed, ())


def _is_pattern_list(value: Any) -> bool:
    """Whether a ``$or`` value is a non-empty list of pattern objects (else ``$or`` is a field)."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


class _Compiler:
    """Compiles one parsed pattern; ``where`` names it in error messages."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, path: tuple[str, ...], message: str) -> FilterPatternError:
        at = f' at "{".".join(path)}"' if path else ""
        return FilterPatternError(
            messages.FILTER_PATTERN.format(where=self.where, at=at, detail=message)
        )

    def object(self, pattern: dict[str, Any], path: tuple[str, ...]) -> ObjectMatcher:
        if not pattern:
            raise self.fail(path, messages.FILTER_EMPTY_OBJECT.template)
        fields: list[tuple[str, LeafMatcher | ObjectMatcher]] = []
        any_of: tuple[ObjectMatcher, ...] = ()
        for key, value in pattern.items():
            here = (*path, key)
            if key == "$or" and _is_pattern_list(value):
                if len(value) < 2:
                    raise self.fail(here, messages.FILTER_OR_TOO_FEW.template)
                any_of = tuple(self.object(option, here) for option in value)
                continue
            if isinstance(value, dict):
                fields.append((key, self.object(value, here)))
            elif isinstance(value, list):
                fields.append((key, self.leaf(value, here)))
            else:
                raise self.fail(here, messages.FILTER_FIELD_VALUE.format(found=_json_text(value)))
        absent_ok = all(node.absent_ok for _, node in fields) and (
            not any_of or any(option.absent_ok for option in any_of)
        )
        return ObjectMatcher(fields=tuple(fields), any_of=any_of, absent_ok=absent_ok)

    def leaf(self, matchers: list[Any], path: tuple[str, ...]) -> LeafMatcher:
        if not matchers:
            raise self.fail(path, messages.FILTER_EMPTY_ARRAY.template)
        parts = _Parts()
        exists = absent_ok = False
        for matcher in matchers:
            if isinstance(matcher, dict):
                if len(matcher) != 1:
                    raise self.fail(
                        path, messages.FILTER_ONE_OPERATOR.format(found=_json_text(matcher))
                    )
                ((op, operand),) = matcher.items()
                if op == "exists":
                    if not isinstance(operand, bool):
                        raise self.fail(path, messages.FILTER_EXISTS.template)
                    exists = exists or operand
                    absent_ok = absent_ok or not operand
                else:
                    self.operator(parts, op, operand, path)
            elif isinstance(matcher, list):
                raise self.fail(path, messages.FILTER_NESTED_ARRAY.template)
            else:
                parts.literal(matcher)
        return LeafMatcher(scalar=parts.build(), exists=exists, absent_ok=absent_ok)

    def operator(self, parts: _Parts, op: str, operand: Any, path: tuple[str, ...]) -> None:
        if op in ("prefix", "suffix", "equals-ignore-case"):
            if not isinstance(operand, str):
                raise self.fail(
                    path, messages.FILTER_STRING_OPERAND.format(op=op, found=_json_text(operand))
                )
            parts.string_op(op, operand)
        elif op == "numeric":
            parts.numeric.append(self.numeric(operand, path))
        elif op == "anything-but":
            parts.anything_but.append(self.anything_but(operand, path))
        else:
            raise self.fail(path, messages.FILTER_UNKNOWN_OPERATOR.format(op=op))

    def numeric(self, operand: Any, path: tuple[str, ...]) -> NumericRange:
        if not isinstance(operand, list) or len(operand) not in (2, 4):
            raise self.fail(path, messages.FILTER_NUMERIC_SHAPE.format(found=_json_text(operand)))
        comparisons: list[tuple[str, Decimal]] = []
        for op, number in zip(operand[::2], operand[1::2], strict=True):
            if not isinstance(op, str) or op not in _NUMERIC_OPS:
                raise self.fail(path, messages.FILTER_NUMERIC_OPERATOR.format(found=_json_text(op)))
            value = _to_decimal(number) if _is_number(number) else None
            if value is None:
                raise self.fail(
                    path, messages.FILTER_NUMERIC_OPERAND.format(op=op, found=_json_text(number))
                )
            comparisons.append((op, value))
        if len(comparisons) == 1:
            op, value = comparisons[0]
            if op == "=":
                return NumericRange(value, True, value, True)
            if op in _LOWER_OPS:
                return NumericRange(value, op == ">=", None, False)
            return NumericRange(None, False, value, op == "<=")
        (low_op, low), (high_op, high) = comparisons
        if low_op not in _LOWER_OPS or high_op not in _UPPER_OPS:
            raise self.fail(path, messages.FILTER_NUMERIC_RANGE_ORDER.template)
        if low >= high:
            raise self.fail(path, messages.FILTER_NUMERIC_RANGE_EMPTY.template)
        return NumericRange(low, low_op == ">=", high, high_op == "<=")

    def anything_but(self, operand: Any, path: tuple[str, ...]) -> ScalarMatcher:
        parts = _Parts()
        if isinstance(operand, dict):
            if len(operand) != 1:
                raise self.fail(
                    path, messages.FILTER_ANYTHING_BUT_OBJECT.format(found=_json_text(operand))
                )
            ((op, value),) = operand.items()
            if op not in ("prefix", "suffix", "equals-ignore-case"):
                raise self.fail(path, messages.FILTER_ANYTHING_BUT_OPERATOR.format(op=op))
            if op == "equals-ignore-case" and isinstance(value, list) and value:
                values = value
            else:
                values = [value]
            for item in values:
                if not isinstance(item, str):
                    raise self.fail(
                        path,
                        messages.FILTER_ANYTHING_BUT_STRING.format(op=op, found=_json_text(item)),
                    )
                parts.string_op(op, item)
            return parts.build_required()
        values = operand if isinstance(operand, list) else [operand]
        if not values:
            raise self.fail(path, messages.FILTER_ANYTHING_BUT_EMPTY.template)
        for item in values:
            if not isinstance(item, str) and not _is_number(item):
                raise self.fail(
                    path, messages.FILTER_ANYTHING_BUT_VALUE.format(found=_json_text(item))
                )
            parts.literal(item)
        return parts.build_required()


class _Parts:
    """Accumulates the matchers of one leaf (or one anything-but) before freezing them."""

    def __init__(self) -> None:
        self.strings: set[str] = set()
        self.numbers: set[Decimal] = set()
        self.booleans: set[bool] = set()
        self.null = False
        self.prefixes: list[str] = []
        self.suffixes: list[str] = []
        self.ignore_case: set[str] = set()
        self.numeric: list[NumericRange] = []
        self.anything_but: list[ScalarMatcher] = []

    def literal(self, value: Any) -> None:
        if value is None:
            self.null = True
        elif isinstance(value, bool):
            self.booleans.add(value)
        elif isinstance(value, str):
            self.strings.add(value)
        else:  # a JSON number: orjson yields only int or finite float here
            number = _to_decimal(value)
            assert number is not None
            self.numbers.add(number)
            self.strings.add(_json_text(value))

    def string_op(self, op: str, value: str) -> None:
        if op == "prefix":
            self.prefixes.append(value)
        elif op == "suffix":
            self.suffixes.append(value)
        else:
            self.ignore_case.add(value.lower())

    def build(self) -> ScalarMatcher | None:
        if not (
            self.strings
            or self.numbers
            or self.booleans
            or self.null
            or self.prefixes
            or self.suffixes
            or self.ignore_case
            or self.numeric
            or self.anything_but
        ):
            return None
        return ScalarMatcher(
            strings=frozenset(self.strings),
            numbers=frozenset(self.numbers),
            booleans=frozenset(self.booleans),
            null=self.null,
            prefixes=tuple(self.prefixes),
            suffixes=tuple(self.suffixes),
            ignore_case=frozenset(self.ignore_case),
            numeric=tuple(self.numeric),
            anything_but=tuple(self.anything_but),
        )

    def build_required(self) -> ScalarMatcher:
        matcher = self.build()
        assert matcher is not None
        return matcher
