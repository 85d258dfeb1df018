"""``GET /_streams/tables``: the tables a server's push endpoint serves, which the live
page lists. Every table in server mode; in sidecar mode the ``--tables`` given or every
upstream table (a DynamoDB ListTables sent to a sidecar is refused, so the page cannot
use it); a 503 in DynamoDB-JSON style when the upstream cannot answer in time.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.conftest import make_client
from tests.fault_proxy import FaultProxy
from tests.process import Processes, assert_clean_log, assert_running
from tests.wire.test_sidecar import unique
from tests.wire.test_streams import create_stream_table


def get(endpoint: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(endpoint)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request(method, "/_streams/tables")
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def names(endpoint: str) -> list[str]:
    status, headers, body = get(endpoint)
    assert status == 200, body
    assert headers["content-type"] == "application/json"
    data = json.loads(body)
    assert set(data) == {"TableNames"}
    found: list[str] = data["TableNames"]
    return found


def test_server_mode_lists_every_table_sorted(endpoint: str, ddb: Any) -> None:
    created = sorted([unique("zeta"), unique("alpha")])
    for name in created:
        create_stream_table(ddb, range_key=None, name=name)
    listed = names(endpoint)
    assert listed == sorted(listed)
    assert set(created) <= set(listed)
    all_tables: list[str] = []
    for page in ddb.get_paginator("list_tables").paginate():
        all_tables.extend(page["TableNames"])
    assert listed == all_tables  # what ListTables says, in one answer
    status, headers, body = get(endpoint, "HEAD")
    assert (status, body) == (200, b"")
    assert headers["content-type"] == "application/json"


def test_sidecar_lists_its_tables_and_answers_503_when_the_upstream_cannot(
    tmp_path: Path,
) -> None:
    with Processes(tmp_path) as procs:
        up = procs.upstream()
        ddb = make_client(up.endpoint)
        first, second = unique("first"), unique("second")
        for name in (first, second):
            create_stream_table(ddb, range_key=None, name=name)
        watched = procs.sidecar(up.endpoint, "--tables", f"{second},{first}")
        assert names(watched.endpoint) == sorted([first, second])
        proxy = FaultProxy(int(up.endpoint.rsplit(":", 1)[1]))
        with proxy.running():
            every = procs.sidecar(proxy.url)
            assert set(names(every.endpoint)) == {first, second}
            proxy.mode = "http500"
            status, headers, body = get(every.endpoint)
            assert status == 503
            assert headers["content-type"] == "application/json"
            assert json.loads(body) == {
                "error": "ServiceUnavailable",
                "message": "the table list is unavailable",
            }
            assert_running(every)
            proxy.mode = "pass"
            assert set(names(every.endpoint)) == {first, second}
        assert "table list unavailable" in every.log()
        assert_clean_log(every)
