"""The local console (``/_streams/live``) in a real Chromium, asserting on the DOM.

Tables, items and the change feed of a server owned by this module (and of a sidecar
process, whose console keeps only the feed): the table list, Scan/Query pages, editing
through PutItem/DeleteItem and seeing the change arrive in the feed and in the rows
already shown, nested values as trees, the server's own error messages, pause/filter,
and a phone-width layout with nothing overflowing. Expected texts come from the server
(boto3's error, a websocket's error frame), never typed in. Every wait is bounded;
nothing sleeps. Screenshots at desktop and phone widths go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from websockets.sync.client import connect

from dynoxide_streams import Server
from tests.browser.test_browser import (  # noqa: F401 - fixtures used by name
    ARTIFACTS,
    browser,
    wait_for,
)
from tests.conftest import RawClient, make_client
from tests.process import ServerProcess, assert_clean_log, start_sidecar
from tests.wire.test_streams import create_stream_table, read_stream, unique_name

PHONE = {"width": 420, "height": 900}
DESKTOP = {"width": 1400, "height": 900}
KEY = {"pk": {"S": "alice"}, "sk": {"N": "1"}}
NESTED = {
    "city": {"S": 'London "Old Town"'},
    "zip": {"N": "10115"},
    "tags": {"L": [{"S": "home"}, {"M": {"floor": {"N": "3"}, "lift": {"BOOL": True}}}]},
}


@pytest.fixture(scope="module")
def cserver() -> Iterator[Server]:
    with Server().run_in_thread() as srv:
        yield srv


@pytest.fixture(scope="module")
def cendpoint(cserver: Server) -> str:
    return cserver.endpoint


@pytest.fixture(scope="module")
def cddb(cendpoint: str) -> Any:
    return make_client(cendpoint)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:  # noqa: F811
    context = browser.new_context(viewport=DESKTOP)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert errors == []  # no uncaught script error on the console


def open_console(page: Any, endpoint: str, table: str = "") -> None:
    page.goto(f"{endpoint}/_streams/live" + (f"?table={table}" if table else ""))
    wait_for(page, "document.body.dataset.ready === 'true'")


def wait_subscribed(page: Any) -> None:
    wait_for(page, "document.getElementById('status').textContent === 'subscribed'")


def wait_rows(page: Any, count: int, page_number: int | None = None) -> None:
    wait_for(
        page,
        """([n, p]) => {
          const t = document.getElementById('items');
          return t.tBodies[0].rows.length === n && (p === null || t.dataset.page === String(p))
            && document.getElementById('page-info').textContent !== 'reading…';
        }""",
        [count, page_number],
    )


def row_keys(page: Any) -> list[str]:
    keys: list[str] = page.eval_on_selector_all(
        "#items tbody tr",
        "rows => rows.map(r => r.querySelector('td[data-attribute=sk]').innerText)",
    )
    return keys


def records(page: Any) -> list[str]:
    names: list[str] = page.eval_on_selector_all(
        "#feed li.record", "els => els.map(e => e.dataset.eventName)"
    )
    return names


def boto_error(call: Any) -> str:
    """``Name: message`` of the error boto3 gets for the same request."""
    with pytest.raises(ClientError) as info:
        call()
    error = info.value.response["Error"]
    return f"{error['Code']}: {error['Message']}"


def no_horizontal_overflow(page: Any) -> dict[str, list[int]]:
    """[scrollWidth, clientWidth] of the document and every panel that overflows."""
    found: dict[str, list[int]] = page.evaluate(
        """() => {
          const out = {};
          const check = (name, node) => {
            if (node.scrollWidth > node.clientWidth) out[name] = [node.scrollWidth, node.clientWidth];
          };
          check('document', document.documentElement);
          check('body', document.body);
          check('main', document.getElementById('main'));
          for (const id of ['tables-panel', 'items-panel', 'feed-panel', 'items-box', 'feed', 'editor'])
            check(id, document.getElementById(id));
          return out;
        }"""
    )
    return found


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot: Path = ARTIFACTS / name
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0
    print(f"screenshot: {shot}")


# ------------------------------------------------------------------------ tables


def test_table_list_shows_key_schema_indexes_stream_and_ttl(
    page: Any, cendpoint: str, cddb: Any
) -> None:
    name = unique_name()
    cddb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "city", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byCity",
                "KeySchema": [{"AttributeName": "city", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    cddb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    plain, _ = create_stream_table(cddb, None, range_key=None)
    open_console(page, cendpoint)
    card = page.locator(f"#tables li.card[data-table='{name}']")
    assert card.locator("dd.keys").inner_text() == "pk (S, partition) · sk (N, sort)"
    assert card.locator("dd.indexes").inner_text() == "GSI byCity: city (S, partition) · ALL"
    assert card.locator("dd.stream").inner_text() == "on · NEW_IMAGE"
    assert card.locator("dd.ttl").inner_text() == "ENABLED · expires"
    other = page.locator(f"#tables li.card[data-table='{plain}']")
    assert other.locator("dd.keys").inner_text() == "pk (S, partition)"
    assert other.locator("dd.indexes").inner_text() == "none"
    assert other.locator("dd.stream").inner_text() == "off"
    assert other.locator("dd.ttl").inner_text() == "DISABLED"
    card.click()  # choosing a card opens that table in the item browser and the feed
    assert page.locator("#table").input_value() == name
    wait_subscribed(page)
    assert page.locator("#items-table").inner_text() == f"· {name}"


def test_past_100_tables_the_rest_are_described_when_chosen(browser: Any) -> None:  # noqa: F811
    with Server().run_in_thread() as srv:
        ddb = make_client(srv.endpoint)
        names = sorted(create_stream_table(ddb, name=f"t{n:03d}")[0] for n in range(101))
        context = browser.new_context(viewport=DESKTOP)
        try:
            page = context.new_page()
            open_console(page, srv.endpoint)
            assert page.locator("#tables li.card dd.keys").count() == 100
            last = page.locator(f"#tables li.card[data-table='{names[-1]}']")
            assert "described when chosen" in last.inner_text()
            last.click()
            wait_for(page, "document.getElementById('items-table').textContent !== ''")
            assert page.locator("#items-table").inner_text() == f"· {names[-1]}"
            wait_rows(page, 0, 1)
            wait_subscribed(page)
        finally:
            context.close()


# ------------------------------------------------------------------------ items


def test_browse_pages_of_items_and_query_with_a_key_condition(
    page: Any, cendpoint: str, cddb: Any
) -> None:
    table, _ = create_stream_table(cddb)
    for i in range(7):
        cddb.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"N": str(i)}})
    open_console(page, cendpoint, table)
    wait_rows(page, 7, 1)  # the first page at the default page size holds all 7
    page.fill("#limit", "3")
    page.click("#run")
    wait_rows(page, 3, 1)
    pages = [row_keys(page)]
    assert page.locator("#prev").is_disabled()
    page.click("#next")
    wait_rows(page, 3, 2)
    pages.append(row_keys(page))
    page.click("#next")
    wait_rows(page, 1, 3)
    pages.append(row_keys(page))
    assert page.locator("#next").is_disabled()  # no LastEvaluatedKey on the last page
    assert sorted(k for p in pages for k in p) == [str(i) for i in range(7)]
    page.click("#prev")
    wait_rows(page, 3, 2)
    assert row_keys(page) == pages[1]

    page.select_option("#mode", "Query")
    page.fill("#pk-value", "p")
    page.select_option("#sk-op", "between")
    page.fill("#sk-value", "2")
    page.fill("#sk-value2", "5")
    page.fill("#limit", "2")
    page.click("#run")
    wait_for(page, "document.getElementById('items').dataset.operation === 'Query'")
    wait_rows(page, 2, 1)
    assert row_keys(page) == ["2", "3"]
    page.click("#next")
    wait_rows(page, 2, 2)
    assert row_keys(page) == ["4", "5"]

    page.fill("#pk-value", "nobody")
    page.select_option("#sk-op", "")
    page.click("#run")
    wait_rows(page, 0, 1)
    assert page.locator("#items-error").is_hidden()


def test_edit_in_the_console_arrives_in_the_feed_and_updates_rows_in_place(
    page: Any, cendpoint: str, cddb: Any
) -> None:
    table, _ = create_stream_table(cddb)
    cddb.put_item(TableName=table, Item={**KEY, "age": {"N": "30"}})
    cddb.put_item(TableName=table, Item={"pk": {"S": "bob"}, "sk": {"N": "2"}})
    open_console(page, cendpoint, table)
    wait_subscribed(page)
    wait_rows(page, 2, 1)
    page.evaluate(
        """() => {
          window.notReloaded = true;
          window.aliceRow = [...document.querySelectorAll('#items tbody tr')]
            .find(r => r.innerText.includes('alice'));
        }"""
    )
    page.locator("#items tbody tr", has_text="alice").click()
    shown = json.loads(page.locator("#item-json").input_value())
    assert shown == {**KEY, "age": {"N": "30"}}
    page.fill("#item-json", json.dumps({**KEY, "age": {"N": "31"}, "home": {"M": NESTED}}))
    page.click("#save")
    # saved, or refused with the server's error shown: either way the save has ended
    try:
        wait_for(
            page,
            "document.getElementById('editor-status').textContent === 'saved'"
            " || !document.getElementById('editor-error').hidden",
        )
    except Exception:
        state = page.evaluate(
            """() => ({status: document.getElementById('editor-status').textContent,
                      editorHidden: document.getElementById('editor').hidden,
                      json: document.getElementById('item-json').value,
                      saveDisabled: document.getElementById('save').disabled})"""
        )
        raise AssertionError(f"the save did not end: {state}") from None
    assert page.locator("#editor-status").text_content() == "saved", page.locator(
        "#editor-error"
    ).text_content()
    wait_for(page, "document.querySelectorAll('#feed li.record').length >= 1")
    assert records(page) == ["MODIFY"]
    # the echo of the editor's own save has reached the row: it is not "changed on the
    # server" news for the editor
    wait_for(page, "window.aliceRow.dataset.sequenceNumber !== undefined")
    assert page.locator("#editor-status").text_content() == "saved"
    modify = page.locator("#feed li.record.MODIFY")
    assert modify.locator("tr[data-attribute=age] td.old").inner_text() == "30"
    assert modify.locator("tr[data-attribute=age] td.new").inner_text() == "31"
    assert modify.locator("tr[data-attribute=home] td.new > details.tree").count() == 1
    stored = cddb.get_item(TableName=table, Key=KEY)["Item"]
    assert stored == {**KEY, "age": {"N": "31"}, "home": {"M": NESTED}}

    # A write from elsewhere reaches the row already shown, through the feed: same
    # element, new value, no reload.
    cddb.update_item(
        TableName=table,
        Key=KEY,
        UpdateExpression="SET age = :a",
        ExpressionAttributeValues={":a": {"N": "32"}},
    )
    wait_for(
        page,
        "window.aliceRow.querySelector('td[data-attribute=age]').innerText === '32'",
    )
    assert page.evaluate("window.notReloaded && window.aliceRow.isConnected")
    assert page.evaluate(
        "document.querySelector('#items tbody tr[data-sequence-number]') === window.aliceRow"
    )
    assert "changed on the server" in page.locator("#editor-status").inner_text()
    assert records(page) == ["MODIFY", "MODIFY"]

    # "one row per key": the next change rewrites the feed row shown for that key
    page.check("#per-key")
    page.evaluate("window.newest = document.querySelector('#feed li.record')")
    cddb.update_item(
        TableName=table,
        Key=KEY,
        UpdateExpression="SET age = :a",
        ExpressionAttributeValues={":a": {"N": "33"}},
    )
    wait_for(
        page, "window.newest.querySelector('tr[data-attribute=age] td.new').innerText === '33'"
    )
    assert page.evaluate("document.querySelector('#feed li.record') === window.newest")
    assert records(page) == ["MODIFY", "MODIFY"]
    assert page.locator("#feed li.record").first.locator(".count").inner_text() == "2 changes"
    page.uncheck("#per-key")

    # A refused write shows the server's exception name and message as boto3 gets them.
    expected = boto_error(lambda: cddb.put_item(TableName=table, Item={"pk": {"S": "x"}}))
    page.fill("#item-json", json.dumps({"pk": {"S": "x"}}))
    page.click("#save")
    wait_for(page, "!document.getElementById('editor-error').hidden")
    assert page.locator("#editor-error").inner_text() == expected

    # Delete (two clicks) goes through DeleteItem and arrives as REMOVE.
    page.locator("#items tbody tr", has_text="alice").click()
    page.click("#delete")
    assert page.locator("#delete").inner_text() == "Really delete?"
    page.click("#delete")
    wait_for(page, "document.getElementById('editor-status').textContent === 'deleted'")
    wait_for(page, "document.querySelector('#feed li.record').dataset.eventName === 'REMOVE'")
    assert "Item" not in cddb.get_item(TableName=table, Key=KEY)
    assert page.evaluate("window.aliceRow.classList.contains('removed')")


def test_nested_values_render_as_trees_without_backslashes(
    page: Any, cendpoint: str, cddb: Any
) -> None:
    table, _ = create_stream_table(cddb)
    cddb.put_item(TableName=table, Item={**KEY, "address": {"M": NESTED}})
    page.set_viewport_size(DESKTOP)
    page.goto(f"{cendpoint}/_streams/live?table={table}")
    page.select_option("#from", "TRIM_HORIZON")
    wait_for(page, "document.querySelectorAll('#feed li.record').length === 1")
    cell = page.locator("#feed li.record tr[data-attribute=address] td.new")
    tree = cell.locator(":scope > details.tree")
    assert tree.count() == 1
    names = tree.locator(":scope > ul > li > .tree-key").all_inner_texts()
    assert names == ["city", "zip", "tags"]
    nested = tree.locator("details.tree-L details.tree-M")  # tags[1], a map in a list
    assert nested.count() == 1
    nested.evaluate("node => { node.open = true; }")
    text = cell.inner_text()
    assert "\\" not in text
    assert 'London "Old Town"' in text and "10115" in text and "floor" in text
    # the same tree in the item browser and the editor
    wait_rows(page, 1, 1)
    browsed = page.locator("#items tbody td[data-attribute=address]")
    assert browsed.locator("details.tree").count() >= 1 and "\\" not in browsed.inner_text()
    page.locator("#items tbody tr").first.click()
    editor_tree = page.locator("#item-tree")
    assert 'London "Old Town"' in editor_tree.inner_text()
    assert "\\" not in editor_tree.inner_text()


def test_a_table_without_a_stream_shows_the_servers_message(
    page: Any, cendpoint: str, cddb: Any
) -> None:
    table, _ = create_stream_table(cddb, None)
    with connect(cendpoint.replace("http", "ws") + "/_streams/ws") as ws:
        ws.send(json.dumps({"action": "subscribe", "id": "s1", "table": table}))
        frame = json.loads(ws.recv(timeout=10))
    assert frame["type"] == "error"
    open_console(page, cendpoint, table)
    wait_for(page, "!document.getElementById('feed-error').hidden")
    assert page.locator("#feed-error").inner_text() == f"{frame['code']}: {frame['message']}"
    assert page.locator("#status").inner_text() == "error"  # not "disconnected"
    wait_rows(page, 0, 1)  # the item browser still serves the table
    assert page.locator("#items-error").is_hidden()
    # the feed stopped (no retries behind the message); Refresh starts it again
    cddb.update_table(
        TableName=table,
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    page.click("#refresh")
    wait_subscribed(page)
    assert page.locator("#feed-error").is_hidden()
    cddb.put_item(TableName=table, Item=KEY)
    wait_for(page, "document.querySelectorAll('#feed li.record').length === 1")


def test_pause_buffers_filters_hide_rows_and_rows_show_their_time(
    page: Any, cendpoint: str, cddb: Any
) -> None:
    table, arn = create_stream_table(cddb)
    open_console(page, cendpoint, table)
    wait_subscribed(page)
    page.click("#pause")
    for i in range(3):
        cddb.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}, "sk": {"N": "1"}})
    wait_for(page, "document.getElementById('pause').textContent === 'Resume (3 waiting)'")
    assert records(page) == []
    page.click("#pause")
    wait_for(page, "document.querySelectorAll('#feed li.record').length === 3")
    cddb.delete_item(TableName=table, Key={"pk": {"S": "k1"}, "sk": {"N": "1"}})
    wait_for(page, "document.querySelectorAll('#feed li.record').length === 4")
    visible = "#feed li.record:not([hidden])"
    page.fill("#filter-key", '"k1"')
    assert page.eval_on_selector_all(visible, "els => els.map(e => e.dataset.eventName)") == [
        "REMOVE",
        "INSERT",
    ]
    page.fill("#filter-key", "")
    page.select_option("#filter-event", "INSERT")
    assert len(page.locator(visible).all()) == 3
    times = page.eval_on_selector_all("#feed li.record time", "els => els.map(e => e.dateTime)")
    assert arn is not None
    expected = [
        datetime.fromtimestamp(r["dynamodb"]["ApproximateCreationDateTime"], UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
        for r in read_stream(RawClient(cendpoint), arn)
    ]
    assert times == expected[::-1]  # each row's time is its ApproximateCreationDateTime


def test_with_a_token_the_console_says_how_to_pass_it_and_works_with_it(browser: Any) -> None:  # noqa: F811
    with Server(token="console-token-0123456789").run_in_thread() as srv:
        table, _ = create_stream_table(make_client(srv.endpoint))
        context = browser.new_context(viewport=DESKTOP)
        try:
            page = context.new_page()
            open_console(page, srv.endpoint, table)
            wait_for(page, "!document.getElementById('feed-note').hidden")
            assert "/_streams/live?token=" in page.locator("#feed-note").inner_text()
            wait_rows(page, 0, 1)  # the DynamoDB API needs no token: browsing works
            page.goto(f"{srv.endpoint}/_streams/live?table={table}&token=console-token-0123456789")
            wait_subscribed(page)
            assert "token" not in page.url  # kept in sessionStorage, not in the address bar
            assert page.locator("#feed-note").is_hidden()
        finally:
            context.close()


def test_with_credentials_browsing_is_off_with_the_servers_refusal(browser: Any) -> None:  # noqa: F811
    with Server(credentials={"test": "test"}).run_in_thread() as srv:
        signed = make_client(srv.endpoint)  # signs with the key test/test
        table, _ = create_stream_table(signed)
        answer = RawClient(srv.endpoint).request(
            b"{}", "DynamoDB_20120810.ListTables", authorization=""
        )
        body = json.loads(answer.body)
        refusal = f"{body['__type'].split('#')[-1]}: {body.get('message') or body.get('Message')}"
        context = browser.new_context(viewport=DESKTOP)
        try:
            page = context.new_page()
            open_console(page, srv.endpoint, table)
            wait_subscribed(page)  # the feed works
            note = page.locator("#api-note").inner_text()
            assert refusal in note and "--credentials" in note
            signed.put_item(TableName=table, Item=KEY)
            wait_for(page, "document.querySelectorAll('#feed li.record').length === 1")
        finally:
            context.close()


def test_with_a_keys_only_stream_a_shown_row_is_marked_stale(
    page: Any, cendpoint: str, cddb: Any
) -> None:
    table, _ = create_stream_table(cddb, "KEYS_ONLY")
    cddb.put_item(TableName=table, Item={**KEY, "age": {"N": "30"}})
    open_console(page, cendpoint, table)
    wait_subscribed(page)
    wait_rows(page, 1, 1)
    cddb.put_item(TableName=table, Item={**KEY, "age": {"N": "31"}})
    wait_for(page, "document.querySelector('#items tbody tr').classList.contains('stale')")
    row = page.locator("#items tbody tr")
    assert row.locator("td[data-attribute=age]").inner_text() == "30"  # not known: stale
    page.click("#run")
    wait_for(page, "!document.querySelector('#items tbody tr').classList.contains('stale')")
    assert row.locator("td[data-attribute=age]").inner_text() == "31"


# ------------------------------------------------------------------------ layout


def test_phone_width_nothing_overflows_and_screenshots(
    page: Any, cendpoint: str, cddb: Any
) -> None:
    table, _ = create_stream_table(cddb)
    long = "x" * 120
    for i in range(4):
        cddb.put_item(
            TableName=table,
            Item={
                "pk": {"S": f"user-{i}-{long}"},
                "sk": {"N": str(i)},
                "address": {"M": NESTED},
                "note": {"S": "a fairly long sentence that needs wrapping on a phone " * 3},
                "colour": {"S": "blue"},
                "size": {"N": "12345678901234567890"},
            },
        )
    page.goto(f"{cendpoint}/_streams/live?table={table}")
    page.select_option("#from", "TRIM_HORIZON")
    wait_for(page, "document.querySelectorAll('#feed li.record').length === 4")
    wait_rows(page, 4, 1)
    page.locator("#items tbody tr").first.locator("td").first.click()
    screenshot(page, "console-desktop.png")
    page.set_viewport_size(PHONE)
    wait_for(page, "document.documentElement.clientWidth === 420")
    assert no_horizontal_overflow(page) == {}
    screenshot(page, "console-phone.png")


# ------------------------------------------------------------------------ sidecar


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with Server().run_in_thread() as srv:
        yield srv.endpoint


@pytest.fixture(scope="module")
def sidecar(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    side = start_sidecar(upstream, tmp_path_factory.mktemp("console-sidecar"))
    try:
        yield side
        assert_clean_log(side)
    finally:
        side.kill9()


def test_on_a_sidecar_the_feed_works_and_browsing_is_off_with_a_note(
    page: Any, sidecar: ServerProcess, upstream: str
) -> None:
    upddb = make_client(upstream)
    table, _ = create_stream_table(upddb)
    refusal = boto_error(lambda: make_client(sidecar.endpoint).list_tables())
    open_console(page, sidecar.endpoint, table)
    wait_subscribed(page)
    assert page.evaluate("document.body.dataset.api") == "refused"
    note = page.locator("#api-note").inner_text()
    assert refusal in note and "The change feed works." in note
    assert page.locator("#items-note").is_visible()
    assert page.locator("#run").is_disabled() and page.locator("#new-item").is_disabled()
    assert page.locator("#tables li").count() == 0
    assert page.locator("#table").input_value() == table
    upddb.put_item(TableName=table, Item={**KEY, "address": {"M": NESTED}})
    wait_for(page, "document.querySelectorAll('#feed li.record').length === 1")
    assert records(page) == ["INSERT"]
    assert "\\" not in page.locator("#feed li.record").inner_text()
    page.set_viewport_size(PHONE)
    wait_for(page, "document.documentElement.clientWidth === 420")
    assert no_horizontal_overflow(page) == {}
    screenshot(page, "console-sidecar-phone.png")
