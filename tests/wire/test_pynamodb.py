"""An application's test suite written with PynamoDB models, run against the real server.

The models below are what an application would declare: an ``Order`` table keyed by
store and order id, a global index by customer (INCLUDE projection), a global index by
status (KEYS_ONLY) and a local index by total (ALL). Each test gets its own table.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pynamodb.attributes import (
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    VersionAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import (
    DeleteError,
    DoesNotExist,
    PutError,
    QueryError,
    TransactWriteError,
    UpdateError,
)
from pynamodb.indexes import (
    AllProjection,
    GlobalSecondaryIndex,
    IncludeProjection,
    KeysOnlyProjection,
    LocalSecondaryIndex,
)
from pynamodb.models import Model
from pynamodb.transactions import TransactGet, TransactWrite

TABLE_KEYS = ("store", "order_id")


class CustomerIndex(GlobalSecondaryIndex["Order"]):
    """A customer's orders by time of placing; carries status and note along."""

    class Meta:
        index_name = "by_customer"
        projection = IncludeProjection(["status", "note"])

    customer = UnicodeAttribute(hash_key=True)
    placed_at = NumberAttribute(range_key=True)


class StatusIndex(GlobalSecondaryIndex["Order"]):
    """Orders in one status, by customer name; keys only."""

    class Meta:
        index_name = "by_status"
        projection = KeysOnlyProjection()

    status = UnicodeAttribute(hash_key=True)
    customer = UnicodeAttribute(range_key=True)


class TotalIndex(LocalSecondaryIndex["Order"]):
    """A store's orders by total; the whole item."""

    class Meta:
        index_name = "by_total"
        projection = AllProjection()

    store = UnicodeAttribute(hash_key=True)
    total = NumberAttribute(range_key=True)


class Order(Model):
    class Meta:
        table_name = "orders"
        region = "us-east-1"
        host: str | None = None

    store = UnicodeAttribute(hash_key=True)
    order_id = UnicodeAttribute(range_key=True)
    customer = UnicodeAttribute(null=True)
    placed_at = NumberAttribute(null=True)
    status = UnicodeAttribute(null=True)
    total = NumberAttribute(null=True)
    note = UnicodeAttribute(null=True)
    lines = ListAttribute(of=UnicodeAttribute, null=True)
    labels = UnicodeSetAttribute(null=True)
    visits = NumberAttribute(null=True)

    by_customer = CustomerIndex()
    by_status = StatusIndex()
    by_total = TotalIndex()


class Profile(Model):
    """Optimistic locking with a version attribute, as applications commonly do."""

    class Meta:
        table_name = "profiles"
        region = "us-east-1"
        host: str | None = None

    user = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(null=True)
    version = VersionAttribute()


@pytest.fixture
def orders(endpoint: str) -> Iterator[type[Order]]:
    Order.Meta.host = endpoint
    Order.Meta.table_name = f"orders_{uuid.uuid4().hex[:10]}"
    Order.create_table(wait=True, billing_mode="PAY_PER_REQUEST")
    yield Order
    Order.delete_table()


@pytest.fixture
def profiles(endpoint: str) -> Iterator[type[Profile]]:
    Profile.Meta.host = endpoint
    Profile.Meta.table_name = f"profiles_{uuid.uuid4().hex[:10]}"
    Profile.create_table(wait=True, billing_mode="PAY_PER_REQUEST")
    yield Profile
    Profile.delete_table()


def order(store: str, order_id: str, **attrs: Any) -> Order:
    return Order(store, order_id, **attrs)


def keys(results: Any) -> list[tuple[str, str]]:
    return [(o.store, o.order_id) for o in results]


def present(model: Model) -> dict[str, Any]:
    """The attributes a model instance actually holds (None means absent)."""
    return {name: value for name, value in model.attribute_values.items() if value is not None}


# --- tables -------------------------------------------------------------------------------


def test_create_table_with_indexes_is_described(orders: type[Order]) -> None:
    assert orders.exists()
    desc = orders.describe_table()
    assert desc["TableStatus"] == "ACTIVE"
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert desc["KeySchema"] == [
        {"AttributeName": "store", "KeyType": "HASH"},
        {"AttributeName": "order_id", "KeyType": "RANGE"},
    ]
    assert sorted(
        (d["AttributeName"], d["AttributeType"]) for d in desc["AttributeDefinitions"]
    ) == [
        ("customer", "S"),
        ("order_id", "S"),
        ("placed_at", "N"),
        ("status", "S"),
        ("store", "S"),
        ("total", "N"),
    ]
    gsis = {g["IndexName"]: g for g in desc["GlobalSecondaryIndexes"]}
    assert set(gsis) == {"by_customer", "by_status"}
    assert gsis["by_customer"]["KeySchema"] == [
        {"AttributeName": "customer", "KeyType": "HASH"},
        {"AttributeName": "placed_at", "KeyType": "RANGE"},
    ]
    assert gsis["by_customer"]["Projection"]["ProjectionType"] == "INCLUDE"
    assert sorted(gsis["by_customer"]["Projection"]["NonKeyAttributes"]) == ["note", "status"]
    assert gsis["by_status"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    for gsi in gsis.values():
        assert gsi["IndexStatus"] == "ACTIVE"
        assert gsi["ItemCount"] == 0
        assert gsi["IndexArn"] == f"{desc['TableArn']}/index/{gsi['IndexName']}"
    (lsi,) = desc["LocalSecondaryIndexes"]
    assert lsi["IndexName"] == "by_total"
    assert lsi["KeySchema"] == [
        {"AttributeName": "store", "KeyType": "HASH"},
        {"AttributeName": "total", "KeyType": "RANGE"},
    ]
    assert lsi["Projection"] == {"ProjectionType": "ALL"}
    assert lsi["IndexArn"] == f"{desc['TableArn']}/index/by_total"


# --- items ------------------------------------------------------------------------------


def test_save_get_refresh_delete(orders: type[Order]) -> None:
    o = order(
        "s1",
        "o1",
        customer="ann",
        placed_at=100,
        status="new",
        total=25.5,
        lines=["apple", "pear"],
        labels={"gift"},
    )
    o.save()
    got = orders.get("s1", "o1")
    assert present(got) == {
        "store": "s1",
        "order_id": "o1",
        "customer": "ann",
        "placed_at": 100,
        "status": "new",
        "total": 25.5,
        "lines": ["apple", "pear"],
        "labels": {"gift"},
    }
    assert orders.get("s1", "o1", attributes_to_get=["customer", "total"]).total == 25.5
    with pytest.raises(DoesNotExist):
        orders.get("s1", "missing")

    other = orders.get("s1", "o1")
    o.status = "paid"
    o.save()
    other.refresh()
    assert other.status == "paid"

    o.delete()
    with pytest.raises(DoesNotExist):
        orders.get("s1", "o1")
    with pytest.raises(DoesNotExist):
        other.refresh()


def test_update_actions(orders: type[Order]) -> None:
    o = order(
        "s1",
        "o1",
        status="new",
        total=10,
        note="fragile",
        lines=["a"],
        labels={"x", "y"},
        visits=1,
    )
    o.save()
    o.update(
        actions=[
            Order.status.set("paid"),
            Order.total.set(Order.total + 5),
            Order.visits.add(2),
            Order.labels.add({"z"}),
            Order.note.remove(),
            Order.lines.set(Order.lines.append(["b", "c"])),
        ]
    )
    # update() returns ALL_NEW into the instance
    expected = {
        "store": "s1",
        "order_id": "o1",
        "status": "paid",
        "total": 15,
        "visits": 3,
        "labels": {"x", "y", "z"},
        "lines": ["a", "b", "c"],
    }
    assert present(o) == expected
    assert present(orders.get("s1", "o1")) == expected

    o.update(
        actions=[
            Order.lines.set(Order.lines.prepend(["start"])),
            Order.labels.delete({"x"}),
            Order.customer.set(Order.customer | "walk-in"),
            Order.placed_at.add(7),
        ]
    )
    assert present(orders.get("s1", "o1")) == {
        **expected,
        "lines": ["start", "a", "b", "c"],
        "labels": {"y", "z"},
        "customer": "walk-in",
        "placed_at": 7,
    }

    # ADD to an item that does not exist yet creates it
    fresh = order("s1", "o2")
    fresh.update(actions=[Order.visits.add(1), Order.labels.add({"new"})])
    assert present(orders.get("s1", "o2")) == {
        "store": "s1",
        "order_id": "o2",
        "visits": 1,
        "labels": {"new"},
    }


def test_conditional_writes_fail_with_conditional_check_failed(orders: type[Order]) -> None:
    order("s1", "o1", status="new", total=10).save()

    # "create only if absent"
    with pytest.raises(PutError) as put_error:
        order("s1", "o1", status="dup").save(condition=Order.order_id.does_not_exist())
    assert put_error.value.cause_response_code == "ConditionalCheckFailedException"
    assert put_error.value.cause_response_message == "The conditional request failed"

    with pytest.raises(UpdateError) as update_error:
        order("s1", "o1").update(
            actions=[Order.status.set("shipped")], condition=Order.status == "paid"
        )
    assert update_error.value.cause_response_code == "ConditionalCheckFailedException"

    with pytest.raises(DeleteError) as delete_error:
        order("s1", "o1").delete(condition=Order.total > 100)
    assert delete_error.value.cause_response_code == "ConditionalCheckFailedException"

    # none of the failed writes changed anything
    assert present(orders.get("s1", "o1")) == {
        "store": "s1",
        "order_id": "o1",
        "status": "new",
        "total": 10,
    }

    # conditions that hold go through
    order("s1", "o2", status="new").save(condition=Order.order_id.does_not_exist())
    order("s1", "o1").update(
        actions=[Order.status.set("paid")],
        condition=(Order.status == "new") & Order.total.between(5, 15),
    )
    assert orders.get("s1", "o1").status == "paid"
    order("s1", "o2").delete(condition=Order.status.is_in("new", "paid"))
    with pytest.raises(DoesNotExist):
        orders.get("s1", "o2")


def test_version_attribute_optimistic_locking(profiles: type[Profile]) -> None:
    p = Profile("u1", name="Ann")
    p.save()
    assert p.version == 1
    stale = profiles.get("u1")
    p.name = "Anna"
    p.save()
    assert p.version == 2
    stale.name = "Annie"
    with pytest.raises(PutError) as error:
        stale.save()
    assert error.value.cause_response_code == "ConditionalCheckFailedException"
    with pytest.raises(UpdateError):
        stale.update(actions=[Profile.name.set("Annie")])
    current = profiles.get("u1")
    assert (current.name, current.version) == ("Anna", 2)
    current.update(actions=[Profile.name.set("Ann B.")])
    assert (current.name, current.version) == ("Ann B.", 3)
    with pytest.raises(DeleteError):
        stale.delete()
    current.delete()
    assert profiles.count() == 0


# --- queries ----------------------------------------------------------------------------


def _seed_queries() -> None:
    with Order.batch_write() as batch:
        for i in range(12):
            batch.save(
                order(
                    "s1",
                    f"o{i:02d}",
                    customer="ann" if i % 2 == 0 else "bob",
                    placed_at=1000 - i * 10,
                    status="paid" if i % 3 == 0 else "new",
                    total=i * 5,
                )
            )
        batch.save(order("s2", "o00", customer="ann", placed_at=5, total=1))


def test_query_table_with_range_conditions_and_filter(orders: type[Order]) -> None:
    _seed_queries()
    assert keys(orders.query("s1", Order.order_id.startswith("o0"))) == [
        ("s1", f"o0{i}") for i in range(10)
    ]
    assert keys(orders.query("s1", Order.order_id.between("o03", "o05"))) == [
        ("s1", "o03"),
        ("s1", "o04"),
        ("s1", "o05"),
    ]
    assert keys(orders.query("s1", Order.order_id > "o09")) == [("s1", "o10"), ("s1", "o11")]
    assert keys(orders.query("s1", Order.order_id <= "o01", scan_index_forward=False)) == [
        ("s1", "o01"),
        ("s1", "o00"),
    ]
    filtered = orders.query(
        "s1",
        Order.order_id >= "o02",
        filter_condition=(Order.status == "paid") & (Order.total > 10),
    )
    assert keys(filtered) == [("s1", "o03"), ("s1", "o06"), ("s1", "o09")]
    assert [o.total for o in orders.query("s1", limit=3)] == [0, 5, 10]
    assert keys(orders.query("s2")) == [("s2", "o00")]
    assert list(orders.query("nobody")) == []
    projected = list(orders.query("s1", Order.order_id == "o04", attributes_to_get=["total"]))
    assert [present(o) for o in projected] == [{"total": 20}]


def test_query_global_index_include_projection_in_index_order(orders: type[Order]) -> None:
    # ties on placed_at: ordered by the table key
    order("s2", "b", customer="cy", placed_at=20, status="new", note="n1", total=1).save()
    order("s1", "z", customer="cy", placed_at=20, status="paid", total=2).save()
    order("s1", "a", customer="cy", placed_at=20, total=3, lines=["x"]).save()
    order("s1", "m", customer="cy", placed_at=-5.5, total=4).save()
    order("s3", "c", customer="cy", placed_at=100, total=5).save()
    order("s3", "d", customer="cy", placed_at=3, total=6).save()
    order("s3", "e", customer="cy", total=7).save()  # no placed_at: not in the index
    order("s3", "f", placed_at=3, total=8).save()  # no customer: not in the index
    order("s3", "g", customer="dee", placed_at=1).save()

    results = list(orders.by_customer.query("cy"))
    assert keys(results) == [
        ("s1", "m"),
        ("s3", "d"),
        ("s1", "a"),
        ("s1", "z"),
        ("s2", "b"),
        ("s3", "c"),
    ]
    # INCLUDE: table keys, index keys and the included attributes, nothing else
    assert [present(o) for o in results[2:5]] == [
        {"store": "s1", "order_id": "a", "customer": "cy", "placed_at": 20},
        {"store": "s1", "order_id": "z", "customer": "cy", "placed_at": 20, "status": "paid"},
        {
            "store": "s2",
            "order_id": "b",
            "customer": "cy",
            "placed_at": 20,
            "status": "new",
            "note": "n1",
        },
    ]
    backwards = list(orders.by_customer.query("cy", scan_index_forward=False))
    assert keys(backwards) == list(reversed(keys(results)))
    assert keys(orders.by_customer.query("cy", CustomerIndex.placed_at.between(0, 20))) == [
        ("s3", "d"),
        ("s1", "a"),
        ("s1", "z"),
        ("s2", "b"),
    ]
    assert keys(
        orders.by_customer.query(
            "cy", CustomerIndex.placed_at >= 20, filter_condition=Order.status.exists()
        )
    ) == [("s1", "z"), ("s2", "b")]
    assert keys(orders.by_customer.query("dee")) == [("s3", "g")]
    assert orders.by_customer.count("cy") == 6
    assert orders.by_customer.count("cy", CustomerIndex.placed_at < 20) == 2

    # a scan of the index sees every entry, with the same projection
    scanned = {(o.store, o.order_id): present(o) for o in orders.by_customer.scan()}
    assert set(scanned) == set(keys(results)) | {("s3", "g")}
    assert scanned[("s2", "b")] == present(results[4])

    # global indexes are eventually consistent only
    with pytest.raises(QueryError) as error:
        list(orders.by_customer.query("cy", consistent_read=True))
    assert error.value.cause_response_code == "ValidationException"
    assert error.value.cause_response_message == (
        "Consistent reads are not supported on global secondary indexes"
    )


def test_query_global_index_keys_only(orders: type[Order]) -> None:
    order("s1", "o1", customer="bob", status="paid", total=1, note="x", placed_at=3).save()
    order("s1", "o2", customer="ann", status="paid", total=2).save()
    order("s2", "o1", customer="ann", status="paid").save()
    order("s2", "o2", customer="cat", status="new").save()
    order("s2", "o3", status="paid").save()  # no customer: not in by_status

    results = list(orders.by_status.query("paid"))
    assert keys(results) == [("s1", "o2"), ("s2", "o1"), ("s1", "o1")]
    assert [present(o) for o in results] == [
        {"store": "s1", "order_id": "o2", "status": "paid", "customer": "ann"},
        {"store": "s2", "order_id": "o1", "status": "paid", "customer": "ann"},
        {"store": "s1", "order_id": "o1", "status": "paid", "customer": "bob"},
    ]
    assert keys(orders.by_status.query("paid", StatusIndex.customer.startswith("b"))) == [
        ("s1", "o1")
    ]
    assert keys(orders.by_status.query("new")) == [("s2", "o2")]
    assert keys(orders.by_status.query("paid", scan_index_forward=False)) == [
        ("s1", "o1"),
        ("s2", "o1"),
        ("s1", "o2"),
    ]


def test_query_local_index_all_projection_in_index_order(orders: type[Order]) -> None:
    for order_id, total in [("e", 10), ("b", 2.5), ("d", 10), ("a", -3), ("c", 100), ("f", 10)]:
        order("s1", order_id, total=total, note=f"n-{order_id}", lines=[order_id]).save()
    order("s1", "g", note="no total").save()  # not in the sparse local index
    order("s2", "a", total=0).save()

    results = list(orders.by_total.query("s1"))
    assert [(o.total, o.order_id) for o in results] == [
        (-3, "a"),
        (2.5, "b"),
        (10, "d"),
        (10, "e"),
        (10, "f"),
        (100, "c"),
    ]
    # ALL: every attribute of the item
    assert present(results[1]) == {
        "store": "s1",
        "order_id": "b",
        "total": 2.5,
        "note": "n-b",
        "lines": ["b"],
    }
    assert [o.order_id for o in orders.by_total.query("s1", scan_index_forward=False)] == [
        "c",
        "f",
        "e",
        "d",
        "b",
        "a",
    ]
    assert [o.order_id for o in orders.by_total.query("s1", TotalIndex.total == 10)] == [
        "d",
        "e",
        "f",
    ]
    assert [
        o.order_id
        for o in orders.by_total.query(
            "s1", TotalIndex.total > 0, filter_condition=Order.note.contains("e")
        )
    ] == ["e"]
    assert orders.by_total.count("s1") == 6
    assert keys(orders.by_total.query("s2")) == [("s2", "a")]


def test_indexes_follow_updates_and_deletes(orders: type[Order]) -> None:
    o = order("s1", "o1", customer="ann", placed_at=5, status="new", total=7)
    o.save()
    order("s1", "o2", customer="ann", placed_at=9, status="new", total=3).save()
    assert keys(orders.by_customer.query("ann")) == [("s1", "o1"), ("s1", "o2")]

    # changing the index range key moves the entry
    o.update(actions=[Order.placed_at.set(50)])
    assert keys(orders.by_customer.query("ann")) == [("s1", "o2"), ("s1", "o1")]
    # changing an included attribute changes the projection
    o.update(actions=[Order.status.set("paid"), Order.note.set("hi")])
    got = next(iter(orders.by_customer.query("ann", CustomerIndex.placed_at == 50)))
    assert (got.status, got.note) == ("paid", "hi")
    # changing the index hash key moves the entry to another partition
    o.update(actions=[Order.customer.set("bob")])
    assert keys(orders.by_customer.query("ann")) == [("s1", "o2")]
    assert keys(orders.by_customer.query("bob")) == [("s1", "o1")]
    assert keys(orders.by_status.query("paid")) == [("s1", "o1")]
    # removing a key attribute takes the item out of the sparse index
    o.update(actions=[Order.status.remove(), Order.total.remove()])
    assert list(orders.by_status.query("paid")) == []
    assert [x.order_id for x in orders.by_total.query("s1")] == ["o2"]
    assert keys(orders.by_customer.query("bob")) == [("s1", "o1")]
    # a put that replaces the item replaces its index entries
    order("s1", "o1", customer="cat", placed_at=1).save()
    assert list(orders.by_customer.query("bob")) == []
    assert keys(orders.by_customer.query("cat")) == [("s1", "o1")]
    # delete removes every index entry
    orders.get("s1", "o2").delete()
    assert list(orders.by_customer.query("ann")) == []
    assert list(orders.by_status.query("new")) == []
    assert list(orders.by_total.query("s1")) == []

    desc = orders.describe_table()
    counts = {g["IndexName"]: g["ItemCount"] for g in desc["GlobalSecondaryIndexes"]}
    counts |= {i["IndexName"]: i["ItemCount"] for i in desc["LocalSecondaryIndexes"]}
    assert desc["ItemCount"] == 1
    assert counts == {"by_customer": 1, "by_status": 0, "by_total": 0}


# --- batches ----------------------------------------------------------------------------


def test_batch_write_and_batch_get(orders: type[Order]) -> None:
    with orders.batch_write() as batch:
        for i in range(65):
            batch.save(
                order(
                    f"s{i % 3}",
                    f"o{i:03d}",
                    customer=f"c{i % 5}",
                    placed_at=i,
                    status="paid" if i % 2 else "new",
                    total=i,
                    lines=[str(i)],
                )
            )
    assert orders.count() == 65

    wanted = [(f"s{i % 3}", f"o{i:03d}") for i in range(65)] + [("s0", "missing")]
    got = {(o.store, o.order_id): o for o in orders.batch_get(wanted)}
    assert set(got) == set(wanted[:-1])
    assert present(got[("s1", "o010")]) == {
        "store": "s1",
        "order_id": "o010",
        "customer": "c0",
        "placed_at": 10,
        "status": "new",
        "total": 10,
        "lines": ["10"],
    }
    projected = list(orders.batch_get(wanted[:3], attributes_to_get=["customer"]))
    assert sorted(present(o)["customer"] for o in projected) == ["c0", "c1", "c2"]

    with orders.batch_write() as batch:
        for i in range(0, 65, 2):
            batch.delete(order(f"s{i % 3}", f"o{i:03d}"))
        batch.save(order("s9", "new", customer="c0", placed_at=1000))
    assert orders.count() == 65 - 33 + 1
    assert [o.placed_at for o in orders.by_customer.query("c0")] == [5, 15, 25, 35, 45, 55, 1000]
    assert orders.by_status.count("new") == 0
    assert orders.by_status.count("paid") == 32


# --- transactions ---------------------------------------------------------------------


@pytest.fixture
def connection(endpoint: str) -> Connection:
    return Connection(host=endpoint, region="us-east-1")


def test_transact_write_failing_condition_changes_nothing(
    orders: type[Order], connection: Connection
) -> None:
    order("s1", "stock", visits=5).save()
    order("s1", "flag", status="open").save()
    order("s1", "o1", customer="ann", placed_at=1, status="new", total=10).save()
    before = [present(o) for o in orders.scan()]

    with pytest.raises(TransactWriteError) as error, TransactWrite(connection=connection) as tx:
        tx.save(order("s1", "o2", customer="ann", placed_at=2, status="new"))
        tx.update(order("s1", "stock"), actions=[Order.visits.add(-1)])
        tx.delete(order("s1", "o1"))
        tx.condition_check(Order, "s1", "flag", condition=Order.status == "closed")
    assert error.value.cause_response_code == "TransactionCanceledException"
    # PynamoDB sends condition checks first, then deletes, puts, updates
    reasons = error.value.cancellation_reasons
    assert len(reasons) == 4
    assert reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed"
    assert reasons[1:] == [None, None, None]
    assert error.value.cause_response_message == (
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[ConditionalCheckFailed, None, None, None]"
    )

    assert [present(o) for o in orders.scan()] == before
    assert keys(orders.by_customer.query("ann")) == [("s1", "o1")]


def test_transact_write_succeeds_and_transact_get_reads_it(
    orders: type[Order], connection: Connection
) -> None:
    order("s1", "stock", visits=5).save()
    order("s1", "flag", status="open").save()
    order("s1", "o1", customer="ann", placed_at=1, status="new", total=10).save()

    token = uuid.uuid4().hex
    with TransactWrite(connection=connection, client_request_token=token) as tx:
        tx.save(
            order("s1", "o2", customer="ann", placed_at=2, status="new"),
            condition=Order.order_id.does_not_exist(),
        )
        tx.update(
            order("s1", "stock"),
            actions=[Order.visits.add(-1)],
            condition=Order.visits > 0,
        )
        tx.delete(order("s1", "o1"), condition=Order.status == "new")
        tx.condition_check(Order, "s1", "flag", condition=Order.status == "open")

    assert orders.get("s1", "stock").visits == 4
    assert keys(orders.by_customer.query("ann")) == [("s1", "o2")]

    with TransactGet(connection=connection) as tg:
        stock = tg.get(Order, "s1", "stock")
        new = tg.get(Order, "s1", "o2")
        gone = tg.get(Order, "s1", "o1")
    assert present(stock.get()) == {"store": "s1", "order_id": "stock", "visits": 4}
    assert new.get().customer == "ann"
    with pytest.raises(DoesNotExist):
        gone.get()


# --- scans, pages, counts --------------------------------------------------------------


def test_scan_with_segments_and_filter(orders: type[Order]) -> None:
    with orders.batch_write() as batch:
        for i in range(40):
            batch.save(order(f"s{i % 7}", f"o{i:02d}", total=i))
    everything = {(o.store, o.order_id) for o in orders.scan()}
    assert len(everything) == 40
    segments = [
        [(o.store, o.order_id) for o in orders.scan(segment=s, total_segments=4)] for s in range(4)
    ]
    assert sum(len(s) for s in segments) == 40
    assert set().union(*map(set, segments)) == everything
    filtered = {o.total for o in orders.scan(Order.total >= 35)}
    assert filtered == {35, 36, 37, 38, 39}
    assert len(list(orders.scan(limit=7))) == 7
    assert sorted(o.total for o in orders.scan(Order.total < 3, page_size=5)) == [0, 1, 2]


def test_pagination_with_last_evaluated_key(orders: type[Order]) -> None:
    with orders.batch_write() as batch:
        for i in range(23):
            batch.save(order("s1", f"o{i:02d}", customer="ann", placed_at=i % 4, total=i))

    # table query, page by page
    seen: list[str] = []
    last_key = None
    pages = 0
    while True:
        page = orders.query("s1", limit=5, last_evaluated_key=last_key)
        seen += [o.order_id for o in page]
        last_key = page.last_evaluated_key
        pages += 1
        if last_key is None:
            break
    assert seen == [f"o{i:02d}" for i in range(23)]
    assert pages == 5

    # global index query: the key carries the index keys and the table keys
    first = orders.by_customer.query("ann", limit=6)
    first_page = keys(first)
    assert first.last_evaluated_key == {
        "customer": {"S": "ann"},
        "placed_at": {"N": "0"},
        "store": {"S": "s1"},
        "order_id": {"S": "o20"},
    }
    rest = keys(orders.by_customer.query("ann", last_evaluated_key=first.last_evaluated_key))
    expected = sorted((i % 4, f"o{i:02d}") for i in range(23))
    assert first_page + rest == [("s1", oid) for _, oid in expected]

    # backwards through the local index with a page size
    local = orders.by_total.query("s1", scan_index_forward=False, page_size=4)
    assert [o.total for o in local] == list(range(22, -1, -1))
    assert local.last_evaluated_key is None

    # scan
    scanned = orders.scan(limit=10)
    first_scan = keys(scanned)
    assert len(first_scan) == 10
    rest_scan = keys(orders.scan(last_evaluated_key=scanned.last_evaluated_key))
    assert sorted(first_scan + rest_scan) == [("s1", f"o{i:02d}") for i in range(23)]


def test_count(orders: type[Order]) -> None:
    with orders.batch_write() as batch:
        for i in range(30):
            batch.save(
                order(
                    "s1" if i < 20 else "s2",
                    f"o{i:02d}",
                    status="paid" if i % 3 == 0 else None,
                    total=i,
                    customer="ann",
                    placed_at=i,
                )
            )
    assert orders.count() == 30  # DescribeTable's ItemCount
    assert orders.count("s1") == 20
    assert orders.count("s2") == 10
    assert orders.count("s1", Order.order_id.between("o05", "o09")) == 5
    assert orders.count("s1", filter_condition=Order.status == "paid") == 7
    assert orders.count("s1", Order.order_id < "o10", filter_condition=Order.total >= 4) == 6
    assert orders.count("nobody") == 0
    assert orders.by_status.count("paid") == 10
    assert orders.by_customer.count("ann", CustomerIndex.placed_at >= 25) == 5
    assert orders.by_total.count("s2", TotalIndex.total < 25) == 5
    # PynamoDB sends Limit as the page size of a COUNT query and adds up every page, which
    # only comes out right if each page's LastEvaluatedKey resumes exactly where it stopped
    assert orders.count("s1", limit=4) == 20
