"""DynamoDB AttributeValues: validation, numbers, sizes, comparison and key encoding.

Items are kept in DynamoDB JSON form throughout the engine (``{"S": "x"}``,
``{"N": "1.5"}``, ``{"B": "<base64>"}`` …) so that a stored item is returned without
conversion. This module owns every rule about those values:

* :func:`validate_item` / :func:`validate_value` check a client-supplied value the way
  DynamoDB does and return it with numbers normalised (``"1.50"`` → ``"1.5"``);
* :func:`item_size` computes the size DynamoDB charges and limits (400 KB);
* :func:`compare` / :func:`values_equal` implement expression comparison semantics;
* :func:`encode_key` gives an order-preserving byte encoding of a key value, so that
  SQLite's BLOB ordering (memcmp) equals DynamoDB's key ordering.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import re
from decimal import Decimal
from typing import Any

import dynoxide_streams.engine.messages as messages
from dynoxide_streams.errors import SerializationException, ValidationException

AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]

SCALAR_TYPES = frozenset({"S", "N", "B"})
ALL_TYPES = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")
_TYPE_SET = frozenset(ALL_TYPES)

MAX_ITEM_SIZE = 400 * 1024
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
MAX_NESTING_DEPTH = 32

_CONTEXT = decimal.Context(prec=80, Emax=999999, Emin=-999999)
"""For normalising numbers already in DynamoDB's range (key encoding)."""
_MAX_SIGNIFICANT_DIGITS = 38
_MAX_ADJUSTED_EXPONENT = 125
_MIN_ADJUSTED_EXPONENT = -130
_ARITHMETIC = decimal.Context(
    prec=_MAX_ADJUSTED_EXPONENT - _MIN_ADJUSTED_EXPONENT + _MAX_SIGNIFICANT_DIGITS + 2,
    traps=[decimal.Inexact, decimal.Overflow, decimal.Underflow, decimal.InvalidOperation],
)
"""Exact for any two numbers in DynamoDB's range: their sum spans at most
125 - (-130 - 37) + 1 digits, so no result is ever rounded; any signal is a bug, raised."""
_EXPONENT_DIGITS = 18
"""Exponents with more digits than this are beyond any range check (a request body holds
far fewer than 10**18 digits); they are clamped, so ``int()`` never reads a huge string."""

_EMPTY_MSG = messages.VALUE_EMPTY.template
_MULTI_MSG = messages.VALUE_MULTIPLE.template
_EMPTY_NAME = messages.EMPTY_ATTRIBUTE_NAME.template
_SET_NAMES = {"SS": "string set", "NS": "number set", "BS": "binary set"}


# --------------------------------------------------------------------------- numbers


_NUMBER = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?)([0-9]+))?")
"""A decimal number in plain or exponent notation: ASCII digits only (no ``_``, no
``NaN``/``Infinity``), at least one digit before or after the point."""
_CANONICAL_INTEGER = re.compile(r"-?[1-9][0-9]{0,37}|0")
_OVERFLOW = messages.NUMBER_OVERFLOW.template
_UNDERFLOW = messages.NUMBER_UNDERFLOW.template
_TOO_PRECISE = messages.NUMBER_TOO_PRECISE.template


def parse_number(text: str) -> Decimal:
    """Parse a DynamoDB number string, enforcing its precision and range.

    Raises ValidationException with AWS's message for non-numeric text (``NaN``,
    ``Infinity``, junk), more than 38 significant digits, overflow and underflow. The
    text is read with integer arithmetic only, never a :mod:`decimal` context, so no
    exponent or length raises a :mod:`decimal` signal: ``1e9999999`` (and exponents
    beyond what :class:`~decimal.Decimal` can hold) overflow, ``1e-9999999`` underflows,
    and zero is zero whatever its exponent.
    """
    if not isinstance(text, str):
        raise SerializationException(
            messages.CANNOT_CONVERT.format(token="NUMBER_VALUE", target="String")
        )
    match = _NUMBER.fullmatch(text.strip())
    if match is None or not (match[2] or match[3]):
        raise ValidationException(messages.NOT_A_NUMBER.format(text=text))
    sign, whole, fraction, exponent_sign, exponent_digits = match.groups()
    fraction = fraction or ""
    exponent = 0
    if exponent_digits is not None:
        exponent_digits = exponent_digits.lstrip("0")
        if len(exponent_digits) > _EXPONENT_DIGITS:
            exponent_digits = "1" + "0" * _EXPONENT_DIGITS
        exponent = int(exponent_digits or "0")
        if exponent_sign == "-":
            exponent = -exponent
    return _checked(sign == "-", (whole + fraction).lstrip("0"), exponent - len(fraction))


def _checked(negative: bool, coefficient: str, exponent: int) -> Decimal:
    """The number ``±coefficient * 10**exponent`` normalised, or AWS's range error.

    ``coefficient`` is a digit string without leading zeros (empty for zero)."""
    significant = coefficient.rstrip("0")
    if not significant:
        return Decimal(0)
    exponent += len(coefficient) - len(significant)
    if len(significant) > _MAX_SIGNIFICANT_DIGITS:
        raise ValidationException(_TOO_PRECISE)
    adjusted = exponent + len(significant) - 1
    if adjusted > _MAX_ADJUSTED_EXPONENT:
        raise ValidationException(_OVERFLOW)
    if adjusted < _MIN_ADJUSTED_EXPONENT:
        raise ValidationException(_UNDERFLOW)
    return Decimal(f"{'-' if negative else ''}{significant}E{exponent}")


def check_number(value: Decimal) -> Decimal:
    """Return ``value`` normalised, or raise AWS's error if it is out of range.

    Exact: no context rounds ``value`` first, so 39 significant digits are refused
    however far apart they are. A non-finite value is an overflow."""
    if not value.is_finite():
        raise ValidationException(_OVERFLOW)
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    return _checked(bool(sign), "".join(map(str, digits)).lstrip("0"), exponent)


def format_number(value: Decimal) -> str:
    """Render a normalised number the way DynamoDB returns it: plain notation, no
    trailing zeros, no exponent, ``0`` for zero."""
    if value.is_zero():
        return "0"
    return format(value, "f")


def normalize_number(text: str) -> str:
    """Validate a number string and return its canonical form."""
    if _CANONICAL_INTEGER.fullmatch(text):  # already canonical: the common case
        return text
    return format_number(parse_number(text))


def add_numbers(a: str, b: str) -> str:
    """``a + b`` for DynamoDB number strings, computed exactly (see :func:`_result`)."""
    return _result(_ARITHMETIC.add(parse_number(a), parse_number(b)))


def subtract_numbers(a: str, b: str) -> str:
    """``a - b`` for DynamoDB number strings, computed exactly (see :func:`_result`)."""
    return _result(_ARITHMETIC.subtract(parse_number(a), parse_number(b)))


def _result(exact: Decimal) -> str:
    """An arithmetic result as DynamoDB stores it, never rounded to fit: its magnitude
    is checked first (overflow, underflow), then its 38 significant digits."""
    if exact.is_zero():
        return "0"
    adjusted = exact.adjusted()
    if adjusted > _MAX_ADJUSTED_EXPONENT:
        raise ValidationException(_OVERFLOW)
    if adjusted < _MIN_ADJUSTED_EXPONENT:
        raise ValidationException(_UNDERFLOW)
    return format_number(check_number(exact))


# ------------------------------------------------------------------------ validation


def validate_item_sized(item: Any) -> tuple[Item, int]:
    """:func:`validate_item` and :func:`item_size` in one pass (the PutItem hot path):
    plain strings, canonical integers and booleans take a fast path."""
    if not isinstance(item, dict):
        raise SerializationException(_not_a_map(item))
    out: Item = {}
    size = 0
    for name, value in item.items():
        if not name:
            raise ValidationException(_EMPTY_NAME)
        size += len(name) if name.isascii() else len(name.encode("utf-8"))
        if type(value) is dict and len(value) == 1:
            text = value.get("S")
            if type(text) is str:
                out[name] = value
                size += len(text) if text.isascii() else len(text.encode("utf-8"))
                continue
            text = value.get("N")
            if type(text) is str and _CANONICAL_INTEGER.fullmatch(text):
                out[name] = value
                size += _number_size(text)
                continue
        checked = out[name] = validate_value(value, 0)
        size += value_size(checked)
    return out, size


def validate_item(item: Any) -> Item:
    """Validate a whole item (map of attribute name → AttributeValue).

    Returns a new dict with every number normalised. Raises ValidationException or
    SerializationException exactly as DynamoDB does for the first bad value.
    """
    if not isinstance(item, dict):
        raise SerializationException(_not_a_map(item))
    out: Item = {}
    for name, value in item.items():
        if not name:
            raise ValidationException(_EMPTY_NAME)
        out[name] = validate_value(value, 0)
    return out


def _not_a_map(value: Any) -> str:
    if isinstance(value, list):
        return messages.START_OF_LIST.template
    return messages.UNEXPECTED_VALUE_TYPE.template


_SCALAR_TYPES: dict[str, tuple[type, str]] = {
    "S": (str, "String"),
    "N": (str, "String"),
    "BOOL": (bool, "Boolean"),
    "NULL": (bool, "Boolean"),
}
"""The JSON type each scalar's value must have, and its name in the error message."""


def validate_value(value: Any, depth: int = 0) -> AttributeValue:
    """Validate one AttributeValue; return it with numbers normalised."""
    if not isinstance(value, dict):
        raise SerializationException(_not_a_map(value))
    if len(value) != 1:
        present = [k for k in value if k in _TYPE_SET]
        if not present:
            raise ValidationException(_EMPTY_MSG)
        if len(present) > 1:
            raise ValidationException(_MULTI_MSG)
        raise SerializationException(
            messages.UNKNOWN_FIELD.format(name=next(k for k in value if k not in _TYPE_SET))
        )
    ((kind, inner),) = value.items()
    scalar = _SCALAR_TYPES.get(kind)
    if scalar is not None and not isinstance(inner, scalar[0]):
        raise SerializationException(cannot_convert(inner, scalar[1]))
    if kind == "S" or kind == "BOOL":
        return value
    if kind == "N":
        normal = normalize_number(inner)
        return value if normal == inner else {"N": normal}
    if kind == "B":
        _decode_binary(inner)
        return value
    if kind == "NULL":
        if not inner:
            raise ValidationException(messages.NULL_NOT_TRUE.template)
        return value
    if kind in ("SS", "NS", "BS"):
        return {kind: _validate_set(kind, inner)}
    if kind == "L":
        if not isinstance(inner, list):
            raise SerializationException(expected_list(inner))
        if depth >= MAX_NESTING_DEPTH:
            raise ValidationException(messages.NESTING_TOO_DEEP.template)
        return {"L": [validate_value(v, depth + 1) for v in inner]}
    if kind == "M":
        if not isinstance(inner, dict):
            raise SerializationException(_not_a_map(inner))
        if depth >= MAX_NESTING_DEPTH:
            raise ValidationException(messages.NESTING_TOO_DEEP.template)
        if "" in inner:
            raise ValidationException(_EMPTY_NAME)
        return {"M": {k: validate_value(v, depth + 1) for k, v in inner.items()}}
    if kind in _TYPE_SET:  # pragma: no cover - all kinds handled above
        raise AssertionError(kind)
    raise ValidationException(_EMPTY_MSG)


def _validate_set(kind: str, members: Any) -> list[Any]:
    if not isinstance(members, list):
        raise SerializationException(expected_list(members))
    if not members:
        if kind == "BS":
            raise ValidationException(messages.BINARY_SET_EMPTY.template)
        raise ValidationException(messages.SET_EMPTY.format(kind=_SET_NAMES[kind]))
    for m in members:
        if not isinstance(m, str):
            raise SerializationException(cannot_convert(m, "String"))
    if kind == "NS":
        normal = [normalize_number(m) for m in members]
        if len({Decimal(n) for n in normal}) != len(normal):
            raise _duplicates(members, " ")
        return normal
    if kind == "BS":
        decoded = [_decode_binary(m) for m in members]
        if len(set(decoded)) != len(decoded):
            raise _duplicates(members, "of type BS ")
        return members
    if len(set(members)) != len(members):
        raise _duplicates(members, " ")
    return members


def _duplicates(members: list[str], suffix: str) -> ValidationException:
    shown = "[" + ", ".join(members) + "]"
    return ValidationException(messages.SET_DUPLICATES.format(shown=shown, suffix=suffix))


def _decode_binary(text: Any) -> bytes:
    if not isinstance(text, str):
        raise SerializationException(cannot_convert(text, "Blob"))
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SerializationException(messages.BASE64_INVALID.template) from None


def cannot_convert(value: Any, target: str) -> str:
    """What AWS's JSON reader says when ``value`` is given where the model has a
    ``target`` (``"String"``, ``"Boolean"``, ``"Structure"``, ``"Integer"``, …)."""
    if isinstance(value, bool):
        token = "TRUE_VALUE" if value else "FALSE_VALUE"
    elif isinstance(value, (int, float)):
        token = "NUMBER_VALUE"
    elif isinstance(value, str):
        token = "STRING_VALUE"
    elif isinstance(value, list):
        return messages.START_OF_LIST.template
    elif isinstance(value, dict):
        return messages.START_OF_MAP.template
    elif value is None:
        token = "NULL_VALUE"
    else:
        token = "VALUE"
    return messages.CANNOT_CONVERT.format(token=token, target=target)


def expected_list(value: Any) -> str:
    """What AWS's JSON reader says when ``value`` is given where the model has a list."""
    if isinstance(value, dict):
        return messages.START_OF_MAP.template
    return messages.UNEXPECTED_FIELD_TYPE.template


def binary_bytes(value: str) -> bytes:
    """Decode a (validated) base64 binary value."""
    return base64.b64decode(value)


# ----------------------------------------------------------------------------- sizes


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").strip("0")
    return (len(digits) + 1) // 2 + 1


def value_size(value: AttributeValue) -> int:
    """Size in bytes DynamoDB accounts for a value (without its attribute name)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner) if inner.isascii() else len(inner.encode("utf-8"))
    if kind == "N":
        return _number_size(inner)
    if kind == "B":
        return len(binary_bytes(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in inner)
    if kind == "NS":
        return sum(_number_size(n) for n in inner)
    if kind == "BS":
        return sum(len(binary_bytes(b)) for b in inner)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode("utf-8")) + value_size(v) + 1 for k, v in inner.items())
    raise AssertionError(kind)


def item_size(item: Item) -> int:
    """Size of an item as DynamoDB computes it: names plus values, in bytes."""
    total = 0
    for name, value in item.items():
        total += len(name) if name.isascii() else len(name.encode("utf-8"))
        total += value_size(value)
    return total


# ------------------------------------------------------------------------ comparison


def value_type(value: AttributeValue) -> str:
    """The DynamoDB type tag of a value (``"S"``, ``"N"``, …)."""
    return next(iter(value))


def compare(a: AttributeValue, b: AttributeValue) -> int | None:
    """Order two scalar values as DynamoDB's ``<``/``>`` do.

    Returns -1, 0 or 1, or None when the values are not comparable (different types,
    or a type without ordering) — a comparison with such operands is false.
    """
    ka = value_type(a)
    if ka != value_type(b) or ka not in SCALAR_TYPES:
        return None
    if ka == "N":
        da, db = Decimal(a["N"]), Decimal(b["N"])
        return (da > db) - (da < db)
    if ka == "S":
        ba, bb = a["S"].encode("utf-8"), b["S"].encode("utf-8")
    else:
        ba, bb = binary_bytes(a["B"]), binary_bytes(b["B"])
    return int(ba > bb) - int(ba < bb)


def values_equal(a: AttributeValue, b: AttributeValue) -> bool:
    """Deep equality with DynamoDB semantics (numbers by value, sets unordered)."""
    ka = value_type(a)
    if ka != value_type(b):
        return False
    va, vb = a[ka], b[ka]
    if ka == "N":
        return bool(Decimal(va) == Decimal(vb))
    if ka == "NS":
        return {Decimal(x) for x in va} == {Decimal(x) for x in vb}
    if ka == "BS":
        return {binary_bytes(x) for x in va} == {binary_bytes(x) for x in vb}
    if ka == "B":
        return binary_bytes(va) == binary_bytes(vb)
    if ka == "SS":
        return set(va) == set(vb)
    if ka == "L":
        return len(va) == len(vb) and all(values_equal(x, y) for x, y in zip(va, vb, strict=True))
    if ka == "M":
        return va.keys() == vb.keys() and all(values_equal(va[k], vb[k]) for k in va)
    return bool(va == vb)


def items_equal(a: Item | None, b: Item | None) -> bool:
    """Whether two whole items are the same (None means "no item")."""
    if a is None or b is None:
        return a is b
    return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------- key encoding

_ZERO = b"\x80"


def encode_number_key(text: str) -> bytes:
    """Order-preserving encoding of a normalised number string.

    Layout: a sign byte (0x7f negative < 0x80 zero < 0x81 positive), a 2-byte
    exponent, then one byte per mantissa digit. Negative numbers invert exponent and
    digits and end with a terminator above every inverted digit, so that
    ``memcmp`` order equals numeric order.
    """
    value = Decimal(text)
    if value.is_zero():
        return _ZERO
    sign, digits, exponent = value.normalize(_CONTEXT).as_tuple()
    assert isinstance(exponent, int)
    # value = 0.d1d2...dn * 10^e  with d1 != 0
    e = exponent + len(digits)
    biased = e + 1000
    if not sign:
        return b"\x81" + biased.to_bytes(2, "big") + bytes(d + 1 for d in digits)
    return b"\x7f" + (0xFFFF - biased).to_bytes(2, "big") + bytes(10 - d for d in digits) + b"\xff"


def encode_key(value: AttributeValue) -> bytes:
    """Order-preserving bytes of a key value (S by UTF-8, N by value, B by bytes)."""
    if "S" in value:
        return bytes(value["S"].encode("utf-8"))
    if "N" in value:
        return encode_number_key(value["N"])
    return binary_bytes(value["B"])


def key_value_bytes(value: AttributeValue) -> int:
    """Length DynamoDB counts against the key size limits."""
    if "S" in value:
        return len(value["S"].encode("utf-8"))
    if "N" in value:
        return _number_size(value["N"])
    return len(binary_bytes(value["B"]))
