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
    model = _model()[prefix]
    shape_name = model["operations"].get(operation)
    if shape_name is None:
        return
    if not isinstance(params, dict):
        raise SerializationException("Start of structure or map found where not expected")
    shapes = model["shapes"]
    _check_types(shapes, shape_name, params)
    errors: list[str] = []
    _check_constraints(shapes, shape_name, params, None, errors)
    if errors:
        count = len(errors)
        noun = "error" if count == 1 else "errors"
        shown = "; ".join(errors[:_MAX_ERRORS])
        raise ValidationException(f"{count} validation {noun} detected: {shown}")


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


def _check_types(shapes: dict[str, Any], shape_name: str, value: Any) -> None:
    if value is None or shape_name in _OPAQUE:
        return
    shape = shapes[shape_name]
    kind = shape["type"]
    if kind == "structure":
        if not isinstance(value, dict):
            raise _type_error(value, "Structure")
        members = shape.get("members", {})
        for name, member_value in value.items():
            member_shape = members.get(name)
            if member_shape is not None:
                _check_types(shapes, member_shape, member_value)
    elif kind == "list":
        if not isinstance(value, list):
            if isinstance(value, dict):
                raise SerializationException("Start of structure or map found where not expected")
            raise SerializationException("Expected list or null")
        for item in value:
            _check_types(shapes, shape["member"], item)
    elif kind == "map":
        if not isinstance(value, dict):
            if isinstance(value, list):
                raise SerializationException("Start of list found where not expected")
            raise SerializationException("Expected map or null")
        if shape["value"] not in _OPAQUE:
            for item in value.values():
                _check_types(shapes, shape["value"], item)
    elif kind == "string":
        if not isinstance(value, str):
            raise _type_error(value, "String")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(value, "Integer" if kind == "integer" else "Long")
        if isinstance(value, float) and not value.is_integer():
            raise SerializationException(
                f"NUMBER_VALUE can not be converted to an {'Integer' if kind == 'integer' else 'Long'}"
            )
    elif kind == "double":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(value, "Double")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise _type_error(value, "Boolean")
    elif kind == "blob":
        if not isinstance(value, str):
            raise _type_error(value, "Blob")
    elif kind == "timestamp" and (
        isinstance(value, bool) or not isinstance(value, (int, float, str))
    ):
        raise _type_error(value, "Timestamp")


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


def _check_constraints(
    shapes: dict[str, Any], shape_name: str, value: Any, path: Location, errors: list[str]
) -> None:
    shape = shapes.get(shape_name, {})
    kind = shape.get("type")
    if value is None:
        return
    if kind == "structure":
        if shape_name in _OPAQUE:
            return
        required = shape.get("required", ())
        for name, member_shape in shape.get("members", {}).items():
            member_value = value.get(name)
            if member_value is None:
                if name in required:
                    errors.append(
                        f"Value null at '{_render((path, 0, name))}' failed to satisfy "
                        "constraint: Member must not be null"
                    )
                continue
            if not _free(shapes, member_shape):
                _check_constraints(shapes, member_shape, member_value, (path, 0, name), errors)
        return
    if kind in ("list", "map"):
        _check_length(shape, len(value), value, path, errors)
        if kind == "list":
            if not _free(shapes, shape["member"]):
                for index, item in enumerate(value, start=1):
                    _check_constraints(shapes, shape["member"], item, (path, 1, index), errors)
        elif not _free(shapes, shape["value"]):
            value_shape = shapes.get(shape["value"], {})
            if value_shape.get("type") == "list" and ("min" in value_shape or "max" in value_shape):
                # Coral reports a map value's length once, for the whole map.
                bad = [
                    v
                    for v in value.values()
                    if len(v) < value_shape.get("min", 0) or len(v) > value_shape.get("max", len(v))
                ]
                if bad:
                    bounds = []
                    if "max" in value_shape:
                        bounds.append(
                            f"Member must have length less than or equal to {value_shape['max']}"
                        )
                    if "min" in value_shape:
                        bounds.append(
                            f"Member must have length greater than or equal to {value_shape['min']}"
                        )
                    errors.append(
                        _where(value, path)
                        + "Map value must satisfy constraint: ["
                        + ", ".join(bounds)
                        + "]"
                    )
                    return
            for key, item in value.items():
                _check_constraints(shapes, shape["value"], item, (path, 2, key), errors)
        return
    if kind == "string":
        if "enum" in shape and value not in shape["enum"]:
            enum = ", ".join(shape["enum"])
            errors.append(_where(value, path) + f"Member must satisfy enum value set: [{enum}]")
            return
        _check_length(shape, len(value), value, path, errors)
        pattern = shape.get("pattern")
        if pattern and not _compiled(pattern).fullmatch(value):
            errors.append(
                _where(value, path) + f"Member must satisfy regular expression pattern: {pattern}"
            )
        return
    if kind in ("integer", "long", "double"):
        if "min" in shape and value < shape["min"]:
            errors.append(
                _where(value, path)
                + f"Member must have value greater than or equal to {shape['min']}"
            )
        elif "max" in shape and value > shape["max"]:
            errors.append(
                _where(value, path) + f"Member must have value less than or equal to {shape['max']}"
            )


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
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)
