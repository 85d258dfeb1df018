"""Secondary indexes against a naive in-memory model, over random write sequences.

A table ``(pk S, sk S)`` with one global index ``gsi`` (``gh`` S, ``gr`` N, INCLUDE
``inc``) and one local index ``lsi`` (``lr`` S, KEYS_ONLY). Random sequences of
PutItem / UpdateItem (SET and REMOVE of index keys and other attributes, with and
without conditions) / DeleteItem / BatchWriteItem / TransactWriteItems / writes that
must be refused run against the server and against a dict. Every few steps and at the
end, every index partition is queried forwards and backwards with ``Limit=2``, paging
through ``LastEvaluatedKey``, and must equal what the model computes: the items in the
index, their projected attributes exactly, in index order (``gr`` by numeric value,
``lr`` by bytes) with ties in table-key order, and exact page boundaries. DescribeTable's
ItemCount for the table and for each index must match as well.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

PKS = ["a", "b"]
SKS = ["s0", "s1", "s2", "s3", "s4", "s5"]
GHS = ["g0", "g1"]
# (what is sent, what DynamoDB stores and returns); equal values make ties
NUMBERS = [
    ("-7", "-7"),
    ("-0.5", "-0.5"),
    ("0", "0"),
    ("3", "3"),
    ("3.0", "3"),
    ("12", "12"),
    ("1E+2", "100"),
    ("99.5", "99.5"),
]
LRS = ["a", "b", "bb", "c", "Z", "ü"]  # byte order: "Z" < "a" < … < "ü"
NON_KEY = ["gh", "gr", "lr", "inc", "other"]
GSI_KEYS = ("gh", "gr")
LSI_KEYS = ("lr",)
LIMIT = 2

Item = dict[str, dict[str, Any]]
Key = tuple[str, str]


@dataclass(frozen=True)
class Value:
    sent: dict[str, Any]
    stored: dict[str, Any]


def _plain(value: dict[str, Any]) -> Value:
    return Value(value, value)


VALUES: dict[str, st.SearchStrategy[Value]] = {
    "gh": st.sampled_from(GHS).map(lambda s: _plain({"S": s})),
    "gr": st.sampled_from(NUMBERS).map(lambda n: Value({"N": n[0]}, {"N": n[1]})),
    "lr": st.sampled_from(LRS).map(lambda s: _plain({"S": s})),
    "inc": st.one_of(
        st.sampled_from(["x", "y", ""]).map(lambda s: _plain({"S": s})),
        st.integers(-5, 5).map(lambda n: _plain({"N": str(n)})),
        st.just(_plain({"L": [{"S": "l"}, {"BOOL": True}]})),
    ),
    "other": st.one_of(
        st.sampled_from(["o1", "o2"]).map(lambda s: _plain({"S": s})),
        st.just(_plain({"M": {"m": {"NULL": True}}})),
    ),
}

keys_st = st.tuples(st.sampled_from(PKS), st.sampled_from(SKS))


def _attrs(present: float) -> st.SearchStrategy[dict[str, Value]]:
    """Each attribute present with about the given probability (index keys often)."""
    chosen = {
        name: st.tuples(st.floats(0, 1), values).map(
            lambda pair: pair[1] if pair[0] < present else None
        )
        for name, values in VALUES.items()
    }
    return st.fixed_dictionaries(chosen).map(
        lambda d: {name: value for name, value in d.items() if value is not None}
    )


attrs_st = _attrs(0.75)
sets_st = _attrs(0.35)
condition_st = st.sampled_from([None, None, None, "exists", "not_exists"])
removes_st = st.sets(st.sampled_from(NON_KEY), max_size=2)


@dataclass
class Put:
    key: Key
    attrs: dict[str, Value]
    condition: str | None = None


@dataclass
class Update:
    key: Key
    sets: dict[str, Value]
    removes: frozenset[str]
    condition: str | None = None


@dataclass
class Delete:
    key: Key
    condition: str | None = None


@dataclass
class Check:
    key: Key
    condition: str


@dataclass
class Batch:
    writes: list[Put | Delete]


@dataclass
class Transact:
    writes: list[Put | Update | Delete | Check]


@dataclass
class Invalid:
    """A write whose index key value is not allowed: refused, changes nothing."""

    key: Key
    attr: str
    value: dict[str, Any]
    via_update: bool


def _update(key: Key, sets: dict[str, Value], removes: set[str], condition: str | None) -> Update:
    removes_only = frozenset(removes - set(sets))
    if not sets and not removes_only:
        removes_only = frozenset({"other"})
    # an UpdateItem of a missing item creates it when it SETs something; with nothing to
    # SET, ask for the item to exist so the outcome does not hinge on that corner
    if not sets:
        condition = "exists"
    return Update(key, sets, removes_only, condition)


put_st = st.builds(Put, keys_st, attrs_st, condition_st)
update_st = st.builds(_update, keys_st, sets_st, removes_st, condition_st)
delete_st = st.builds(Delete, keys_st, condition_st)
check_st = st.builds(Check, keys_st, st.sampled_from(["exists", "not_exists"]))


batch_st = st.builds(
    Batch,
    st.lists(
        st.sampled_from(
            [st.builds(Put, keys_st, attrs_st)] * 3 + [st.builds(Delete, keys_st)]
        ).flatmap(lambda strategy: strategy),
        min_size=1,
        max_size=6,
        unique_by=lambda w: w.key,
    ),
)
transact_st = st.builds(
    Transact,
    st.lists(
        st.one_of(put_st, update_st, delete_st, check_st),
        min_size=1,
        max_size=4,
        unique_by=lambda w: w.key,
    ),
)
# index key values DynamoDB refuses: the wrong type, or an empty string
INVALID = [
    ("gh", {"S": ""}),
    ("gh", {"N": "1"}),
    ("gr", {"S": "1"}),
    ("gr", {"BOOL": True}),
    ("lr", {"S": ""}),
    ("lr", {"NULL": True}),
]
invalid_st = st.builds(
    lambda key, bad, via_update: Invalid(key, bad[0], bad[1], via_update),
    keys_st,
    st.sampled_from(INVALID),
    st.booleans(),
)
# weighted: mostly puts and updates, so the indexes fill up and pages run several deep
step_st = st.sampled_from(
    [put_st] * 4 + [update_st] * 4 + [delete_st, batch_st, transact_st, transact_st, invalid_st]
).flatmap(lambda strategy: strategy)


# --- the model -------------------------------------------------------------------------


@dataclass
class Model:
    items: dict[Key, Item] = field(default_factory=dict)

    def holds(self, key: Key, condition: str | None) -> bool:
        if condition is None:
            return True
        return (key in self.items) == (condition == "exists")

    def apply(self, write: Put | Update | Delete | Check) -> None:
        key = write.key
        if isinstance(write, Put):
            self.items[key] = _key_item(key) | {n: v.stored for n, v in write.attrs.items()}
        elif isinstance(write, Update):
            item = dict(self.items.get(key, _key_item(key)))
            item |= {n: v.stored for n, v in write.sets.items()}
            for name in write.removes:
                item.pop(name, None)
            self.items[key] = item
        elif isinstance(write, Delete):
            self.items.pop(key, None)

    def gsi(self, gh: str) -> list[Item]:
        members = [i for i in self.items.values() if "gh" in i and "gr" in i and i["gh"]["S"] == gh]
        members.sort(key=lambda i: (Decimal(i["gr"]["N"]), *_table_order(i)))
        keep = {"pk", "sk", "gh", "gr", "inc"}
        return [{n: v for n, v in i.items() if n in keep} for i in members]

    def lsi(self, pk: str) -> list[Item]:
        members = [i for i in self.items.values() if "lr" in i and i["pk"]["S"] == pk]
        members.sort(key=lambda i: (i["lr"]["S"].encode(), *_table_order(i)))
        return [{n: v for n, v in i.items() if n in ("pk", "sk", "lr")} for i in members]


def _key_item(key: Key) -> Item:
    return {"pk": {"S": key[0]}, "sk": {"S": key[1]}}


def _table_order(item: Item) -> tuple[bytes, bytes]:
    return item["pk"]["S"].encode(), item["sk"]["S"].encode()


# --- requests ----------------------------------------------------------------------------


def _condition(condition: str | None) -> dict[str, str]:
    if condition is None:
        return {}
    fn = "attribute_exists" if condition == "exists" else "attribute_not_exists"
    return {"ConditionExpression": f"{fn}(pk)"}


def _put_request(table: str, write: Put) -> dict[str, Any]:
    item = _key_item(write.key) | {n: v.sent for n, v in write.attrs.items()}
    return {"TableName": table, "Item": item, **_condition(write.condition)}


def _update_request(table: str, write: Update) -> dict[str, Any]:
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    clauses = []
    if write.sets:
        parts = []
        for i, (name, value) in enumerate(sorted(write.sets.items())):
            names[f"#s{i}"] = name
            values[f":s{i}"] = value.sent
            parts.append(f"#s{i} = :s{i}")
        clauses.append("SET " + ", ".join(parts))
    if write.removes:
        parts = []
        for i, name in enumerate(sorted(write.removes)):
            names[f"#r{i}"] = name
            parts.append(f"#r{i}")
        clauses.append("REMOVE " + ", ".join(parts))
    request: dict[str, Any] = {
        "TableName": table,
        "Key": _key_item(write.key),
        "UpdateExpression": " ".join(clauses),
        "ExpressionAttributeNames": names,
        **_condition(write.condition),
    }
    if values:
        request["ExpressionAttributeValues"] = values
    return request


def _delete_request(table: str, write: Delete | Check) -> dict[str, Any]:
    return {"TableName": table, "Key": _key_item(write.key), **_condition(write.condition)}


def _error_code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def run_step(ddb: Any, table: str, model: Model, step: Any) -> None:
    if isinstance(step, Put | Update | Delete):
        send = {Put: ddb.put_item, Update: ddb.update_item, Delete: ddb.delete_item}[type(step)]
        build: Callable[[str, Any], dict[str, Any]] = {
            Put: _put_request,
            Update: _update_request,
            Delete: _delete_request,
        }[type(step)]
        applies = model.holds(step.key, step.condition)
        event(f"{type(step).__name__}: {'applied' if applies else 'refused'}")
        if applies:
            send(**build(table, step))
            model.apply(step)
        else:
            with pytest.raises(ClientError) as error:
                send(**build(table, step))
            assert _error_code(error.value) == "ConditionalCheckFailedException"
    elif isinstance(step, Batch):
        requests = [
            {"PutRequest": {"Item": _put_request(table, w)["Item"]}}
            if isinstance(w, Put)
            else {"DeleteRequest": {"Key": _key_item(w.key)}}
            for w in step.writes
        ]
        response = ddb.batch_write_item(RequestItems={table: requests})
        assert response["UnprocessedItems"] == {}
        for w in step.writes:
            model.apply(w)
    elif isinstance(step, Transact):
        items = []
        for w in step.writes:
            if isinstance(w, Put):
                items.append({"Put": _put_request(table, w)})
            elif isinstance(w, Update):
                items.append({"Update": _update_request(table, w)})
            elif isinstance(w, Delete):
                items.append({"Delete": _delete_request(table, w)})
            else:
                items.append({"ConditionCheck": _delete_request(table, w)})
        reasons = [
            "None" if model.holds(w.key, w.condition) else "ConditionalCheckFailed"
            for w in step.writes
        ]
        applies = all(r == "None" for r in reasons)
        event(f"Transact of {len(items)}: {'applied' if applies else 'cancelled'}")
        if applies:
            ddb.transact_write_items(TransactItems=items)
            for w in step.writes:
                model.apply(w)
        else:
            with pytest.raises(ClientError) as error:
                ddb.transact_write_items(TransactItems=items)
            assert _error_code(error.value) == "TransactionCanceledException"
            got = [r["Code"] for r in error.value.response["CancellationReasons"]]
            assert got == reasons
    else:
        assert isinstance(step, Invalid)
        with pytest.raises(ClientError) as error:
            if step.via_update:
                ddb.update_item(
                    TableName=table,
                    Key=_key_item(step.key),
                    UpdateExpression="SET #a = :v",
                    ExpressionAttributeNames={"#a": step.attr},
                    ExpressionAttributeValues={":v": step.value},
                )
            else:
                ddb.put_item(TableName=table, Item=_key_item(step.key) | {step.attr: step.value})
        assert _error_code(error.value) == "ValidationException"


# --- checking ----------------------------------------------------------------------------


def _page_sizes(n: int) -> list[int]:
    """DynamoDB stops at Limit and hands back a key even when nothing follows."""
    return [LIMIT] * (n // LIMIT) + [n % LIMIT]


def _query_all(
    ddb: Any, table: str, index: str, hash_name: str, hash_value: str, forward: bool
) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    start = None
    while True:
        request: dict[str, Any] = {
            "TableName": table,
            "IndexName": index,
            "KeyConditionExpression": "#h = :h",
            "ExpressionAttributeNames": {"#h": hash_name},
            "ExpressionAttributeValues": {":h": {"S": hash_value}},
            "ScanIndexForward": forward,
            "Limit": LIMIT,
        }
        if start is not None:
            request["ExclusiveStartKey"] = start
        page = ddb.query(**request)
        pages.append(page)
        start = page.get("LastEvaluatedKey")
        if start is None:
            return pages
        assert len(pages) <= 20, "paging does not end"


def check_index(
    ddb: Any,
    table: str,
    index: str,
    hash_name: str,
    hash_value: str,
    key_names: tuple[str, ...],
    expected: list[Item],
) -> None:
    for forward in (True, False):
        want = expected if forward else list(reversed(expected))
        pages = _query_all(ddb, table, index, hash_name, hash_value, forward)
        got = [item for page in pages for item in page["Items"]]
        where = f"{index} {hash_name}={hash_value} forward={forward}"
        assert got == want, where
        assert [len(p["Items"]) for p in pages] == _page_sizes(len(want)), where
        for page in pages:
            assert page["Count"] == page["ScannedCount"] == len(page["Items"]), where
            if "LastEvaluatedKey" in page:
                last = page["Items"][-1]
                assert page["LastEvaluatedKey"] == {n: last[n] for n in key_names}, where


def check_all(ddb: Any, table: str, model: Model) -> None:
    scanned = ddb.scan(TableName=table)["Items"]
    assert sorted(scanned, key=_table_order) == sorted(model.items.values(), key=_table_order)
    for gh in GHS:
        check_index(ddb, table, "gsi", "gh", gh, ("pk", "sk", *GSI_KEYS), model.gsi(gh))
    # a global index never reads the table: only ALL projections answer ALL_ATTRIBUTES
    with pytest.raises(ClientError) as error:
        ddb.query(
            TableName=table,
            IndexName="gsi",
            KeyConditionExpression="gh = :h",
            ExpressionAttributeValues={":h": {"S": GHS[0]}},
            Select="ALL_ATTRIBUTES",
        )
    assert _error_code(error.value) == "ValidationException"
    for pk in PKS:
        check_index(ddb, table, "lsi", "pk", pk, ("pk", "sk", *LSI_KEYS), model.lsi(pk))
        # a local index fetches the attributes it does not project from the table
        everything = ddb.query(
            TableName=table,
            IndexName="lsi",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": pk}},
            Select="ALL_ATTRIBUTES",
        )["Items"]
        assert everything == [model.items[(i["pk"]["S"], i["sk"]["S"])] for i in model.lsi(pk)]
    event(f"gsi entries at a check: {sum(len(model.gsi(gh)) for gh in GHS) // 3 * 3}+")
    event(f"lsi entries at a check: {sum(len(model.lsi(pk)) for pk in PKS) // 3 * 3}+")
    desc = ddb.describe_table(TableName=table)["Table"]
    assert desc["ItemCount"] == len(model.items)
    (gsi,) = desc["GlobalSecondaryIndexes"]
    (lsi,) = desc["LocalSecondaryIndexes"]
    assert gsi["ItemCount"] == sum(len(model.gsi(gh)) for gh in GHS)
    assert lsi["ItemCount"] == sum(len(model.lsi(pk)) for pk in PKS)


def create_table(ddb: Any) -> str:
    name = f"idx_{uuid.uuid4().hex[:12]}"
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "gh", "AttributeType": "S"},
            {"AttributeName": "gr", "AttributeType": "N"},
            {"AttributeName": "lr", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi",
                "KeySchema": [
                    {"AttributeName": "gh", "KeyType": "HASH"},
                    {"AttributeName": "gr", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["inc"]},
            }
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "lsi",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "lr", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )
    return name


CHECK_EVERY = 10


@pytest.mark.slow
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step_st, min_size=25, max_size=35))
def test_indexes_match_model(ddb: Any, steps: list[Any]) -> None:
    table = create_table(ddb)
    model = Model()
    try:
        for number, step in enumerate(steps, start=1):
            run_step(ddb, table, model, step)
            if number % CHECK_EVERY == 0:
                check_all(ddb, table, model)
        check_all(ddb, table, model)
    finally:
        ddb.delete_table(TableName=table)
