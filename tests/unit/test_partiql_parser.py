"""PartiQL lexer and parser: statements → tree, syntax errors with token and position."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynoxide_streams.engine.partiql import ast as A
from dynoxide_streams.engine.partiql.lexer import tokenize
from dynoxide_streams.engine.partiql.parser import parse
from dynoxide_streams.errors import ValidationException

PK = A.PathRef(("pk",))


def n(text: str) -> A.Literal:
    return A.Literal({"N": text})


def s(text: str) -> A.Literal:
    return A.Literal({"S": text})


def test_tokens_carry_line_and_column() -> None:
    tokens = tokenize("SELECT *\n  FROM \"t\" -- comment\nWHERE a = 'it''s'")
    assert [(t.kind, t.value, t.line, t.column) for t in tokens] == [
        ("keyword", "SELECT", 1, 1),
        ("op", "*", 1, 8),
        ("keyword", "FROM", 2, 3),
        ("quoted", "t", 2, 8),
        ("keyword", "WHERE", 3, 1),
        ("name", "a", 3, 7),
        ("op", "=", 3, 9),
        ("string", "it's", 3, 11),
        ("eof", "", 3, 18),
    ]


def test_select_star_with_key_conditions_and_order() -> None:
    parsed = parse('select * from "T" where pk = 1 and sk between ? and 5 order by sk desc;')
    assert parsed == A.Parsed(
        A.Select(
            None,
            "T",
            None,
            A.And(
                (
                    A.Comparison("=", PK, n("1")),
                    A.Between(A.PathRef(("sk",)), A.Param(0), n("5")),
                )
            ),
            (("sk", True),),
        ),
        1,
    )


def test_projection_nested_paths_quoted_names_and_index_source() -> None:
    stmt = parse('SELECT a.b[0].c, "x.y", "select" FROM "T"."I"').statement
    assert stmt == A.Select((("a", "b", 0, "c"), ("x.y",), ("select",)), "T", "I", None)


def test_where_operators_functions_and_precedence() -> None:
    stmt = parse(
        "SELECT * FROM t WHERE NOT a <> 'x' OR begins_with(b, 'p') AND c IN [1, 2] "
        "AND d IS NOT MISSING AND e IS NULL AND size(f) >= 2 AND g != 3 AND h NOT BETWEEN 1 AND 2"
    ).statement
    assert isinstance(stmt, A.Select)
    assert stmt.where == A.Or(
        (
            A.Not(A.Comparison("<>", A.PathRef(("a",)), s("x"))),
            A.And(
                (
                    A.FuncCond(A.Call("begins_with", (A.PathRef(("b",)), s("p")))),
                    A.In(A.PathRef(("c",)), (n("1"), n("2"))),
                    A.IsTest(A.PathRef(("d",)), "MISSING", True),
                    A.IsTest(A.PathRef(("e",)), "NULL", False),
                    A.Comparison(">=", A.Call("size", (A.PathRef(("f",)),)), n("2")),
                    A.Comparison("<>", A.PathRef(("g",)), n("3")),
                    A.Not(A.Between(A.PathRef(("h",)), n("1"), n("2"))),
                )
            ),
        )
    )


def test_parenthesised_conditions() -> None:
    stmt = parse("SELECT * FROM t WHERE (a = 1 OR b = 2) AND (c) = 3").statement
    assert isinstance(stmt, A.Select)
    assert stmt.where == A.And(
        (
            A.Or(
                (
                    A.Comparison("=", A.PathRef(("a",)), n("1")),
                    A.Comparison("=", A.PathRef(("b",)), n("2")),
                )
            ),
            A.Comparison("=", A.PathRef(("c",)), n("3")),
        )
    )


def test_insert_document_literals_and_parameters() -> None:
    parsed = parse(
        "INSERT INTO \"t\" VALUE {'pk': ?, 'n': -1.50e0, 's': <<'a', 'b'>>, "
        "'l': [1, TRUE, NULL, {'m': ?}], 'e': {}}"
    )
    assert parsed == A.Parsed(
        A.Insert(
            "t",
            A.MapLit(
                (
                    ("pk", A.Param(0)),
                    ("n", n("-1.5")),
                    ("s", A.SetLit((s("a"), s("b")))),
                    (
                        "l",
                        A.ListLit(
                            (
                                n("1"),
                                A.Literal({"BOOL": True}),
                                A.Literal({"NULL": True}),
                                A.MapLit((("m", A.Param(1)),)),
                            )
                        ),
                    ),
                    ("e", A.MapLit(())),
                )
            ),
        ),
        2,
    )


def test_update_set_remove_returning() -> None:
    stmt = parse(
        "UPDATE t SET a = a + 1, l = list_append(l, ?) SET m.x[1] = 'v' REMOVE r, q[0] "
        "WHERE pk = 'k' RETURNING MODIFIED OLD *"
    ).statement
    assert stmt == A.Update(
        "t",
        (
            A.SetItem(("a",), A.Arithmetic("+", A.PathRef(("a",)), n("1"))),
            A.SetItem(("l",), A.Call("list_append", (A.PathRef(("l",)), A.Param(0)))),
            A.SetItem(("m", "x", 1), s("v")),
            A.RemoveItem(("r",)),
            A.RemoveItem(("q", 0)),
        ),
        A.Comparison("=", PK, s("k")),
        "UPDATED_OLD",
    )


def test_delete_returning_all_old() -> None:
    stmt = parse("DELETE FROM t WHERE pk = 'k' RETURNING ALL OLD *").statement
    assert stmt == A.Delete("t", A.Comparison("=", PK, s("k")), "ALL_OLD")


def test_quoted_question_mark_is_not_a_parameter() -> None:
    assert parse("SELECT * FROM t WHERE a = '?'").params == 0


@pytest.mark.parametrize(
    ("statement", "detail"),
    [
        (
            "SELEC * FROM t",
            "unexpected token 'SELEC' at line 1, column 1; expected SELECT, "
            "INSERT, UPDATE or DELETE",
        ),
        (
            "SELECT * FROM t WHERE",
            "unexpected end of statement at line 1, column 22; expected a value",
        ),
        ("SELECT * FROM t WHERE a = 'x", "unterminated quote at line 1, column 27"),
        (
            "SELECT * FROM t\nWHERE a == 1",
            "unexpected token '=' at line 2, column 10; expected a value",
        ),
        ("DELETE FROM t", "unexpected end of statement at line 1, column 14; expected WHERE"),
        (
            "SELECT * FROM t; SELECT * FROM t",
            "unexpected token 'SELECT' at line 1, column 18; expected end of statement",
        ),
        ("SELECT * FROM t WHERE a = #x", "unexpected character '#' at line 1, column 27"),
        (
            "UPDATE t WHERE pk = 1",
            "unexpected token 'WHERE' at line 1, column 10; expected SET or REMOVE",
        ),
        (
            "SELECT * FROM t WHERE pk = 1 LIMIT 3",
            "unexpected token 'LIMIT' at line 1, column 30; expected end of statement",
        ),
    ],
)
def test_syntax_errors_name_the_token_and_position(statement: str, detail: str) -> None:
    with pytest.raises(ValidationException) as caught:
        parse(statement)
    assert caught.value.message == f"Statement wasn't well formed, can't be processed: {detail}"


def test_missing_outside_is_is_refused() -> None:
    with pytest.raises(ValidationException) as caught:
        parse("SELECT * FROM t WHERE a = MISSING")
    assert caught.value.message == "MISSING must be compared using IS operator"


# ------------------------------------------------------------------ properties

_names = st.sampled_from(["a", "b", "pk", "sk", "x_1"]) | st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters='"'),
    min_size=1,
    max_size=6,
).map(lambda t: t)
_numbers = st.integers(-(10**6), 10**6).map(str)
_strings = st.text(max_size=8)


def _quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@st.composite
def _conditions(draw: st.DrawFn, depth: int = 0) -> tuple[str, A.Cond]:
    name = draw(_names)
    path = A.PathRef((name,))
    kind = draw(st.sampled_from(["cmp", "between", "in", "is", "begins", "and", "or", "not"]))
    if depth >= 2 and kind in ("and", "or", "not"):
        kind = "cmp"
    if kind in ("and", "or"):
        parts = [draw(_conditions(depth + 1)) for _ in range(2)]
        text = f" {kind.upper()} ".join(f"({p[0]})" for p in parts)
        node: A.Cond = (A.And if kind == "and" else A.Or)(tuple(p[1] for p in parts))
        return text, node
    if kind == "not":
        inner = draw(_conditions(depth + 1))
        return f"NOT ({inner[0]})", A.Not(inner[1])
    number = draw(_numbers)
    literal = A.Literal({"N": number})
    if kind == "cmp":
        op = draw(st.sampled_from(["=", "<>", "<", "<=", ">", ">="]))
        return f"{_quote_name(name)} {op} {number}", A.Comparison(op, path, literal)
    if kind == "between":
        return f"{_quote_name(name)} BETWEEN {number} AND 7", A.Between(path, literal, n("7"))
    if kind == "in":
        return f"{_quote_name(name)} IN [{number}, 'x']", A.In(path, (literal, s("x")))
    if kind == "is":
        negated = draw(st.booleans())
        what = draw(st.sampled_from(["MISSING", "NULL"]))
        text = f"{_quote_name(name)} IS {'NOT ' if negated else ''}{what}"
        return text, A.IsTest(path, what, negated)
    prefix = draw(_strings)
    return (
        f"begins_with({_quote_name(name)}, {_quote_string(prefix)})",
        A.FuncCond(A.Call("begins_with", (path, A.Literal({"S": prefix})))),
    )


@given(_conditions(), _names)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_written_conditions_parse_back_to_their_tree(cond: tuple[str, A.Cond], table: str) -> None:
    stmt = parse(f"SELECT * FROM {_quote_name(table)} WHERE {cond[0]}").statement
    assert stmt == A.Select(None, table, None, cond[1])


@given(st.text(max_size=60))
@settings(max_examples=300)
def test_any_text_parses_or_raises_validation_exception(text: str) -> None:
    with contextlib.suppress(ValidationException):
        parse(text)


@given(
    st.lists(
        st.sampled_from(
            [
                "SELECT",
                "*",
                "FROM",
                "t",
                "WHERE",
                "a",
                "=",
                "1",
                "AND",
                "OR",
                "(",
                ")",
                "[",
                "]",
                "{",
                "}",
                "'s'",
                "?",
                ",",
                ".",
                "<<",
                ">>",
                "IN",
                "BETWEEN",
                "IS",
                "NOT",
                "MISSING",
                "SET",
                "UPDATE",
                "DELETE",
                "INSERT",
                "INTO",
                "VALUE",
                ":",
                "RETURNING",
                "ALL",
                "OLD",
                "-",
                "+",
            ]
        ),
        max_size=14,
    )
)
@settings(max_examples=500)
def test_token_soup_parses_or_raises_validation_exception(words: list[str]) -> None:
    with contextlib.suppress(ValidationException):
        parse(" ".join(words))


def test_exists_wraps_a_select() -> None:
    stmt = parse("EXISTS(SELECT * FROM t WHERE pk = 'k')").statement
    assert stmt == A.Exists(A.Select(None, "t", None, A.Comparison("=", PK, s("k"))))
