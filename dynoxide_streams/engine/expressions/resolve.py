"""Syntax tree → AST: placeholder resolution and every semantic check.

A grammatical expression can still be invalid in many ways at once; DynamoDB reports
one, chosen by category in a fixed order (reproduced from dynalite, which was checked
against DynamoDB). Each check records the first message of its category and
:meth:`_Errors.raise_first` raises the winner, prefixed ``Invalid <Kind>Expression: ``.

Condition categories, highest first::

    parens            The expression has redundant parentheses;
    unknown_function  Invalid function name; function: f
    misused_function  The function is not allowed to be used this way in an expression; …
    reserved          Attribute name is a reserved keyword; reserved keyword: w
    condition         the first *leaf* condition (in source order) with a problem, and
                      within it: undefined placeholder > operand count > identical
                      operands > operand type/value

Update categories: reserved, unknown_function, section (a clause used twice),
undefined ``#name``, undefined ``:value``, overlapping paths, conflicting paths, ADD/DELETE
operand type, then function operand problems. Projection: reserved, undefined
``#name``, overlapping paths, conflicting paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import dynoxide_streams.engine.messages as messages
from dynoxide_streams.engine.expressions.ast import (
    AddAction,
    And,
    Arithmetic,
    AttributeExists,
    AttributeNotExists,
    AttributeType,
    BeginsWith,
    Between,
    Comparison,
    Condition,
    Contains,
    DeleteAction,
    IfNotExists,
    In,
    ListAppend,
    Not,
    Operand,
    Or,
    Path,
    PathOperand,
    RemoveAction,
    SetAction,
    SetValue,
    SizeOperand,
    UpdateAction,
    UpdateOperand,
    UpdatePlan,
    ValueOperand,
    leaves,
    operands,
)
from dynoxide_streams.engine.expressions.paths import format_path, overlap_error
from dynoxide_streams.engine.expressions.reserved import is_reserved
from dynoxide_streams.engine.expressions.substitutions import Substitutions
from dynoxide_streams.engine.expressions.syntax import (
    NameRef,
    SAction,
    SCall,
    SCondition,
    SFunction,
    SLeaf,
    SOperand,
    SPath,
    SRemove,
    SSet,
    SUpdate,
    SValue,
)
from dynoxide_streams.engine.values import AttributeValue, compare, value_type
from dynoxide_streams.errors import ValidationException

MAX_IN_OPERANDS = 100

CONDITION_FUNCTIONS = {
    "attribute_exists": 1,
    "attribute_not_exists": 1,
    "attribute_type": 2,
    "begins_with": 2,
    "contains": 2,
    "size": 1,
}
UPDATE_FUNCTIONS = {"if_not_exists": 2, "list_append": 2}
ATTRIBUTE_TYPES = frozenset({"S", "N", "B", "NULL", "SS", "BOOL", "L", "BS", "NS", "M"})
_ORDERED_TYPES = frozenset({"S", "N", "B"})
_ORDERING_OPERATORS = frozenset({"<", "<=", ">", ">="})
_UPDATE_OPERAND_TYPE_NAMES = {
    "S": "STRING",
    "N": "NUMBER",
    "B": "BINARY",
    "NULL": "NULL",
    "BOOL": "BOOLEAN",
    "L": "LIST",
    "M": "MAP",
}

_UNDEFINED: AttributeValue = {"NULL": True}
"""Stands in for an undefined ``:value`` (an error is always raised when it is used)."""
_PLACEHOLDER_OPERAND = ValueOperand(_UNDEFINED)
_PLACEHOLDER_CONDITION: Condition = And(())


class _Errors:
    """The first message of each category; the highest category is raised."""

    def __init__(self, kind: str, order: tuple[str, ...]) -> None:
        self.kind = kind
        self.order = order
        self.first: dict[str, str] = {}

    def add(self, category: str, message: str) -> None:
        self.first.setdefault(category, message)

    def __contains__(self, category: str) -> bool:
        return category in self.first

    def raise_first(self) -> None:
        for category in self.order:
            if category in self.first:
                raise ValidationException(
                    messages.EXPRESSION_INVALID.format(kind=self.kind, message=self.first[category])
                )


# ------------------------------------------------------------------- messages


def _operand_count(name: str, count: int) -> str:
    return messages.OPERAND_COUNT.format(name=name, count=count)


def _operand_type(name: str, type_name: str) -> str:
    return messages.OPERAND_TYPE.format(name=name, type=type_name)


def _requires_path(name: str) -> str:
    return messages.REQUIRES_PATH.format(name=name)


def _misused(name: str) -> str:
    return messages.FUNCTION_MISUSED.format(name=name)


def _render(value: AttributeValue) -> str:
    kind = value_type(value)
    return f"{{{kind}:{value[kind]}}}"


# --------------------------------------------------------------- shared pieces


def _check_reserved(paths: Iterator[SPath], errors: _Errors) -> None:
    for path in paths:
        for element in path.elements:
            if isinstance(element, str) and is_reserved(element):
                errors.add("reserved", messages.RESERVED_KEYWORD.format(word=element))
                return


def _resolve_path(path: SPath, subs: Substitutions, undefined: Callable[[str], None]) -> Path:
    resolved: list[str | int] = []
    for element in path.elements:
        if isinstance(element, NameRef):
            name = subs.name(element.text)
            if name is None:
                undefined(messages.NAME_UNDEFINED.format(name=element.text))
                name = element.text
            resolved.append(name)
        else:
            resolved.append(element)
    return tuple(resolved)


def _resolve_value(
    value: SValue, subs: Substitutions, undefined: Callable[[str], None]
) -> AttributeValue:
    found = subs.value(value.name)
    if found is None:
        undefined(messages.VALUE_UNDEFINED.format(name=value.name))
        return _UNDEFINED
    return found


def _immediate_type(operand: Operand | UpdateOperand) -> str | None:
    """The type of a constant operand; None for paths, functions and undefined values."""
    if isinstance(operand, ValueOperand) and operand.value is not _UNDEFINED:
        return value_type(operand.value)
    return None


def _static_type(operand: Operand) -> str | None:
    """The type an operand is known to have before evaluation (``size()`` is a number)."""
    if isinstance(operand, SizeOperand):
        return "N"
    return _immediate_type(operand)


def _operand_paths(operand: SOperand) -> Iterator[SPath]:
    if isinstance(operand, SPath):
        yield operand
    elif isinstance(operand, SCall):
        for arg in operand.args:
            yield from _operand_paths(arg)


def _calls_post_order(operand: SOperand) -> Iterator[SCall]:
    if isinstance(operand, SCall):
        for arg in operand.args:
            yield from _calls_post_order(arg)
        yield operand


# ------------------------------------------------------------------ conditions

_CONDITION_ORDER = ("parens", "unknown_function", "misused_function", "reserved", "condition")
_LEAF_ORDER = ("undefined", "operand", "distinct", "function")


def _leaf_operands(leaf: SCondition) -> tuple[SOperand, ...]:
    """The operands written in a leaf condition (a function condition has one: its call)."""
    if isinstance(leaf, SFunction):
        return (leaf.call,)
    if isinstance(leaf, Comparison | Between | In):
        return operands(leaf)
    return ()


def _check_condition_calls(node: SCondition, errors: _Errors) -> None:
    """Unknown function names and functions used where they cannot be (post-order)."""

    def call(op: SOperand) -> None:
        if not isinstance(op, SCall):
            return
        for arg in op.args:
            call(arg)
        for arg in op.args:
            if isinstance(arg, SCall) and arg.name != "size":
                errors.add("misused_function", _misused(arg.name))
        if op.name not in CONDITION_FUNCTIONS:
            errors.add("unknown_function", messages.UNKNOWN_FUNCTION.format(name=op.name))

    def as_condition(item: SCondition) -> None:
        if isinstance(item, SFunction) and item.call.name == "size":
            errors.add("misused_function", _misused("size"))

    def walk(item: SCondition) -> None:
        if isinstance(item, And | Or):
            for child in item.items:
                walk(child)
            for child in item.items:
                as_condition(child)
        elif isinstance(item, Not):
            walk(item.item)
            as_condition(item.item)
        elif isinstance(item, SFunction):
            call(item.call)
        else:
            written = operands(item)
            for op in written:
                call(op)
            for op in written:
                if isinstance(op, SCall) and op.name != "size":
                    errors.add("misused_function", _misused(op.name))

    walk(node)
    as_condition(node)


class _Leaf:
    """The first problem of each kind found in one leaf condition."""

    __slots__ = ("first",)

    def __init__(self) -> None:
        self.first: dict[str, str] = {}

    def add(self, category: str, message: str) -> None:
        self.first.setdefault(category, message)

    def undefined(self, message: str) -> None:
        self.add("undefined", message)

    def winner(self) -> str | None:
        for category in _LEAF_ORDER:
            if category in self.first:
                return self.first[category]
        return None


@dataclass(slots=True)
class _Resolver:
    """What resolving one expression works with: its substitutions, and the errors
    found so far."""

    subs: Substitutions
    errors: _Errors


class _ConditionResolver(_Resolver):
    def condition(self, node: SCondition) -> Condition:
        if isinstance(node, And):
            return And(tuple(self.condition(item) for item in node.items))
        if isinstance(node, Or):
            return Or(tuple(self.condition(item) for item in node.items))
        if isinstance(node, Not):
            return Not(self.condition(node.item))
        leaf = _Leaf()
        result = self.leaf(node, leaf)
        message = leaf.winner()
        if message is not None:
            self.errors.add("condition", message)
        return result

    def leaf(self, node: SLeaf, leaf: _Leaf) -> Condition:
        if isinstance(node, Comparison):
            left = self.operand(node.left, leaf)
            right = self.operand(node.right, leaf)
            self.check_distinct(node.op, left, right, leaf)
            if node.op in _ORDERING_OPERATORS:
                self.check_ordered(node.op, (left, right), leaf)
            return Comparison(node.op, left, right)
        if isinstance(node, Between):
            operand = self.operand(node.operand, leaf)
            low = self.operand(node.low, leaf)
            high = self.operand(node.high, leaf)
            self.check_ordered("BETWEEN", (operand, low, high), leaf)
            self.check_bounds(low, high, leaf)
            return Between(operand, low, high)
        if isinstance(node, In):
            operand = self.operand(node.operand, leaf)
            choices = tuple(self.operand(choice, leaf) for choice in node.choices)
            if len(choices) > MAX_IN_OPERANDS:
                leaf.add("function", messages.IN_TOO_MANY.format(count=len(choices)))
            return In(operand, choices)
        return self.function(node.call, leaf)

    def operand(self, node: SOperand, leaf: _Leaf) -> Operand:
        if isinstance(node, SPath):
            return PathOperand(_resolve_path(node, self.subs, leaf.undefined))
        if isinstance(node, SValue):
            return ValueOperand(_resolve_value(node, self.subs, leaf.undefined))
        args = [self.operand(arg, leaf) for arg in node.args]
        if node.name != "size":
            return _PLACEHOLDER_OPERAND  # misused or unknown: reported by _check_condition_calls
        if len(args) != 1:
            leaf.add("operand", _operand_count("size", len(args)))
            return _PLACEHOLDER_OPERAND
        arg_type = _static_type(args[0])
        if arg_type in ("N", "BOOL", "NULL"):
            leaf.add("function", _operand_type("size", arg_type))
        return SizeOperand(args[0])

    def function(self, call: SCall, leaf: _Leaf) -> Condition:
        name = call.name
        args = [self.operand(arg, leaf) for arg in call.args]
        expected = CONDITION_FUNCTIONS.get(name)
        if expected is None or name == "size":
            return _PLACEHOLDER_CONDITION  # unknown or misused: reported elsewhere
        if len(args) != expected:
            leaf.add("operand", _operand_count(name, len(args)))
            return _PLACEHOLDER_CONDITION
        if expected == 2:
            self.check_distinct(name, args[0], args[1], leaf)
        if name in ("attribute_exists", "attribute_not_exists"):
            target = args[0]
            if not isinstance(target, PathOperand):
                leaf.add("function", _requires_path(name))
                return _PLACEHOLDER_CONDITION
            if name == "attribute_exists":
                return AttributeExists(target.path)
            return AttributeNotExists(target.path)
        if name == "attribute_type":
            type_arg = args[1]
            if not isinstance(type_arg, ValueOperand) or _static_type(type_arg) != "S":
                shown = _static_type(type_arg) or "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}"
                leaf.add("function", _operand_type(name, shown))
                return _PLACEHOLDER_CONDITION
            type_name: str = type_arg.value["S"]
            if type_name not in ATTRIBUTE_TYPES:
                leaf.add("function", messages.BAD_TYPE_NAME.format(name=type_name))
                return _PLACEHOLDER_CONDITION
            return AttributeType(args[0], type_name)
        if name == "begins_with":
            for arg in args:
                arg_type = _static_type(arg)
                if arg_type is not None and arg_type not in ("S", "B"):
                    leaf.add("function", _operand_type(name, arg_type))
                    break
            return BeginsWith(args[0], args[1])
        return Contains(args[0], args[1])

    @staticmethod
    def check_distinct(name: str, first: Operand, second: Operand, leaf: _Leaf) -> None:
        if (
            isinstance(first, PathOperand)
            and isinstance(second, PathOperand)
            and first.path == second.path
        ):
            leaf.add(
                "distinct",
                messages.OPERANDS_NOT_DISTINCT.format(name=name, path=format_path(first.path)),
            )

    @staticmethod
    def check_ordered(name: str, operands: tuple[Operand, ...], leaf: _Leaf) -> None:
        """Ordering comparisons need operands of an ordered type (S, N or B)."""
        for operand in operands:
            found = _static_type(operand)
            if found is not None and found not in _ORDERED_TYPES:
                leaf.add("function", _operand_type(name, found))
                return

    @staticmethod
    def check_bounds(low: Operand, high: Operand, leaf: _Leaf) -> None:
        low_type, high_type = _immediate_type(low), _immediate_type(high)
        if low_type is None or high_type is None:
            return
        assert isinstance(low, ValueOperand) and isinstance(high, ValueOperand)
        bounds = {"low": _render(low.value), "high": _render(high.value)}
        if low_type != high_type:
            leaf.add("function", messages.BETWEEN_TYPES.format(**bounds))
        elif (compare(low.value, high.value) or 0) > 0:
            leaf.add("function", messages.BETWEEN_ORDER.format(**bounds))


def resolve_condition(
    tree: SCondition, redundant: bool, subs: Substitutions, kind: str
) -> Condition:
    """Check a parsed condition and resolve its placeholders."""
    errors = _Errors(kind, _CONDITION_ORDER)
    if redundant:
        errors.add("parens", messages.REDUNDANT_PARENTHESES.template)
    _check_condition_calls(tree, errors)
    _check_reserved(
        (
            path
            for leaf in leaves(tree)
            for op in _leaf_operands(leaf)
            for path in _operand_paths(op)
        ),
        errors,
    )
    condition = _ConditionResolver(subs, errors).condition(tree)
    errors.raise_first()
    return condition


# --------------------------------------------------------------------- updates

_UPDATE_ORDER = (
    "reserved",
    "unknown_function",
    "section",
    "undefined_name",
    "undefined_value",
    "overlap",
    "conflict",
    "operand",
    "function",
)


def _update_operands(tree: SUpdate) -> Iterator[SOperand | SPath]:
    """Every target path and value operand of an update, in source order."""
    for clause in tree.clauses:
        for action in clause.actions:
            yield action.path
            if isinstance(action, SSet):
                value = action.value
                if isinstance(value, Arithmetic):
                    yield value.left
                    yield value.right
                else:
                    yield value


class _UpdateResolver(_Resolver):
    def undefined_name(self, message: str) -> None:
        self.errors.add("undefined_name", message)

    def undefined_value(self, message: str) -> None:
        self.errors.add("undefined_value", message)

    def path(self, path: SPath) -> Path:
        return _resolve_path(path, self.subs, self.undefined_name)

    def value(self, value: SValue) -> AttributeValue:
        return _resolve_value(value, self.subs, self.undefined_value)

    def action(self, node: SAction) -> UpdateAction:
        path = self.path(node.path)
        if isinstance(node, SSet):
            return SetAction(path, self.set_value(node.value))
        if isinstance(node, SRemove):
            return RemoveAction(path)
        value = self.value(node.value)
        operator = node.keyword
        if value is not _UNDEFINED:
            found = value_type(value)
            if found in _UPDATE_OPERAND_TYPE_NAMES and not (operator == "ADD" and found == "N"):
                self.errors.add(
                    "operand",
                    messages.UPDATE_OPERAND_TYPE.format(
                        operator=operator, type=_UPDATE_OPERAND_TYPE_NAMES[found]
                    ),
                )
        if operator == "ADD":
            return AddAction(path, value)
        return DeleteAction(path, value)

    def set_value(self, node: SOperand | Arithmetic[SOperand]) -> SetValue:
        if not isinstance(node, Arithmetic):
            return self.operand(node)
        left = self.operand(node.left)
        right = self.operand(node.right)
        for operand in (left, right):
            found = _immediate_type(operand)
            if found is not None and found != "N":
                self.errors.add("function", _operand_type(node.op, found))
                break
        return Arithmetic(node.op, left, right)

    def operand(self, node: SOperand) -> UpdateOperand:
        if isinstance(node, SPath):
            return PathOperand(self.path(node))
        if isinstance(node, SValue):
            return ValueOperand(self.value(node))
        args = [self.operand(arg) for arg in node.args]
        if node.name not in UPDATE_FUNCTIONS:
            return _PLACEHOLDER_OPERAND  # reported as an unknown function
        if len(args) != UPDATE_FUNCTIONS[node.name]:
            self.errors.add("function", _operand_count(node.name, len(args)))
            return _PLACEHOLDER_OPERAND
        if node.name == "if_not_exists":
            target = args[0]
            if not isinstance(target, PathOperand):
                self.errors.add("function", _requires_path(node.name))
                return _PLACEHOLDER_OPERAND
            return IfNotExists(target.path, args[1])
        for arg in args:
            found = _immediate_type(arg)
            if found is not None and found != "L":
                self.errors.add("function", _operand_type(node.name, found))
                break
        return ListAppend(args[0], args[1])


def resolve_update(tree: SUpdate, subs: Substitutions) -> UpdatePlan:
    """Check a parsed update expression and resolve its placeholders."""
    errors = _Errors("UpdateExpression", _UPDATE_ORDER)
    operands = list(_update_operands(tree))
    _check_reserved((path for op in operands for path in _operand_paths(op)), errors)
    for op in operands:
        for call in _calls_post_order(op):
            if call.name not in UPDATE_FUNCTIONS:
                errors.add("unknown_function", messages.UNKNOWN_FUNCTION.format(name=call.name))
    seen: set[str] = set()
    for clause in tree.clauses:
        if clause.keyword in seen:
            errors.add("section", messages.SECTION_TWICE.format(keyword=clause.keyword))
        seen.add(clause.keyword)
    resolver = _UpdateResolver(subs, errors)
    actions = tuple(resolver.action(a) for clause in tree.clauses for a in clause.actions)
    if "undefined_name" not in errors:
        found = overlap_error([action.path for action in actions])
        if found is not None:
            errors.add(*found)
    errors.raise_first()
    return UpdatePlan(actions)


# ----------------------------------------------------------------- projections

_PROJECTION_ORDER = ("reserved", "undefined_name", "overlap", "conflict")


def resolve_projection(tree: tuple[SPath, ...], subs: Substitutions) -> list[Path]:
    """Check a parsed projection expression and resolve its placeholders."""
    errors = _Errors("ProjectionExpression", _PROJECTION_ORDER)
    _check_reserved(iter(tree), errors)

    def undefined(message: str) -> None:
        errors.add("undefined_name", message)

    paths = [_resolve_path(path, subs, undefined) for path in tree]
    if "undefined_name" not in errors:
        found = overlap_error(paths)
        if found is not None:
            errors.add(*found)
    errors.raise_first()
    return paths
