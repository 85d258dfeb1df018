"""PartiQL over the wire: ExecuteStatement, BatchExecuteStatement, ExecuteTransaction.

Every case asserts the exact JSON the server sends; every error case also asserts that
nothing changed. Change records are compared with those of the equivalent
PutItem/UpdateItem/DeleteItem on a twin table.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.conftest import RawClient, make_client
from tests.wire.test_streams import create_stream_table, read_stream

CONDITION_FAILED = "The conditional request failed"
KEY_EQUALITY = "Where clause does not contain a mandatory equality on all key attributes"
PARAMETER_COUNT = "Number of parameters in request and statement don't match."


@pytest.fixture
def table(make_table: Callable[..., str]) -> str:
    """A table with hash key ``pk`` (S) and range key ``sk`` (N)."""
    return make_table(range_key=("sk", "N"))


def ok(raw: RawClient, operation: str, params: dict[str, Any]) -> Any:
    response = raw.call(operation, params)
    assert response.status == 200, response.body[:500]
    return response.json


def fails(raw: RawClient, operation: str, params: dict[str, Any], name: str, message: str) -> Any:
    response = raw.call(operation, params)
    assert (response.status, response.error_type, response.message) == (400, name, message), (
        response.body[:500]
    )
    return response.json


def execute(raw: RawClient, statement: str, *parameters: Any, **extra: Any) -> Any:
    params: dict[str, Any] = {"Statement": statement, **extra}
    if parameters:
        params["Parameters"] = list(parameters)
    return ok(raw, "ExecuteStatement", params)


def scan(raw: RawClient, table: str) -> list[Any]:
    items: list[Any] = ok(raw, "Scan", {"TableName": table})["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], float(i["sk"]["N"])))


def put(raw: RawClient, table: str, pk: str, sk: int, **attrs: Any) -> dict[str, Any]:
    item = {"pk": {"S": pk}, "sk": {"N": str(sk)}, **attrs}
    ok(raw, "PutItem", {"TableName": table, "Item": item})
    return item


# ----------------------------------------------------------------------- SELECT


def test_select_by_key_exact_json_and_capacity(raw: RawClient, table: str) -> None:
    item = put(raw, table, "a", 1, m={"M": {"k": {"L": [{"S": "0"}, {"S": "1"}]}}}, v={"S": "x"})
    got = execute(
        raw,
        f"SELECT * FROM \"{table}\" WHERE pk = 'a' AND sk = 1",
        ReturnConsumedCapacity="TOTAL",
    )
    assert got == {
        "Items": [item],
        "ConsumedCapacity": {"TableName": table, "CapacityUnits": 0.5, "ReadCapacityUnits": 0.5},
    }
    got = execute(raw, f'SELECT * FROM "{table}" WHERE sk = 1 AND pk = ?', {"S": "a"})
    assert got == {"Items": [item]}
    assert execute(raw, f"SELECT * FROM \"{table}\" WHERE pk = 'a' AND sk = 2") == {"Items": []}
    got = execute(raw, f"SELECT * FROM \"{table}\" WHERE pk = 'a' AND sk = 1 AND sk = 2")
    assert got == {"Items": []}
    got = execute(raw, f"SELECT * FROM \"{table}\" WHERE pk = 'a' AND sk = 1 AND pk = 'b'")
    assert got == {"Items": []}
    got = execute(raw, f'SELECT m.k[1], v, "nope" FROM "{table}" WHERE pk = ?', {"S": "a"})
    assert got == {"Items": [{"k[1]": {"S": "1"}, "v": {"S": "x"}}]}


def test_select_query_sort_key_range_order_and_filter(raw: RawClient, table: str) -> None:
    for sk in range(6):
        put(raw, table, "a", sk, odd={"BOOL": sk % 2 == 1})
    put(raw, table, "b", 3)
    got = execute(
        raw,
        f"SELECT sk FROM \"{table}\" WHERE pk = 'a' AND sk BETWEEN 1 AND 4 AND odd = TRUE "
        "ORDER BY sk DESC",
    )
    assert got == {"Items": [{"sk": {"N": "3"}}, {"sk": {"N": "1"}}]}
    got = execute(raw, f"SELECT sk FROM \"{table}\" WHERE pk IN ['b', 'a'] AND sk >= 3")
    assert got == {
        "Items": [{"sk": {"N": "3"}}, {"sk": {"N": "3"}}, {"sk": {"N": "4"}}, {"sk": {"N": "5"}}]
    }


def test_select_scan_functions_and_missing(raw: RawClient, table: str) -> None:
    put(raw, table, "a", 1, s={"S": "prefix-1"}, tags={"SS": ["x", "y"]})
    put(raw, table, "b", 2, s={"S": "other"}, n={"NULL": True})
    put(raw, table, "c", 3)
    where = {
        "begins_with(s, 'pre')": ["a"],
        "contains(tags, 'y')": ["a"],
        "attribute_type(s, 'S')": ["a", "b"],
        "s IS MISSING": ["c"],
        "s IS NOT MISSING AND size(s) > 5": ["a"],
        "n IS NULL": ["a", "b", "c"],  # MISSING IS NULL, as in PartiQL
        "n IS NOT NULL": [],
        "s IS NOT NULL": ["a", "b"],
        "exists(tags) OR missing(s)": ["a", "c"],
        "NOT (sk <> 2)": ["b"],
        "sk IN [1, 3] AND pk <> 'c'": ["a"],
    }
    for condition, expected in where.items():
        got = execute(raw, f'SELECT pk FROM "{table}" WHERE {condition}')
        assert sorted(i["pk"]["S"] for i in got["Items"]) == expected, condition


def test_select_paging_with_limit_and_next_token(raw: RawClient, table: str) -> None:
    for pk in ("a", "b"):
        for sk in range(3):
            put(raw, table, pk, sk)
    statement = f"SELECT pk, sk FROM \"{table}\" WHERE pk IN ['a', 'b']"
    seen, token, pages = [], None, 0
    while True:
        extra: dict[str, Any] = {"Limit": 2}
        if token is not None:
            extra["NextToken"] = token
        page = execute(raw, statement, **extra)
        pages += 1
        assert set(page) <= {"Items", "NextToken"}
        seen.extend((i["pk"]["S"], i["sk"]["N"]) for i in page["Items"])
        token = page.get("NextToken")
        if token is None:
            break
    assert seen == [("a", "0"), ("a", "1"), ("a", "2"), ("b", "0"), ("b", "1"), ("b", "2")]
    assert pages >= 3
    first = execute(raw, statement, Limit=1)
    fails(
        raw,
        "ExecuteStatement",
        {"Statement": statement + " AND sk > 0", "NextToken": first["NextToken"]},
        "ValidationException",
        "NextToken does not match request",
    )
    fails(
        raw,
        "ExecuteStatement",
        {"Statement": statement, "NextToken": "garbage"},
        "ValidationException",
        "Invalid NextToken",
    )


def test_select_scan_pages_stop_at_one_megabyte(raw: RawClient, table: str) -> None:
    blob = "x" * 200_000
    for sk in range(7):
        put(raw, table, "big", sk, blob={"S": blob})
    page = execute(raw, f'SELECT sk FROM "{table}"')
    assert len(page["Items"]) == 6 and "NextToken" in page  # 6 x 200 KB ≥ 1 MB
    rest = execute(raw, f'SELECT sk FROM "{table}"', NextToken=page["NextToken"])
    assert rest == {"Items": [{"sk": {"N": "6"}}]}


# ----------------------------------------------------------------------- writes


def test_insert_then_duplicate_fails_and_changes_nothing(raw: RawClient, table: str) -> None:
    got = execute(
        raw,
        f"INSERT INTO \"{table}\" VALUE {{'pk': 'a', 'sk': 1, 'n': 1.50, 's': <<'x', 'y'>>, "
        "'l': [1, 'two', {'m': ?}], 'b': ?}",
        {"NULL": True},
        {"B": "AAE="},
    )
    assert got == {"Items": []}
    item = {
        "pk": {"S": "a"},
        "sk": {"N": "1"},
        "n": {"N": "1.5"},
        "s": {"SS": ["x", "y"]},
        "l": {"L": [{"N": "1"}, {"S": "two"}, {"M": {"m": {"NULL": True}}}]},
        "b": {"B": "AAE="},
    }
    assert scan(raw, table) == [item]
    body = fails(
        raw,
        "ExecuteStatement",
        {"Statement": f"INSERT INTO \"{table}\" VALUE {{'pk': 'a', 'sk': 1, 'other': 2}}"},
        "DuplicateItemException",
        "Duplicate primary key exists in table",
    )
    assert body == {
        "__type": "com.amazonaws.dynamodb.v20120810#DuplicateItemException",
        "message": "Duplicate primary key exists in table",
    }
    assert scan(raw, table) == [item]


def test_update_set_remove_and_returning(raw: RawClient, table: str) -> None:
    put(
        raw,
        table,
        "a",
        1,
        n={"N": "1"},
        l={"L": [{"N": "1"}]},
        s={"SS": ["x"]},
        m={"M": {"b": {"L": [{"S": "0"}, {"S": "1"}]}}},
        gone={"S": "bye"},
    )
    where = "WHERE pk = 'a' AND sk = 1"
    got = execute(
        raw,
        f"UPDATE \"{table}\" SET n = n + 1, l = list_append(l, ?), s = set_add(s, <<'y'>>) "
        f"SET m.b[1] = 'one' REMOVE gone {where} RETURNING ALL NEW *",
        {"L": [{"N": "2"}]},
    )
    new = {
        "pk": {"S": "a"},
        "sk": {"N": "1"},
        "n": {"N": "2"},
        "l": {"L": [{"N": "1"}, {"N": "2"}]},
        "s": {"SS": ["x", "y"]},
        "m": {"M": {"b": {"L": [{"S": "0"}, {"S": "one"}]}}},
    }
    assert got == {"Items": [new]}
    assert scan(raw, table) == [new]
    got = execute(raw, f'UPDATE "{table}" SET n = 5 {where} RETURNING MODIFIED OLD *')
    assert got == {"Items": [{"n": {"N": "2"}}]}
    got = execute(raw, f'UPDATE "{table}" SET n = 6 {where} RETURNING MODIFIED NEW *')
    assert got == {"Items": [{"n": {"N": "6"}}]}
    got = execute(raw, f'UPDATE "{table}" SET n = 7 {where} RETURNING ALL OLD *')
    assert got["Items"][0]["n"] == {"N": "6"}
    assert execute(raw, f'UPDATE "{table}" SET n = 8 {where}') == {"Items": []}


def test_update_of_missing_item_fails_and_creates_nothing(raw: RawClient, table: str) -> None:
    fails(
        raw,
        "ExecuteStatement",
        {"Statement": f"UPDATE \"{table}\" SET x = 1 WHERE pk = 'nope' AND sk = 1"},
        "ConditionalCheckFailedException",
        CONDITION_FAILED,
    )
    assert scan(raw, table) == []


def test_the_whole_where_is_a_condition_for_update_and_delete(raw: RawClient, table: str) -> None:
    """The Dynoxide 0.10 bug: a DELETE that looked only at the key removed a row that
    its filter excluded. Here a false extra predicate changes nothing."""
    item = put(raw, table, "a", 1, status={"S": "active"})
    for statement in (
        f"DELETE FROM \"{table}\" WHERE pk = 'a' AND sk = 1 AND status = 'archived'",
        f"DELETE FROM \"{table}\" WHERE pk = 'a' AND sk = 1 AND (status = 'x' OR sk = 2)",
        f"UPDATE \"{table}\" SET status = 'gone' WHERE pk = 'a' AND sk = 1 AND status IS MISSING",
    ):
        body = fails(
            raw,
            "ExecuteStatement",
            {"Statement": statement, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"},
            "ConditionalCheckFailedException",
            CONDITION_FAILED,
        )
        assert body["Item"] == item
        assert scan(raw, table) == [item]
    got = execute(
        raw,
        f"DELETE FROM \"{table}\" WHERE pk = 'a' AND sk = 1 AND status = 'active' "
        "RETURNING ALL OLD *",
    )
    assert got == {"Items": [item]}
    assert scan(raw, table) == []


def test_delete_of_missing_key_succeeds_and_changes_nothing(raw: RawClient, table: str) -> None:
    item = put(raw, table, "a", 1)
    assert execute(raw, f"DELETE FROM \"{table}\" WHERE pk = 'a' AND sk = 2") == {"Items": []}
    got = execute(
        raw, f"DELETE FROM \"{table}\" WHERE pk = 'zz' AND sk = 2 AND x = 1 RETURNING ALL OLD *"
    )
    assert got == {"Items": []}
    assert scan(raw, table) == [item]


def test_write_capacity(raw: RawClient, table: str) -> None:
    got = execute(
        raw,
        f"INSERT INTO \"{table}\" VALUE {{'pk': 'a', 'sk': 1}}",
        ReturnConsumedCapacity="TOTAL",
    )
    assert got == {
        "Items": [],
        "ConsumedCapacity": {"TableName": table, "CapacityUnits": 1.0, "WriteCapacityUnits": 1.0},
    }


# ----------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("statement", "parameters", "name", "message"),
    [
        (
            "SELECT * FROM \"{t}\" WHERE pk = 'a' AND",
            None,
            "ValidationException",
            "Statement wasn't well formed, can't be processed: unexpected end of statement at "
            "line 1, column {end}; expected a value",
        ),
        (
            "DELET FROM \"{t}\" WHERE pk = 'a'",
            None,
            "ValidationException",
            "Statement wasn't well formed, can't be processed: unexpected token 'DELET' at "
            "line 1, column 1; expected SELECT, INSERT, UPDATE or DELETE",
        ),
        (
            'SELECT * FROM "nope_table"',
            None,
            "ResourceNotFoundException",
            "Requested resource not found",
        ),
        ("DELETE FROM \"{t}\" WHERE pk = 'a'", None, "ValidationException", KEY_EQUALITY),
        (
            "UPDATE \"{t}\" SET x = 1 WHERE pk = 'a' OR sk = 1",
            None,
            "ValidationException",
            KEY_EQUALITY,
        ),
        (
            "DELETE FROM \"{t}\" WHERE pk = 'a' AND sk > 0",
            None,
            "ValidationException",
            KEY_EQUALITY,
        ),
        (
            'SELECT * FROM "{t}" WHERE pk = ? AND sk = ?',
            [{"S": "a"}],
            "ValidationException",
            PARAMETER_COUNT,
        ),
        (
            "SELECT * FROM \"{t}\" WHERE pk = 'a'",
            [{"S": "a"}],
            "ValidationException",
            PARAMETER_COUNT,
        ),
        (
            "UPDATE \"{t}\" SET pk = 'b' WHERE pk = 'a' AND sk = 1",
            None,
            "ValidationException",
            "One or more parameter values were invalid: Cannot update attribute pk. "
            "This attribute is part of the key",
        ),
        (
            "DELETE FROM \"{t}\" WHERE pk = 'a' AND sk = 1 RETURNING ALL NEW *",
            None,
            "ValidationException",
            "Invalid returning clause: RETURNING ALL NEW *. Only RETURNING ALL OLD * is allowed in "
            "DELETE statements.",
        ),
        (
            "INSERT INTO \"{t}\" VALUE {{'pk': 'a', 's': <<>>}}",
            None,
            "ValidationException",
            "Empty bags are not supported",
        ),
        (
            'SELECT * FROM "{t}" WHERE frob(a)',
            None,
            "ValidationException",
            "Unrecognized function: frob",
        ),
    ],
)
def test_errors_change_nothing(
    raw: RawClient,
    table: str,
    statement: str,
    parameters: list[Any] | None,
    name: str,
    message: str,
) -> None:
    item = put(raw, table, "a", 1)
    text = statement.format(t=table)
    params: dict[str, Any] = {"Statement": text}
    if parameters is not None:
        params["Parameters"] = parameters
    fails(raw, "ExecuteStatement", params, name, message.format(end=len(text) + 1))
    assert scan(raw, table) == [item]


def test_insert_race_exactly_one_wins_each_round(endpoint: str, table: str) -> None:
    clients = [make_client(endpoint) for _ in range(16)]
    barrier = threading.Barrier(16)

    def insert(client: Any, round_no: int) -> str:
        barrier.wait(timeout=30)
        try:
            client.execute_statement(
                Statement=f"INSERT INTO \"{table}\" VALUE {{'pk': 'race', 'sk': {round_no}}}"
            )
        except client.exceptions.DuplicateItemException:
            return "duplicate"
        return "ok"

    with ThreadPoolExecutor(16) as pool:
        for round_no in range(100):
            outcomes = list(pool.map(insert, clients, [round_no] * 16))
            assert sorted(outcomes) == ["duplicate"] * 15 + ["ok"], round_no
    raw = RawClient(endpoint)
    assert len(scan(raw, table)) == 100


# ---------------------------------------------------------------- change records


def _comparable(records: list[dict[str, Any]]) -> list[Any]:
    return [
        (
            r["eventName"],
            r["dynamodb"]["Keys"],
            r["dynamodb"].get("OldImage"),
            r["dynamodb"].get("NewImage"),
            r["dynamodb"]["SizeBytes"],
        )
        for r in records
    ]


def test_partiql_writes_make_the_records_of_their_equivalents(ddb: Any, raw: RawClient) -> None:
    classic, classic_arn = create_stream_table(ddb)
    partiql, partiql_arn = create_stream_table(ddb)
    assert classic_arn is not None and partiql_arn is not None
    key = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    # insert
    ok(raw, "PutItem", {"TableName": classic, "Item": {**key, "v": {"S": "x"}}})
    execute(raw, f"INSERT INTO \"{partiql}\" VALUE {{'pk': 'a', 'sk': 1, 'v': 'x'}}")
    # update
    ok(
        raw,
        "UpdateItem",
        {
            "TableName": classic,
            "Key": key,
            "UpdateExpression": "SET v = :v, n = :n",
            "ExpressionAttributeValues": {":v": {"S": "y"}, ":n": {"N": "1"}},
        },
    )
    execute(raw, f"UPDATE \"{partiql}\" SET v = 'y', n = 1 WHERE pk = 'a' AND sk = 1")
    # a failed condition: no record
    raw.call(
        "DeleteItem",
        {
            "TableName": classic,
            "Key": key,
            "ConditionExpression": "v = :z",
            "ExpressionAttributeValues": {":z": {"S": "z"}},
        },
    )
    raw.call(
        "ExecuteStatement",
        {"Statement": f"DELETE FROM \"{partiql}\" WHERE pk = 'a' AND sk = 1 AND v = 'z'"},
    )
    # a delete of a missing key: no record
    ok(raw, "DeleteItem", {"TableName": classic, "Key": {**key, "sk": {"N": "9"}}})
    execute(raw, f"DELETE FROM \"{partiql}\" WHERE pk = 'a' AND sk = 9")
    # delete
    ok(raw, "DeleteItem", {"TableName": classic, "Key": key})
    execute(raw, f"DELETE FROM \"{partiql}\" WHERE pk = 'a' AND sk = 1")
    # a transaction and a batch
    ok(
        raw,
        "TransactWriteItems",
        {"TransactItems": [{"Put": {"TableName": classic, "Item": {**key, "t": {"S": "1"}}}}]},
    )
    ok(
        raw,
        "ExecuteTransaction",
        {
            "TransactStatements": [
                {"Statement": f"INSERT INTO \"{partiql}\" VALUE {{'pk': 'a', 'sk': 1, 't': '1'}}"}
            ]
        },
    )
    ok(
        raw,
        "BatchWriteItem",
        {"RequestItems": {classic: [{"DeleteRequest": {"Key": key}}]}},
    )
    ok(
        raw,
        "BatchExecuteStatement",
        {"Statements": [{"Statement": f"DELETE FROM \"{partiql}\" WHERE pk = 'a' AND sk = 1"}]},
    )
    want = _comparable(read_stream(raw, classic_arn))
    assert [w[0] for w in want] == ["INSERT", "MODIFY", "REMOVE", "INSERT", "REMOVE"]
    assert _comparable(read_stream(raw, partiql_arn)) == want


# ------------------------------------------------------------ batch and transaction


def test_batch_reads_and_writes_each_get_their_entry(raw: RawClient, table: str) -> None:
    item = put(raw, table, "a", 1, v={"S": "x"})
    got = ok(
        raw,
        "BatchExecuteStatement",
        {
            "Statements": [
                {"Statement": f"SELECT v FROM \"{table}\" WHERE pk = 'a' AND sk = 1"},
                {
                    "Statement": f"SELECT * FROM \"{table}\" WHERE pk = 'a' AND sk = ?",
                    "Parameters": [{"N": "2"}],
                },
                {"Statement": f"SELECT * FROM \"{table}\" WHERE pk = 'a'"},
                {"Statement": "SELECT * FROM \"nope_table\" WHERE pk = 'a' AND sk = 1"},
            ],
            "ReturnConsumedCapacity": "TOTAL",
        },
    )
    assert got == {
        "Responses": [
            {"TableName": table, "Item": {"v": {"S": "x"}}},
            {"TableName": table},
            {
                "TableName": table,
                "Error": {
                    "Code": "ValidationError",
                    "Message": "Select statements within BatchExecuteStatement must specify the "
                    "primary key in the where clause.",
                },
            },
            {"Error": {"Code": "ResourceNotFound", "Message": "Requested resource not found"}},
        ],
        "ConsumedCapacity": [{"TableName": table, "CapacityUnits": 1.0, "ReadCapacityUnits": 1.0}],
    }
    got = ok(
        raw,
        "BatchExecuteStatement",
        {
            "Statements": [
                {"Statement": f"INSERT INTO \"{table}\" VALUE {{'pk': 'b', 'sk': 1}}"},
                {"Statement": f"INSERT INTO \"{table}\" VALUE {{'pk': 'a', 'sk': 1}}"},
                {
                    "Statement": f"UPDATE \"{table}\" SET v = 'y' WHERE pk = 'a' AND sk = 1 AND v = 'q'",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                },
                {"Statement": f"UPDATE \"{table}\" SET w = 1 WHERE pk = 'a' AND sk = 1"},
            ]
        },
    )
    assert got == {
        "Responses": [
            {"TableName": table},
            {
                "TableName": table,
                "Error": {
                    "Code": "DuplicateItem",
                    "Message": "Duplicate primary key exists in table",
                },
            },
            {
                "TableName": table,
                "Error": {
                    "Code": "ConditionalCheckFailed",
                    "Message": CONDITION_FAILED,
                    "Item": item,
                },
            },
            {"TableName": table},
        ]
    }
    assert scan(raw, table) == [{**item, "w": {"N": "1"}}, {"pk": {"S": "b"}, "sk": {"N": "1"}}]


def test_batch_and_transaction_refuse_mixing_reads_and_writes(raw: RawClient, table: str) -> None:
    mixed = [
        {"Statement": f"SELECT * FROM \"{table}\" WHERE pk = 'a' AND sk = 1"},
        {"Statement": f"INSERT INTO \"{table}\" VALUE {{'pk': 'a', 'sk': 1}}"},
    ]
    fails(
        raw,
        "BatchExecuteStatement",
        {"Statements": mixed},
        "ValidationException",
        "BatchExecuteStatement API does not support both read and write operations in the same "
        "request.",
    )
    fails(
        raw,
        "ExecuteTransaction",
        {"TransactStatements": mixed},
        "ValidationException",
        "ExecuteTransaction API does not support both read and write operations in the same "
        "request.",
    )
    fails(
        raw,
        "BatchExecuteStatement",
        {"Statements": []},
        "ValidationException",
        "1 validation error detected: Value '[]' at 'statements' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1",
    )
    assert scan(raw, table) == []


def test_transaction_is_all_or_nothing(raw: RawClient, table: str) -> None:
    item = put(raw, table, "a", 1, v={"S": "x"})
    statements = [
        {"Statement": f"INSERT INTO \"{table}\" VALUE {{'pk': 'b', 'sk': 1}}"},
        {"Statement": f"UPDATE \"{table}\" SET v = 'y' WHERE pk = 'a' AND sk = 1"},
        {"Statement": f"UPDATE \"{table}\" SET v = 'z' WHERE pk = 'c' AND sk = 1"},
    ]
    body = fails(
        raw,
        "ExecuteTransaction",
        {"TransactStatements": statements},
        "TransactionCanceledException",
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[None, None, ConditionalCheckFailed]",
    )
    assert body["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "None"},
        {"Code": "ConditionalCheckFailed", "Message": CONDITION_FAILED},
    ]
    assert scan(raw, table) == [item]
    token = "tok-" + table
    request = {"TransactStatements": statements[:2], "ClientRequestToken": token}
    assert ok(raw, "ExecuteTransaction", request) == {}
    assert ok(raw, "ExecuteTransaction", request) == {}  # replayed: nothing runs twice
    assert scan(raw, table) == [{**item, "v": {"S": "y"}}, {"pk": {"S": "b"}, "sk": {"N": "1"}}]
    fails(
        raw,
        "ExecuteTransaction",
        {"TransactStatements": statements[1:2], "ClientRequestToken": token},
        "IdempotentParameterMismatchException",
        "Request parameters do not match previous request with the same ClientRequestToken",
    )
    got = ok(
        raw,
        "ExecuteTransaction",
        {
            "TransactStatements": [
                {"Statement": f"SELECT v FROM \"{table}\" WHERE pk = 'a' AND sk = 1"},
                {"Statement": f"SELECT * FROM \"{table}\" WHERE pk = 'zz' AND sk = 1"},
                {"Statement": f"SELECT nope FROM \"{table}\" WHERE pk = 'b' AND sk = 1"},
            ]
        },
    )
    assert got == {"Responses": [{"Item": {"v": {"S": "y"}}}, {}, {"Item": {}}]}


def test_boto3_execute_statement(ddb: Any, table: str) -> None:
    ddb.execute_statement(
        Statement=f"INSERT INTO \"{table}\" VALUE {{'pk': ?, 'sk': ?}}",
        Parameters=[{"S": "a"}, {"N": "1"}],
    )
    got = ddb.execute_statement(Statement=f"SELECT * FROM \"{table}\" WHERE pk = 'a'")
    assert got["Items"] == [{"pk": {"S": "a"}, "sk": {"N": "1"}}]
    with pytest.raises(ddb.exceptions.DuplicateItemException):
        ddb.execute_statement(Statement=f"INSERT INTO \"{table}\" VALUE {{'pk': 'a', 'sk': 1}}")
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.execute_statement(Statement=f"UPDATE \"{table}\" SET x = 1 WHERE pk = 'b' AND sk = 1")


def test_exists_is_a_condition_check_of_write_transactions(raw: RawClient, table: str) -> None:
    item = put(raw, table, "a", 1, v={"S": "x"})
    insert = {"Statement": f"INSERT INTO \"{table}\" VALUE {{'pk': 'b', 'sk': 1}}"}
    check = f"EXISTS(SELECT * FROM \"{table}\" WHERE pk = 'a' AND sk = 1 AND v = ?)"
    body = fails(
        raw,
        "ExecuteTransaction",
        {
            "TransactStatements": [
                {
                    "Statement": check,
                    "Parameters": [{"S": "nope"}],
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                },
                insert,
            ]
        },
        "TransactionCanceledException",
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[ConditionalCheckFailed, None]",
    )
    assert body["CancellationReasons"] == [
        {"Code": "ConditionalCheckFailed", "Message": CONDITION_FAILED, "Item": item},
        {"Code": "None"},
    ]
    assert scan(raw, table) == [item]
    request = {"TransactStatements": [{"Statement": check, "Parameters": [{"S": "x"}]}, insert]}
    assert ok(raw, "ExecuteTransaction", request) == {}
    assert scan(raw, table) == [item, {"pk": {"S": "b"}, "sk": {"N": "1"}}]
    fails(
        raw,
        "ExecuteStatement",
        {"Statement": check, "Parameters": [{"S": "x"}]},
        "ValidationException",
        "EXISTS can only be used in ExecuteTransaction write requests.",
    )


def test_select_from_an_index(raw: RawClient, table_name: str) -> None:
    ok(
        raw,
        "CreateTable",
        {
            "TableName": table_name,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "team", "AttributeType": "S"},
            ],
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "by_team",
                    "KeySchema": [{"AttributeName": "team", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )
    for pk, team in (("a", "red"), ("b", "blue"), ("c", "red")):
        ok(
            raw,
            "PutItem",
            {
                "TableName": table_name,
                "Item": {"pk": {"S": pk}, "team": {"S": team}, "n": {"N": "1"}},
            },
        )
    statement = f'SELECT * FROM "{table_name}"."by_team" WHERE team = \'red\''
    got = execute(raw, statement)
    assert sorted(got["Items"], key=lambda i: i["pk"]["S"]) == [
        {"pk": {"S": "a"}, "team": {"S": "red"}},
        {"pk": {"S": "c"}, "team": {"S": "red"}},
    ]
    fails(
        raw,
        "ExecuteStatement",
        {"Statement": statement, "ConsistentRead": True},
        "ValidationException",
        "Consistent reads are not supported on global secondary indexes",
    )
