"""Request shape validation against the AWS service model (``model.json``).

This is the "Coral" layer of DynamoDB: before an operation runs, its input is checked
against the service model in two passes, as AWS does:

1. types — a member of the wrong JSON type is a ``SerializationException``;
2. constraints — required members, lengths, ranges, enums and patterns are collected
   in model order into one ``ValidationException``:
   ``2 validation errors detected: Value null at 'keySchema' failed to satisfy
   constraint: Member must not be null; Value …``.

AttributeValues are not walked here: ``engine/values.py`` owns their rules.
``model.json`` is generated from botocore by ``tools/gen_model.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from dynoxide_streams.errors import SerializationException, ValidationException

_OPAQUE = frozenset({"AttributeValue", "AttributeValueUpdate"})
_MAX_ERRORS = 10


@cache
def _model() -> dict[str, Any]:
    text = resources.files("dynoxide_streams.wire").joinpath("model.json").read_text()
    result: dict[str, Any] = json.loads(text)
    return result


def validate_request(prefix: str, operation: str, params: Any) -> None:
    """Check ``params`` against the input shape of ``prefix.operation``.

    Raises SerializationException (wrong JSON type) or ValidationException (violated
    constraints, all listed). Returns None when the request is well formed.
    """
    checkers = _checkers(prefix, operation)
    if checkers is None:
        return
    if not isinstance(params, dict):
        raise SerializationException("Start of structure or map found where not expected")
    check_types, check_constraints = checkers
    check_types(params)
    errors: list[str] = []
    check_constraints(params, None, errors)
    if errors:
        count = len(errors)
        noun = "error" if count == 1 else "errors"
        shown = "; ".join(errors[:_MAX_ERRORS])
        raise ValidationException(f"{count} validation {noun} detected: {shown}")


TypeCheck = Callable[[Any], None]
"""Raises SerializationException for a value of the wrong JSON type."""
ConstraintCheck = Callable[[Any, "Location", list[str]], None]
"""Appends the constraints a (well-typed) value violates to the error list."""


@cache
def _checkers(prefix: str, operation: str) -> tuple[TypeCheck, ConstraintCheck] | None:
    """The two passes for an operation's input, compiled once from the model into
    closures (a request walks only the members it has, with no model lookups)."""
    model = _model()[prefix]
    shape_name = model["operations"].get(operation)
    if shape_name is None:
        return None
    shapes = model["shapes"]
    types = _type_check(shapes, shape_name, {})
    constraints = _constraint_check(shapes, shape_name, {})
    return (types or _nothing), (constraints or _nothing)


def _nothing(*_: Any) -> None:
    return None


# ------------------------------------------------------------------------ pass 1: types


def _type_error(value: Any, expected: str) -> SerializationException:
    if isinstance(value, list):
        return SerializationException("Start of list found where not expected")
    if isinstance(value, dict):
        return SerializationException("Start of structure or map found where not expected")
    if isinstance(value, bool):
        token = "TRUE_VALUE" if value else "FALSE_VALUE"
    elif isinstance(value, (int, float)):
        token = "NUMBER_VALUE"
    elif isinstance(value, str):
        token = "STRING_VALUE"
    else:
        token = "VALUE"
    if expected == "String":
        return SerializationException(f"{token} cannot be converted to String")
    article = "an" if expected[0] in "AEIOU" else "a"
    return SerializationException(f"{token} can not be converted to {article} {expected}")


def _type_check(
    shapes: dict[str, Any], shape_name: str, memo: dict[str, TypeCheck | None]
) -> TypeCheck | None:
    """The type check of a shape (None: anything goes, AttributeValues included)."""
    if shape_name in _OPAQUE:
        return None
    if shape_name in memo:
        return memo[shape_name]
    shape = shapes[shape_name]
    kind = shape["type"]
    check: TypeCheck
    if kind == "structure":
        members: dict[str, TypeCheck] = {}
        integers: set[str] = set()  # members read as int (JSON 25.0 included)

        def check(value: Any) -> None:
            if not isinstance(value, dict):
                raise _type_error(value, "Structure")
            for name, member_value in value.items():
                member = members.get(name)
                if member is not None and member_value is not None:
                    member(member_value)
                    if name in integers and type(member_value) is float:
                        value[name] = int(member_value)

        memo[shape_name] = check  # before the members: a shape may contain itself
        for name, member_shape in shape.get("members", {}).items():
            found = _type_check(shapes, member_shape, memo)
            if found is not None:
                members[name] = found
            if shapes.get(member_shape, {}).get("type") in ("integer", "long"):
                integers.add(name)
        return check
    if kind == "list":
        item_check: list[TypeCheck | None] = [None]
        item_fill = _fill(shapes, shape["member"])

        def check(value: Any) -> None:
            if not isinstance(value, list):
                if isinstance(value, dict):
                    raise SerializationException(
                        "Start of structure or map found where not expected"
                    )
                raise SerializationException("Expected list or null")
            item = item_check[0]
            if item is not None:
                for index, element in enumerate(value):
                    if element is None:
                        if item_fill is None:
                            continue
                        value[index] = element = item_fill()
                    item(element)

        memo[shape_name] = check
        item_check[0] = _type_check(shapes, shape["member"], memo)
        return check
    if kind == "map":
        value_check: list[TypeCheck | None] = [None]
        value_fill = _fill(shapes, shape["value"])

        def check(value: Any) -> None:
            if not isinstance(value, dict):
                if isinstance(value, list):
                    raise SerializationException("Start of list found where not expected")
                raise SerializationException("Expected map or null")
            inner = value_check[0]
            if inner is not None:
                for key, element in value.items():
                    if element is None:
                        if value_fill is None:
                            continue
                        value[key] = element = value_fill()
                    inner(element)

        memo[shape_name] = check
        value_check[0] = _type_check(shapes, shape["value"], memo)
        return check
    check = _leaf_type_check(kind)
    memo[shape_name] = check
    return check


def _fill(shapes: dict[str, Any], shape_name: str) -> Callable[[], Any] | None:
    """What a null element of a list or map of this shape is read as: an empty
    structure, list or map (whose constraints then speak, e.g. "Value null at
    'x.1.member.name' … must not be null"), so no operation is handed a null where
    the model has a container; None for scalars and AttributeValues (their own rules
    report them)."""
    if shape_name in _OPAQUE:
        return None
    kind = shapes.get(shape_name, {}).get("type")
    if kind in ("structure", "map"):
        return dict
    if kind == "list":
        return list
    return None


def _leaf_type_check(kind: str) -> TypeCheck:
    if kind == "string":

        def check(value: Any) -> None:
            if not isinstance(value, str):
                raise _type_error(value, "String")

    elif kind in ("integer", "long"):
        expected = "Integer" if kind == "integer" else "Long"

        def check(value: Any) -> None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _type_error(value, expected)
            if isinstance(value, float) and not value.is_integer():
                raise SerializationException(f"NUMBER_VALUE can not be converted to an {expected}")

    elif kind == "double":

        def check(value: Any) -> None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _type_error(value, "Double")

    elif kind == "boolean":

        def check(value: Any) -> None:
            if not isinstance(value, bool):
                raise _type_error(value, "Boolean")

    elif kind == "blob":

        def check(value: Any) -> None:
            if not isinstance(value, str):
                raise _type_error(value, "Blob")

    elif kind == "timestamp":

        def check(value: Any) -> None:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise _type_error(value, "Timestamp")

    else:
        return _nothing
    return check


# ------------------------------------------------------------------ pass 2: constraints


def _java_repr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + ", ".join(_java_repr(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_java_repr(v)}" for k, v in value.items()) + "}"
    return str(value)


@cache
def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


_FREE: dict[tuple[int, str], bool] = {}


def _free(shapes: dict[str, Any], shape_name: str) -> bool:
    """Whether no value of the shape can break a constraint (pass 2 may skip it)."""
    key = (id(shapes), shape_name)
    known = _FREE.get(key)
    if known is not None:
        return known
    _FREE[key] = False  # a shape that contains itself is checked, to be safe
    shape = shapes.get(shape_name, {})
    kind = shape.get("type")
    if shape_name in _OPAQUE:
        free = True
    elif kind == "structure":
        free = not shape.get("required") and all(
            _free(shapes, member) for member in shape.get("members", {}).values()
        )
    elif kind == "list":
        free = "min" not in shape and "max" not in shape and _free(shapes, shape["member"])
    elif kind == "map":
        free = "min" not in shape and "max" not in shape and _free(shapes, shape["value"])
    else:
        free = not any(c in shape for c in ("min", "max", "enum", "pattern"))
    _FREE[key] = free
    return free


Location = tuple[Any, ...] | None
"""Where a value is, built lazily: None at the top, else ``(parent, kind, name)`` with
kind 0 a structure member, 1 a list position, 2 a map key — rendered only for errors."""


def _render(path: Location) -> str:
    parts: list[str] = []
    while path is not None:
        parent, kind, name = path
        if kind == 0:
            parts.append(_camel(name))
        else:
            parts.append(f"{name}.member")
        path = parent
    return ".".join(reversed(parts))


def _constraint_check(
    shapes: dict[str, Any], shape_name: str, memo: dict[str, ConstraintCheck | None]
) -> ConstraintCheck | None:
    """The constraint check of a shape (None: nothing in it can be violated)."""
    if _free(shapes, shape_name):
        return None
    if shape_name in memo:
        return memo[shape_name]
    shape = shapes.get(shape_name, {})
    kind = shape.get("type")
    check: ConstraintCheck
    if kind == "structure":
        required = set(shape.get("required", ()))
        members: list[tuple[str, bool, list[ConstraintCheck | None]]] = []

        def check(value: Any, path: Location, errors: list[str]) -> None:
            for name, needed, member in members:
                member_value = value.get(name)
                if member_value is None:
                    if needed:
                        errors.append(
                            f"Value null at '{_render((path, 0, name))}' failed to satisfy "
                            "constraint: Member must not be null"
                        )
                    continue
                inner = member[0]
                if inner is not None:
                    inner(member_value, (path, 0, name), errors)

        memo[shape_name] = check
        for name, member_shape in shape.get("members", {}).items():
            cell: list[ConstraintCheck | None] = [None]
            members.append((name, name in required, cell))
            cell[0] = _constraint_check(shapes, member_shape, memo)
        return check
    if kind == "list":
        items: list[ConstraintCheck | None] = [None]

        def check(value: Any, path: Location, errors: list[str]) -> None:
            _check_length(shape, len(value), value, path, errors)
            item = items[0]
            if item is not None:
                for index, element in enumerate(value, start=1):
                    if element is not None:
                        item(element, (path, 1, index), errors)

        memo[shape_name] = check
        items[0] = _constraint_check(shapes, shape["member"], memo)
        return check
    if kind == "map":
        values: list[ConstraintCheck | None] = [None]
        value_shape = shapes.get(shape["value"], {})
        bounded_lists = value_shape.get("type") == "list" and (
            "min" in value_shape or "max" in value_shape
        )

        def check(value: Any, path: Location, errors: list[str]) -> None:
            _check_length(shape, len(value), value, path, errors)
            inner = values[0]
            if inner is None:
                return
            if bounded_lists and _map_value_lengths(value_shape, value, path, errors):
                return
            for key, element in value.items():
                if element is not None:
                    inner(element, (path, 2, key), errors)

        memo[shape_name] = check
        values[0] = _constraint_check(shapes, shape["value"], memo)
        return check
    if kind == "string":
        enum = shape.get("enum")
        pattern = shape.get("pattern")
        compiled = _pattern(pattern) if pattern else None

        def check(value: Any, path: Location, errors: list[str]) -> None:
            if enum is not None and value not in enum:
                listed = ", ".join(enum)
                errors.append(
                    _where(value, path) + f"Member must satisfy enum value set: [{listed}]"
                )
                return
            _check_length(shape, len(value), value, path, errors)
            if compiled is not None and not compiled.fullmatch(value):
                errors.append(
                    _where(value, path)
                    + f"Member must satisfy regular expression pattern: {pattern}"
                )

    elif kind in ("integer", "long", "double"):
        low, high = shape.get("min"), shape.get("max")

        def check(value: Any, path: Location, errors: list[str]) -> None:
            if low is not None and value < low:
                errors.append(
                    _where(value, path) + f"Member must have value greater than or equal to {low}"
                )
            elif high is not None and value > high:
                errors.append(
                    _where(value, path) + f"Member must have value less than or equal to {high}"
                )

    else:
        return None
    memo[shape_name] = check
    return check


def _map_value_lengths(
    value_shape: dict[str, Any], value: dict[str, Any], path: Location, errors: list[str]
) -> bool:
    """Coral reports list values of the wrong length once, for the whole map; whether
    it did."""
    bad = [
        v
        for v in value.values()
        if len(v) < value_shape.get("min", 0) or len(v) > value_shape.get("max", len(v))
    ]
    if not bad:
        return False
    bounds = []
    if "max" in value_shape:
        bounds.append(f"Member must have length less than or equal to {value_shape['max']}")
    if "min" in value_shape:
        bounds.append(f"Member must have length greater than or equal to {value_shape['min']}")
    errors.append(
        _where(value, path) + "Map value must satisfy constraint: [" + ", ".join(bounds) + "]"
    )
    return True


def _where(value: Any, path: Location) -> str:
    return f"Value '{_java_repr(value)}' at '{_render(path)}' failed to satisfy constraint: "


def _check_length(
    shape: dict[str, Any], length: int, value: Any, path: Location, errors: list[str]
) -> None:
    if "min" in shape and length < shape["min"]:
        errors.append(
            _where(value, path) + f"Member must have length greater than or equal to {shape['min']}"
        )
    elif "max" in shape and length > shape["max"]:
        errors.append(
            _where(value, path) + f"Member must have length less than or equal to {shape['max']}"
        )


@cache
def _pattern(pattern: str) -> re.Pattern[str] | None:
    """The model's pattern as a Python regex; None for the few Java-only ones
    (``\\p{…}`` classes), which are then not checked rather than failing the request."""
    try:
        return re.compile(pattern)
    except re.error:
        return None
