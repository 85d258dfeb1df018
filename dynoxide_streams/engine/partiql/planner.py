"""PartiQL statement tree → the engine's own building blocks.

Pure code. WHERE becomes an expression-AST condition (``engine/expressions/ast.py``),
evaluated by the one expression evaluator; SET/REMOVE become an expression
:class:`UpdatePlan`; a SELECT becomes a key plan (the partition-key values a Query
reads, the sort-key range that narrows it, or a Scan). The caller (``operations``)
turns these into the existing write plans and reads.

Binding: ``params`` are the request's validated ``Parameters``, one per ``?`` in
statement order.
"""

from __future__ import annotations

from dataclasses import dataclass

from dynoxide_streams.engine import messages
from dynoxide_streams.engine.expressions import ast as X
from dynoxide_streams.engine.expressions.paths import lookup, overlap_error
from dynoxide_streams.engine.partiql import ast as A
from dynoxide_streams.engine.tables import KeyAttribute
from dynoxide_streams.engine.values import (
    ALL_TYPES,
    AttributeValue,
    Item,
    compare,
    encode_key,
    validate_value,
    value_type,
    values_equal,
)
from dynoxide_streams.errors import ValidationException

Params = list[AttributeValue]

_SET_TYPES = {"S": "SS", "N": "NS"}


def _unsupported(what: str) -> ValidationException:
    return ValidationException(messages.PARTIQL_UNSUPPORTED.format(what=what))


def _arguments(call: A.Call, count: int) -> tuple[A.Value, ...]:
    """The ``count`` arguments of ``call``; ValidationException (AWS's operand-count
    message) when it has another number of them."""
    if len(call.args) != count:
        raise ValidationException(
            messages.OPERAND_COUNT.format(name=call.name, count=len(call.args))
        )
    return call.args


# ------------------------------------------------------------------------ values


def bind(value: A.Value, params: Params) -> AttributeValue:
    """The AttributeValue a literal, ``?`` or document literal stands for (validated and
    normalised as a request value is)."""
    return validate_value(_bind(value, params))


def _bind(value: A.Value, params: Params) -> AttributeValue:
    if isinstance(value, A.Literal):
        return value.value
    if isinstance(value, A.Param):
        return params[value.index]
    if isinstance(value, A.ListLit):
        return {"L": [_bind(v, params) for v in value.items]}
    if isinstance(value, A.MapLit):
        seen: set[str] = set()
        for key, _ in value.pairs:
            if key in seen:
                raise ValidationException(messages.PARTIQL_DUPLICATE_TUPLE_KEY.format(key=key))
            seen.add(key)
        return {"M": {key: _bind(v, params) for key, v in value.pairs}}
    if isinstance(value, A.SetLit):
        if not value.items:
            raise ValidationException(messages.PARTIQL_EMPTY_BAG.format())
        kinds = {value_type(item.value) for item in value.items}
        if len(kinds) != 1 or next(iter(kinds)) not in _SET_TYPES:
            raise ValidationException(messages.PARTIQL_BAG_TYPE.format())
        kind = next(iter(kinds))
        members: list[str] = []
        for item in value.items:
            text = str(item.value[kind])
            if text not in members:
                members.append(text)
        return {_SET_TYPES[kind]: members}
    if isinstance(value, A.PathRef):
        raise _unsupported("a document path where a value is expected")
    if isinstance(value, A.Call):
        raise _unsupported(f"function {value.name} where a value is expected")
    raise _unsupported("arithmetic where a value is expected")


def _is_constant(value: A.Value) -> bool:
    return isinstance(value, A.Literal | A.Param | A.ListLit | A.MapLit | A.SetLit)


# -------------------------------------------------------------------- conditions


def _plain_operand(
    value: A.Value, params: Params, arithmetic: str
) -> X.PathOperand | X.ValueOperand:
    """A path or a constant (parameters bound) as an expression operand. Calls are the
    caller's business (conditions and updates allow different functions); arithmetic
    is refused as ``arithmetic`` (where it stands) says."""
    if isinstance(value, A.PathRef):
        return X.PathOperand(value.path)
    if _is_constant(value):
        return X.ValueOperand(bind(value, params))
    raise _unsupported(arithmetic)


def _unknown_function(call: A.Call) -> ValidationException:
    return ValidationException(messages.PARTIQL_UNKNOWN_FUNCTION.format(name=call.name))


def _operand(value: A.Value, params: Params) -> X.Operand:
    if isinstance(value, A.Call):
        if value.name != "size":
            if value.name in _CONDITION_FUNCTIONS:
                raise _unsupported(f"{value.name} used as a value")
            raise _unknown_function(value)
        (sized,) = _arguments(value, 1)
        return X.SizeOperand(_operand(sized, params))
    return _plain_operand(value, params, "arithmetic in a condition")


def _path(value: A.Value, function: str) -> X.Path:
    if not isinstance(value, A.PathRef):
        raise ValidationException(messages.REQUIRES_PATH.format(name=function))
    return value.path


def _function(call: A.Call, params: Params) -> X.Condition:
    name = call.name
    if name not in _CONDITION_FUNCTIONS:
        if name in ("size", "list_append", "set_add", "set_delete", "if_not_exists"):
            raise _unsupported(f"{name} used as a condition")
        raise _unknown_function(call)
    args = _arguments(call, _CONDITION_FUNCTIONS[name])
    if name in ("exists", "attribute_exists"):
        return X.AttributeExists(_path(args[0], name))
    if name in ("missing", "attribute_not_exists"):
        return X.AttributeNotExists(_path(args[0], name))
    if name == "begins_with":
        return X.BeginsWith(_operand(args[0], params), _operand(args[1], params))
    if name == "contains":
        return X.Contains(_operand(args[0], params), _operand(args[1], params))
    type_value = _operand(args[1], params)
    type_name = type_value.value.get("S") if isinstance(type_value, X.ValueOperand) else None
    if not isinstance(type_name, str) or type_name not in ALL_TYPES:
        shown = type_name if isinstance(type_name, str) else "not a string"
        raise ValidationException(messages.PARTIQL_TYPE_NAME.format(type=shown))
    return X.AttributeType(_operand(args[0], params), type_name)


_CONDITION_FUNCTIONS = {
    "begins_with": 2,
    "contains": 2,
    "attribute_type": 2,
    "exists": 1,
    "missing": 1,
    "attribute_exists": 1,
    "attribute_not_exists": 1,
}


def condition(cond: A.Cond, params: Params) -> X.Condition:
    """The expression-AST condition a WHERE clause means.

    ``x IS MISSING`` is ``attribute_not_exists(x)``; ``x IS NULL`` holds when ``x`` is
    NULL or MISSING (PartiQL's rule: MISSING IS NULL is true), ``IS NOT NULL`` when it
    is present and not NULL.
    """
    if isinstance(cond, A.And):
        return X.And(tuple(condition(c, params) for c in cond.items))
    if isinstance(cond, A.Or):
        return X.Or(tuple(condition(c, params) for c in cond.items))
    if isinstance(cond, A.Not):
        return X.Not(condition(cond.item, params))
    if isinstance(cond, A.Comparison):
        return X.Comparison(cond.op, _operand(cond.left, params), _operand(cond.right, params))
    if isinstance(cond, A.Between):
        return X.Between(
            _operand(cond.operand, params), _operand(cond.low, params), _operand(cond.high, params)
        )
    if isinstance(cond, A.In):
        if len(cond.choices) > 100:
            raise ValidationException(messages.PARTIQL_IN_TOO_MANY.format())
        return X.In(
            _operand(cond.operand, params), tuple(_operand(c, params) for c in cond.choices)
        )
    if isinstance(cond, A.IsTest):
        if cond.what == "MISSING":
            path = _path(cond.operand, "IS MISSING")
            return X.AttributeExists(path) if cond.negated else X.AttributeNotExists(path)
        operand = _operand(cond.operand, params)
        is_null = X.AttributeType(operand, "NULL")
        if isinstance(operand, X.PathOperand):
            if cond.negated:
                return X.And((X.AttributeExists(operand.path), X.Not(is_null)))
            return X.Or((X.AttributeNotExists(operand.path), is_null))
        return X.Not(is_null) if cond.negated else is_null
    return _function(cond.call, params)


def conjuncts(cond: X.Condition) -> tuple[X.Condition, ...]:
    """The top-level AND terms of a condition (the condition itself if it is no AND)."""
    return cond.items if isinstance(cond, X.And) else (cond,)


def _equality(term: X.Condition, name: str) -> AttributeValue | None:
    """The value of ``name = v`` (either way round), else None."""
    if not isinstance(term, X.Comparison) or term.op != "=":
        return None
    left, right = term.left, term.right
    if isinstance(right, X.PathOperand):
        left, right = right, left
    if left == X.PathOperand((name,)) and isinstance(right, X.ValueOperand):
        return right.value
    return None


# ------------------------------------------------------------------------ SELECT


@dataclass(frozen=True)
class ReadPlan:
    """How a SELECT reads: ``hash_values`` None means a Scan, else one Query per value
    (in this order), narrowed by ``range_term``; ``condition`` (the whole WHERE, if
    any) filters every item read."""

    condition: X.Condition | None
    hash_values: tuple[AttributeValue, ...] | None
    range_term: X.KeyTerm | None
    forward: bool


def _hash_values(terms: tuple[X.Condition, ...], key: KeyAttribute) -> list[AttributeValue] | None:
    for term in terms:
        value = _equality(term, key.name)
        if value is not None:
            return [value]
        if (
            isinstance(term, X.In)
            and term.operand == X.PathOperand((key.name,))
            and all(isinstance(c, X.ValueOperand) for c in term.choices)
        ):
            return [c.value for c in term.choices if isinstance(c, X.ValueOperand)]
        if isinstance(term, X.Or):
            values = [_equality(item, key.name) for item in term.items]
            if all(v is not None for v in values):
                return [v for v in values if v is not None]
    return None


_FLIP = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _range_term(terms: tuple[X.Condition, ...], key: KeyAttribute) -> X.KeyTerm | None:
    path = X.PathOperand((key.name,))

    def typed(*operands: X.Operand) -> tuple[AttributeValue, ...] | None:
        values = []
        for operand in operands:
            if not isinstance(operand, X.ValueOperand) or value_type(operand.value) != key.type:
                return None
            values.append(operand.value)
        return tuple(values)

    for term in terms:
        if isinstance(term, X.Comparison) and term.op in _FLIP:
            op, left, right = term.op, term.left, term.right
            if right == path:
                op, left, right = _FLIP[op], right, left
            values = typed(right)
            if left == path and values is not None:
                return X.KeyTerm(key.name, op, values)
        elif isinstance(term, X.Between) and term.operand == path:
            values = typed(term.low, term.high)
            if values is not None and (compare(values[0], values[1]) or 0) <= 0:
                return X.KeyTerm(key.name, "BETWEEN", values)
        elif isinstance(term, X.BeginsWith) and term.operand == path and key.type != "N":
            values = typed(term.prefix)
            if values is not None:
                return X.KeyTerm(key.name, "begins_with", values)
    return None


def read_plan(
    stmt: A.Select, params: Params, hash_key: KeyAttribute, range_key: KeyAttribute | None
) -> ReadPlan:
    """The key plan of a SELECT on a table or index with these key attributes.

    A Query when the WHERE pins the partition key at top level (``=``, ``IN``, or an OR
    of equalities), else a Scan. ORDER BY may name only key attributes and needs the
    partition key pinned; ``DESC`` on the sort key reads backwards, on the partition
    key it orders the values read.
    """
    cond = condition(stmt.where, params) if stmt.where is not None else None
    terms = conjuncts(cond) if cond is not None else ()
    raw = _hash_values(terms, hash_key)
    hash_values: list[AttributeValue] | None = None
    if raw is not None:
        hash_values, seen = [], set()
        for value in raw:
            if value_type(value) != hash_key.type:
                continue  # no item can match a value of another type
            encoded = encode_key(value)
            if encoded not in seen:
                seen.add(encoded)
                hash_values.append(value)
    range_term = None
    if hash_values is not None and range_key is not None:
        range_term = _range_term(terms, range_key)
    forward = True
    keys = {hash_key.name} | ({range_key.name} if range_key is not None else set())
    for name, desc in stmt.order_by:
        if name not in keys:
            raise ValidationException(messages.PARTIQL_ORDER_NOT_KEY.format(name=name))
        if hash_values is None:
            raise ValidationException(messages.PARTIQL_ORDER_WITHOUT_HASH.format())
        if name == hash_key.name:
            hash_values.sort(key=encode_key, reverse=desc)
        else:
            forward = not desc
    return ReadPlan(
        cond, tuple(hash_values) if hash_values is not None else None, range_term, forward
    )


def projected_name(path: A.Path) -> str:
    """The name a projected path comes back under: its last name step, with the index
    steps after it (``SELECT m.k[1]`` answers ``k[1]``)."""
    last = max(i for i, step in enumerate(path) if isinstance(step, str))
    return str(path[last]) + "".join(f"[{step}]" for step in path[last + 1 :])


def check_projection(paths: tuple[A.Path, ...]) -> None:
    """Refuse two projected paths that come back under one name."""
    seen: set[str] = set()
    for path in paths:
        name = projected_name(path)
        if name in seen:
            raise ValidationException(messages.PARTIQL_DUPLICATE_PROJECTION.format(name=name))
        seen.add(name)


def project(item: Item, paths: tuple[A.Path, ...] | None) -> Item:
    """The projected item: each present path under its :func:`projected_name`."""
    if paths is None:
        return item
    result: Item = {}
    for path in paths:
        value = lookup(item, path)
        if value is not None:
            result[projected_name(path)] = value
    return result


def only_key_equalities(cond: X.Condition | None, key: Item) -> bool:
    """Whether every top-level term of ``cond`` is ``name = value`` with ``name`` and
    ``value`` one of ``key``'s (the item read by that key needs no further test)."""
    if cond is None:
        return False
    for term in conjuncts(cond):
        if not any(
            (value := _equality(term, name)) is not None and values_equal(value, wanted)
            for name, wanted in key.items()
        ):
            return False
    return True


# ------------------------------------------------------------------------ writes


def key_of_where(cond: X.Condition, key_names: tuple[str, ...]) -> Item:
    """The primary key a write's WHERE pins with top-level equalities.

    Raises ValidationException when a key attribute has no such equality (a write
    never touches more than one item)."""
    key: Item = {}
    terms = conjuncts(cond)
    for name in key_names:
        values = [v for v in (_equality(t, name) for t in terms) if v is not None]
        if not values:
            raise ValidationException(messages.PARTIQL_KEY_EQUALITY.format())
        if len(values) > 1:
            raise ValidationException(messages.PARTIQL_SAME_KEY_TWICE.format(name=name))
        key[name] = values[0]
    return key


def _update_operand(value: A.Value, params: Params) -> X.UpdateOperand:
    if isinstance(value, A.Call):
        if value.name == "list_append":
            first, second = _arguments(value, 2)
            return X.ListAppend(_update_operand(first, params), _update_operand(second, params))
        if value.name == "if_not_exists":
            path, default = _arguments(value, 2)
            return X.IfNotExists(_path(path, "if_not_exists"), _update_operand(default, params))
        raise _unknown_function(value)
    return _plain_operand(value, params, "nested arithmetic in SET")


def _set_action(item: A.SetItem, params: Params) -> X.UpdateAction:
    value = item.value
    if isinstance(value, A.Call) and value.name in ("set_add", "set_delete"):
        target, change = _arguments(value, 2)
        if not isinstance(target, A.PathRef) or target.path != item.path:
            raise _unsupported(f"{value.name} must apply to the attribute it sets")
        bound = bind(change, params)
        if value_type(bound) not in ("SS", "NS", "BS"):
            raise ValidationException(
                messages.OPERAND_TYPE.format(name=value.name, type=value_type(bound))
            )
        if value.name == "set_add":
            return X.AddAction(item.path, bound)
        return X.DeleteAction(item.path, bound)
    if isinstance(value, A.Arithmetic):
        return X.SetAction(
            item.path,
            X.Arithmetic(
                value.op, _update_operand(value.left, params), _update_operand(value.right, params)
            ),
        )
    return X.SetAction(item.path, _update_operand(value, params))


def update_plan(stmt: A.Update, params: Params) -> X.UpdatePlan:
    """The expression UpdatePlan of an UPDATE's SET/REMOVE actions."""
    actions = tuple(
        _set_action(a, params) if isinstance(a, A.SetItem) else X.RemoveAction(a.path)
        for a in stmt.actions
    )
    found = overlap_error([a.path for a in actions])
    if found is not None:
        raise ValidationException(messages.PARTIQL_UPDATE_PATHS.format(message=found[1]))
    return X.UpdatePlan(actions)


def insert_item(stmt: A.Insert, params: Params) -> Item:
    """The item an INSERT writes, not yet validated (``items.prepare_put`` does that)."""
    if isinstance(stmt.item, A.ListLit | A.SetLit):
        raise ValidationException(messages.PARTIQL_INSERT_NOT_ITEM.format())
    value = _bind(stmt.item, params)  # validated once, by the put it becomes
    if "M" not in value:
        raise ValidationException(messages.PARTIQL_INSERT_NOT_ITEM.format())
    item: Item = value["M"]
    return item


def delete_condition(cond: X.Condition, hash_name: str) -> X.Condition:
    """A DELETE's condition: the whole WHERE, or no item at all (a DELETE of a missing
    key succeeds and changes nothing)."""
    return X.Or((X.AttributeNotExists((hash_name,)), cond))
