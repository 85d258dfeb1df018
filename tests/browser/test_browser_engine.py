"""The engine in a browser tab (issue 22), in a real Chromium through Playwright.

Every asset comes from ``tests/browser/bundle_server.py``: a plain static server on a
loopback port that sends no COOP/COEP headers. The bundle is built by the fixture
(``python -m dynoxide_streams.browser.build``, which ``make browser`` also runs); the
AWS SDK for JavaScript v3 is installed with npm and bundled with esbuild into
``.cache/browser-sdk``. Waits are bounded ``wait_for_function`` calls; nothing sleeps.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api

from tests.browser.bundle_server import BundleServer, ensure_bundle, ensure_sdk
from tests.browser.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import make_client
from tests.process import start_server

pytestmark = pytest.mark.slow

WAIT_MS = 90_000


@pytest.fixture(scope="module")
def assets() -> Iterator[BundleServer]:
    ensure_bundle()
    server = BundleServer(sdk=ensure_sdk())
    yield server
    server.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP insecure.test 127.0.0.1"],
        )
        yield browser
        browser.close()


def guard_network(context: Any, origins: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Route every request of ``context`` (its pages and their workers): those to
    ``origins`` go on, any other is recorded and aborted. Returns (served, refused)."""
    served: list[str] = []
    refused: list[str] = []

    def route(route: Any) -> None:
        url = route.request.url
        if url.startswith(tuple(origin + "/" for origin in origins)):
            served.append(url)
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    context.route("**/*", route)
    return served, refused


@pytest.fixture
def context(browser: Any, assets: BundleServer) -> Iterator[Any]:
    """A browser context that may reach the asset server only: after the test, no
    request went anywhere else (no CDN: Pyodide's loader has a jsdelivr URL built in)."""
    context = browser.new_context()
    served, refused = guard_network(context, (assets.origin,))
    yield context
    context.close()
    assert refused == []
    # the worker's fetches go through the route too, so the check covers them
    assert any(url.endswith("/bundle/python.zip") for url in served)


def open_page(context: Any, assets: BundleServer) -> Any:
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda error: print("page error:", error))
    page.on("console", lambda message: print("console:", message.text))
    page.goto(assets.origin + "/")
    return page


OPEN_JS = """async (options) => {
  const mod = await import("/bundle/dynoxide-streams.mjs");
  window.db = await mod.openDatabase(options);
  window.records = [];
  return {persistence: db.persistence, owner: db.isOwner};
}"""

SDK_JS = """async () => {
  const sdk = await import("/sdk.js");
  const config = {requestHandler: db.requestHandler, region: "us-east-1",
                  endpoint: "http://in-tab.invalid",
                  credentials: {accessKeyId: "x", secretAccessKey: "y"}};
  const client = new sdk.DynamoDBClient(config);
  const streams = new sdk.DynamoDBStreamsClient(config);
  const out = {};
  const created = await client.send(new sdk.CreateTableCommand({
    TableName: "orders",
    KeySchema: [{AttributeName: "pk", KeyType: "HASH"}, {AttributeName: "sk", KeyType: "RANGE"}],
    AttributeDefinitions: [{AttributeName: "pk", AttributeType: "S"},
                           {AttributeName: "sk", AttributeType: "N"},
                           {AttributeName: "status", AttributeType: "S"}],
    GlobalSecondaryIndexes: [{IndexName: "by_status",
      KeySchema: [{AttributeName: "status", KeyType: "HASH"}],
      Projection: {ProjectionType: "ALL"}}],
    BillingMode: "PAY_PER_REQUEST",
    StreamSpecification: {StreamEnabled: true, StreamViewType: "NEW_AND_OLD_IMAGES"},
  }));
  out.streamViewType = created.TableDescription.StreamSpecification.StreamViewType;
  out.gsi = created.TableDescription.GlobalSecondaryIndexes[0].IndexName;
  for (const sk of ["1", "2", "3"]) {
    await client.send(new sdk.PutItemCommand({TableName: "orders",
      Item: {pk: {S: "a"}, sk: {N: sk}, status: {S: sk === "2" ? "open" : "done"}}}));
  }
  out.get = (await client.send(new sdk.GetItemCommand({TableName: "orders",
    Key: {pk: {S: "a"}, sk: {N: "2"}}}))).Item;
  out.update = (await client.send(new sdk.UpdateItemCommand({TableName: "orders",
    Key: {pk: {S: "a"}, sk: {N: "3"}}, UpdateExpression: "SET #s = :s, n = :n",
    ExpressionAttributeNames: {"#s": "status"},
    ExpressionAttributeValues: {":s": {S: "open"}, ":n": {N: "7"}},
    ReturnValues: "ALL_NEW"}))).Attributes;
  await client.send(new sdk.DeleteItemCommand({TableName: "orders",
    Key: {pk: {S: "a"}, sk: {N: "1"}}}));
  const query = await client.send(new sdk.QueryCommand({TableName: "orders",
    KeyConditionExpression: "pk = :p AND sk > :z",
    ExpressionAttributeValues: {":p": {S: "a"}, ":z": {N: "0"}}}));
  out.query = query.Items.map((i) => i.sk.N);
  const gsi = await client.send(new sdk.QueryCommand({TableName: "orders", IndexName: "by_status",
    KeyConditionExpression: "#s = :s", ExpressionAttributeNames: {"#s": "status"},
    ExpressionAttributeValues: {":s": {S: "open"}}}));
  out.gsi_query = gsi.Items.map((i) => i.sk.N).sort();
  await client.send(new sdk.TransactWriteItemsCommand({TransactItems: [
    {Put: {TableName: "orders", Item: {pk: {S: "b"}, sk: {N: "1"}, status: {S: "new"}}}},
    {Update: {TableName: "orders", Key: {pk: {S: "a"}, sk: {N: "2"}},
      UpdateExpression: "SET n = :n", ExpressionAttributeValues: {":n": {N: "1"}}}},
  ]}));
  out.scan = (await client.send(new sdk.ScanCommand({TableName: "orders"}))).Count;
  const errors = {};
  const expect = async (key, command) => {
    try { await client.send(command); errors[key] = "no error"; }
    catch (e) { errors[key] = {name: e.name, message: e.message,
                               status: e.$metadata.httpStatusCode}; }
  };
  await expect("missing", new sdk.GetItemCommand({TableName: "nope", Key: {pk: {S: "a"}}}));
  await expect("badKey", new sdk.GetItemCommand({TableName: "orders", Key: {pk: {S: "a"}}}));
  await expect("condition", new sdk.PutItemCommand({TableName: "orders",
    Item: {pk: {S: "a"}, sk: {N: "2"}}, ConditionExpression: "attribute_not_exists(pk)"}));
  await expect("cancelled", new sdk.TransactWriteItemsCommand({TransactItems: [
    {ConditionCheck: {TableName: "orders", Key: {pk: {S: "zz"}, sk: {N: "1"}},
      ConditionExpression: "attribute_exists(pk)"}}]}));
  out.errors = errors;
  const described = await streams.send(new sdk.DescribeStreamCommand({
    StreamArn: created.TableDescription.LatestStreamArn}));
  const shard = described.StreamDescription.Shards[0].ShardId;
  const iterator = await streams.send(new sdk.GetShardIteratorCommand({
    StreamArn: created.TableDescription.LatestStreamArn, ShardId: shard,
    ShardIteratorType: "TRIM_HORIZON"}));
  const records = await streams.send(new sdk.GetRecordsCommand({
    ShardIterator: iterator.ShardIterator}));
  out.events = records.Records.map((r) => r.eventName);
  return out;
}"""


def test_the_aws_sdk_v3_runs_against_the_engine_in_the_tab(
    context: Any, assets: BundleServer
) -> None:
    page = open_page(context, assets)
    opened = page.evaluate(OPEN_JS, {"name": "sdk", "memory": True})
    assert opened == {
        "persistence": {"kind": "memory", "reason": "asked for memory"},
        "owner": True,
    }
    out = page.evaluate(SDK_JS)
    assert out["streamViewType"] == "NEW_AND_OLD_IMAGES"
    assert out["gsi"] == "by_status"
    assert out["get"] == {"pk": {"S": "a"}, "sk": {"N": "2"}, "status": {"S": "open"}}
    assert out["update"] == {
        "pk": {"S": "a"},
        "sk": {"N": "3"},
        "status": {"S": "open"},
        "n": {"N": "7"},
    }
    assert out["query"] == ["2", "3"]
    assert out["gsi_query"] == ["2", "3"]
    assert out["scan"] == 3
    assert out["errors"] == {
        "missing": {
            "name": "ResourceNotFoundException",
            "message": "Requested resource not found",
            "status": 400,
        },
        "badKey": {
            "name": "ValidationException",
            "message": "The provided key element does not match the schema",
            "status": 400,
        },
        "condition": {
            "name": "ConditionalCheckFailedException",
            "message": "The conditional request failed",
            "status": 400,
        },
        "cancelled": {
            "name": "TransactionCanceledException",
            "message": "Transaction cancelled, please refer cancellation reasons for specific "
            "reasons [ConditionalCheckFailed]",
            "status": 400,
        },
    }
    assert out["events"] == ["INSERT"] * 3 + ["MODIFY", "REMOVE", "INSERT", "MODIFY"]
    # db.send speaks DynamoDB JSON with the same errors
    sent = page.evaluate(
        """async () => {
      const ok = await db.send("DescribeTable", {TableName: "orders"});
      let error;
      try { await db.send("PutItem", {TableName: "orders", Item: {pk: {N: "x"}}}); }
      catch (e) { error = {name: e.name, message: e.message, status: e.status}; }
      return {status: ok.Table.TableStatus, count: ok.Table.ItemCount, error};
    }"""
    )
    assert sent["error"] == {
        "name": "ValidationException",
        "message": "The parameter cannot be converted to a numeric value: x",
        "status": 400,
    }
    assert sent["status"] == "ACTIVE"
    assert set(assets.requests) <= {
        "/",
        "/sdk.js",
        "/bundle/dynoxide-streams.mjs",
        "/bundle/worker.mjs",
        "/bundle/pyodide/pyodide.mjs",
        "/bundle/pyodide/pyodide.asm.mjs",
        "/bundle/pyodide/pyodide.asm.wasm",
        "/bundle/pyodide/python_stdlib.zip",
        "/bundle/pyodide/pyodide-lock.json",
        "/bundle/python.zip",
    }


TABLE_JS = """async (table) => {
  await db.send("CreateTable", {TableName: table,
    KeySchema: [{AttributeName: "pk", KeyType: "HASH"}],
    AttributeDefinitions: [{AttributeName: "pk", AttributeType: "S"}],
    BillingMode: "PAY_PER_REQUEST",
    StreamSpecification: {StreamEnabled: true, StreamViewType: "NEW_AND_OLD_IMAGES"}});
}"""

PUT_JS = """async ({table, keys}) => {
  for (const k of keys) await db.send("PutItem", {TableName: table, Item: {pk: {S: k}}});
  return keys.length;
}"""

KEYS_JS = """async (table) => {
  const out = await db.send("Scan", {TableName: table});
  return out.Items.map((i) => i.pk.S).sort();
}"""

SUBSCRIBE_JS = """async ({table, from}) => {
  window.records = [];
  const sub = await db.subscribe({table, from}, (record) => window.records.push(
    [record.eventName, record.dynamodb.Keys.pk.S, record.dynamodb.SequenceNumber,
     record.userIdentity || null]));
  return sub.frame.type;
}"""


def test_a_reload_keeps_every_acknowledged_item_in_opfs(context: Any, assets: BundleServer) -> None:
    page = open_page(context, assets)
    opened = page.evaluate(OPEN_JS, {"name": "reload"})
    assert opened == {"persistence": {"kind": "opfs"}, "owner": True}
    page.evaluate(TABLE_JS, "kept")
    keys = [f"k{i:03d}" for i in range(50)]
    page.evaluate(PUT_JS, {"table": "kept", "keys": keys})
    page.reload()  # no close(): the tab goes as a crash would take it
    assert page.evaluate(OPEN_JS, {"name": "reload"})["persistence"] == {"kind": "opfs"}
    assert page.evaluate(KEYS_JS, "kept") == keys
    page.evaluate(SUBSCRIBE_JS, {"table": "kept", "from": "TRIM_HORIZON"})
    page.wait_for_function("window.records.length >= 50")
    assert [r[1] for r in page.evaluate("window.records")] == keys


def test_without_opfs_the_engine_runs_in_memory_and_says_so(browser: Any) -> None:
    """A page on plain http from a non-loopback host is no secure context: no OPFS and
    no Web Locks (the BroadcastChannel election runs instead)."""
    context = browser.new_context()
    try:
        ensure_bundle()
        server = BundleServer(sdk=ensure_sdk())
        port = server.origin.rsplit(":", 1)[1]
        served, refused = guard_network(context, (f"http://insecure.test:{port}",))
        try:
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(f"http://insecure.test:{port}/")
            opened = page.evaluate(OPEN_JS, {"name": "private"})
            assert opened["owner"] is True
            assert opened["persistence"]["kind"] == "memory"
            assert "getDirectory" in opened["persistence"]["reason"]
            page.evaluate(TABLE_JS, "mem")
            page.evaluate(PUT_JS, {"table": "mem", "keys": ["a"]})
            assert page.evaluate(KEYS_JS, "mem") == ["a"]
            assert refused == []
            assert any(url.endswith("/bundle/python.zip") for url in served)
        finally:
            server.close()
    finally:
        context.close()


def _keys(records: list[list[Any]]) -> list[str]:
    return [r[1] for r in records]


@pytest.mark.parametrize("election", ["web-locks", "broadcast-channel"])
def test_two_tabs_get_every_record_once_and_survive_the_owner_closing(
    context: Any, assets: BundleServer, election: str
) -> None:
    """``noLocks`` makes the tabs elect their owner over the BroadcastChannel
    (heartbeats, lowest tab id), as they do where ``navigator.locks`` is missing."""
    options = {"name": f"shared-{election}", "noLocks": election == "broadcast-channel"}
    first = open_page(context, assets)
    assert first.evaluate(OPEN_JS, options) == {
        "persistence": {"kind": "opfs"},
        "owner": True,
    }
    second = open_page(context, assets)
    assert second.evaluate(OPEN_JS, options) == {
        "persistence": {"kind": "opfs"},
        "owner": False,
    }
    first.evaluate(TABLE_JS, "feed")
    for page in (first, second):
        assert page.evaluate(SUBSCRIBE_JS, {"table": "feed", "from": "TRIM_HORIZON"}) == (
            "subscribed"
        )
    first.evaluate(PUT_JS, {"table": "feed", "keys": [f"k{i:02d}" for i in range(5)]})
    # the second tab's writes go to the first tab's worker over the BroadcastChannel
    second.evaluate(PUT_JS, {"table": "feed", "keys": [f"k{i:02d}" for i in range(5, 10)]})
    expected = [f"k{i:02d}" for i in range(10)]
    for page in (first, second):
        page.wait_for_function("window.records.length >= 10")
        assert _keys(page.evaluate("window.records")) == expected
    first.close()  # the owner goes: the second tab opens the database from OPFS
    second.wait_for_function("db.isOwner")
    second.evaluate(PUT_JS, {"table": "feed", "keys": [f"k{i:02d}" for i in range(10, 15)]})
    expected += [f"k{i:02d}" for i in range(10, 15)]
    second.wait_for_function("window.records.length >= 15")
    records = second.evaluate("window.records")
    assert _keys(records) == expected  # nothing lost, nothing twice, in order
    assert len({r[2] for r in records}) == 15
    assert second.evaluate(KEYS_JS, "feed") == expected
    # a third tab joins the new owner and reads the whole stream
    third = open_page(context, assets)
    assert third.evaluate(OPEN_JS, options)["owner"] is False
    third.evaluate(SUBSCRIBE_JS, {"table": "feed", "from": "TRIM_HORIZON"})
    third.wait_for_function("window.records.length >= 15")
    assert _keys(third.evaluate("window.records")) == expected


def test_ttl_expires_an_item_by_the_virtual_clock_and_streams_its_remove(
    context: Any, assets: BundleServer
) -> None:
    page = open_page(context, assets)
    page.evaluate(OPEN_JS, {"name": "ttl", "clock": "virtual", "ttlPeriod": 0.2})
    page.evaluate(TABLE_JS, "sessions")
    now = page.evaluate(
        """async () => {
      await db.send("UpdateTimeToLive", {TableName: "sessions",
        TimeToLiveSpecification: {Enabled: true, AttributeName: "expires"}});
      const now = await db.clock.now();
      await db.send("PutItem", {TableName: "sessions",
        Item: {pk: {S: "gone"}, expires: {N: String(Math.floor(now) + 60)}}});
      await db.send("PutItem", {TableName: "sessions",
        Item: {pk: {S: "kept"}, expires: {N: String(Math.floor(now) + 7200)}}});
      return now;
    }"""
    )
    page.evaluate(SUBSCRIBE_JS, {"table": "sessions", "from": "LATEST"})
    assert page.evaluate("db.clock.advance(3600)") == pytest.approx(now + 3600)
    page.wait_for_function("window.records.length >= 1")
    assert page.evaluate("window.records")[0][:2] == ["REMOVE", "gone"]
    assert page.evaluate("window.records")[0][3] == {  # GetRecords' PascalCase
        "Type": "Service",
        "PrincipalId": "dynamodb.amazonaws.com",
    }
    assert page.evaluate(KEYS_JS, "sessions") == ["kept"]


def test_a_js_trigger_reporting_a_failed_item_is_retried_from_exactly_that_record(
    context: Any, assets: BundleServer
) -> None:
    page = open_page(context, assets)
    page.evaluate(OPEN_JS, {"name": "triggers", "memory": True})
    page.evaluate(TABLE_JS, "jobs")
    page.evaluate(
        """async () => {
      await db.send("BatchWriteItem", {RequestItems: {jobs: ["a", "b", "c", "d", "e"].map(
        (k) => ({PutRequest: {Item: {pk: {S: k}}}}))}});
      window.calls = [];
      await db.trigger({table: "jobs", batchSize: 10,
                        functionResponseTypes: ["ReportBatchItemFailures"]}, async (event) => {
        window.calls.push(event.Records.map((r) => [r.eventSource, r.dynamodb.Keys.pk.S]));
        if (window.calls.length === 1) {
          return {batchItemFailures: [
            {itemIdentifier: event.Records[2].dynamodb.SequenceNumber}]};
        }
        return {batchItemFailures: []};
      });
    }"""
    )
    page.wait_for_function("window.calls.length >= 2")
    calls = page.evaluate("window.calls")
    assert [[key for _, key in call] for call in calls[:2]] == [
        ["a", "b", "c", "d", "e"],
        ["c", "d", "e"],
    ]
    assert {source for call in calls for source, _ in call} == {"aws:dynamodb"}
    page.evaluate(PUT_JS, {"table": "jobs", "keys": ["f"]})
    page.wait_for_function("window.calls.length >= 3")
    assert [[key for _, key in call] for call in page.evaluate("window.calls")] == [
        ["a", "b", "c", "d", "e"],
        ["c", "d", "e"],
        ["f"],
    ]


EXPORT_JS = """async () => {
  const bytes = await db.export();
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}"""

IMPORT_JS = """async ({name, data}) => {
  const from = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const mod = await import("/bundle/dynoxide-streams.mjs");
  window.db = await mod.openDatabase({name, memory: true, from});
  window.records = [];
}"""


def _events(client: Any, table: str) -> list[tuple[str, str]]:
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    streams = make_client(client.meta.endpoint_url, "dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]
    return [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records]


def test_an_exported_database_opens_in_serve_and_back_in_the_tab(
    context: Any, assets: BundleServer, tmp_path: Path
) -> None:
    page = open_page(context, assets)
    page.evaluate(OPEN_JS, {"name": "export", "memory": True})
    page.evaluate(TABLE_JS, "moved")
    page.evaluate(PUT_JS, {"table": "moved", "keys": ["a", "b"]})
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "data.db").write_bytes(base64.b64decode(page.evaluate(EXPORT_JS)))
    server = start_server(data_dir)
    try:
        client = make_client(server.endpoint)
        items = client.scan(TableName="moved")["Items"]
        assert sorted(i["pk"]["S"] for i in items) == ["a", "b"]
        assert _events(client, "moved") == [("INSERT", "a"), ("INSERT", "b")]
        client.put_item(TableName="moved", Item={"pk": {"S": "c"}})
        client.delete_item(TableName="moved", Key={"pk": {"S": "a"}})
    finally:
        assert server.terminate() == 0  # a clean stop folds the WAL into data.db
    back = base64.b64encode((data_dir / "data.db").read_bytes()).decode()
    other = open_page(context, assets)
    other.evaluate(IMPORT_JS, {"name": "imported", "data": back})
    assert other.evaluate(KEYS_JS, "moved") == ["b", "c"]
    other.evaluate(SUBSCRIBE_JS, {"table": "moved", "from": "TRIM_HORIZON"})
    other.wait_for_function("window.records.length >= 4")
    assert [r[:2] for r in other.evaluate("window.records")] == [
        ["INSERT", "a"],
        ["INSERT", "b"],
        ["INSERT", "c"],
        ["REMOVE", "a"],
    ]


def test_a_quota_error_rejects_that_write_and_loses_nothing_acknowledged(
    context: Any, assets: BundleServer
) -> None:
    page = open_page(context, assets)
    assert page.evaluate(OPEN_JS, {"name": "quota"})["persistence"] == {"kind": "opfs"}
    page.evaluate(TABLE_JS, "full")
    page.evaluate(SUBSCRIBE_JS, {"table": "full", "from": "TRIM_HORIZON"})
    page.evaluate(PUT_JS, {"table": "full", "keys": ["a", "b"]})
    refused = page.evaluate(
        """async () => {
      await db.testing.failNextSync();
      try { await db.send("PutItem", {TableName: "full", Item: {pk: {S: "lost"}}}); }
      catch (e) { return {name: e.name, status: e.status, message: e.message}; }
    }"""
    )
    assert refused["name"] == "InternalServerError"
    assert refused["status"] == 500
    assert refused["message"].startswith(
        "Internal server error: the write could not be saved to the browser's storage ("
    )
    assert "QuotaExceededError" in refused["message"]
    assert page.evaluate(KEYS_JS, "full") == ["a", "b"]  # reopened from OPFS
    assert page.evaluate("db.testing.reopened()") == 1
    page.evaluate(PUT_JS, {"table": "full", "keys": ["c"]})
    page.wait_for_function("window.records.length >= 3")
    assert [r[1] for r in page.evaluate("window.records")] == ["a", "b", "c"]
    page.reload()
    page.evaluate(OPEN_JS, {"name": "quota"})
    assert page.evaluate(KEYS_JS, "full") == ["a", "b", "c"]


TRIGGER_JS = """async (table) => {
  window.invoked = [];
  await db.trigger({table, batchSize: 100}, async (event) => {
    for (const r of event.Records) {
      window.invoked.push(r.dynamodb.Keys.pk.S);
      window.lastSequence = r.dynamodb.SequenceNumber;
    }
  });
}"""


def test_a_trigger_in_another_tab_runs_through_the_owner_and_after_its_handover(
    context: Any, assets: BundleServer
) -> None:
    first = open_page(context, assets)
    first.evaluate(OPEN_JS, {"name": "trigger-handover"})
    first.evaluate(TABLE_JS, "work")
    second = open_page(context, assets)
    assert second.evaluate(OPEN_JS, {"name": "trigger-handover"})["owner"] is False
    second.evaluate(TRIGGER_JS, "work")  # the owner's worker invokes it over the channel
    first.evaluate(PUT_JS, {"table": "work", "keys": ["a", "b"]})
    second.wait_for_function("window.invoked.length >= 2")
    first.close()
    second.wait_for_function("db.isOwner")
    second.evaluate(PUT_JS, {"table": "work", "keys": ["c"]})
    second.wait_for_function("window.invoked.includes('c')")
    invoked = second.evaluate("window.invoked")
    # the mapping and its checkpoint are in the database: the new owner's runner goes
    # on from it (a batch whose checkpoint the old owner had not saved may come again:
    # at least once, as Lambda)
    assert invoked[:2] == ["a", "b"]
    assert invoked[-1] == "c"
    assert set(invoked) == {"a", "b", "c"}


MANY_JS = """async () => {
  for (let batch = 0; batch < 24; batch++) {
    const items = [];
    for (let i = 0; i < 25; i++) {
      const n = String(batch * 25 + i).padStart(3, "0");
      items.push({PutRequest: {Item: {pk: {S: "k" + n}}}});
    }
    await db.send("BatchWriteItem", {RequestItems: {many: items}});
  }
}"""


def test_a_feed_past_the_unacknowledged_frame_limit_delivers_every_record_in_order(
    context: Any, assets: BundleServer
) -> None:
    """600 records: more than the 128 frames the worker sends a subscription before it
    waits for the page's acknowledgements, so the feed stalls and resumes."""
    page = open_page(context, assets)
    page.evaluate(OPEN_JS, {"name": "flow", "memory": True})
    page.evaluate(TABLE_JS, "many")
    page.evaluate(MANY_JS)
    page.evaluate(SUBSCRIBE_JS, {"table": "many", "from": "TRIM_HORIZON"})
    page.wait_for_function("window.records.length >= 600")
    records = page.evaluate("window.records")
    assert [r[1] for r in records] == [f"k{i:03d}" for i in range(600)]


def test_a_trigger_declared_again_after_a_reload_reuses_its_mapping_and_checkpoint(
    context: Any, assets: BundleServer
) -> None:
    """The function name is the same at every load (table + parameters), so the
    mapping stored in the database is found again instead of a new one replaying the
    stream from TRIM_HORIZON."""
    page = open_page(context, assets)
    page.evaluate(OPEN_JS, {"name": "trigger-reload"})
    page.evaluate(TABLE_JS, "jobs")
    page.evaluate(TRIGGER_JS, "jobs")
    page.evaluate(PUT_JS, {"table": "jobs", "keys": ["a", "b"]})
    page.wait_for_function("window.invoked.length >= 2")
    # the checkpoint is committed after the function answered: wait for it
    page.wait_for_function(
        """db.triggerMappings().then((m) => window.mapped = m) && window.mapped
        && window.mapped.length === 1 && window.mapped[0].checkpoints.length === 1
        && window.mapped[0].checkpoints[0].position === window.lastSequence""",
        polling=100,
    )
    first = page.evaluate("window.mapped")
    page.reload()
    page.evaluate(OPEN_JS, {"name": "trigger-reload"})
    page.evaluate(TRIGGER_JS, "jobs")
    page.evaluate(PUT_JS, {"table": "jobs", "keys": ["c"]})
    page.wait_for_function("window.invoked.includes('c')")
    assert page.evaluate("window.invoked") == ["c"]  # a and b are not delivered again
    mapped = page.evaluate("db.triggerMappings()")
    assert [(m["uuid"], m["functionName"]) for m in mapped] == [
        (first[0]["uuid"], first[0]["functionName"])
    ]
    assert first[0]["functionName"].startswith("js-jobs-")


FLOW_JS = """db.testing.flow().then((f) => { window.flow = f; }) && window.flow
  && Object.values(window.flow).some((f) => f.waiting)"""


def test_a_follower_that_stops_acknowledging_stalls_only_its_own_feed(
    context: Any, assets: BundleServer
) -> None:
    """Frames relayed to a follower tab are acknowledged by that tab, per subscription:
    when it stops, the worker stops sending it after the window (128 frames) while the
    owner's own subscription goes on; when it resumes it gets the rest, each once."""
    first = open_page(context, assets)
    first.evaluate(OPEN_JS, {"name": "slow-follower", "memory": True})
    first.evaluate(TABLE_JS, "many")
    second = open_page(context, assets)
    assert second.evaluate(OPEN_JS, {"name": "slow-follower"})["owner"] is False
    for page in (first, second):
        page.evaluate(SUBSCRIBE_JS, {"table": "many", "from": "TRIM_HORIZON"})
    second.evaluate("db.testing.holdFrameAcks(true)")
    first.evaluate(MANY_JS)
    expected = [f"k{i:03d}" for i in range(600)]
    first.wait_for_function("window.records.length >= 600")
    assert _keys(first.evaluate("window.records")) == expected
    second.wait_for_function(FLOW_JS, polling=100)
    flow = second.evaluate("window.flow")
    waiting = [sid for sid, f in flow.items() if f["waiting"]]
    assert len(waiting) == 1 and flow[waiting[0]]["unacked"] == 128
    second.wait_for_function("window.records.length >= 128")
    assert len(second.evaluate("window.records")) == 128  # the window, not the stream
    second.evaluate("db.testing.holdFrameAcks(false)")
    second.wait_for_function("window.records.length >= 600")
    records = second.evaluate("window.records")
    assert _keys(records) == expected
    assert len({r[2] for r in records}) == 600


PENDING_JS = """(want) => db.testing.pending().then((p) => { window.pending = p; })
  && window.pending && JSON.stringify(window.pending) === JSON.stringify(want)"""


def test_an_unanswered_trigger_call_times_out_and_a_tab_that_went_loses_its_functions(
    context: Any, assets: BundleServer
) -> None:
    """A call whose handler never settles is given up after the function's timeout (3 s)
    in the worker and in the owner tab relaying it, leaving no entry; the retry then
    delivers the batch. When the declaring tab goes, the owner forgets its function."""
    first = open_page(context, assets)
    first.evaluate(OPEN_JS, {"name": "trigger-timeout", "memory": True})
    first.evaluate(TABLE_JS, "work")
    second = open_page(context, assets)
    assert second.evaluate(OPEN_JS, {"name": "trigger-timeout"})["owner"] is False
    name = second.evaluate(
        """async () => {
      window.calls = 0;
      return await db.trigger({table: "work", batchSize: 10}, (event) => {
        window.calls++;
        if (window.calls === 1) return new Promise(() => {});  // never settles
        window.done = event.Records.map((r) => r.dynamodb.Keys.pk.S);
      });
    }"""
    )
    first.evaluate(PUT_JS, {"table": "work", "keys": ["a"]})
    second.wait_for_function("window.done !== undefined")
    assert second.evaluate("window.done") == ["a"]
    assert second.evaluate("window.calls") == 2
    first.wait_for_function(
        PENDING_JS, arg={"invocations": 0, "functions": [name], "relayed": 0}, timeout=10_000
    )
    second.close()
    first.wait_for_function(
        PENDING_JS, arg={"invocations": 0, "functions": [], "relayed": 0}, timeout=10_000
    )


IMPORT_OPFS_JS = """async ({name, data}) => {
  const from = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const mod = await import("/bundle/dynoxide-streams.mjs");
  try {
    window.db = await mod.openDatabase({name, from});
  } catch (e) {
    return {error: {name: e.name, message: e.message}};
  }
  return {persistence: db.persistence, owner: db.isOwner};
}"""


def test_an_import_into_opfs_survives_a_reload_and_a_non_owner_import_throws(
    context: Any, assets: BundleServer
) -> None:
    source = open_page(context, assets)
    source.evaluate(OPEN_JS, {"name": "import-source", "memory": True})
    source.evaluate(TABLE_JS, "moved")
    source.evaluate(PUT_JS, {"table": "moved", "keys": ["a", "b"]})
    data = source.evaluate(EXPORT_JS)
    source.close()
    page = open_page(context, assets)
    assert page.evaluate(IMPORT_OPFS_JS, {"name": "imported-opfs", "data": data}) == {
        "persistence": {"kind": "opfs"},
        "owner": True,
    }
    page.evaluate(PUT_JS, {"table": "moved", "keys": ["c"]})
    page.reload()  # no close(): what the import wrote to OPFS is what opens
    assert page.evaluate(OPEN_JS, {"name": "imported-opfs"})["persistence"] == {"kind": "opfs"}
    assert page.evaluate(KEYS_JS, "moved") == ["a", "b", "c"]
    page.evaluate(SUBSCRIBE_JS, {"table": "moved", "from": "TRIM_HORIZON"})
    page.wait_for_function("window.records.length >= 3")
    assert _keys(page.evaluate("window.records")) == ["a", "b", "c"]
    # a second tab cannot import over the database the first tab owns: it says so
    other = open_page(context, assets)
    refused = other.evaluate(IMPORT_OPFS_JS, {"name": "imported-opfs", "data": data})
    assert refused == {
        "error": {
            "name": "DatabaseInUse",
            "message": 'another tab owns the database "imported-opfs": its data was not '
            "replaced (import from that tab, or close it first)",
        }
    }
    assert page.evaluate(KEYS_JS, "moved") == ["a", "b", "c"]


def test_a_real_quota_limit_refuses_the_write_past_it_and_keeps_the_rest(
    context: Any, assets: BundleServer
) -> None:
    """The origin's quota lowered through CDP (``Storage.overrideQuotaForOrigin``) to
    a little above what the database uses: OPFS writes past it fail for real (Chromium
    returns a bogus byte count), the write whose commit could not be saved is refused,
    every acknowledged one stays, across a reload."""
    page = open_page(context, assets)
    assert page.evaluate(OPEN_JS, {"name": "real-quota"})["persistence"] == {"kind": "opfs"}
    page.evaluate(TABLE_JS, "full")
    page.evaluate(PUT_JS, {"table": "full", "keys": ["a"]})
    usage = page.evaluate("navigator.storage.estimate().then((e) => e.usage)")
    cdp = context.new_cdp_session(page)
    cdp.send(
        "Storage.overrideQuotaForOrigin",
        {"origin": assets.origin, "quotaSize": usage + 512 * 1024},
    )
    outcome = page.evaluate(
        """async () => {
      const blob = "x".repeat(100000);
      const acknowledged = ["a"];
      for (let i = 0; i < 40; i++) {
        const key = "big" + String(i).padStart(2, "0");
        try {
          await db.send("PutItem", {TableName: "full", Item: {pk: {S: key}, blob: {S: blob}}});
          acknowledged.push(key);
        } catch (e) {
          return {acknowledged, refused: key,
                  error: {name: e.name, status: e.status, message: e.message}};
        }
      }
      return {acknowledged};
    }"""
    )
    assert "error" in outcome, "the quota never refused a write"
    assert outcome["error"]["name"] == "InternalServerError"
    assert outcome["error"]["status"] == 500
    message = outcome["error"]["message"]
    assert message.startswith(
        "Internal server error: the write could not be saved to the browser's storage "
        "(JsException: QuotaExceededError: short write to OPFS data.db"
    )
    assert message.endswith("bytes), so it was not applied; free storage and retry")
    acknowledged = sorted(outcome["acknowledged"])
    assert len(acknowledged) >= 2
    assert page.evaluate(KEYS_JS, "full") == acknowledged  # reopened from OPFS
    page.reload()
    page.evaluate(OPEN_JS, {"name": "real-quota"})
    assert page.evaluate(KEYS_JS, "full") == acknowledged


CLIENT_SUBSCRIBE_JS = """async (table) => {
  const client = await import("/client.js");
  window.clientRecords = [];
  window.clientSub = client.subscribe({table, from: "TRIM_HORIZON"}, (record) =>
    window.clientRecords.push([record.eventName, record.dynamodb.Keys.pk.S,
                               record.dynamodb.SequenceNumber]));
  return client.stats.websocketsOpened;
}"""


def test_client_js_in_another_tab_gets_the_in_tab_records_on_the_v1_channel(
    context: Any, assets: BundleServer
) -> None:
    """``db.publish(table)`` puts the engine's records on
    ``dynoxide-streams:v1:table:<table>`` (docs/broadcast-channel.md) and holds the
    channel's leader lock: ``client.js``'s ``subscribe`` in a tab without the engine
    listens (opens no websocket) and gets every record once, in order."""
    page = open_page(context, assets)
    page.evaluate(OPEN_JS, {"name": "publish", "memory": True})
    page.evaluate(TABLE_JS, "pub")
    page.evaluate(
        "async () => { window.published = await db.publish('pub', {from: 'TRIM_HORIZON'}); }"
    )
    page.evaluate(PUT_JS, {"table": "pub", "keys": ["a", "b"]})
    other = open_page(context, assets)
    assert other.evaluate(CLIENT_SUBSCRIBE_JS, "pub") == 0
    page.evaluate(PUT_JS, {"table": "pub", "keys": ["c", "d"]})
    other.wait_for_function("window.clientRecords.length >= 2")
    # a follower tab of client.js gets records from when it joined (its contract)
    assert [r[:2] for r in other.evaluate("window.clientRecords")] == [
        ["INSERT", "c"],
        ["INSERT", "d"],
    ]
    assert other.evaluate("window.clientSub.role") == "follower"
    assert other.evaluate("import('/client.js').then((c) => c.stats.websocketsOpened)") == 0


def test_a_follower_trigger_runs_in_its_tab_after_another_follower_takes_over(
    context: Any, assets: BundleServer
) -> None:
    """The new owner learns again which tab declared each function (the tabs declare
    them again with their tab id), so a follower's function is invoked in that tab."""
    first = open_page(context, assets)
    first.evaluate(OPEN_JS, {"name": "trigger-third"})
    first.evaluate(TABLE_JS, "work")
    heir = open_page(context, assets)  # next in the owner lock's queue
    assert heir.evaluate(OPEN_JS, {"name": "trigger-third"})["owner"] is False
    declaring = open_page(context, assets)
    assert declaring.evaluate(OPEN_JS, {"name": "trigger-third"})["owner"] is False
    declaring.evaluate(TRIGGER_JS, "work")
    first.evaluate(PUT_JS, {"table": "work", "keys": ["a"]})
    declaring.wait_for_function("window.invoked.includes('a')")
    first.close()
    heir.wait_for_function("db.isOwner")
    assert declaring.evaluate("db.isOwner") is False
    heir.evaluate(PUT_JS, {"table": "work", "keys": ["b"]})
    declaring.wait_for_function("window.invoked.includes('b')", timeout=30_000)
    assert declaring.evaluate("window.invoked")[-1] == "b"
