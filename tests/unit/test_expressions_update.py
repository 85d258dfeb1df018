"""Expressions: UpdateExpression parsing, errors and application."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynoxide_streams.engine.expressions import Substitutions, apply_update, parse_update
from dynoxide_streams.engine.expressions.ast import (
    AddAction,
    Arithmetic,
    DeleteAction,
    IfNotExists,
    ListAppend,
    PathOperand,
    RemoveAction,
    SetAction,
    ValueOperand,
)
from dynoxide_streams.errors import ValidationException


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def n(value: str) -> dict[str, str]:
    return {"N": value}


VALUES: dict[str, Any] = {
    ":a": {"S": "a"},
    ":b": n("1"),
    ":c": {"B": "YQ=="},
    ":d": {"BOOL": False},
    ":e": {"NULL": True},
    ":f": {"SS": ["a"]},
    ":g": {"NS": ["1"]},
    ":h": {"BS": ["YQ=="]},
    ":i": {"M": {}},
    ":j": {"L": []},
    ":one": n("1"),
    ":five": n("5"),
    ":ten": n("10"),
    ":zero": n("0"),
    ":tenth": n("0.1"),
    ":fifth": n("0.2"),
    ":s": {"S": "new"},
    ":m": {"M": {"x": n("1")}},
    ":tail": {"L": [n("9")]},
    ":head": {"L": [n("0")]},
    ":empty": {"L": []},
    ":more": {"SS": ["b", "c"]},
    ":ab": {"SS": ["a", "b"]},
    ":a_only": {"SS": ["a"]},
    ":ns": {"NS": ["1.0", "7"]},
    ":bs": {"BS": [b64(b"\x01"), b64(b"\x03")]},
    ":big": n("9" + "0" * 125),
}
NAMES = {"#c": "tally", "#l": "letters", "#n": "label", "#d": "[3]", "#x": "c"}

ITEM: dict[str, Any] = {
    "pk": {"S": "p"},
    "tally": n("1"),
    "label": {"S": "x"},
    "letters": {"L": [n("1"), n("2"), n("3")]},
    "info": {"M": {"a": n("1"), "deep": {"M": {"z": {"S": "z"}}}}},
    "tags": {"SS": ["a", "b"]},
    "nums": {"NS": ["1", "5"]},
    "bins": {"BS": [b64(b"\x01"), b64(b"\x02")]},
    "f": n("0.1"),
    "grid": {"L": [{"L": [n("1"), n("2")]}, {"M": {"k": n("3")}}]},
}


def subs() -> Substitutions:
    return Substitutions(NAMES, VALUES)


def update(text: str, item: dict[str, Any] | None = None) -> dict[str, Any]:
    base = copy.deepcopy(ITEM if item is None else item)
    before = copy.deepcopy(base)
    result = apply_update(parse_update(text, subs()), base)
    assert base == before, "apply_update modified its input"
    return result


def parse_error(text: str) -> str:
    with pytest.raises(ValidationException) as info:
        parse_update(text, subs())
    return info.value.message


def apply_error(text: str, item: dict[str, Any] | None = None) -> str:
    plan = parse_update(text, subs())
    with pytest.raises(ValidationException) as info:
        apply_update(plan, copy.deepcopy(ITEM if item is None else item))
    return info.value.message


# ------------------------------------------------------------------ parsing


def test_plan_actions_and_paths_in_expression_order() -> None:
    plan = parse_update(
        "REMOVE info.a, #l[0] SET a = :s, #c = #c + :one ADD tags :more DELETE nums :g",
        subs(),
    )
    assert plan.paths == [
        ("info", "a"),
        ("letters", 0),
        ("a",),
        ("tally",),
        ("tags",),
        ("nums",),
    ]
    assert plan.actions == (
        RemoveAction(("info", "a")),
        RemoveAction(("letters", 0)),
        SetAction(("a",), ValueOperand({"S": "new"})),
        SetAction(("tally",), Arithmetic("+", PathOperand(("tally",)), ValueOperand(n("1")))),
        AddAction(("tags",), {"SS": ["b", "c"]}),
        DeleteAction(("nums",), {"NS": ["1"]}),
    )


def test_functions_parse_into_nodes() -> None:
    plan = parse_update(
        "SET a = list_append(if_not_exists(a, :empty), :tail), b = (c - :one)", subs()
    )
    assert plan.actions == (
        SetAction(
            ("a",),
            ListAppend(IfNotExists(("a",), ValueOperand({"L": []})), ValueOperand({"L": [n("9")]})),
        ),
        SetAction(("b",), Arithmetic("-", PathOperand(("c",)), ValueOperand(n("1")))),
    )


@pytest.mark.parametrize(
    "text",
    [
        "SET a = (b)",
        "SET a = (b) + (c)",
        "SET a = ((b))",
        "SET a = (b + c)",
        "SET a=:b,b=:b",
        "set a = :b remove c add d :b delete e :f",
        "DELETE e :f ADD d :b REMOVE c SET a = :b",
        "SET a = if_not_exists(a, list_append(b, :j))",
        "SET #x[3].#d = :b",
    ],
)
def test_valid_update_expressions(text: str) -> None:
    parse_update(text, subs())


@pytest.mark.parametrize("section", ["SET", "REMOVE", "ADD", "DELETE"])
def test_each_section_only_once(section: str) -> None:
    texts = {
        "SET": "set a = :b set c = :b",
        "REMOVE": "remove a set b = :b remove c",
        "ADD": "add a :b set b = :b add c :b",
        "DELETE": "delete a :f set b = :b delete c :f",
    }
    assert parse_error(texts[section]) == (
        f'Invalid UpdateExpression: The "{section}" section can only be used once in an '
        "update expression;"
    )


@pytest.mark.parametrize(
    ("text", "one", "two"),
    [
        ("SET info = :m, info.a = :b", "[info]", "[info, a]"),
        ("SET info.a = :b REMOVE info", "[info, a]", "[info]"),
        ("SET a = :b REMOVE a", "[a]", "[a]"),
        ("ADD a :b DELETE a :f", "[a]", "[a]"),
        ("set d[1] = a, d.b = a, c[1].a = a, #x = if_not_exists(a)", "[c, [1], a]", "[c]"),
        ("set #x[3].#d = a, #x[3] = a", "[c, [3], [3]]", "[c, [3]]"),
        ("REMOVE a[1], a[1]", "[a, [1]]", "[a, [1]]"),
    ],
)
def test_overlapping_paths(text: str, one: str, two: str) -> None:
    assert parse_error(text) == (
        "Invalid UpdateExpression: Two document paths overlap with each other; must remove "
        f"or rewrite one of these paths; path one: {one}, path two: {two}"
    )


@pytest.mark.parametrize(
    ("text", "one", "two"),
    [
        ("set #x[3].#d = a, #x.#d[3] = if_not_exists(a)", "[c, [3], [3]]", "[c, [3], [3]]"),
        ("remove a.#x set a[1] = b", "[a, c]", "[a, [1]]"),
        ("SET a.b = :b, a[0] = :b", "[a, b]", "[a, [0]]"),
    ],
)
def test_conflicting_paths(text: str, one: str, two: str) -> None:
    assert parse_error(text) == (
        "Invalid UpdateExpression: Two document paths conflict with each other; must remove "
        f"or rewrite one of these paths; path one: {one}, path two: {two}"
    )


def test_distinct_siblings_do_not_overlap() -> None:
    plan = parse_update("SET a.b = :b, a.c = :b REMOVE a.d, l[0], l[1]", subs())
    assert len(plan.paths) == 5


@pytest.mark.parametrize(
    ("text", "value", "operator", "type_name"),
    [
        ("add a.b :v", {"S": "a"}, "ADD", "STRING"),
        ("delete a.b :v", {"S": "a"}, "DELETE", "STRING"),
        ("add a.b :v", {"NULL": True}, "ADD", "NULL"),
        ("delete a.b :v", {"NULL": True}, "DELETE", "NULL"),
        ("add a.b :v", {"BOOL": False}, "ADD", "BOOLEAN"),
        ("add a.b :v", {"B": "YQ=="}, "ADD", "BINARY"),
        ("add a.b :v", {"M": {}}, "ADD", "MAP"),
        ("add a.b :v", {"L": []}, "ADD", "LIST"),
        ("delete a.b :v", {"L": []}, "DELETE", "LIST"),
        ("delete a.b :v", n("1"), "DELETE", "NUMBER"),
    ],
)
def test_add_and_delete_operand_types(
    text: str, value: dict[str, Any], operator: str, type_name: str
) -> None:
    with pytest.raises(ValidationException) as info:
        parse_update(text, Substitutions(None, {":v": value}))
    assert info.value.message == (
        "Invalid UpdateExpression: Incorrect operand type for operator or function; "
        f"operator: {operator}, operand type: {type_name}"
    )


@pytest.mark.parametrize(
    ("text", "function", "type_name"),
    [
        ("set a = list_append(:a, a)", "list_append", "S"),
        ("set a = list_append(a, :b)", "list_append", "N"),
        ("set a = list_append(:i, a)", "list_append", "M"),
        ("set a = list_append(:f, a)", "list_append", "SS"),
        ("set a = a + :a", "+", "S"),
        ("set a = :a + :c", "+", "S"),
        ("set a = :c + a", "+", "B"),
        ("set a = a + :d", "+", "BOOL"),
        ("set a = a + :e", "+", "NULL"),
        ("set a = a + :g", "+", "NS"),
        ("set a = a - :h", "-", "BS"),
        ("set a = a - :i", "-", "M"),
        ("set a = a - :j", "-", "L"),
    ],
)
def test_function_operand_types(text: str, function: str, type_name: str) -> None:
    assert parse_error(text) == (
        "Invalid UpdateExpression: Incorrect operand type for operator or function; "
        f"operator or function: {function}, operand type: {type_name}"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "set a = if_not_exists(c)",
            "Incorrect number of operands for operator or function; "
            "operator or function: if_not_exists, number of operands: 1",
        ),
        (
            "set a = list_append(c, d, e)",
            "Incorrect number of operands for operator or function; "
            "operator or function: list_append, number of operands: 3",
        ),
        (
            "set a = if_not_exists(:a, c)",
            "Operator or function requires a document path; operator or function: if_not_exists",
        ),
        (
            "set a = if_not_exists(if_not_exists(a, b), c)",
            "Operator or function requires a document path; operator or function: if_not_exists",
        ),
        ("set a = if_not_exist(a, :b)", "Invalid function name; function: if_not_exist"),
        ("set a = size(b)", "Invalid function name; function: size"),
        (
            "set #nope = if_not_exists(:a)",
            "An expression attribute name used in the document path is not defined; "
            "attribute name: #nope",
        ),
        (
            "set a = :nope, b = if_not_exists(:a)",
            "An expression attribute value used in expression is not defined; "
            "attribute value: :nope",
        ),
        # undefined names outrank undefined values whatever their order
        (
            "set a = :nope, #nope = :b",
            "An expression attribute name used in the document path is not defined; "
            "attribute name: #nope",
        ),
        # unknown functions outrank section errors; sections outrank placeholders
        ("set a = foo(b) set c = :nope", "Invalid function name; function: foo"),
        (
            "set a = :nope set c = :b",
            'The "SET" section can only be used once in an update expression;',
        ),
        # overlaps outrank operand types, which outrank function problems
        (
            "set a = list_append(:a, b) add a :a",
            "Two document paths overlap with each other; must remove or rewrite one of these "
            "paths; path one: [a], path two: [a]",
        ),
        (
            "set b = list_append(:a, a), c = if_not_exists(a) add d :a",
            "Incorrect operand type for operator or function; operator: ADD, operand type: STRING",
        ),
    ],
)
def test_update_errors(text: str, message: str) -> None:
    assert parse_error(text) == f"Invalid UpdateExpression: {message}"


# ----------------------------------------------------------------- applying


def test_set_top_level_and_nested() -> None:
    result = update("SET a = :s, info.b = :b, #l[0] = :zero, info.deep.z = :m")
    assert result["a"] == {"S": "new"}
    assert result["info"] == {
        "M": {"a": n("1"), "b": n("1"), "deep": {"M": {"z": {"M": {"x": n("1")}}}}}
    }
    assert result["letters"] == {"L": [n("0"), n("2"), n("3")]}


def test_set_past_the_end_of_a_list_appends_in_index_order() -> None:
    result = update("SET letters[10] = :ten, letters[7] = :five, letters[1] = :zero")
    assert result["letters"] == {"L": [n("1"), n("0"), n("3"), n("5"), n("10")]}


def test_set_inside_nested_lists() -> None:
    result = update("SET grid[0][1] = :ten, grid[1].k = :zero, grid[0][5] = :one")
    assert result["grid"] == {"L": [{"L": [n("1"), n("10"), n("1")]}, {"M": {"k": n("0")}}]}


def test_arithmetic_is_exact() -> None:
    result = update("SET f = f + :fifth, tally = tally - :one, g = :ten - :tenth")
    assert result["f"] == n("0.3")
    assert result["tally"] == n("0")
    assert result["g"] == n("9.9")


def test_arithmetic_range_errors_come_from_values() -> None:
    message = apply_error("SET big = :big + :big")
    assert message.startswith("Number overflow")


def test_operands_read_the_item_as_it_was_before() -> None:
    result = update("SET a = tally, tally = :ten, b = letters")
    assert (result["a"], result["tally"]) == (n("1"), n("10"))
    assert result["b"] == result["letters"] == ITEM["letters"]


def test_operands_never_see_values_set_by_the_same_update() -> None:
    message = apply_error("SET a = :s, b = a")
    assert (
        message == "The provided expression refers to an attribute that does not exist in the item"
    )


def test_if_not_exists() -> None:
    result = update(
        "SET tally = if_not_exists(tally, :zero) + :one, fresh = if_not_exists(fresh, :zero)"
    )
    assert (result["tally"], result["fresh"]) == (n("2"), n("0"))


def test_list_append_both_ways_and_around_if_not_exists() -> None:
    result = update(
        "SET letters = list_append(letters, :tail), alt = list_append("
        "if_not_exists(alt, :empty), :tail), front = list_append(:head, letters)"
    )
    assert result["letters"] == {"L": [n("1"), n("2"), n("3"), n("9")]}
    assert result["alt"] == {"L": [n("9")]}
    assert result["front"] == {"L": [n("0"), n("1"), n("2"), n("3")]}


def test_remove_attributes_nested_attributes_and_list_elements() -> None:
    result = update("REMOVE #n, info.a, letters[0], letters[2]")
    assert result == {
        "pk": {"S": "p"},
        "tally": n("1"),
        "letters": {"L": [n("2")]},
        "info": {"M": {"deep": {"M": {"z": {"S": "z"}}}}},
        "tags": {"SS": ["a", "b"]},
        "nums": {"NS": ["1", "5"]},
        "bins": ITEM["bins"],
        "f": n("0.1"),
        "grid": ITEM["grid"],
    }


def test_remove_and_set_list_indexes_refer_to_the_old_list() -> None:
    result = update("REMOVE letters[0] SET letters[1] = :zero, letters[3] = :ten")
    assert result["letters"] == {"L": [n("0"), n("3"), n("10")]}


def test_removing_what_is_not_there_is_fine() -> None:
    result = update("REMOVE nope, info.nope, letters[9]")
    assert result == ITEM


def test_add_numbers() -> None:
    result = update("ADD #c :five, newCount :five, f :fifth")
    assert (result["tally"], result["newCount"], result["f"]) == (n("6"), n("5"), n("0.3"))


def test_add_to_sets_is_a_union() -> None:
    result = update("ADD tags :more, nums :ns, bins :bs, fresh :ab")
    assert result["tags"] == {"SS": ["a", "b", "c"]}
    assert result["nums"] == {"NS": ["1", "5", "7"]}  # 1.0 is already there, by value
    assert result["bins"] == {"BS": [b64(b"\x01"), b64(b"\x02"), b64(b"\x03")]}
    assert result["fresh"] == {"SS": ["a", "b"]}


def test_delete_from_sets() -> None:
    result = update("DELETE tags :a_only, nums :ns, bins :bs")
    assert result["tags"] == {"SS": ["b"]}
    assert result["nums"] == {"NS": ["5"]}
    assert result["bins"] == {"BS": [b64(b"\x02")]}


def test_delete_of_every_member_removes_the_attribute() -> None:
    result = update("DELETE tags :ab")
    assert "tags" not in result


def test_delete_from_a_missing_attribute_does_nothing() -> None:
    assert update("DELETE nope :ab") == ITEM


def test_add_and_delete_in_nested_maps() -> None:
    item = {"m": {"M": {"s": {"SS": ["a"]}, "c": n("1")}}}
    result = update("ADD m.s :more, m.c :one, m.added :one DELETE m.gone :ab", item)
    assert result == {"m": {"M": {"s": {"SS": ["a", "b", "c"]}, "c": n("2"), "added": n("1")}}}


def test_everything_at_once_on_a_new_item() -> None:
    result = update(
        "SET a = :s, b = if_not_exists(b, :zero) REMOVE c ADD d :one, e :ab DELETE f :ab",
        {"pk": {"S": "k"}},
    )
    assert result == {
        "pk": {"S": "k"},
        "a": {"S": "new"},
        "b": n("0"),
        "d": n("1"),
        "e": {"SS": ["a", "b"]},
    }


INVALID_PATH = "The document path provided in the update expression is invalid for update"
MISSING = "The provided expression refers to an attribute that does not exist in the item"
WRONG_TYPE = "An operand in the update expression has an incorrect data type"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SET nope.child = :one", INVALID_PATH),
        ("SET label.child = :one", INVALID_PATH),
        ("SET info[0] = :one", INVALID_PATH),
        ("SET letters.x = :one", INVALID_PATH),
        ("SET letters[5].x = :one", INVALID_PATH),
        ("SET nope[0] = :one", INVALID_PATH),
        ("REMOVE nope.child", INVALID_PATH),
        ("REMOVE label[0]", INVALID_PATH),
        ("ADD nope.cnt :one", INVALID_PATH),
        ("DELETE label.x :ab", INVALID_PATH),
        ("SET a = absent + :one", MISSING),
        ("SET a = info.nope", MISSING),
        ("SET a = list_append(nope, :tail)", MISSING),
        ("SET a = label + :one", WRONG_TYPE),
        ("SET a = :one - label", WRONG_TYPE),
        ("SET a = list_append(label, :tail)", WRONG_TYPE),
        ("SET a = list_append(:tail, info)", WRONG_TYPE),
        ("ADD #n :one", WRONG_TYPE),
        ("ADD tally :more", WRONG_TYPE),
        ("ADD tags :ns", WRONG_TYPE),
        ("DELETE tags :ns", WRONG_TYPE),
        ("DELETE label :ab", WRONG_TYPE),
    ],
)
def test_apply_errors(text: str, message: str) -> None:
    assert apply_error(text) == message


def test_result_does_not_alias_plan_values() -> None:
    plan = parse_update("SET m = :m", subs())
    result = apply_update(plan, {})
    result["m"]["M"]["x"] = n("2")
    assert VALUES[":m"] == {"M": {"x": n("1")}}


_values = st.recursive(
    st.one_of(
        st.builds(lambda i: {"N": str(i)}, st.integers(-1000, 1000)),
        st.builds(lambda s: {"S": s}, st.text(max_size=5)),
    ),
    lambda children: st.one_of(
        st.builds(lambda xs: {"L": xs}, st.lists(children, max_size=3)),
        st.builds(
            lambda d: {"M": d}, st.dictionaries(st.sampled_from("xyz"), children, max_size=3)
        ),
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["a", "b", "c"]), _values, max_size=3),
    st.sampled_from(
        [
            "SET a.x = :one",
            "SET a[0] = :one, b[1] = :one",
            "REMOVE a[0], a[1], b.y",
            "SET c = list_append(a, b)",
            "ADD a :one DELETE b :ab",
            "SET c = a + b",
        ]
    ),
)
def test_apply_update_never_mutates_and_only_raises_validation(
    item: dict[str, Any], text: str
) -> None:
    before = copy.deepcopy(item)
    try:
        result = apply_update(parse_update(text, Substitutions(None, VALUES)), item)
    except ValidationException as exc:
        assert exc.message in (INVALID_PATH, MISSING, WRONG_TYPE)
    else:
        assert isinstance(result, dict)
    assert item == before
