"""CORS in a real Chromium: pages on other origins calling the DynamoDB route.

A tiny static server in this module serves the pages on their own loopback port, so
each page is cross-origin to the dynoxide-streams server. Chromium maps ``evil.test``
to 127.0.0.1 (``--host-resolver-rules``), so the same page server also gives a foreign
origin, ``http://evil.test:PORT``, that is neither loopback nor ``--allowed-origin``.

* A loopback page writes and reads back with ``fetch`` (``X-Amz-Target`` and the
  DynamoDB content type force a preflight) and can read the exposed
  ``x-amzn-RequestId``/``x-amz-crc32``; the AWS SDK for JavaScript v3 (installed with
  npm into the git-ignored ``.cache/js-sdk`` and bundled there with esbuild) does the
  same, its ``$metadata.requestId`` read from the exposed header; ``/_streams/client.js``
  imports across origins.
* The foreign page's preflight gets no CORS headers: its fetch fails and nothing is
  written; its import of ``client.js`` fails too.

Every wait is bounded (fetch aborts after ``WAIT_MS``, the SDK has a request timeout).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api

from dynoxide_streams import Server
from tests.browser.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import make_client

REPO = Path(__file__).resolve().parents[2]
NPM_DIR = REPO / ".cache" / "js-sdk"
SDK_BUNDLE = NPM_DIR / "dynamodb.browser.js"
WAIT_MS = 10_000
PAGE = b"<!doctype html><title>cors page</title>"


# ------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def sdk_bundle() -> bytes:
    """The AWS SDK for JavaScript v3's DynamoDB client as one browser ES module,
    installed with npm and bundled with esbuild into ``.cache/js-sdk`` the first time."""
    npm = shutil.which("npm")
    assert npm, "npm is needed for the JavaScript SDK browser test"
    modules = NPM_DIR / "node_modules"
    if (
        not (modules / "@aws-sdk" / "client-dynamodb").is_dir()
        or not (modules / ".bin" / "esbuild").exists()
    ):
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(NPM_DIR),
             "@aws-sdk/client-dynamodb@3", "esbuild"],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    entry = NPM_DIR / "browser-entry.mjs"
    entry.write_text(
        'export { DynamoDBClient, GetItemCommand, PutItemCommand } from "@aws-sdk/client-dynamodb";\n'
    )
    subprocess.run(
        [str(modules / ".bin" / "esbuild"), str(entry), "--bundle", "--format=esm",
         "--platform=browser", "--minify", f"--outfile={SDK_BUNDLE}"],
        check=True, capture_output=True, timeout=120, cwd=NPM_DIR,
    )  # fmt: skip
    return SDK_BUNDLE.read_bytes()


class PageServer:
    """Serves ``/`` (an empty page) and ``/sdk.js`` (the SDK bundle, once set) on a
    free loopback port, each request on its own thread."""

    def __init__(self) -> None:
        self.sdk = b""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/sdk.js" and outer.sdk:
                    body, kind = outer.sdk, "text/javascript; charset=utf-8"
                elif self.path == "/":
                    body, kind = PAGE, "text/html; charset=utf-8"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def pages() -> Iterator[PageServer]:
    server = PageServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def cserver() -> Iterator[Server]:
    with Server().run_in_thread() as srv:
        yield srv


@pytest.fixture(scope="module")
def cddb(cserver: Server) -> Any:
    return make_client(cserver.endpoint)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP evil.test 127.0.0.1"],
        )
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    yield context
    context.close()


@pytest.fixture
def table(cddb: Any) -> str:
    name = f"cors_{uuid.uuid4().hex[:8]}"
    cddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def open_page(context: Any, origin: str) -> Any:
    page = context.new_page()
    page.on("pageerror", lambda error: print("page error:", error))
    page.goto(origin + "/")
    return page


# ------------------------------------------------------------------------ fetch

FETCH_JS = """async ({endpoint, table, pk, waitMs}) => {
  const call = async (operation, body) => {
    const response = await fetch(endpoint + "/", {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810." + operation,
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(waitMs),
    });
    return {
      status: response.status,
      body: await response.json(),
      requestId: response.headers.get("x-amzn-RequestId"),
      crc32: response.headers.get("x-amz-crc32"),
    };
  };
  try {
    const put = await call("PutItem", {TableName: table, Item: {pk: {S: pk}, n: {N: "7"}}});
    const get = await call("GetItem", {TableName: table, Key: {pk: {S: pk}}});
    return {put, get};
  } catch (error) {
    return {error: error.name + ": " + error.message};
  }
}"""


def test_a_loopback_page_writes_and_reads_with_fetch(
    context: Any, pages: PageServer, cserver: Server, cddb: Any, table: str
) -> None:
    page = open_page(context, f"http://127.0.0.1:{pages.port}")
    args = {"endpoint": cserver.endpoint, "table": table, "pk": "fetch", "waitMs": WAIT_MS}
    result = page.evaluate(FETCH_JS, args)
    assert "error" not in result, result
    assert (result["put"]["status"], result["put"]["body"]) == (200, {})
    assert (result["get"]["status"], result["get"]["body"]) == (
        200,
        {"Item": {"pk": {"S": "fetch"}, "n": {"N": "7"}}},
    )
    for reply in (result["put"], result["get"]):  # exposed to the page
        assert len(reply["requestId"]) == 52 and reply["crc32"].isdigit(), reply
    assert cddb.get_item(TableName=table, Key={"pk": {"S": "fetch"}})["Item"]["n"] == {"N": "7"}


def test_a_foreign_page_gets_no_cors_and_writes_nothing(
    context: Any, pages: PageServer, cserver: Server, cddb: Any, table: str
) -> None:
    page = open_page(context, f"http://evil.test:{pages.port}")
    assert page.evaluate("location.origin") == f"http://evil.test:{pages.port}"
    args = {"endpoint": cserver.endpoint, "table": table, "pk": "evil", "waitMs": WAIT_MS}
    result = page.evaluate(FETCH_JS, args)
    assert result == {"error": "TypeError: Failed to fetch"}
    assert "Item" not in cddb.get_item(TableName=table, Key={"pk": {"S": "evil"}})
    imported = page.evaluate(
        """async (url) => {
          try { await import(url); return "imported"; }
          catch (error) { return error.name; }
        }""",
        cserver.endpoint + "/_streams/client.js",
    )
    assert imported == "TypeError"


# ------------------------------------------------------------------ client.js


def test_client_js_imports_from_another_loopback_origin(
    context: Any, pages: PageServer, cserver: Server
) -> None:
    page = open_page(context, f"http://localhost:{pages.port}")
    kind = page.evaluate(
        "async (url) => typeof (await import(url)).subscribe",
        cserver.endpoint + "/_streams/client.js",
    )
    assert kind == "function"


# ------------------------------------------------------------------ the JS SDK

SDK_JS = """async ({endpoint, table, pk, waitMs}) => {
  const {DynamoDBClient, PutItemCommand, GetItemCommand} = await import("/sdk.js");
  const client = new DynamoDBClient({
    endpoint,
    region: "us-east-1",
    credentials: {accessKeyId: "AKIDBROWSER", secretAccessKey: "browser-secret"},
    maxAttempts: 1,
    requestHandler: {requestTimeout: waitMs},
  });
  try {
    const put = await client.send(new PutItemCommand(
      {TableName: table, Item: {pk: {S: pk}, tags: {SS: ["a", "b"]}}}));
    const got = await client.send(new GetItemCommand({TableName: table, Key: {pk: {S: pk}}}));
    return {item: got.Item, putId: put.$metadata.requestId, getId: got.$metadata.requestId};
  } catch (error) {
    return {error: error.name + ": " + error.message};
  }
}"""


def test_the_aws_sdk_for_javascript_v3_writes_and_reads_from_a_loopback_page(
    context: Any, pages: PageServer, cserver: Server, cddb: Any, table: str, sdk_bundle: bytes
) -> None:
    pages.sdk = sdk_bundle
    page = open_page(context, f"http://127.0.0.1:{pages.port}")
    args = {"endpoint": cserver.endpoint, "table": table, "pk": "sdk", "waitMs": WAIT_MS}
    result = page.evaluate(SDK_JS, args)
    assert "error" not in result, result
    assert result["item"] == {"pk": {"S": "sdk"}, "tags": {"SS": ["a", "b"]}}
    assert len(result["putId"]) == 52 and len(result["getId"]) == 52  # exposed header
    assert result["putId"] != result["getId"]
    assert cddb.get_item(TableName=table, Key={"pk": {"S": "sdk"}})["Item"]["tags"] == {
        "SS": ["a", "b"]
    }
