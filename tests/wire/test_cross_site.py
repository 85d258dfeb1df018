"""Cross-site request forgery: a page the developer visits sends "simple" requests
(``Content-Type: text/plain``, no custom header, so no CORS preflight) to the loopback
server. Every state-changing admin and Lambda route refuses them, whether the browser
names the page's Origin or only says ``Sec-Fetch-Site: cross-site``, and refuses a body
not declared JSON; nothing changes (clock, items, shards, mappings). The same requests
from an allowed origin (loopback, ``--allowed-origin``) sent as ``application/json``
work, and so do boto3's and the AWS CLI's Lambda calls (DeleteEventSourceMapping
carries no body and no Content-Type).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from dynoxide_streams import Server
from tests.conftest import make_client

EVIL = "http://evil.example"
ORIGIN_REFUSED = (
    f"Cross-site request refused: Origin '{EVIL}' is not allowed "
    "(start the server with --allowed-origin URL to allow a page's origin)"
)
FETCH_SITE_REFUSED = (
    "Cross-site request refused: Sec-Fetch-Site is cross-site and there is no Origin"
)
MAPPINGS = "/2015-03-31/event-source-mappings"
ITEMS = 20
THE_FUTURE = 4_102_444_800  # 2100-01-01: every item's TTL has passed by then


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def send(
    endpoint: str, method: str, path: str, body: str | None, headers: dict[str, str]
) -> Answer:
    """One request with exactly ``headers`` (plus Host and Content-Length)."""
    parts = urlsplit(endpoint)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    return Answer(
        response.status,
        {k.lower(): v for k, v in response.getheaders()},
        json.loads(data) if data else None,
    )


def handler(event: Any, context: Any) -> None:
    return None


@pytest.fixture
def srv() -> Iterator[Server]:
    """A server of its own per test, so a sweep's count is this test's items."""
    server = Server(clock="virtual", ttl_period=0, allowed_origin=["https://app.test"])
    server.register_function("victim", handler)
    with server.run_in_thread() as running:
        yield running


@dataclass
class Target:
    """A stream table full of expired items, and the requests that would change it."""

    srv: Server
    table: str
    arn: str

    def attacks(self) -> dict[str, tuple[str, str, dict[str, Any]]]:
        """route -> (method, path, JSON body) of each state-changing request."""
        mapping = {
            "FunctionName": "victim",
            "EventSourceArn": self.arn,
            "StartingPosition": "TRIM_HORIZON",
            "DestinationConfig": {"OnFailure": {"Destination": "http://evil.example/loot"}},
        }
        return {
            "clock": ("POST", "/_admin/clock", {"set_epoch_seconds": THE_FUTURE}),
            "ttl sweep": ("POST", "/_admin/ttl/sweep", {}),
            "rotate": ("POST", "/_admin/streams/rotate", {"table": self.table}),
            "create mapping": ("POST", MAPPINGS, mapping),
        }

    def state(self) -> tuple[float, int, int, list[str]]:
        """(clock, items, shards, mappings of the stream): what an attack would change."""
        ddb = make_client(self.srv.endpoint)
        streams = make_client(self.srv.endpoint, "dynamodbstreams")
        lam = make_client(self.srv.endpoint, "lambda")
        items = ddb.scan(TableName=self.table, Select="COUNT")["Count"]
        shards = streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        mappings = lam.list_event_source_mappings(EventSourceArn=self.arn)
        uuids = [m["UUID"] for m in mappings["EventSourceMappings"]]
        return self.srv.clock.now(), items, len(shards), uuids


@pytest.fixture
def target(srv: Server) -> Target:
    ddb = make_client(srv.endpoint)
    table = f"victim_{uuid.uuid4().hex[:10]}"
    arn = ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"}
    )
    expired = str(int(srv.clock.now()) - 60)
    for n in range(ITEMS):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"k{n}"}, "exp": {"N": expired}})
    return Target(srv, table, arn)


ROUTES = ["clock", "ttl sweep", "rotate", "create mapping"]
BROWSERS = {
    # what a browser adds to a cross-site fetch(..., {method: "POST", body}) / form post
    "origin": ({"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}, ORIGIN_REFUSED),
    "origin only": ({"Origin": EVIL}, ORIGIN_REFUSED),
    "sec-fetch-site, no origin": ({"Sec-Fetch-Site": "cross-site"}, FETCH_SITE_REFUSED),
}


def assert_refused(answer: Answer, route: str, status: int, name: str, message: str) -> None:
    """The exact refusal in the route family's error shape."""
    if route == "create mapping":
        assert (answer.status, answer.headers.get("x-amzn-errortype")) == (status, name)
        assert answer.body == {"Type": "User", "message": message}
    else:
        assert answer.status == status
        assert answer.body == {"error": name, "message": message}


@pytest.mark.parametrize("browser", list(BROWSERS))
@pytest.mark.parametrize("route", ROUTES)
def test_simple_cross_site_post_is_refused_and_changes_nothing(
    target: Target, route: str, browser: str
) -> None:
    method, path, params = target.attacks()[route]
    extra, message = BROWSERS[browser]
    before = target.state()
    headers = {"Content-Type": "text/plain;charset=UTF-8", **extra}
    answer = send(target.srv.endpoint, method, path, json.dumps(params), headers)
    assert_refused(answer, route, 403, "AccessDeniedException", message)
    assert target.state() == before


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        ("text/plain", "'text/plain'"),
        ("application/x-www-form-urlencoded", "'application/x-www-form-urlencoded'"),
        ("multipart/form-data; boundary=x", "'multipart/form-data; boundary=x'"),
        (None, "none"),
    ],
)
def test_a_body_not_sent_as_json_is_refused_and_changes_nothing(
    target: Target, route: str, content_type: str | None, shown: str
) -> None:
    """No Origin and no Sec-Fetch-Site (an old browser, a plain form): the body's type
    is what a browser cannot send cross-site without a preflight."""
    method, path, params = target.attacks()[route]
    before = target.state()
    headers = {} if content_type is None else {"Content-Type": content_type}
    answer = send(target.srv.endpoint, method, path, json.dumps(params), headers)
    message = f"Content-Type must be application/json (got {shown})"
    assert_refused(answer, route, 415, "UnsupportedMediaTypeException", message)
    assert target.state() == before


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"Origin": "http://localhost:5173", "Sec-Fetch-Site": "same-site"},
        {"Origin": "http://127.0.0.1:3000"},
        {"Origin": "https://app.test", "Sec-Fetch-Site": "cross-site"},  # --allowed-origin
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
    ],
    ids=["no browser", "loopback", "loopback ip", "allowed origin", "same-origin", "typed"],
)
def test_the_same_requests_as_json_from_allowed_callers_work(
    target: Target, extra: dict[str, str]
) -> None:
    attacks = target.attacks()
    headers = {"Content-Type": "application/json", **extra}

    def call(route: str) -> Answer:
        method, path, params = attacks[route]
        return send(target.srv.endpoint, method, path, json.dumps(params), headers)

    _, _, shards, _ = target.state()
    assert call("create mapping").status == 202
    assert call("rotate").status == 200
    assert call("ttl sweep").body == {"expired": ITEMS}
    _, items, shards_after, mappings = target.state()
    assert (items, shards_after, len(mappings)) == (0, shards + 1, 1)
    assert call("clock").body == {"now": THE_FUTURE, "virtual": True}
    assert target.srv.clock.now() == THE_FUTURE
    delete = send(target.srv.endpoint, "DELETE", f"{MAPPINGS}/{mappings[0]}", None, extra)
    assert delete.status == 202


def test_bodiless_requests_need_no_content_type(target: Target) -> None:
    """A POST without a body (``curl -X POST``) and DeleteEventSourceMapping."""
    endpoint = target.srv.endpoint
    sweep = send(endpoint, "POST", "/_admin/ttl/sweep", None, {})
    assert (sweep.status, sweep.body) == (200, {"expired": ITEMS})
    lam = make_client(endpoint, "lambda")
    mapping = lam.create_event_source_mapping(
        FunctionName="victim", EventSourceArn=target.arn, StartingPosition="LATEST"
    )["UUID"]
    refused = send(endpoint, "DELETE", f"{MAPPINGS}/{mapping}", None, {"Origin": EVIL})
    assert (refused.status, refused.headers["x-amzn-errortype"]) == (403, "AccessDeniedException")
    assert target.state()[3] == [mapping]
    deleted = send(endpoint, "DELETE", f"{MAPPINGS}/{mapping}", None, {})
    assert (deleted.status, deleted.body["UUID"]) == (202, mapping)


def test_boto3_lambda_client_works_unchanged(target: Target) -> None:
    lam = make_client(target.srv.endpoint, "lambda")
    created = lam.create_event_source_mapping(
        FunctionName="victim", EventSourceArn=target.arn, StartingPosition="TRIM_HORIZON"
    )
    mapping = created["UUID"]
    updated = lam.update_event_source_mapping(UUID=mapping, BatchSize=7)
    assert updated["BatchSize"] == 7
    assert lam.get_event_source_mapping(UUID=mapping)["BatchSize"] == 7
    listed = lam.list_event_source_mappings(EventSourceArn=target.arn)["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [mapping]
    assert lam.delete_event_source_mapping(UUID=mapping)["UUID"] == mapping


def test_aws_cli_lambda_calls_work_unchanged(target: Target, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
        "HOME": str(tmp_path),
    }

    where = ["--endpoint-url", target.srv.endpoint, "--output", "json"]

    def aws(*args: str) -> Any:
        result = subprocess.run(
            [sys.executable, "-m", "awscli", "lambda", *args, *where],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        assert result.returncode == 0, (args, result.stderr)
        return json.loads(result.stdout)

    mapping = aws(
        "create-event-source-mapping",
        *("--function-name", "victim", "--event-source-arn", target.arn),
        *("--starting-position", "LATEST"),
    )["UUID"]
    assert (
        aws("update-event-source-mapping", "--uuid", mapping, "--batch-size", "5")["BatchSize"] == 5
    )
    assert aws("delete-event-source-mapping", "--uuid", mapping)["UUID"] == mapping
    assert target.state()[3] == []
