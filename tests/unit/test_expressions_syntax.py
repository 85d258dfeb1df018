"""Expressions: tokenizer, syntax errors, limits, reserved words and placeholders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynoxide_streams.engine.expressions import (
    Substitutions,
    parse_condition,
    parse_key_condition,
    parse_projection,
    parse_update,
)
from dynoxide_streams.engine.expressions.lexer import tokenize
from dynoxide_streams.engine.expressions.parser import MAX_NESTING
from dynoxide_streams.engine.expressions.reserved import RESERVED_WORDS, is_reserved
from dynoxide_streams.errors import ValidationException

N1 = {"N": "1"}
VALUES: dict[str, Any] = {":v": N1, ":w": {"N": "2"}, ":s": {"S": "x"}}
NAMES = {"#n": "n", "#m": "m"}

Parser = Callable[[str, Substitutions], Any]
PARSERS: dict[str, Parser] = {
    "ConditionExpression": parse_condition,
    "FilterExpression": lambda text, subs: parse_condition(text, subs, "FilterExpression"),
    "KeyConditionExpression": parse_key_condition,
    "UpdateExpression": parse_update,
    "ProjectionExpression": parse_projection,
}


def subs() -> Substitutions:
    return Substitutions(NAMES, VALUES)


def error(parse: Parser, text: str) -> str:
    with pytest.raises(ValidationException) as info:
        parse(text, subs())
    return info.value.message


# ------------------------------------------------------------------- lexer


def test_tokenize_kinds_and_offsets() -> None:
    tokens = tokenize("a.#b[12] <= :v_1")
    assert [(t.kind, t.text) for t in tokens] == [
        ("NAME", "a"),
        (".", "."),
        ("ATTR_NAME", "#b"),
        ("[", "["),
        ("NUMBER", "12"),
        ("]", "]"),
        ("OP", "<="),
        ("ATTR_VALUE", ":v_1"),
        ("EOF", ""),
    ]
    assert (tokens[6].start, tokens[6].end) == (9, 11)
    assert (tokens[-1].start, tokens[-1].end) == (16, 16)


@pytest.mark.parametrize(
    ("text", "texts"),
    [
        ("a<>b", ["a", "<>", "b"]),
        ("a< >b", ["a", "<", ">", "b"]),
        ("a>=b", ["a", ">=", "b"]),
        ("a=>b", ["a", "=", ">", "b"]),
        ("SET a=a+:v-b", ["SET", "a", "=", "a", "+", ":v", "-", "b"]),
        ("1a", ["1", "a"]),
        ("a_1 #_x :9", ["a_1", "#_x", ":9"]),
    ],
)
def test_tokenize_splits(text: str, texts: list[str]) -> None:
    assert [t.text for t in tokenize(text)][:-1] == texts


@pytest.mark.parametrize("text", ["#", ":", "_", "!", "é", '"', "*", "/", ";"])
def test_tokenize_marks_stray_characters_invalid(text: str) -> None:
    tokens = tokenize(f"a {text} b")
    assert (tokens[1].kind, tokens[1].text) == ("INVALID", text)


# ------------------------------------------------------------ syntax errors


@pytest.mark.parametrize(
    ("text", "token", "near"),
    [
        ("a-b", "-", "a-b"),
        ("attribute_exists(car_id) AND NOT #n", "<EOF>", "#n"),
        ("a = = :v", "=", "= = :v"),
        ("_hidden = :v", "_", "_hidden"),
        ("a > 4", "4", "> 4"),
        ("a = :v AND", "<EOF>", "AND"),
        ("a IN ()", ")", "()"),
        ("a BETWEEN :v :w", ":w", ":v :w"),
        ("begins_with(a, :v", "<EOF>", ":v"),
        ("#n = tenantAgent:abc123-x", ":abc123", "tenantAgent:abc123-"),
        ("(a = :v", "<EOF>", ":v"),
        ("a = :v)", ")", ":v)"),
        ("a.1 = :v", "1", ".1 ="),
        ("a[x] = :v", "x", "[x]"),
        ("a[-1] = :v", "-", "[-1"),
        ("and = :v", "and", "and ="),
        ("a = in", "in", "= in"),
        ("NOT", "<EOF>", "NOT"),
        ("a != :v", "!", "a !="),
        ("# = :v", "#", "# ="),
        ("a = :", ":", "= :"),
        ("a", "<EOF>", "a"),
        ("a = :v b = :w", "b", ":v b ="),
        ("size(a)[0] > :v", "[", ")[0"),
        ("attribute_exists()", ")", "()"),
        ("a IN :v", ":v", "IN :v"),
        ("a   -   b", "-", "a   -   b"),
    ],
)
def test_condition_syntax_errors(text: str, token: str, near: str) -> None:
    assert error(parse_condition, text) == (
        f'Invalid ConditionExpression: Syntax error; token: "{token}", near: "{near}"'
    )


@pytest.mark.parametrize(
    ("text", "token", "near"),
    [
        ("INVALID SYNTAX HERE", "INVALID", "INVALID SYNTAX"),
        ("ADD hits : incr", ":", "hits : incr"),
        ("SET a", "<EOF>", "a"),
        ("SET a = ", "<EOF>", "="),
        ("SET a = :v,", "<EOF>", ","),
        ("SET a = b + c + d", "+", "c + d"),
        ("set a = b * c", "*", "b * c"),
        ("REMOVE", "<EOF>", "REMOVE"),
        ("SET a = :v REMOVE", "<EOF>", "REMOVE"),
        ("set a = (b.c).d + e", ".", ").d"),
        ("SET if_not_exists(a, b) = a", "(", "if_not_exists(a"),
        ('set a[1] = "eight"', '"', '= "eight'),
        ("set a[1] = 1", "1", "= 1"),
        ("delete a b", "b", "a b"),
        ("add :a b", ":a", "add :a b"),
        ("remove a = b", "=", "a = b"),
        ("set a=set", "set", "=set"),
        ("set (a = (b + c))", "(", "set (a"),
        ("SET a = :v SET", "<EOF>", "SET"),
    ],
)
def test_update_syntax_errors(text: str, token: str, near: str) -> None:
    assert error(parse_update, text) == (
        f'Invalid UpdateExpression: Syntax error; token: "{token}", near: "{near}"'
    )


@pytest.mark.parametrize(
    ("text", "token", "near"),
    [
        ("a,", "<EOF>", ","),
        (", a", ",", ", a"),
        ("a b", "b", "a b"),
        ("a.", "<EOF>", "."),
        ("a[]", "]", "[]"),
        ("a = b", "=", "a = b"),
        (":v", ":v", ":v"),
        ("!!!", "!", "!!"),
        ("my-attr", "-", "my-attr"),
        ("size(a)", "(", "size(a"),
    ],
)
def test_projection_syntax_errors(text: str, token: str, near: str) -> None:
    assert error(parse_projection, text) == (
        f'Invalid ProjectionExpression: Syntax error; token: "{token}", near: "{near}"'
    )


def test_key_condition_syntax_error_has_its_prefix() -> None:
    assert error(parse_key_condition, "()") == (
        'Invalid KeyConditionExpression: Syntax error; token: ")", near: "()"'
    )


def test_syntax_errors_come_before_every_other_error() -> None:
    # Undefined placeholder, reserved word and unknown function, but a syntax error too.
    assert error(parse_condition, "count = :nope AND foo(#nope) = = :v").startswith(
        'Invalid ConditionExpression: Syntax error; token: "="'
    )


# -------------------------------------------------------- empty and too big


@pytest.mark.parametrize("kind", list(PARSERS))
@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_expression(kind: str, text: str) -> None:
    assert error(PARSERS[kind], text) == f"Invalid {kind}: The expression can not be empty;"


@pytest.mark.parametrize("kind", list(PARSERS))
def test_expression_size_limit(kind: str) -> None:
    parse = PARSERS[kind]
    if kind == "UpdateExpression":
        fits = "REMOVE a" + " " * (4096 - 8)
    elif kind != "ProjectionExpression":
        fits = "a = :v" + " " * (4096 - 6)
    else:
        fits = "a" + " " * 4095
    parse(fits, Substitutions(None, {":v": N1}))
    assert error(parse, fits + " ") == (
        f"Invalid {kind}: Expression size has exceeded the maximum allowed size; "
        "expression size: 4097"
    )


def test_expression_size_counts_utf8_bytes() -> None:
    text = "a" + " " * 4093 + "é"  # 4094 characters, 4096 bytes: the é is a syntax error
    assert "Syntax error" in error(parse_projection, text)
    assert error(parse_projection, text + " ").endswith("expression size: 4097")


def test_nesting_limit() -> None:
    ok = "(" * MAX_NESTING + "a = :v" + ")" * MAX_NESTING
    assert error(parse_condition, ok).endswith("redundant parentheses;")
    deep = "(" * (MAX_NESTING + 1) + "a = :v" + ")" * (MAX_NESTING + 1)
    assert error(parse_condition, deep).startswith(
        'Invalid ConditionExpression: Syntax error; token: "("'
    )
    nots = "NOT " * (MAX_NESTING + 1) + "a = :v"
    assert "Syntax error" in error(parse_condition, nots)


# ------------------------------------------------------ redundant parentheses


@pytest.mark.parametrize(
    "text",
    [
        "((attribute_not_exists(pk)))",
        "((a = :v))",
        "((a)) = :v",
        "NOT ((a = :v))",
        "a = :v AND ((b = :v))",
        "(((a = :v)))",
        "a BETWEEN ((:v)) AND :w",
        "((foo(a)))",
    ],
)
def test_redundant_parentheses(text: str) -> None:
    assert error(parse_condition, text) == (
        "Invalid ConditionExpression: The expression has redundant parentheses;"
    )


@pytest.mark.parametrize(
    "text",
    [
        "(a = :v)",
        "((a = :v) AND (b = :v))",
        "(a) = :v",
        "size((a)) > :v",
        "a IN ((b), :v)",
        "(a = :v OR b = :v) AND c = :v",
        "NOT (a = :v)",
    ],
)
def test_necessary_parentheses_are_accepted(text: str) -> None:
    parse_condition(text, subs())


# ---------------------------------------------------------------- keywords


@pytest.mark.parametrize(
    "text",
    [
        "a = :v and b = :v",
        "a between :v And :w",
        "a in (:v)",
        "not a = :v",
        "a = :v oR b = :v",
    ],
)
def test_condition_keywords_are_case_insensitive(text: str) -> None:
    parse_condition(text, subs())


def test_update_keywords_are_case_insensitive() -> None:
    plan = parse_update(
        "set a = :v Remove b aDd c :v delete d :x",
        Substitutions(None, {":v": N1, ":x": {"SS": ["a"]}}),
    )
    assert plan.paths == [("a",), ("b",), ("c",), ("d",)]


def test_function_names_are_case_sensitive() -> None:
    assert error(parse_condition, "ATTRIBUTE_EXISTS(a)") == (
        "Invalid ConditionExpression: Invalid function name; function: ATTRIBUTE_EXISTS"
    )


# ----------------------------------------------------------- reserved words


def test_reserved_word_list_is_complete() -> None:
    assert len(RESERVED_WORDS) == 573
    assert {"COMMENT", "STATUS", "TTL", "SIZE", "COUNT", "ZONE", "ABORT"} <= RESERVED_WORDS
    assert is_reserved("comment") and is_reserved("Status")
    assert not is_reserved("pk") and not is_reserved("tags")


@pytest.mark.parametrize(
    ("parse", "text", "word", "kind"),
    [
        (parse_condition, "count = :v", "count", "ConditionExpression"),
        (parse_condition, "a.Name = :v", "Name", "ConditionExpression"),
        (parse_condition, "attribute_exists(data)", "data", "ConditionExpression"),
        (parse_update, "SET status = :v", "status", "UpdateExpression"),
        (parse_update, " remove Absolute ", "Absolute", "UpdateExpression"),
        (parse_update, "SET a = list_append(a, value)", "value", "UpdateExpression"),
        (parse_projection, "a, Comment", "Comment", "ProjectionExpression"),
        (parse_key_condition, "year = :v", "year", "KeyConditionExpression"),
    ],
)
def test_reserved_words_are_refused(parse: Parser, text: str, word: str, kind: str) -> None:
    assert error(parse, text) == (
        f"Invalid {kind}: Attribute name is a reserved keyword; reserved keyword: {word}"
    )


def test_reserved_words_are_fine_behind_placeholders_and_as_functions() -> None:
    names = {"#c": "count", "#s": "status"}
    parse_condition("#c = :v AND size(#s) > :v", Substitutions(names, VALUES))


def test_update_reports_reserved_words_before_section_errors() -> None:
    # dynalite's AWS-checked case: two SET sections, an undefined #c, and `abOrt`.
    assert error(parse_update, " set #c = :v set abOrt = true ") == (
        "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: abOrt"
    )


# ------------------------------------------------------------- placeholders


def test_unused_names_are_reported_sorted_before_values() -> None:
    s = Substitutions({"#b": "b", "#a": "a", "#u": "u"}, {":x": N1, ":v": N1})
    parse_condition("#u = :v", s)
    with pytest.raises(ValidationException) as info:
        s.check_all_used()
    assert info.value.message == (
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#a, #b}"
    )


def test_unused_values_are_reported() -> None:
    s = Substitutions(None, {":unused": N1, ":v": N1, ":a": N1})
    parse_update("SET attr1 = :v", s)
    with pytest.raises(ValidationException) as info:
        s.check_all_used()
    assert info.value.message == (
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:a, :unused}"
    )


def test_placeholders_used_by_any_expression_of_the_request_count() -> None:
    s = Substitutions({"#a": "a", "#p": "p"}, {":v": N1, ":k": N1})
    parse_key_condition("#p = :k", s)
    parse_condition("#a = :v", s, "FilterExpression")
    parse_projection("#a, #p", s)
    s.check_all_used()


def test_no_substitutions_at_all_is_fine() -> None:
    s = Substitutions(None, None)
    parse_projection("a", s)
    s.check_all_used()


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (
            parse_condition,
            "#nope = :v",
            "Invalid ConditionExpression: An expression attribute name used in the document "
            "path is not defined; attribute name: #nope",
        ),
        (
            parse_condition,
            "a = :nope",
            "Invalid ConditionExpression: An expression attribute value used in expression is "
            "not defined; attribute value: :nope",
        ),
        (
            parse_update,
            "SET a = :nope",
            "Invalid UpdateExpression: An expression attribute value used in expression is not "
            "defined; attribute value: :nope",
        ),
        (
            parse_update,
            "SET a = :nope, #nope = :v",
            "Invalid UpdateExpression: An expression attribute name used in the document path "
            "is not defined; attribute name: #nope",
        ),
        (
            parse_projection,
            "a.#nope",
            "Invalid ProjectionExpression: An expression attribute name used in the document "
            "path is not defined; attribute name: #nope",
        ),
    ],
)
def test_undefined_placeholders(parse: Parser, text: str, message: str) -> None:
    assert error(parse, text) == message


def test_undefined_placeholder_does_not_count_as_used() -> None:
    s = Substitutions({"#a": "a"}, None)
    with pytest.raises(ValidationException):
        parse_condition("#b = #a", s)
    # #a was resolved, so the request-level check is satisfied for it.
    s.check_all_used()


# ------------------------------------------------------------- robustness

_WORDS = ["AND ", "OR ", "NOT ", "BETWEEN ", "IN ", "SET ", "REMOVE ", "ADD ", "DELETE "]
_FUNCTIONS = ["size", "contains", "if_not_exists", "list_append", "attribute_exists"]
_ALPHABET = st.sampled_from([*"ab#:()[].,=<>+-_!0123 ", *_WORDS, *_FUNCTIONS, ":v", "#n"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=14).map("".join), st.sampled_from(list(PARSERS)))
def test_any_text_parses_or_raises_validation_exception(text: str, kind: str) -> None:
    try:
        PARSERS[kind](text, subs())
    except ValidationException as exc:
        assert exc.message.startswith(f"Invalid {kind}: ")
