"""PartiQL against its equivalents, with Hypothesis over a real server.

* Random SELECTs over random small tables return what the equivalent Scan (and, when
  the partition key is pinned, Query) with a FilterExpression returns.
* Random PartiQL writes (INSERT, UPDATE, DELETE with extra conditions) leave the table
  a naive Python model of their documented meaning predicts.
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import RawClient

PKS = ["a", "b", "c"]
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _call(raw: RawClient, operation: str, params: dict[str, Any]) -> Any:
    response = raw.call(operation, params)
    assert response.status in (200, 400), response.body[:300]
    return response


def _table(raw: RawClient) -> str:
    name = f"pq_{uuid.uuid4().hex[:10]}"
    response = _call(
        raw,
        "CreateTable",
        {
            "TableName": name,
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )
    assert response.status == 200
    return name


_items = st.dictionaries(
    st.tuples(st.sampled_from(PKS), st.integers(0, 4)),
    st.fixed_dictionaries(
        {},
        optional={"x": st.integers(0, 3), "y": st.sampled_from(["p", "pq", "q", ""])},
    ),
    max_size=12,
)


def _dynamo(key: tuple[str, int], attrs: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {"pk": {"S": key[0]}, "sk": {"N": str(key[1])}}
    if "x" in attrs:
        item["x"] = {"N": str(attrs["x"])}
    if "y" in attrs:
        item["y"] = {"S": attrs["y"]}
    return item


class _Cond:
    """One random condition in three forms: PartiQL, expression (+ values), Python."""

    def __init__(self, partiql: str, expression: str, values: dict[str, Any], test: Any) -> None:
        self.partiql, self.expression, self.values, self.test = partiql, expression, values, test


@st.composite
def _conditions(draw: st.DrawFn, depth: int = 0) -> _Cond:
    kind = draw(st.sampled_from(["leaf"] * 3 + (["and", "or", "not"] if depth < 2 else [])))
    if kind in ("and", "or"):
        left, right = draw(_conditions(depth + 1)), draw(_conditions(depth + 1))
        word = kind.upper()
        values = {**left.values, **right.values}
        if kind == "and":
            test = lambda i, a=left.test, b=right.test: a(i) and b(i)  # noqa: E731
        else:
            test = lambda i, a=left.test, b=right.test: a(i) or b(i)  # noqa: E731
        return _Cond(
            f"({left.partiql}) {word} ({right.partiql})",
            f"({left.expression}) {word} ({right.expression})",
            values,
            test,
        )
    if kind == "not":
        inner = draw(_conditions(depth + 1))
        return _Cond(
            f"NOT ({inner.partiql})",
            f"NOT ({inner.expression})",
            inner.values,
            lambda i, a=inner.test: not a(i),
        )
    tag = f":v{uuid.uuid4().hex[:6]}"
    leaf = draw(
        st.sampled_from(["pk=", "sk<", "sk between", "x=", "x>", "y begins", "y missing", "pk in"])
    )
    if leaf == "pk=":
        pk = draw(st.sampled_from(PKS))
        return _Cond(f"pk = '{pk}'", f"pk = {tag}", {tag: {"S": pk}}, lambda i: i["pk"] == pk)
    if leaf == "pk in":
        pks = draw(st.lists(st.sampled_from(PKS), min_size=1, max_size=3))
        tags = [f"{tag}_{n}" for n in range(len(pks))]
        return _Cond(
            "pk IN [" + ", ".join(f"'{p}'" for p in pks) + "]",
            "pk IN (" + ", ".join(tags) + ")",
            {t: {"S": p} for t, p in zip(tags, pks, strict=True)},
            lambda i: i["pk"] in pks,
        )
    if leaf == "sk<":
        n = draw(st.integers(0, 5))
        return _Cond(f"sk < {n}", f"sk < {tag}", {tag: {"N": str(n)}}, lambda i: i["sk"] < n)
    if leaf == "sk between":
        lo, hi = sorted(draw(st.tuples(st.integers(0, 4), st.integers(0, 4))))
        return _Cond(
            f"sk BETWEEN {lo} AND {hi}",
            f"sk BETWEEN {tag}a AND {tag}b",
            {f"{tag}a": {"N": str(lo)}, f"{tag}b": {"N": str(hi)}},
            lambda i: lo <= i["sk"] <= hi,
        )
    if leaf in ("x=", "x>"):
        n = draw(st.integers(0, 3))
        op = leaf[1]
        return _Cond(
            f"x {op} {n}",
            f"x {op} {tag}",
            {tag: {"N": str(n)}},
            lambda i: "x" in i and (i["x"] == n if op == "=" else i["x"] > n),
        )
    if leaf == "y begins":
        prefix = draw(st.sampled_from(["p", "q", ""]))
        return _Cond(
            f"begins_with(y, '{prefix}')",
            f"begins_with(y, {tag})",
            {tag: {"S": prefix}},
            lambda i: "y" in i and i["y"].startswith(prefix),
        )
    return _Cond("y IS MISSING", "attribute_not_exists(y)", {}, lambda i: "y" not in i)


def _all_pages(raw: RawClient, operation: str, params: dict[str, Any], token: str) -> list[Any]:
    items: list[Any] = []
    while True:
        body = _call(raw, operation, params).json
        items.extend(body["Items"])
        if token == "NextToken" and body.get("NextToken"):
            params = {**params, "NextToken": body["NextToken"]}
        elif token == "LastEvaluatedKey" and body.get("LastEvaluatedKey"):
            params = {**params, "ExclusiveStartKey": body["LastEvaluatedKey"]}
        else:
            return items


def _key(item: dict[str, Any]) -> tuple[str, float]:
    return item["pk"]["S"], float(item["sk"]["N"])


@given(items=_items, cond=_conditions(), limit=st.none() | st.integers(1, 4))
@SETTINGS
def test_select_equals_scan_and_query_with_expressions(
    raw: RawClient, items: dict[tuple[str, int], dict[str, Any]], cond: _Cond, limit: int | None
) -> None:
    table = _table(raw)
    for key, attrs in items.items():
        assert (
            _call(raw, "PutItem", {"TableName": table, "Item": _dynamo(key, attrs)}).status == 200
        )
    extra: dict[str, Any] = {} if limit is None else {"Limit": limit}
    got = _all_pages(
        raw,
        "ExecuteStatement",
        {"Statement": f'SELECT * FROM "{table}" WHERE {cond.partiql}', **extra},
        "NextToken",
    )
    scan: dict[str, Any] = {"TableName": table, "FilterExpression": cond.expression, **extra}
    if cond.values:
        scan["ExpressionAttributeValues"] = cond.values
    want = _all_pages(raw, "Scan", scan, "LastEvaluatedKey")
    assert sorted(got, key=_key) == sorted(want, key=_key)
    model = [
        (k[0], float(k[1]))
        for k, attrs in items.items()
        if cond.test({"pk": k[0], "sk": k[1], **attrs})
    ]
    assert sorted(_key(i) for i in got) == sorted(model)
    # a pinned partition key reads like a Query, in sort-key order
    pinned = f"pk = 'a' AND ({cond.partiql})"
    got = _all_pages(
        raw,
        "ExecuteStatement",
        {"Statement": f'SELECT * FROM "{table}" WHERE {pinned}', **extra},
        "NextToken",
    )
    # (Query refuses a filter on key attributes: the model filters its answer)
    query = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pinned",
        "ExpressionAttributeValues": {":pinned": {"S": "a"}},
    }
    read = _all_pages(raw, "Query", query, "LastEvaluatedKey")
    assert got == [i for i in read if cond.test(_plain(i))]


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    plain: dict[str, Any] = {"pk": item["pk"]["S"], "sk": int(item["sk"]["N"])}
    if "x" in item:
        plain["x"] = int(item["x"]["N"])
    if "y" in item:
        plain["y"] = item["y"]["S"]
    return plain


_writes = st.lists(
    st.tuples(
        st.sampled_from(["insert", "update", "delete"]),
        st.sampled_from(PKS[:2]),
        st.integers(0, 2),
        st.integers(0, 3),
        st.sampled_from([None, "x = 1", "x <> 1", "x IS MISSING", "y IS NOT MISSING"]),
    ),
    max_size=15,
)


def _holds(condition: str | None, item: dict[str, Any]) -> bool:
    if condition is None:
        return True
    return {
        "x = 1": item.get("x") == 1,
        "x <> 1": "x" in item and item["x"] != 1,
        "x IS MISSING": "x" not in item,
        "y IS NOT MISSING": "y" in item,
    }[condition]


@given(writes=_writes)
@SETTINGS
def test_random_writes_match_a_naive_model(raw: RawClient, writes: list[Any]) -> None:
    table = _table(raw)
    model: dict[tuple[str, int], dict[str, Any]] = {}
    for op, pk, sk, value, condition in writes:
        key = (pk, sk)
        where = f"pk = '{pk}' AND sk = {sk}" + (f" AND {condition}" if condition else "")
        if op == "insert":
            statement = f"INSERT INTO \"{table}\" VALUE {{'pk': '{pk}', 'sk': {sk}, 'x': {value}}}"
            expected = "DuplicateItemException" if key in model else None
            if key not in model:
                model[key] = {"x": value}
        elif op == "update":
            statement = f"UPDATE \"{table}\" SET x = {value}, y = 'v' WHERE {where}"
            current = model.get(key)
            if current is not None and _holds(condition, current):
                current.update(x=value, y="v")
                expected = None
            else:
                expected = "ConditionalCheckFailedException"
        else:
            statement = f'DELETE FROM "{table}" WHERE {where}'
            current = model.get(key)
            if current is None:
                expected = None
            elif _holds(condition, current):
                del model[key]
                expected = None
            else:
                expected = "ConditionalCheckFailedException"
        response = _call(raw, "ExecuteStatement", {"Statement": statement})
        if expected is None:
            assert response.json == {"Items": []}, statement
        else:
            assert response.error_type == expected, statement
    table_items = _all_pages(raw, "Scan", {"TableName": table}, "LastEvaluatedKey")
    assert sorted(table_items, key=_key) == sorted(
        (_dynamo(k, v) for k, v in model.items()), key=_key
    )


_WORDS = [
    "SELECT",
    "*",
    "FROM",
    "INSERT",
    "INTO",
    "VALUE",
    "UPDATE",
    "SET",
    "REMOVE",
    "DELETE",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "BETWEEN",
    "IS",
    "MISSING",
    "NULL",
    "TRUE",
    "ORDER",
    "BY",
    "DESC",
    "RETURNING",
    "ALL",
    "MODIFIED",
    "OLD",
    "NEW",
    "EXISTS",
    "pk",
    "sk",
    "x",
    "y",
    "m",
    "=",
    "<>",
    "<",
    ">=",
    "+",
    "-",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "<<",
    ">>",
    ",",
    ".",
    ":",
    "?",
    "1",
    "-2.5e3",
    "'a'",
    "''",
    "size",
    "begins_with",
    "contains",
    "attribute_type",
    "list_append",
    "set_add",
    "set_delete",
    "'pk'",
    "'sk'",
    "0",
    "[0]",
]
_PARAMS = st.lists(
    st.sampled_from([{"S": "a"}, {"N": "1"}, {"SS": ["q"]}, {"L": []}, {"NULL": True}]),
    max_size=3,
)


@given(
    words=st.lists(st.sampled_from(_WORDS), min_size=1, max_size=16),
    params=_PARAMS,
    table_first=st.booleans(),
)
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_any_statement_answers_200_or_a_dynamodb_400(
    raw: RawClient, words: list[str], params: list[Any], table_first: bool
) -> None:
    table = _fuzz_table(raw)
    text = " ".join(f'"{table}"' if w == "pk" and table_first else w for w in words)
    for statement in (text, f'SELECT * FROM "{table}" WHERE {text}', f'UPDATE "{table}" {text}'):
        request: dict[str, Any] = {"Statement": statement}
        if params:
            request["Parameters"] = params
        response = raw.call("ExecuteStatement", request)
        assert response.status in (200, 400), (statement, response.body[:300])
        if response.status == 400:
            assert response.error_type, response.body[:300]


_FUZZ_TABLE: list[str] = []


def _fuzz_table(raw: RawClient) -> str:
    if not _FUZZ_TABLE:
        table = _table(raw)
        for pk, sk in (("a", 1), ("a", 2), ("b", 1)):
            item = {"pk": {"S": pk}, "sk": {"N": str(sk)}, "x": {"N": "1"}, "m": {"M": {}}}
            assert _call(raw, "PutItem", {"TableName": table, "Item": item}).status == 200
        _FUZZ_TABLE.append(table)
    return _FUZZ_TABLE[0]
