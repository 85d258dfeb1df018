#!/usr/bin/env python3
"""How fast the local console (``/_streams/live``) renders, in headless Chromium.

    PYTHONPATH=/path/to/checkout python bench/console.py [--tables 30] [--items 100] [--runs 5]

Starts an embedded in-memory server with ``--tables`` stream tables, one of them holding
``--items`` items with a nested map each, and opens the console on that table with
Debian's Chromium through Playwright (as tests/browser does). Per run, prints one JSON
line: milliseconds from navigation to a rendered first page of 25 items (the table list
is read first), and from choosing TRIM_HORIZON to all ``--items`` records rendered in
the feed; plus the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from playwright.sync_api import sync_playwright

from dynoxide_streams import Server

CHROMIUM = os.environ.get("DYNOXIDE_STREAMS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
NESTED: dict[str, Any] = {
    "city": {"S": "London"},
    "zip": {"N": "10115"},
    "tags": {"L": [{"S": "home"}, {"M": {"floor": {"N": "3"}}}]},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", type=int, default=30)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    with Server().run_in_thread() as srv:
        import boto3

        ddb = boto3.client(
            "dynamodb",
            endpoint_url=srv.endpoint,
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        for n in range(options.tables):
            ddb.create_table(
                TableName=f"t{n:03d}",
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            )
        table = "t000"
        for i in range(options.items):
            ddb.put_item(TableName=table, Item={"pk": {"S": f"user-{i}"}, "address": {"M": NESTED}})
        rows = min(25, options.items)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            for run in range(options.runs):
                start = time.perf_counter()
                page.goto(f"{srv.endpoint}/_streams/live?table={table}")
                page.wait_for_function(
                    f"document.querySelectorAll('#items tbody tr').length === {rows}", polling=5
                )
                first_page = time.perf_counter() - start
                page.select_option("#from", "TRIM_HORIZON")
                start = time.perf_counter()
                page.wait_for_function(
                    f"document.querySelectorAll('#feed li.record').length === {options.items}",
                    polling=5,
                )
                feed = time.perf_counter() - start
                print(
                    json.dumps(
                        {
                            "run": run,
                            "first_page_ms": round(first_page * 1000),
                            "feed_ms": round(feed * 1000),
                            "load": os.getloadavg()[0],
                        }
                    )
                )
            browser.close()


if __name__ == "__main__":
    main()
