"""Request shape validation against the AWS service models (``model.json``,
``lambda_model.json``): the one validator of every API's input.

Before an operation runs, its input is read and checked against the service model in
three steps, as AWS's request layer does:

0. normalisation (:func:`normalise_request`) — returns the request as the operation
   reads it, never changing the one given: under DynamoDB's JSON 1.0 protocol a
   null list element or map value where the model has a structure, list or map is an
   empty one (its own constraints then speak), an integral JSON number given for
   an integer member is an int (``"Limit": 1.0``; ``1.5`` stays a type error), and a
   boolean word for a boolean member is the boolean (``"yes"``; ``"dog"`` stays one);
1. types — a member of the wrong JSON type is the protocol's parse error:
   ``SerializationException`` (DynamoDB, Streams) or ``InvalidRequestContentException``
   naming the member (Lambda);
2. constraints — required members, lengths, ranges, enums and patterns, collected in
   model order into one validation error (``errors.validation_error``):
   ``2 validation errors detected: Value null at 'keySchema' failed to satisfy
   constraint: Member must not be null; Value …``.

AttributeValues are not walked here: ``engine/values.py`` owns their rules. The models
are generated from botocore by ``tools/gen_model.py``, which also applies (and lists,
with reasons) this project's deviations from them. Checks are compiled once per
operation into closures, so a request walks only the members it has.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from functools import cache
from importlib import resources
from typing import Any, Generic, NamedTuple, TypeVar

from dynoxide_streams.engine import messages
from dynoxide_streams.engine.tables import TABLE_ARN_PATTERN
from dynoxide_streams.errors import (
    DynamoDBError,
    InvalidRequestContentException,
    LambdaValidationException,
    SerializationException,
    ValidationException,
    constraint_violation,
    validation_error,
)

DYNAMODB = "DynamoDB_20120810"
STREAMS = "DynamoDBStreams_20120810"
LAMBDA = "Lambda_20150331"
_MODEL_FILES = ("model.json", "lambda_model.json")
_OPAQUE = frozenset({"AttributeValue", "AttributeValueUpdate"})


@cache
def _model() -> dict[str, Any]:
    """Every service model by target prefix (``DynamoDB_20120810``, …)."""
    models: dict[str, Any] = {}
    for name in _MODEL_FILES:
        text = resources.files("dynoxide_streams.engine").joinpath(name).read_text()
        models.update(json.loads(text))
    return models


def model_pattern(prefix: str, shape_name: str) -> str:
    """The regular expression the service model gives a string shape."""
    pattern: str = _model()[prefix]["shapes"][shape_name]["pattern"]
    return pattern


def normalise_request(prefix: str, operation: str, params: Any) -> Any:
    """``params`` as the operation reads it (see the module docstring, step 0).

    Returns ``params`` itself when nothing changes, else a copy sharing every part
    that did not change; ``params`` is never modified. Values of the wrong type are
    left for the type check to report.
    """
    compiled = _compiled(prefix, operation)
    return params if compiled is None else compiled.normalise(params)


def validate_request(prefix: str, operation: str, params: Any) -> Any:
    """Normalise ``params`` and check it against the input shape of ``prefix.operation``.

    Returns the normalised request (``params`` itself when nothing changed; ``params``
    is never modified). Raises the protocol's type error (SerializationException,
    InvalidRequestContentException) or its validation error (ValidationException,
    the Lambda ValidationException) listing every violated constraint.
    """
    compiled = _compiled(prefix, operation)
    if compiled is None:
        return params
    protocol, _, _, normalise, touched, check_types, check_constraints = compiled
    if not isinstance(params, dict):
        raise protocol.not_an_object(params)
    request = params if touched.isdisjoint(params) else normalise(params)
    try:
        check_types(request)
    except _WrongType as wrong:
        raise protocol.wrong_type(wrong, request, compiled) from None
    if prefix == DYNAMODB:
        _check_required_sentences(operation, request)
    errors: list[str] = []
    check_constraints(request, None, errors)
    if errors:
        try:  # a wrong type inside an AttributeValue still comes first
            _type_check_with_values(prefix, operation)(request)
        except _WrongType as wrong:
            raise protocol.wrong_type(wrong, request, compiled) from None
        raise validation_error(errors, protocol.validation)
    return request


@cache
def _type_check_with_values(prefix: str, operation: str) -> TypeCheck:
    """The type check of an operation's input, AttributeValues included. Their types are
    otherwise checked by ``engine/values.py`` as it reads them; this walk runs only
    when the request has constraint violations, so that a wrong type anywhere is
    reported before them, as AWS's reader does."""
    compiled = _compiled(prefix, operation)
    assert compiled is not None
    checker = _TypeChecker(compiled.shapes, compiled.protocol)
    checker.opaque = frozenset()
    return checker.compile(compiled.input_shape) or _nothing


_TABLE_NAME_SENTENCE = frozenset(
    {"CreateTable", "DescribeTable", "UpdateTable", "DeleteTable", "DescribeTimeToLive"}
)
"""The operations that answer a missing TableName with a sentence of their own."""
_REQUEST_ITEMS_SENTENCE = frozenset({"BatchGetItem", "BatchWriteItem"})
"""The operations that answer a missing or empty RequestItems with a sentence."""


def _check_required_sentences(operation: str, request: dict[str, Any]) -> None:
    """AWS's own sentences for a few missing members, checked after the types and
    before the constraints (which would say ``Value null at …``)."""
    if operation in _TABLE_NAME_SENTENCE and request.get("TableName") is None:
        raise ValidationException(messages.TABLE_NAME_REQUIRED.format())
    if operation in _REQUEST_ITEMS_SENTENCE and not request.get("RequestItems"):
        raise ValidationException(messages.REQUEST_ITEMS_REQUIRED.format(operation=operation))


# ------------------------------------------------------------------------ protocols


class _WrongType(Exception):
    """A value of the wrong JSON type (the one object ``value``, where the model has
    ``shape_name``); a protocol that names its place finds it with :func:`_path_to`."""

    def __init__(self, shape_name: str, value: Any) -> None:
        super().__init__(shape_name)
        self.shape_name = shape_name
        self.value = value


_CORAL_TARGETS = {
    "structure": "Structure",
    "string": "String",
    "integer": "Integer",
    "long": "Long",
    "double": "Double",
    "boolean": "Boolean",
    "blob": "Blob",
    "timestamp": "Timestamp",
}


def _path_to(
    shapes: dict[str, Any], shape_name: str, value: Any, wrong: _WrongType
) -> list[Any] | None:
    """The member names and list/map keys leading from ``value`` (of ``shape_name``) to
    ``wrong``'s value, outermost first: the first place the type check (which walks
    the request in its order) finds it; None if it is not inside ``value``."""
    if value is wrong.value and shape_name == wrong.shape_name:
        return []
    if shape_name in _OPAQUE:
        return None
    shape = shapes[shape_name]
    kind = shape["type"]
    entries: Iterable[tuple[Any, str, Any]]
    if kind == "structure" and isinstance(value, dict):
        members = shape.get("members", {})
        entries = ((k, members[k], v) for k, v in value.items() if k in members)
    elif kind == "list" and isinstance(value, list):
        entries = ((i, shape["member"], v) for i, v in enumerate(value))
    elif kind == "map" and isinstance(value, dict):
        entries = ((k, shape["value"], v) for k, v in value.items())
    else:
        return None
    for key, inner_shape, inner in entries:
        found = None if inner is None else _path_to(shapes, inner_shape, inner, wrong)
        if found is not None:
            return [key, *found]
    return None


class _Coral:
    """DynamoDB's and Streams' protocol (JSON 1.0, read by Coral): how it reads a
    request and words its errors."""

    integral_numbers = True
    """An integral JSON number for an integer member reads as an int (else a type error)."""
    boolean_words = True
    """A boolean word (``"yes"``, ``"false"``, ``"1"``…) for a boolean member reads as
    the boolean (AWS accepts ``"yes"``: https://github.com/scylladb/scylladb/issues/9432)."""
    null_elements_are_wrong = False
    """A null list element or map value is a type error (else read as empty, step 0)."""
    one_violation_per_member = False
    """A member breaking its length rule is not also checked against its pattern."""
    validation: type[DynamoDBError] = ValidationException

    def not_an_object(self, value: Any) -> DynamoDBError:
        return SerializationException(messages.START_OF_MAP.format())

    def wrong_type(
        self, wrong: _WrongType, request: dict[str, Any], compiled: _Compiled
    ) -> DynamoDBError:
        """The token found and the type wanted, no member named (``messages``' rows)."""
        return SerializationException(_coral_type_error(compiled.shapes, wrong))


_CORAL_NAMESPACE = "com.amazonaws.dynamodb.v20120810."


def _coral_java_type(shapes: dict[str, Any], shape_name: str) -> str:
    """The Java type Coral's reader names for a shape (``java.lang.String``, …)."""
    if shape_name in _OPAQUE:
        return _CORAL_NAMESPACE + shape_name
    shape = shapes[shape_name]
    kind = shape["type"]
    if kind == "structure":
        return _CORAL_NAMESPACE + shape_name
    if kind == "list":
        return f"java.util.List<{_coral_java_type(shapes, shape['member'])}>"
    if kind == "map":
        return f"java.util.Map<java.lang.String, {_coral_java_type(shapes, shape['value'])}>"
    return _JAVA_TYPES[kind]


def _scalar_token(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE_VALUE" if value else "FALSE_VALUE"
    if isinstance(value, int):
        return "NUMBER_VALUE"
    if isinstance(value, float):
        return "DECIMAL_VALUE"
    return "STRING_VALUE"


def _coral_type_error(shapes: dict[str, Any], wrong: _WrongType) -> str:
    """What DynamoDB's reader says for ``wrong``'s value where the model has its shape."""
    shape = shapes[wrong.shape_name]
    kind = shape["type"]
    value = wrong.value
    if isinstance(value, dict):
        return messages.START_OF_MAP.format()
    if isinstance(value, list):
        if kind == "map":
            return messages.UNRECOGNIZED_MAP.format(value=_coral_java_type(shapes, shape["value"]))
        if kind == "blob":
            return messages.START_OF_LIST.format()
        return messages.UNRECOGNIZED_CLASS.format(java=_coral_java_type(shapes, wrong.shape_name))
    if kind in ("map", "list"):
        return messages.UNEXPECTED_FIELD_TYPE.format()
    if kind == "structure":
        return messages.UNEXPECTED_VALUE_TYPE.format()
    if kind == "boolean" and isinstance(value, str):
        return messages.UNEXPECTED_TOKEN.format()
    return messages.CANNOT_CONVERT.format(token=_scalar_token(value), target=_CORAL_TARGETS[kind])


_JAVA_TYPES = {
    "string": "java.lang.String",
    "integer": "java.lang.Integer",
    "long": "java.lang.Long",
    "double": "java.lang.Double",
    "boolean": "java.lang.Boolean",
    "blob": "java.nio.ByteBuffer",
    "timestamp": "java.util.Date",
}


def _java_type(shapes: dict[str, Any], shape_name: str, *, short: bool = False) -> str:
    """The Java type Lambda's JSON reader names for a shape (``java.util.List<String>``)."""
    shape = shapes[shape_name]
    kind = shape["type"]
    if kind == "list":
        return f"java.util.List<{_java_type(shapes, shape['member'], short=True)}>"
    if kind == "map":
        return f"java.util.Map<String, {_java_type(shapes, shape['value'], short=True)}>"
    if kind == "structure":
        return shape_name if short else "structure"
    java = _JAVA_TYPES[kind]
    return java.rsplit(".", 1)[-1] if short else java


_UNPARSABLE = messages.LAMBDA_UNPARSABLE


class _Lambda(_Coral):
    """Lambda's REST-JSON protocol (read by Jackson into Java types)."""

    integral_numbers = False
    boolean_words = False
    null_elements_are_wrong = True
    one_violation_per_member = True
    validation = LambdaValidationException

    def not_an_object(self, value: Any) -> DynamoDBError:
        return InvalidRequestContentException(
            _UNPARSABLE.format(detail=messages.LAMBDA_NOT_AN_OBJECT.template)
        )

    def wrong_type(
        self, wrong: _WrongType, request: dict[str, Any], compiled: _Compiled
    ) -> DynamoDBError:
        """The Java type wanted, the dotted member names and the JSON type found; a bad
        element of a list or map is reported as the whole collection."""
        shapes = compiled.shapes
        shape_name, value = compiled.input_shape, request
        names: list[str] = []
        for step in _path_to(shapes, shape_name, request, wrong) or ():
            shape = shapes[shape_name]
            if shape["type"] != "structure":
                break  # a list or map: named as a whole
            names.append(step)
            shape_name, value = shape["members"][step], value[step]
        else:
            shape_name, value = wrong.shape_name, wrong.value
        detail = messages.LAMBDA_WRONG_TYPE.format(
            java=_java_type(shapes, shape_name), members=".".join(names), found=type(value).__name__
        )
        return InvalidRequestContentException(_UNPARSABLE.format(detail=detail))


_PROTOCOLS: dict[str, _Coral] = {DYNAMODB: _Coral(), STREAMS: _Coral(), LAMBDA: _Lambda()}


# ----------------------------------------------------------------------- compilation

Normalise = Callable[[Any], Any]
"""Returns the value as read (the same object when unchanged)."""
TypeCheck = Callable[[Any], None]
"""Raises _WrongType for a value of the wrong JSON type."""
ConstraintCheck = Callable[[Any, "Location", list[str]], None]
"""Appends the constraints a (well-typed) value violates to the error list."""
Step = TypeVar("Step", Normalise, TypeCheck, ConstraintCheck)


class _Compiled(NamedTuple):
    """The compiled steps for one operation's input (a tuple: unpacked per request)."""

    protocol: _Coral
    shapes: dict[str, Any]
    input_shape: str
    normalise: Normalise
    touched: frozenset[str]
    """The top-level members whose reading may differ from the value given."""
    check_types: TypeCheck
    check_constraints: ConstraintCheck


@cache
def _compiled(prefix: str, operation: str) -> _Compiled | None:
    model = _model()[prefix]
    shape_name = model["operations"].get(operation)
    if shape_name is None:
        return None
    protocol = _PROTOCOLS[prefix]
    shapes = model["shapes"]
    normaliser = _Normaliser(shapes, protocol)
    normalise = normaliser.compile(shape_name)
    return _Compiled(
        protocol=protocol,
        shapes=shapes,
        input_shape=shape_name,
        normalise=normalise or _same,
        touched=normaliser.touched.get(shape_name, frozenset()),
        check_types=_TypeChecker(shapes, protocol).compile(shape_name) or _nothing,
        check_constraints=_ConstraintChecker(shapes, protocol).compile(shape_name) or _nothing,
    )


def _nothing(*_: Any) -> None:
    return None


def _same(value: Any) -> Any:
    return value


def _kind(shapes: dict[str, Any], shape_name: str) -> str | None:
    if shape_name in _OPAQUE:
        return None
    kind: str | None = shapes.get(shape_name, {}).get("type")
    return kind


class _Compiler(Generic[Step]):
    """Compiles one step for the shapes of a model, each shape once (``memo``)."""

    def __init__(self, shapes: dict[str, Any], protocol: _Coral) -> None:
        self.shapes = shapes
        self.protocol = protocol
        self.memo: dict[str, Step | None] = {}


# ---------------------------------------------------------------- step 0: normalising


class _Normaliser(_Compiler[Normalise]):
    """Compiles the step-0 reading of a shape (None: the value reads as it is)."""

    def __init__(self, shapes: dict[str, Any], protocol: _Coral) -> None:
        super().__init__(shapes, protocol)
        self.touched: dict[str, frozenset[str]] = {}
        """Per structure, the members whose reading may differ from the value given."""

    def compile(self, shape_name: str) -> Normalise | None:
        if shape_name in self.memo:
            return self.memo[shape_name]
        self.memo[shape_name] = None  # a shape that contains itself: nothing more to read
        found = self._compile(shape_name)
        self.memo[shape_name] = found
        return found

    def _compile(self, shape_name: str) -> Normalise | None:
        kind = _kind(self.shapes, shape_name)
        shape = self.shapes.get(shape_name, {})
        if kind == "structure":
            fixes: list[tuple[str, Normalise]] = []
            for name, member_shape in shape.get("members", {}).items():
                fix = self._member(member_shape)
                if fix is not None:
                    fixes.append((name, fix))
            self.touched[shape_name] = frozenset(name for name, _ in fixes)
            return _read_structure(fixes) if fixes else None
        if kind in ("list", "map"):
            element_shape = shape["member" if kind == "list" else "value"]
            fill = self._fill(element_shape)
            inner = self._member(element_shape)
            if fill is None and inner is None:
                return None
            return _read_collection(kind, fill, inner)
        return None

    def _member(self, shape_name: str) -> Normalise | None:
        """The reading of a member, list element or map value of this shape."""
        kind = _kind(self.shapes, shape_name)
        if self.protocol.integral_numbers and kind in ("integer", "long"):
            return _integral
        if self.protocol.boolean_words and kind == "boolean":
            return _boolean_word
        return self.compile(shape_name)

    def _fill(self, shape_name: str) -> Callable[[], Any] | None:
        """What a null element of this shape reads as: an empty structure, list or
        map; None for scalars and AttributeValues (their own rules report them)."""
        if self.protocol.null_elements_are_wrong:
            return None
        kind = _kind(self.shapes, shape_name)
        if kind in ("structure", "map"):
            return dict
        if kind == "list":
            return list
        return None


def _integral(value: Any) -> Any:
    return int(value) if type(value) is float and value.is_integer() else value


_BOOLEAN_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
"""The strings Coral reads as a boolean, in any case ("dog" stays a type error)."""


def _boolean_word(value: Any) -> Any:
    if type(value) is str:
        return _BOOLEAN_WORDS.get(value.lower(), value)
    return value


def _with(container: Any, changes: list[tuple[Any, Any]]) -> Any:
    """A copy of ``container`` (a dict or list) with the ``(key, value)`` changes made."""
    copy = container.copy()
    for key, value in changes:
        copy[key] = value
    return copy


def _read_structure(fixes: list[tuple[str, Normalise]]) -> Normalise:
    def read(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        copy = None
        for name, fix in fixes:
            member = value.get(name)
            if member is not None and (fixed := fix(member)) is not member:
                if copy is None:
                    copy = value.copy()
                copy[name] = fixed
        return value if copy is None else copy

    return read


def _read_collection(
    kind: str, fill: Callable[[], Any] | None, inner: Normalise | None
) -> Normalise:
    """The reading of a list or map: null elements filled, the others read by ``inner``."""
    is_list = kind == "list"

    def element(value: Any) -> Any:
        if value is None:
            return None if fill is None else fill()
        return value if inner is None else inner(value)

    def read(value: Any) -> Any:
        if is_list:
            if not isinstance(value, list) or (inner is None and None not in value):
                return value
            entries: Iterable[tuple[Any, Any]] = enumerate(value)
        elif isinstance(value, dict):
            entries = value.items()
        else:
            return value
        changes = [(k, new) for k, old in entries if (new := element(old)) is not old]
        return _with(value, changes) if changes else value

    return read


# ------------------------------------------------------------------------ step 1: types


class _TypeChecker(_Compiler[TypeCheck]):
    """Compiles the type check of a shape (None: anything goes; AttributeValues too,
    unless ``opaque`` is emptied)."""

    opaque: frozenset[str] = _OPAQUE

    def compile(self, shape_name: str) -> TypeCheck | None:
        if shape_name in self.opaque:
            return None
        if shape_name in self.memo:
            return self.memo[shape_name]
        kind = self.shapes[shape_name]["type"]
        if kind == "structure":
            return self._structure(shape_name)
        if kind in ("list", "map"):
            return self._collection(shape_name, kind)
        check = _leaf_type_check(shape_name, kind)
        self.memo[shape_name] = check
        return check

    def _structure(self, shape_name: str) -> TypeCheck:
        members: dict[str, TypeCheck] = {}
        plain: dict[str, tuple[type, str]] = {}  # members checked by one isinstance, inline

        def check(value: Any) -> None:
            if not isinstance(value, dict):
                raise _WrongType(shape_name, value)
            for name, member_value in value.items():
                if member_value is None:
                    continue
                expected = plain.get(name)
                if expected is not None:
                    if not isinstance(member_value, expected[0]):
                        raise _WrongType(expected[1], member_value)
                    continue
                member = members.get(name)
                if member is not None:
                    member(member_value)

        self.memo[shape_name] = check  # before the members: a shape may contain itself
        for name, member_shape in self.shapes[shape_name].get("members", {}).items():
            found = self.compile(member_shape)
            accepted = self._plain(member_shape)
            if accepted is not None:
                plain[name] = (accepted, member_shape)
            elif found is not None:
                members[name] = found
        return check

    def _plain(self, shape_name: str) -> type | None:
        """The one Python type a value of the shape must have, if nothing else is
        checked in it (strings, booleans, lists and maps of AttributeValues)."""
        kind = _kind(self.shapes, shape_name)
        if kind in ("string", "blob"):
            return str
        if kind == "boolean":
            return bool
        if kind in ("list", "map") and not self.protocol.null_elements_are_wrong:
            shape = self.shapes[shape_name]
            if shape["member" if kind == "list" else "value"] in self.opaque:
                return list if kind == "list" else dict
        return None

    def _collection(self, shape_name: str, kind: str) -> TypeCheck:
        """A list or a map: the container's type, then each element's."""
        is_list = kind == "list"
        container = list if is_list else dict
        elements: Callable[[Any], Iterable[Any]] = iter if is_list else dict.values
        strict_nulls = self.protocol.null_elements_are_wrong
        element_check: list[TypeCheck | None] = [None]

        def check(value: Any) -> None:
            if not isinstance(value, container):
                raise _WrongType(shape_name, value)
            inner = element_check[0]
            if inner is None and not strict_nulls:
                return
            for element in elements(value):
                if element is None:
                    if strict_nulls:
                        raise _WrongType(shape_name, value)
                elif inner is not None:
                    inner(element)

        self.memo[shape_name] = check
        shape = self.shapes[shape_name]
        element_check[0] = self.compile(shape["member" if is_list else "value"])
        return check


def _leaf_type_check(shape_name: str, kind: str) -> TypeCheck | None:
    if kind == "string" or kind == "blob":

        def check_string(value: Any) -> None:
            if not isinstance(value, str):
                raise _WrongType(shape_name, value)

        return check_string
    if kind == "boolean":

        def check_boolean(value: Any) -> None:
            if not isinstance(value, bool):
                raise _WrongType(shape_name, value)

        return check_boolean
    accepts: tuple[type, ...]
    if kind in ("integer", "long"):
        accepts = (int,)  # integral floats are ints by now (step 0) where the protocol says so
    elif kind == "double":
        accepts = (int, float)
    elif kind == "timestamp":
        accepts = (int, float, str)
    else:
        return None

    def check_number(value: Any) -> None:
        if value.__class__ is not int and (
            isinstance(value, bool) or not isinstance(value, accepts)
        ):
            raise _WrongType(shape_name, value)

    return check_number


# ------------------------------------------------------------------ step 2: constraints


@cache
def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


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


def _violation(value: Any, path: Location, rule: str) -> str:
    return constraint_violation(value, _render(path), rule)


def _length_violation(shape: dict[str, Any], value: Any, path: Location) -> str | None:
    length = len(value)
    if "min" in shape and length < shape["min"]:
        return _violation(value, path, messages.MIN_LENGTH.format(n=shape["min"]))
    if "max" in shape and length > shape["max"]:
        return _violation(value, path, messages.MAX_LENGTH.format(n=shape["max"]))
    return None


class _ConstraintChecker(_Compiler[ConstraintCheck]):
    """Compiles the constraint check of a shape (None: nothing in it can be violated)."""

    def __init__(self, shapes: dict[str, Any], protocol: _Coral) -> None:
        super().__init__(shapes, protocol)
        self.free_memo: dict[str, bool] = {}

    def free(self, shape_name: str) -> bool:
        """Whether no value of the shape can break a constraint (the check may skip it)."""
        known = self.free_memo.get(shape_name)
        if known is not None:
            return known
        self.free_memo[shape_name] = False  # a shape that contains itself is checked
        shape = self.shapes.get(shape_name, {})
        kind = shape.get("type")
        if shape_name in _OPAQUE:
            free = True
        elif kind == "structure":
            free = not shape.get("required") and all(
                self.free(member) for member in shape.get("members", {}).values()
            )
        elif kind in ("list", "map"):
            element = shape["member" if kind == "list" else "value"]
            free = "min" not in shape and "max" not in shape and self.free(element)
        else:
            free = not any(c in shape for c in ("min", "max", "enum", "pattern"))
        self.free_memo[shape_name] = free
        return free

    def compile(self, shape_name: str) -> ConstraintCheck | None:
        if self.free(shape_name):
            return None
        if shape_name in self.memo:
            return self.memo[shape_name]
        shape = self.shapes.get(shape_name, {})
        kind = shape.get("type")
        if kind == "structure":
            return self._structure(shape_name, shape)
        if kind == "list":
            return self._list(shape_name, shape)
        if kind == "map":
            return self._map(shape_name, shape)
        check: ConstraintCheck | None = None
        if shape_name == "TableArn" and "TableName" in self.shapes:
            check = self._table_arn(shape)
        elif kind == "string":
            check = self._string(shape, shape_name)
        elif kind in ("integer", "long", "double"):
            check = _range_check(shape)
        self.memo[shape_name] = check
        return check

    def _structure(self, shape_name: str, shape: dict[str, Any]) -> ConstraintCheck:
        required = set(shape.get("required", ()))
        members: list[tuple[str, bool, list[ConstraintCheck | None]]] = []

        def check(value: Any, path: Location, errors: list[str]) -> None:
            for name, needed, member in members:
                member_value = value.get(name)
                if member_value is None:
                    if needed:
                        errors.append(_violation(None, (path, 0, name), messages.NOT_NULL.format()))
                    continue
                inner = member[0]
                if inner is not None:
                    inner(member_value, (path, 0, name), errors)

        self.memo[shape_name] = check
        for name, member_shape in shape.get("members", {}).items():
            if name not in required and self.free(member_shape):
                continue  # nothing to check, absent or not
            cell: list[ConstraintCheck | None] = [None]
            members.append((name, name in required, cell))
            cell[0] = self.compile(member_shape)
        return check

    def _list(self, shape_name: str, shape: dict[str, Any]) -> ConstraintCheck:
        items: list[ConstraintCheck | None] = [None]
        enum = self.shapes.get(shape["member"], {}).get("enum")
        listed = messages.enum_values(shape["member"], enum) if enum is not None else ""

        def check(value: Any, path: Location, errors: list[str]) -> None:
            length = _length_violation(shape, value, path)
            if length is not None:
                errors.append(length)
            if enum is not None:
                # Coral words enum violations in a list once, for the whole list.
                if length is None and any(v is not None and v not in enum for v in value):
                    errors.append(
                        _violation(
                            value,
                            path,
                            messages.LIST_ENUM.format(values=listed),
                        )
                    )
                return
            item = items[0]
            if item is not None:
                for index, element in enumerate(value, start=1):
                    if element is not None:
                        item(element, (path, 1, index), errors)

        self.memo[shape_name] = check
        items[0] = self.compile(shape["member"])
        return check

    def _map(self, shape_name: str, shape: dict[str, Any]) -> ConstraintCheck:
        values: list[ConstraintCheck | None] = [None]
        value_shape = self.shapes.get(shape["value"], {})
        bounded_lists = value_shape.get("type") == "list" and (
            "min" in value_shape or "max" in value_shape
        )

        def check(value: Any, path: Location, errors: list[str]) -> None:
            length = _length_violation(shape, value, path)
            if length is not None:
                errors.append(length)
            inner = values[0]
            if inner is None:
                return
            if bounded_lists and _map_value_lengths(value_shape, value, path, errors):
                return
            for key, element in value.items():
                if element is not None:
                    inner(element, (path, 2, key), errors)

        self.memo[shape_name] = check
        values[0] = self.compile(shape["value"])
        return check

    def _table_arn(self, shape: dict[str, Any]) -> ConstraintCheck:
        """A table name or ARN: an ARN (or nothing) by the model's TableArn rules, a
        name by the TableName rules (3..255 characters of ``[a-zA-Z0-9_.-]``), which
        DynamoDB still enforces though the model no longer says so."""
        as_arn = self._string(shape)
        as_name = self._string(self.shapes["TableName"])

        def check(value: Any, path: Location, errors: list[str]) -> None:
            if not value or TABLE_ARN_PATTERN.fullmatch(value):
                as_arn(value, path, errors)
            else:
                as_name(value, path, errors)

        return check

    def _string(self, shape: dict[str, Any], shape_name: str = "") -> ConstraintCheck:
        enum = shape.get("enum")
        listed = messages.enum_values(shape_name, enum) if enum is not None else ""
        pattern = shape.get("pattern")
        compiled = _pattern(pattern) if pattern else None
        also = _pattern(shape["alsoMatches"]) if "alsoMatches" in shape else None
        bounded = "min" in shape or "max" in shape
        single = self.protocol.one_violation_per_member

        def check(value: Any, path: Location, errors: list[str]) -> None:
            if enum is not None and value not in enum:
                errors.append(_violation(value, path, messages.ENUM.format(values=listed)))
                return
            length = _length_violation(shape, value, path) if bounded else None
            if length is not None and single:
                errors.append(length)  # Lambda: the length rule alone
                return
            if (
                compiled is not None
                and not compiled.fullmatch(value)
                and (also is None or not also.fullmatch(value))
            ):
                errors.append(_violation(value, path, messages.PATTERN.format(pattern=pattern)))
            if length is not None:
                errors.append(length)  # Coral: the pattern, then the length

        return check


def _range_check(shape: dict[str, Any]) -> ConstraintCheck:
    low, high = shape.get("min"), shape.get("max")

    def check(value: Any, path: Location, errors: list[str]) -> None:
        if low is not None and value < low:
            errors.append(_violation(value, path, messages.MIN_VALUE.format(n=low)))
        elif high is not None and value > high:
            errors.append(_violation(value, path, messages.MAX_VALUE.format(n=high)))

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
        bounds.append(messages.MAX_LENGTH.format(n=value_shape["max"]))
    if "min" in value_shape:
        bounds.append(messages.MIN_LENGTH.format(n=value_shape["min"]))
    errors.append(_violation(value, path, messages.MAP_VALUE.format(rules=", ".join(bounds))))
    return True


@cache
def _pattern(pattern: str) -> re.Pattern[str] | None:
    """The model's pattern as a Python regex; None for the few Java-only ones
    (``\\p{…}`` classes), which are then not checked rather than failing the request."""
    try:
        return re.compile(pattern)
    except re.error:
        return None
