"""PartiQL planner: WHERE → the expression AST, Query vs Scan, write keys and updates."""

from __future__ import annotations

from typing import Any

import pytest

from dynoxide_streams.engine import expressions as ex
from dynoxide_streams.engine.expressions import ast as X
from dynoxide_streams.engine.partiql import ast as A
from dynoxide_streams.engine.partiql import planner
from dynoxide_streams.engine.partiql.parser import parse
from dynoxide_streams.engine.tables import KeyAttribute
from dynoxide_streams.errors import ValidationException

HASH = KeyAttribute("pk", "S")
RANGE = KeyAttribute("sk", "N")


def _where(text: str, params: list[Any] | None = None) -> X.Condition:
    stmt = parse(f"SELECT * FROM t WHERE {text}").statement
    assert isinstance(stmt, A.Select) and stmt.where is not None
    return planner.condition(stmt.where, params or [])


def _expression(text: str, values: dict[str, Any]) -> X.Condition:
    return ex.parse_condition(text, ex.Substitutions(None, values))


@pytest.mark.parametrize(
    ("where", "expression", "values"),
    [
        ("a = 'x'", "a = :x", {":x": {"S": "x"}}),
        ("a <> 1 AND b < 2", "a <> :a AND b < :b", {":a": {"N": "1"}, ":b": {"N": "2"}}),
        (
            "a.b[1] >= 2 OR NOT c = 1",
            "a.b[1] >= :b OR NOT c = :a",
            {":a": {"N": "1"}, ":b": {"N": "2"}},
        ),
        ("a BETWEEN 1 AND 2", "a BETWEEN :a AND :b", {":a": {"N": "1"}, ":b": {"N": "2"}}),
        ("a IN [1, 2]", "a IN (:a, :b)", {":a": {"N": "1"}, ":b": {"N": "2"}}),
        ("begins_with(a, 'p')", "begins_with(a, :p)", {":p": {"S": "p"}}),
        ("contains(a, 'p')", "contains(a, :p)", {":p": {"S": "p"}}),
        ("attribute_type(a, 'SS')", "attribute_type(a, :p)", {":p": {"S": "SS"}}),
        ("size(a) > 1", "size(a) > :a", {":a": {"N": "1"}}),
        ("a IS MISSING", "attribute_not_exists(a)", {}),
        ("a IS NOT MISSING", "attribute_exists(a)", {}),
        ("exists(a)", "attribute_exists(a)", {}),
        ("missing(a)", "attribute_not_exists(a)", {}),
        ("a IS NULL", "attribute_not_exists(a) OR attribute_type(a, :n)", {":n": {"S": "NULL"}}),
        (
            "a IS NOT NULL",
            "attribute_exists(a) AND NOT attribute_type(a, :n)",
            {":n": {"S": "NULL"}},
        ),
    ],
)
def test_where_becomes_the_expression_ast(
    where: str, expression: str, values: dict[str, Any]
) -> None:
    assert _where(where) == _expression(expression, values)


def test_parameters_bind_in_order() -> None:
    got = _where("a = ? AND b = ?", [{"S": "x"}, {"N": "01.0"}])
    assert got == _expression("a = :a AND b = :b", {":a": {"S": "x"}, ":b": {"N": "1"}})


def test_document_literals_bind_to_attribute_values() -> None:
    stmt = parse(
        "INSERT INTO t VALUE {'pk': 'k', 's': <<'b', 'a', 'b'>>, 'n': <<1, 2.0>>, 'l': [?]}"
    )
    assert isinstance(stmt.statement, A.Insert)
    item = planner.insert_item(stmt.statement, [{"BOOL": True}])
    assert item == {
        "pk": {"S": "k"},
        "s": {"SS": ["b", "a"]},
        "n": {"NS": ["1", "2"]},
        "l": {"L": [{"BOOL": True}]},
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("<<>>", "Empty bags are not supported"),
        (
            "<<1, 'a'>>",
            "Unsupported data type in Bag. DynamoDB only supports either numbers or strings in bags",
        ),
    ],
)
def test_bad_sets(value: str, message: str) -> None:
    stmt = parse(f"INSERT INTO t VALUE {{'pk': 'k', 's': {value}}}").statement
    assert isinstance(stmt, A.Insert)
    with pytest.raises(ValidationException) as caught:
        planner.insert_item(stmt, [])
    assert caught.value.message == message


def _plan(where: str, order: str = "") -> planner.ReadPlan:
    stmt = parse(f"SELECT * FROM t WHERE {where} {order}").statement
    assert isinstance(stmt, A.Select)
    return planner.read_plan(stmt, [], HASH, RANGE)


def test_partition_key_equality_is_a_query_narrowed_by_the_sort_key() -> None:
    plan = _plan("pk = 'a' AND 3 < sk AND x = 1")
    assert plan.hash_values == ({"S": "a"},)
    assert plan.range_term == X.KeyTerm("sk", ">", ({"N": "3"},))
    assert plan.condition == _where("pk = 'a' AND 3 < sk AND x = 1")


@pytest.mark.parametrize(
    ("where", "values"),
    [
        ("pk IN ['a', 'b', 'a']", ({"S": "a"}, {"S": "b"})),
        ("pk = 'a' OR pk = 'b'", ({"S": "a"}, {"S": "b"})),
        ("pk IN ['a', 1]", ({"S": "a"},)),
        ("pk = 1", ()),
    ],
)
def test_in_and_or_of_equalities_query_each_value(where: str, values: tuple[Any, ...]) -> None:
    assert _plan(where).hash_values == values


@pytest.mark.parametrize(
    "where",
    ["pk > 'a'", "sk = 1", "pk = 'a' OR x = 1", "NOT pk = 'a'", "x = 1", "pk <> 'a'"],
)
def test_anything_else_is_a_scan(where: str) -> None:
    plan = _plan(where)
    assert plan.hash_values is None
    assert plan.range_term is None


def test_order_by_sort_key_desc_reads_backwards() -> None:
    assert _plan("pk = 'a'", "ORDER BY sk DESC").forward is False
    assert _plan("pk = 'a'", "ORDER BY sk ASC").forward is True
    assert _plan("pk IN ['a', 'c', 'b']", "ORDER BY pk DESC").hash_values == (
        {"S": "c"},
        {"S": "b"},
        {"S": "a"},
    )


@pytest.mark.parametrize(
    ("where", "order", "message"),
    [
        (
            "x = 1",
            "ORDER BY sk",
            "Must have at least one non-optional hash key condition in WHERE clause when using "
            "ORDER BY clause.",
        ),
        (
            "pk = 'a'",
            "ORDER BY x",
            "Variable reference x in ORDER BY clause must be part of the primary key",
        ),
    ],
)
def test_order_by_rules(where: str, order: str, message: str) -> None:
    with pytest.raises(ValidationException) as caught:
        _plan(where, order)
    assert caught.value.message == message


def test_write_key_needs_an_equality_on_every_key_attribute() -> None:
    assert planner.key_of_where(_where("sk = 1 AND pk = 'a' AND x > 2"), ("pk", "sk")) == {
        "pk": {"S": "a"},
        "sk": {"N": "1"},
    }
    for where in ("pk = 'a'", "pk = 'a' AND sk > 1", "pk = 'a' OR sk = 1"):
        with pytest.raises(ValidationException) as caught:
            planner.key_of_where(_where(where), ("pk", "sk"))
        assert caught.value.message == (
            "Where clause does not contain a mandatory equality on all key attributes"
        )


def test_update_actions_become_the_expression_update_plan() -> None:
    stmt = parse(
        "UPDATE t SET a = a + 1, b.c[0] = 'x', l = list_append(l, ?), s = set_add(s, <<'q'>>), "
        "d = set_delete(d, <<1>>) REMOVE r WHERE pk = 'a'"
    ).statement
    assert isinstance(stmt, A.Update)
    plan = planner.update_plan(stmt, [{"L": [{"N": "1"}]}])
    expected = ex.parse_update(
        "SET a = a + :one, b.c[0] = :x, l = list_append(l, :l) ADD s :q DELETE d :d REMOVE r",
        ex.Substitutions(
            None,
            {
                ":one": {"N": "1"},
                ":x": {"S": "x"},
                ":l": {"L": [{"N": "1"}]},
                ":q": {"SS": ["q"]},
                ":d": {"NS": ["1"]},
            },
        ),
    )
    assert sorted(map(repr, plan.actions)) == sorted(map(repr, expected.actions))


def test_overlapping_update_paths_are_refused() -> None:
    stmt = parse("UPDATE t SET a = 1 REMOVE a WHERE pk = 'a'").statement
    assert isinstance(stmt, A.Update)
    with pytest.raises(ValidationException) as caught:
        planner.update_plan(stmt, [])
    assert caught.value.message.startswith("Invalid UpdateExpression: Two document paths overlap")


def test_projection_names_are_the_last_path_component() -> None:
    item = {"m": {"M": {"k": {"L": [{"S": "0"}, {"S": "1"}]}}}, "a": {"S": "x"}}
    assert planner.project(item, (("m", "k", 1), ("a",), ("zz",))) == {
        "k[1]": {"S": "1"},
        "a": {"S": "x"},
    }
    with pytest.raises(ValidationException) as caught:
        planner.check_projection((("a", "b"), ("b",)))
    assert caught.value.message == "Duplicate identifiers in select clause: b"
