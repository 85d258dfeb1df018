"""Shared fixtures: one real server on a free loopback port, boto3 clients, raw HTTP."""

from __future__ import annotations

import http.client
import inspect
import itertools
import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config

if TYPE_CHECKING:
    from dynoxide_streams import Server

os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


# ------------------------------------------------------------------------------ tiers

TESTS = Path(__file__).resolve().parent
FOLDER_TIERS = {
    "unit": "unit",
    "property": "unit",
    "wire": "wire",
    "browser": "browser",
    "packaging": "packaging",
    "docs": "docs",
}


def _code_names(code: CodeType) -> Iterator[str]:
    """The global and attribute names ``code`` uses, nested functions included."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _code_names(const)


def _starts_processes(roots: list[Any]) -> bool:
    """Whether any of ``roots`` (a test function, its fixtures) uses the ``subprocess``
    module, directly or through functions and classes of the ``tests`` package it calls."""
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        obj = inspect.unwrap(todo.pop())  # through @contextmanager and the like
        if id(obj) in seen or not getattr(obj, "__module__", "").startswith("tests"):
            continue
        seen.add(id(obj))
        if inspect.isclass(obj):
            for member in vars(obj).values():
                todo.append(getattr(member, "__func__", getattr(member, "fget", member)))
            continue
        code = getattr(obj, "__code__", None)
        if code is None:
            continue
        names = getattr(obj, "__globals__", {})
        for name in _code_names(code):
            value = names.get(name)
            if value is subprocess:
                return True
            if value is not None and (inspect.isfunction(value) or inspect.isclass(value)):
                todo.append(value)
    return False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier: ``unit``/``wire``/``browser``/``packaging`` by its
    folder, and ``process`` when it (or a fixture it uses) starts child processes."""
    for item in items:
        folder = Path(item.path).resolve().relative_to(TESTS).parts[0]
        tier = FOLDER_TIERS.get(folder)
        if tier is not None:
            item.add_marker(tier)
        if isinstance(item, pytest.Function):
            fixtures = item._fixtureinfo.name2fixturedefs.values()
            roots = [item.function, *(d.func for defs in fixtures for d in defs)]
            if _starts_processes(roots):
                item.add_marker("process")


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def server(dynoxide_server: Server) -> Server:
    return dynoxide_server


@pytest.fixture(scope="session")
def endpoint(dynoxide_endpoint: str) -> str:
    return dynoxide_endpoint


def make_client(endpoint: str, service: str = "dynamodb") -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(
            retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30
        ),
    )


@pytest.fixture(scope="session")
def ddb(endpoint: str) -> Any:
    return make_client(endpoint)


@dataclass(kw_only=True)
class RawMessage:
    """An HTTP request or answer as it crossed the wire: its headers and body bytes."""

    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(kw_only=True)
class RawResponse(RawMessage):
    """An answer received by :class:`RawClient` (header names lower-cased)."""

    status: int

    @property
    def error_type(self) -> str:
        """The DynamoDB error name: the body's ``__type`` without its namespace."""
        return str(self.json["__type"]).rsplit("#", 1)[-1]

    @property
    def amzn_error_type(self) -> str | None:
        """The REST-JSON (Lambda) error name: the ``x-amzn-ErrorType`` header."""
        return self.headers.get("x-amzn-errortype")

    @property
    def message(self) -> str:
        data = self.json
        return str(data.get("message", data.get("Message", "")))


class RawClient:
    """A plain HTTP client for asserting on the exact JSON the server sends."""

    def __init__(self, endpoint: str) -> None:
        parts = urlsplit(endpoint)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80

    def request(
        self,
        body: bytes | str | None,
        target: str | None,
        *,
        method: str = "POST",
        path: str = "/",
        content_type: str = "application/x-amz-json-1.0",
        authorization: str = "AWS4-HMAC-SHA256 Credential=x",
    ) -> RawResponse:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        headers = {"Content-Type": content_type, "Authorization": authorization}
        if target is not None:
            headers["X-Amz-Target"] = target
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            return RawResponse(
                status=response.status,
                headers={k.lower(): v for k, v in response.getheaders()},
                body=data,
            )
        finally:
            conn.close()

    def call(self, operation: str, params: Any, prefix: str = "DynamoDB_20120810") -> RawResponse:
        body = params if isinstance(params, (bytes, str)) else json.dumps(params)
        return self.request(body, f"{prefix}.{operation}")


@pytest.fixture(scope="session")
def raw(endpoint: str) -> RawClient:
    return RawClient(endpoint)


_counter = itertools.count()


@pytest.fixture
def table_name() -> str:
    return f"t{next(_counter)}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_table(ddb: Any) -> Callable[..., str]:
    """Create a PAY_PER_REQUEST table: make_table(hash=("pk","S"), range=("sk","S")|None)."""

    def create(
        hash_key: tuple[str, str] = ("pk", "S"),
        range_key: tuple[str, str] | None = ("sk", "S"),
        name: str | None = None,
    ) -> str:
        name = name or f"t{next(_counter)}_{uuid.uuid4().hex[:8]}"
        keys = [{"AttributeName": hash_key[0], "KeyType": "HASH"}]
        defs = [{"AttributeName": hash_key[0], "AttributeType": hash_key[1]}]
        if range_key is not None:
            keys.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
            defs.append({"AttributeName": range_key[0], "AttributeType": range_key[1]})
        ddb.create_table(
            TableName=name, KeySchema=keys, AttributeDefinitions=defs, BillingMode="PAY_PER_REQUEST"
        )
        return name

    return create
