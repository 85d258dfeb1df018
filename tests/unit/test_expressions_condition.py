"""Expressions: ConditionExpression / FilterExpression parsing, errors and evaluation."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynoxide_streams.engine.expressions import (
    Substitutions,
    condition_paths,
    evaluate,
    parse_condition,
    references,
)
from dynoxide_streams.engine.expressions.ast import (
    And,
    Comparison,
    Not,
    Or,
    PathOperand,
    SizeOperand,
    ValueOperand,
)
from dynoxide_streams.errors import ValidationException


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


ITEM: dict[str, Any] = {
    "pk": {"S": "p"},
    "n": {"N": "10"},
    "neg": {"N": "-2.5"},
    "s": {"S": "banana"},
    "b": {"B": b64(b"\x01\x02\x03")},
    "flag": {"BOOL": True},
    "nothing": {"NULL": True},
    "tags": {"SS": ["red", "green"]},
    "nums": {"NS": ["1", "5"]},
    "bins": {"BS": [b64(b"\x01"), b64(b"\x02")]},
    "letters": {"L": [{"S": "a"}, {"S": "b"}, {"N": "3"}]},
    "info": {
        "M": {
            "nested": {"M": {"deep": {"S": "x"}}},
            "arr": {"L": [{"M": {"v": {"N": "1"}}}, {"M": {"v": {"N": "2"}}}]},
        }
    },
    "dotted.name": {"S": "yes"},
    "unicode": {"S": "é𝄞"},
    "emoji": {"S": "\U0001f600"},
    "blank": {"S": ""},
}

VALUES: dict[str, Any] = {
    ":n9": {"N": "9"},
    ":n10": {"N": "10"},
    ":n10f": {"N": "10.0"},
    ":n11": {"N": "11"},
    ":n100": {"N": "100"},
    ":n1": {"N": "1"},
    ":n2": {"N": "2"},
    ":n3": {"N": "3"},
    ":n5": {"N": "5"},
    ":n6": {"N": "6"},
    ":n0": {"N": "0"},
    ":apple": {"S": "apple"},
    ":banana": {"S": "banana"},
    ":ban": {"S": "ban"},
    ":nan": {"S": "nan"},
    ":lower": {"S": "banana_"},
    ":bmp": {"S": "\ufffd"},
    ":red": {"S": "red"},
    ":blue": {"S": "blue"},
    ":a": {"S": "a"},
    ":x": {"S": "x"},
    ":yes": {"S": "yes"},
    ":b12": {"B": b64(b"\x01\x02")},
    ":b23": {"B": b64(b"\x02\x03")},
    ":b2": {"B": b64(b"\x02")},
    ":b9": {"B": b64(b"\x09")},
    ":true": {"BOOL": True},
    ":false": {"BOOL": False},
    ":null": {"NULL": True},
    ":tS": {"S": "S"},
    ":tN": {"S": "N"},
    ":tSS": {"S": "SS"},
    ":tNULL": {"S": "NULL"},
    ":tM": {"S": "M"},
    ":tL": {"S": "L"},
    ":tB": {"S": "B"},
    ":tBOOL": {"S": "BOOL"},
    ":l3": {"L": [{"S": "a"}, {"S": "b"}, {"N": "3"}]},
    ":tags": {"SS": ["green", "red"]},
    ":m": {"M": {"deep": {"S": "x"}}},
}
NAMES = {"#d": "dotted.name", "#i": "info", "#n": "n", "#s": "s"}


def holds(text: str, item: dict[str, Any] | None = ITEM) -> bool:
    return evaluate(parse_condition(text, Substitutions(NAMES, VALUES)), item)


def error(
    text: str, values: dict[str, Any] | None = None, kind: str = "ConditionExpression"
) -> str:
    with pytest.raises(ValidationException) as info:
        parse_condition(text, Substitutions(NAMES, values or VALUES), kind)
    return info.value.message


# ----------------------------------------------------------------- the AST


def test_placeholders_are_resolved_in_the_ast() -> None:
    condition = parse_condition("#i.arr[1].v = :n2", Substitutions(NAMES, VALUES))
    assert condition == Comparison(
        "=", PathOperand(("info", "arr", 1, "v")), ValueOperand({"N": "2"})
    )


def test_dotted_name_behind_a_placeholder_is_one_attribute() -> None:
    condition = parse_condition("#d = :yes", Substitutions(NAMES, VALUES))
    assert condition == Comparison("=", PathOperand(("dotted.name",)), ValueOperand({"S": "yes"}))


def test_and_binds_tighter_than_or() -> None:
    condition = parse_condition("a = :n1 OR b = :n1 AND c = :n1", Substitutions(None, VALUES))
    assert isinstance(condition, Or)
    assert isinstance(condition.items[1], And)


def test_not_binds_tighter_than_and() -> None:
    condition = parse_condition("NOT a = :n1 AND b = :n1", Substitutions(None, VALUES))
    assert isinstance(condition, And)
    assert isinstance(condition.items[0], Not)


def test_parentheses_override_precedence() -> None:
    condition = parse_condition("(a = :n1 OR b = :n1) AND c = :n1", Substitutions(None, VALUES))
    assert isinstance(condition, And)
    assert isinstance(condition.items[0], Or)


def test_long_chains_stay_flat() -> None:
    text = " AND ".join(f"a{i} = :n1" for i in range(50))
    condition = parse_condition(text, Substitutions(None, VALUES))
    assert isinstance(condition, And) and len(condition.items) == 50


def test_size_is_an_operand() -> None:
    condition = parse_condition("size(#s) > :n1", Substitutions(NAMES, VALUES))
    assert condition == Comparison(">", SizeOperand(PathOperand(("s",))), ValueOperand({"N": "1"}))


def test_filter_expression_kind_names_itself_in_errors() -> None:
    assert error("a = :nope", kind="FilterExpression") == (
        "Invalid FilterExpression: An expression attribute value used in expression is not "
        "defined; attribute value: :nope"
    )


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="KeyCondition"):
        parse_condition("a = :n1", Substitutions(None, VALUES), "KeyConditionExpression")


# -------------------------------------------------------------- evaluation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # numbers compare by value, not as strings
        ("n > :n9", True),
        ("n < :n100", True),
        ("n = :n10f", True),
        ("n >= :n10 AND n <= :n10", True),
        ("n <> :n10", False),
        ("n < :n10", False),
        ("n > :n10", False),
        ("neg < :n0", True),
        # strings compare by UTF-8 bytes
        ("s > :apple", True),
        ("s < :lower", True),
        ("s = :banana", True),
        ("s <> :banana", False),
        ("emoji > :bmp", True),  # UTF-8 order (UTF-16 order would say the opposite)
        ("unicode < :bmp", True),
        # binaries compare by bytes
        ("b > :b12", True),
        ("b < :b23", True),
        ("b = :b12", False),
        # different types are never equal nor ordered
        ("s > :n1", False),
        ("s < :n1", False),
        ("s = :n1", False),
        ("s <> :n1", True),
        ("flag = :true", True),
        ("flag = :false", False),
        ("flag <> :false", True),
        ("nothing = :null", True),
        # missing attributes: false, except <>
        ("absent = :n1", False),
        ("absent < :n1", False),
        ("absent >= :n1", False),
        ("absent <> :n1", True),
        ("absent = absent2", False),
        # deep equality
        ("tags = :tags", True),
        ("letters = :l3", True),
        ("info.nested = :m", True),
        # value-first comparisons
        (":n9 < n", True),
        (":n11 < n", False),
    ],
)
def test_comparisons(text: str, expected: bool) -> None:
    assert holds(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n BETWEEN :n10 AND :n100", True),
        ("n BETWEEN :n1 AND :n10", True),
        ("n BETWEEN :n11 AND :n100", False),
        ("s BETWEEN :apple AND :banana", True),
        ("s BETWEEN :a AND :apple", False),
        ("s BETWEEN :n1 AND :n2", False),
        ("absent BETWEEN :n1 AND :n2", False),
        ("n BETWEEN :n1 AND absent", False),
        ("s IN (:apple, :banana)", True),
        ("s IN (:apple)", False),
        ("n IN (:n1, :n10f)", True),
        ("absent IN (:n1)", False),
        ("tags IN (:tags)", True),
        ("s IN (absent, :banana)", True),
    ],
)
def test_between_and_in(text: str, expected: bool) -> None:
    assert holds(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("attribute_exists(n)", True),
        ("attribute_exists(nothing)", True),
        ("attribute_exists(absent)", False),
        ("attribute_not_exists(absent)", True),
        ("attribute_not_exists(n)", False),
        ("attribute_exists(info.nested.deep)", True),
        ("attribute_exists(info.nested.nope)", False),
        ("attribute_exists(letters[2])", True),
        ("attribute_not_exists(letters[9])", True),
        ("attribute_exists(s[0])", False),
        ("attribute_exists(s.x)", False),
        ("attribute_type(tags, :tSS)", True),
        ("attribute_type(nothing, :tNULL)", True),
        ("attribute_type(n, :tN)", True),
        ("attribute_type(n, :tS)", False),
        ("attribute_type(info, :tM)", True),
        ("attribute_type(letters, :tL)", True),
        ("attribute_type(b, :tB)", True),
        ("attribute_type(flag, :tBOOL)", True),
        ("attribute_type(absent, :tS)", False),
        ("begins_with(s, :ban)", True),
        ("begins_with(s, :nan)", False),
        ("begins_with(s, :banana)", True),
        ("begins_with(b, :b12)", True),
        ("begins_with(b, :b23)", False),
        ("begins_with(n, :ban)", False),
        ("begins_with(absent, :ban)", False),
        ("begins_with(s, absent)", False),
        ("contains(s, :nan)", True),
        ("contains(s, :apple)", False),
        ("contains(tags, :red)", True),
        ("contains(tags, :blue)", False),
        ("contains(nums, :n5)", True),
        ("contains(nums, :n2)", False),
        ("contains(bins, :b2)", True),
        ("contains(bins, :b9)", False),
        ("contains(b, :b23)", True),
        ("contains(b, :b9)", False),
        ("contains(letters, :n3)", True),
        ("contains(letters, :a)", True),
        ("contains(letters, :x)", False),
        ("contains(tags, :n1)", False),
        ("contains(n, :n1)", False),
        ("contains(absent, :a)", False),
    ],
)
def test_functions(text: str, expected: bool) -> None:
    assert holds(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("size(s) = :n6", True),  # "banana"
        ("size(unicode) = :n3", True),  # UTF-16 code units: é is 1, 𝄞 is 2
        ("size(blank) = :n0", True),
        ("size(b) = :n3", True),
        ("size(tags) = :n2", True),
        ("size(letters) = :n3", True),
        ("size(info) = :n2", True),
        ("size(info.arr) = :n2", True),
        ("size(n) = :n2", False),  # numbers have no size
        ("size(n) <> :n2", True),
        ("size(flag) >= :n0", False),
        ("size(absent) = :n0", False),
        ("size(absent) <> :n0", True),
        ("size(s) BETWEEN :n5 AND :n6", True),
        ("size(s) > size(tags)", True),
        ("size(:banana) = :n6", True),
    ],
)
def test_size(text: str, expected: bool) -> None:
    assert holds(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("info.nested.deep = :x", True),
        ("#i.arr[1].v = :n2", True),
        ("info.arr[0].v = :n2", False),
        ("letters[0] = :a", True),
        ("letters[5] = :a", False),
        ("info[0] = :a", False),
        ("letters.x = :a", False),
        ("#d = :yes", True),
        ("#n = :n10", True),
    ],
)
def test_nested_paths(text: str, expected: bool) -> None:
    assert holds(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # true OR (true AND false)
        ("n = :n10 OR n = :n10 AND n = :n11", True),
        # (true OR true) AND false
        ("(n = :n10 OR n = :n10) AND n = :n11", False),
        # (NOT false) AND true
        ("NOT n = :n11 AND n = :n10", True),
        ("NOT (n = :n10)", False),
        ("NOT NOT n = :n10", True),
        ("n = :n11 OR s = :banana", True),
        ("n = :n11 OR s = :apple", False),
        ("n = :n10 AND s = :banana AND tags = :tags", True),
        ("n between :n1 and :n100 Or s in (:x)", True),
    ],
)
def test_boolean_logic_and_precedence(text: str, expected: bool) -> None:
    assert holds(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("attribute_not_exists(pk)", True),
        ("attribute_exists(pk)", False),
        ("pk <> :a", True),
        ("pk = :a", False),
        ("size(pk) < :n1", False),
    ],
)
def test_no_item_behaves_like_an_empty_item(text: str, expected: bool) -> None:
    assert holds(text, None) is expected


@settings(max_examples=200, deadline=None)
@given(
    st.decimals(min_value=-(10**20), max_value=10**20, places=5, allow_nan=False),
    st.decimals(min_value=-(10**20), max_value=10**20, places=5, allow_nan=False),
    st.sampled_from(["=", "<>", "<", "<=", ">", ">="]),
)
def test_number_comparison_matches_decimal(a: Decimal, b: Decimal, op: str) -> None:
    item = {"x": {"N": str(a)}}
    condition = parse_condition(f"x {op} :v", Substitutions(None, {":v": {"N": str(b)}}))
    expected = {
        "=": a == b,
        "<>": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op]
    assert evaluate(condition, item) is expected


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo(a) = :n1", "Invalid function name; function: foo"),
        ("starts_with(a, :a)", "Invalid function name; function: starts_with"),
        ("if_not_exists(a, :a)", "Invalid function name; function: if_not_exists"),
        (
            "size(a)",
            "The function is not allowed to be used this way in an expression; function: size",
        ),
        (
            "NOT size(a) AND b = :n1",
            "The function is not allowed to be used this way in an expression; function: size",
        ),
        (
            "attribute_exists(a) = :true",
            "The function is not allowed to be used this way in an expression; "
            "function: attribute_exists",
        ),
        (
            "begins_with(a, :a) = :true",
            "The function is not allowed to be used this way in an expression; "
            "function: begins_with",
        ),
        (
            "size(contains(a, :a)) > :n1",
            "The function is not allowed to be used this way in an expression; function: contains",
        ),
        (
            "attribute_exists(a, b)",
            "Incorrect number of operands for operator or function; "
            "operator or function: attribute_exists, number of operands: 2",
        ),
        (
            "contains(a)",
            "Incorrect number of operands for operator or function; "
            "operator or function: contains, number of operands: 1",
        ),
        (
            "size(a, b) > :n1",
            "Incorrect number of operands for operator or function; "
            "operator or function: size, number of operands: 2",
        ),
        (
            "attribute_exists(:a)",
            "Operator or function requires a document path; operator or function: attribute_exists",
        ),
        (
            "attribute_not_exists(size(a))",
            "Operator or function requires a document path; "
            "operator or function: attribute_not_exists",
        ),
        (
            "begins_with(a, :n1)",
            "Incorrect operand type for operator or function; "
            "operator or function: begins_with, operand type: N",
        ),
        (
            "begins_with(a, size(b))",
            "Incorrect operand type for operator or function; "
            "operator or function: begins_with, operand type: N",
        ),
        (
            "begins_with(a, :tags)",
            "Incorrect operand type for operator or function; "
            "operator or function: begins_with, operand type: SS",
        ),
        (
            "attribute_type(a, :n1)",
            "Incorrect operand type for operator or function; "
            "operator or function: attribute_type, operand type: N",
        ),
        (
            "attribute_type(a, b)",
            "Incorrect operand type for operator or function; "
            "operator or function: attribute_type, operand type: {NS,SS,L,BS,N,M,B,BOOL,NULL,S}",
        ),
        (
            "attribute_type(a, :apple)",
            "Invalid attribute type name found; type: apple, "
            "valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}",
        ),
        (
            "size(:n1) > :n1",
            "Incorrect operand type for operator or function; "
            "operator or function: size, operand type: N",
        ),
        (
            "size(:true) > :n1",
            "Incorrect operand type for operator or function; "
            "operator or function: size, operand type: BOOL",
        ),
        (
            "contains(#d, #d)",
            "The first operand must be distinct from the remaining operands for this "
            "operator or function; operator: contains, first operand: [dotted.name]",
        ),
        (
            "a.b[1] = a.b[1]",
            "The first operand must be distinct from the remaining operands for this "
            "operator or function; operator: =, first operand: [a, b, [1]]",
        ),
        (
            "a < :l3",
            "Incorrect operand type for operator or function; "
            "operator or function: <, operand type: L",
        ),
        (
            ":true >= a",
            "Incorrect operand type for operator or function; "
            "operator or function: >=, operand type: BOOL",
        ),
        (
            "a BETWEEN :null AND :null",
            "Incorrect operand type for operator or function; "
            "operator or function: BETWEEN, operand type: NULL",
        ),
        (
            "a BETWEEN :n1 AND :a",
            "The BETWEEN operator requires same data type for lower and upper bounds; "
            "lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:a}",
        ),
        (
            "a BETWEEN :n5 AND :n1",
            "The BETWEEN operator requires upper bound to be greater than or equal to lower "
            "bound; lower bound operand: AttributeValue: {N:5}, upper bound operand: "
            "AttributeValue: {N:1}",
        ),
        (
            "a BETWEEN :banana AND :apple",
            "The BETWEEN operator requires upper bound to be greater than or equal to lower "
            "bound; lower bound operand: AttributeValue: {S:banana}, upper bound operand: "
            "AttributeValue: {S:apple}",
        ),
    ],
)
def test_semantic_errors(text: str, message: str) -> None:
    assert error(text) == f"Invalid ConditionExpression: {message}"


def test_equality_with_any_type_is_fine() -> None:
    parse_condition("a = :l3 AND b <> :tags AND c = :true", Substitutions(None, VALUES))


def test_in_accepts_100_operands_and_refuses_101() -> None:
    values = {f":v{i}": {"N": str(i)} for i in range(101)}
    keys = list(values)
    parse_condition(f"a IN ({', '.join(keys[:100])})", Substitutions(None, values))
    with pytest.raises(ValidationException) as info:
        parse_condition(f"a IN ({', '.join(keys)})", Substitutions(None, values))
    assert info.value.message == (
        "Invalid ConditionExpression: The IN operator is provided with too many operands; "
        "number of operands: 101"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # function-name errors beat misuse, misuse beats reserved words...
        ("foo(a) AND size(b)", "Invalid function name; function: foo"),
        (
            "size(b) AND count = :n1",
            "The function is not allowed to be used this way in an expression; function: size",
        ),
        # ... and reserved words beat the per-condition problems
        (
            "a = :nope AND count = :n1",
            "Attribute name is a reserved keyword; reserved keyword: count",
        ),
        # within the conditions, the first one with a problem is reported...
        (
            "begins_with(a, :n1) AND b = :nope",
            "Incorrect operand type for operator or function; "
            "operator or function: begins_with, operand type: N",
        ),
        (
            "b = :nope AND begins_with(a, :n1)",
            "An expression attribute value used in expression is not defined; "
            "attribute value: :nope",
        ),
        # ... and inside one condition an undefined placeholder comes first
        (
            "begins_with(a, :n1) OR begins_with(#nope, :n1)",
            "Incorrect operand type for operator or function; "
            "operator or function: begins_with, operand type: N",
        ),
        (
            "begins_with(#nope, :n1)",
            "An expression attribute name used in the document path is not defined; "
            "attribute name: #nope",
        ),
        (
            "contains(a, a, b)",
            "Incorrect number of operands for operator or function; "
            "operator or function: contains, number of operands: 3",
        ),
        (
            "a < a",
            "The first operand must be distinct from the remaining operands for this "
            "operator or function; operator: <, first operand: [a]",
        ),
    ],
)
def test_error_priorities(text: str, message: str) -> None:
    assert error(text) == f"Invalid ConditionExpression: {message}"


# ---------------------------------------------------------- path inspection


def test_condition_paths_and_references() -> None:
    condition = parse_condition(
        "a.b = :n1 AND (size(c[0]) > :n1 OR NOT attribute_exists(#d)) AND d IN (:n1, e)"
        " AND attribute_type(f, :tS) AND begins_with(g, :a) AND contains(h, i)"
        " AND j BETWEEN :n1 AND k AND attribute_not_exists(l)",
        Substitutions(NAMES, VALUES),
    )
    assert list(condition_paths(condition)) == [
        ("a", "b"),
        ("c", 0),
        ("dotted.name",),
        ("d",),
        ("e",),
        ("f",),
        ("g",),
        ("h",),
        ("i",),
        ("j",),
        ("k",),
        ("l",),
    ]
    assert references(condition, "a")
    assert references(condition, "dotted.name")
    assert not references(condition, "b")
    assert not references(condition, "pk")
