"""Expressions: ProjectionExpression and KeyConditionExpression."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dynoxide_streams.engine.expressions import (
    KeyTerm,
    Substitutions,
    parse_key_condition,
    parse_projection,
    project,
)
from dynoxide_streams.errors import ValidationException


def n(value: str) -> dict[str, str]:
    return {"N": value}


ITEM: dict[str, Any] = {
    "pk": {"S": "p"},
    "a": {"M": {"b": n("1"), "c": n("2"), "d": {"M": {"e": n("3")}}}},
    "letters": {"L": [{"S": "x"}, {"S": "y"}, {"S": "z"}]},
    "seats": {
        "L": [
            {"M": {"id": n("1"), "tag": {"S": "one"}}},
            {"M": {"id": n("2")}},
            {"M": {"id": n("3"), "tag": {"S": "three"}}},
        ]
    },
    "alt": {"S": "o"},
    "s": {"S": "scalar"},
}


def paths(text: str, names: dict[str, str] | None = None) -> list[tuple[str | int, ...]]:
    return parse_projection(text, Substitutions(names, None))


def projection_error(text: str, names: dict[str, str] | None = None) -> str:
    with pytest.raises(ValidationException) as info:
        parse_projection(text, Substitutions(names, None))
    return info.value.message


# --------------------------------------------------------------- projection


def test_parse_projection_paths() -> None:
    assert paths("a.c, letters[2], letters[0] , #o", {"#o": "alt"}) == [
        ("a", "c"),
        ("letters", 2),
        ("letters", 0),
        ("alt",),
    ]


def test_projection_keeps_names_behind_placeholders_whole() -> None:
    assert paths("#k.#v", {"#k": "a.b", "#v": "[0]"}) == [("a.b", "[0]")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a, Comment", "Attribute name is a reserved keyword; reserved keyword: Comment"),
        (
            "a.#x",
            "An expression attribute name used in the document path is not defined; "
            "attribute name: #x",
        ),
        (
            "a, a",
            "Two document paths overlap with each other; must remove or rewrite one of "
            "these paths; path one: [a], path two: [a]",
        ),
        (
            "a.b, a",
            "Two document paths overlap with each other; must remove or rewrite one of "
            "these paths; path one: [a, b], path two: [a]",
        ),
        (
            "letters[1], letters[1].x",
            "Two document paths overlap with each other; must remove "
            "or rewrite one of these paths; path one: [letters, [1]], path two: "
            "[letters, [1], x]",
        ),
        (
            "a.b, a[0]",
            "Two document paths conflict with each other; must remove or rewrite one "
            "of these paths; path one: [a, b], path two: [a, [0]]",
        ),
        # an overlap anywhere outranks a conflict
        (
            "a.b, a[0], c, c",
            "Two document paths overlap with each other; must remove or rewrite "
            "one of these paths; path one: [c], path two: [c]",
        ),
        # reserved words outrank undefined names
        ("#x, size", "Attribute name is a reserved keyword; reserved keyword: size"),
    ],
)
def test_projection_errors(text: str, message: str) -> None:
    assert projection_error(text) == f"Invalid ProjectionExpression: {message}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pk", {"pk": {"S": "p"}}),
        ("a.c", {"a": {"M": {"c": n("2")}}}),
        ("a.d.e, a.b", {"a": {"M": {"d": {"M": {"e": n("3")}}, "b": n("1")}}}),
        ("a", {"a": ITEM["a"]}),
        ("letters[2], letters[0]", {"letters": {"L": [{"S": "x"}, {"S": "z"}]}}),
        ("letters[1], letters[7]", {"letters": {"L": [{"S": "y"}]}}),
        ("letters[7]", {}),
        (
            "seats[2].tag, seats[1].tag, seats[0].id",
            {"seats": {"L": [{"M": {"id": n("1")}}, {"M": {"tag": {"S": "three"}}}]}},
        ),
        ("seats[1].tag", {}),
        ("absent, a.absent, a.b.c, s.x, letters.x", {}),
        ("s[0], a[0]", {}),
        (
            "a.c, letters[1], alt, absent",
            {
                "a": {"M": {"c": n("2")}},
                "letters": {"L": [{"S": "y"}]},
                "alt": {"S": "o"},
            },
        ),
    ],
)
def test_project(text: str, expected: dict[str, Any]) -> None:
    item = copy.deepcopy(ITEM)
    assert project(paths(text), item) == expected
    assert item == ITEM


def test_project_whole_value_wins_over_parts() -> None:
    # Callers may build paths without the parser's overlap check (AttributesToGet).
    assert project([("a", "b"), ("a",)], ITEM) == {"a": ITEM["a"]}


def test_project_empty_containers_are_kept_when_selected_whole() -> None:
    item = {"m": {"M": {}}, "l": {"L": []}}
    assert project([("m",), ("l",)], item) == item


# ------------------------------------------------------------- key conditions

VALUES: dict[str, Any] = {
    ":p": {"S": "q"},
    ":a": {"S": "a"},
    ":b": {"S": "b"},
    ":n": n("1"),
    ":m": n("5"),
    ":t": {"BOOL": True},
    ":f": {"BOOL": False},
    ":ts": {"S": "S"},
}


def terms(text: str, names: dict[str, str] | None = None) -> list[KeyTerm]:
    return parse_key_condition(text, Substitutions(names, VALUES))


def key_error(text: str, values: dict[str, Any] | None = None) -> str:
    with pytest.raises(ValidationException) as info:
        parse_key_condition(text, Substitutions(None, values or VALUES))
    return info.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pk = :p", [KeyTerm("pk", "=", ({"S": "q"},))]),
        (
            "pk = :p AND sk < :a",
            [KeyTerm("pk", "=", ({"S": "q"},)), KeyTerm("sk", "<", ({"S": "a"},))],
        ),
        (
            "pk = :p and sk <= :a",
            [KeyTerm("pk", "=", ({"S": "q"},)), KeyTerm("sk", "<=", ({"S": "a"},))],
        ),
        ("sk > :n AND pk = :p", [KeyTerm("sk", ">", (n("1"),)), KeyTerm("pk", "=", ({"S": "q"},))]),
        (
            "pk = :p AND sk >= :n",
            [KeyTerm("pk", "=", ({"S": "q"},)), KeyTerm("sk", ">=", (n("1"),))],
        ),
        (
            "pk = :p AND sk BETWEEN :a AND :b",
            [KeyTerm("pk", "=", ({"S": "q"},)), KeyTerm("sk", "BETWEEN", ({"S": "a"}, {"S": "b"}))],
        ),
        (
            "pk = :p AND begins_with(sk, :a)",
            [KeyTerm("pk", "=", ({"S": "q"},)), KeyTerm("sk", "begins_with", ({"S": "a"},))],
        ),
        # value first: the comparison is turned around
        (":n < sk AND :p = pk", [KeyTerm("sk", ">", (n("1"),)), KeyTerm("pk", "=", ({"S": "q"},))]),
        (":n >= sk", [KeyTerm("sk", "<=", (n("1"),))]),
        (
            "(begins_with(sk, :b)) AND (#p = :p)",
            [KeyTerm("sk", "begins_with", ({"S": "b"},)), KeyTerm("pk", "=", ({"S": "q"},))],
        ),
        ("#p = :p", [KeyTerm("a.b", "=", ({"S": "q"},))]),
    ],
)
def test_key_terms(text: str, expected: list[KeyTerm]) -> None:
    names = {"#p": "a.b"} if text == "#p = :p" else {"#p": "pk"}
    assert terms(text, names) == expected


def test_three_terms_are_returned_for_the_caller_to_judge_against_the_schema() -> None:
    assert [t.name for t in terms("pk = :p AND sk > :n AND extra = :m")] == ["pk", "sk", "extra"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a > b and size(b) > c or a > c", "Invalid operator used in KeyConditionExpression: OR"),
        ("a in (b, size(c), d)", "Invalid operator used in KeyConditionExpression: IN"),
        (
            "attribute_exists(a)",
            "Invalid operator used in KeyConditionExpression: attribute_exists",
        ),
        (
            "attribute_not_exists(a)",
            "Invalid operator used in KeyConditionExpression: attribute_not_exists",
        ),
        ("contains(a.d, b)", "Invalid operator used in KeyConditionExpression: contains"),
        (
            "attribute_type(a, :ts)",
            "Invalid operator used in KeyConditionExpression: attribute_type",
        ),
        ("not a > b", "Invalid operator used in KeyConditionExpression: NOT"),
        ("a <> b", "Invalid operator used in KeyConditionExpression: <>"),
        (
            ":a between size(b) and size(a) and b > :b",
            "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key "
            "attribute as its first operand",
        ),
        (
            "begins_with(:a, b) and a > :b",
            "Invalid condition in KeyConditionExpression: begins_with operator must have the "
            "key attribute as its first operand",
        ),
        ("size(b) > a AND a.b > b", "KeyConditionExpressions cannot contain nested operations"),
        ("a > size(b.d)", "KeyConditionExpressions cannot contain nested operations"),
        (
            "a between size(b) and size(a)",
            "KeyConditionExpressions cannot contain nested operations",
        ),
        (
            "b > a.b",
            "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
        ),
        (
            "b between c[1] and d",
            "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
        ),
        (
            "a between b and size(a)",
            "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
        ),
        (
            "begins_with(a, b)",
            "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
        ),
        (
            "b.d > a AND c.d > e.f",
            "KeyConditionExpressions cannot have conditions on nested attributes",
        ),
        ("a.d > :n", "KeyConditionExpressions cannot have conditions on nested attributes"),
        ("b[0] > :n", "KeyConditionExpressions cannot have conditions on nested attributes"),
        (
            ":m > :n AND a < :m",
            "Invalid condition in KeyConditionExpression: No key attribute specified",
        ),
        (
            "pk = :p AND sk > :n AND sk < :m",
            "KeyConditionExpressions must only contain one condition per key",
        ),
        (
            "(a > :n and b > :n) and (b > :n and c > :n)",
            "KeyConditionExpressions must only contain one condition per key",
        ),
        # the condition rules apply first
        (
            "pk = :missing AND begins_with(sk, :n)",
            "An expression attribute value used in expression is not defined; attribute value: :missing",
        ),
        (
            "begins_with(sk, :n) AND pk = :missing",
            "Incorrect operand type for operator or function; operator or function: begins_with, operand type: N",
        ),
        (
            "pk = :p AND sk < :t",
            "Incorrect operand type for operator or function; operator or function: <, operand type: BOOL",
        ),
        (
            "pk = :p AND :t >= sk",
            "Incorrect operand type for operator or function; operator or function: >=, operand type: BOOL",
        ),
        (
            "pk = :p AND sk BETWEEN :f AND :t",
            "Incorrect operand type for operator or function; operator or function: BETWEEN, operand type: BOOL",
        ),
        (
            "a between :n and :a",
            "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:a}",
        ),
        (
            "a between :b and :a",
            "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {S:b}, upper bound operand: AttributeValue: {S:a}",
        ),
        ("((pk = :p))", "The expression has redundant parentheses;"),
        (
            "attribute_type(a, :n)",
            "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N",
        ),
    ],
)
def test_key_condition_errors(text: str, message: str) -> None:
    assert key_error(text) == f"Invalid KeyConditionExpression: {message}"
