"""``--data-model FILE`` (a OneTable JSON schema): named in the server's instructions,
returned as ``DataModel`` by ``describe_table`` of the table its primary index
describes (and only that one); a file that is no such schema stops ``mcp`` with one
line. Through the SDK's stdio client against ``mcp``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession
from mcp.client.stdio import stdio_client

from tests.mcp_client import ROOT, call, mcp_command
from tests.wire.test_mcp_stdio import table_args

pytestmark = pytest.mark.anyio

SCHEMA: dict[str, Any] = {
    "format": "onetable:1.1.0",
    "version": "0.0.1",
    "indexes": {
        "primary": {"hash": "pk", "sort": "sk"},
        "gs1": {"hash": "gs1pk", "sort": "gs1sk", "project": "all"},
    },
    "models": {
        "Account": {
            "pk": {"type": "string", "value": "account#${id}"},
            "sk": {"type": "string", "value": "account#"},
            "id": {"type": "string", "generate": "ulid"},
            "name": {"type": "string", "required": True},
        },
        "User": {
            "pk": {"type": "string", "value": "account#${accountId}"},
            "sk": {"type": "string", "value": "user#${email}"},
            "email": {"type": "string", "required": True},
        },
    },
    "params": {"isoDates": True},
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_describe_table_returns_the_data_model(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(SCHEMA))
    params = mcp_command("--in-memory", "--data-model", str(path))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
        init = await s.initialize()
        assert init.instructions is not None
        assert (
            "A single-table data model (OneTable schema) is loaded, entities: Account, User. "
            "describe_table of a table keyed pk/sk returns it as DataModel"
        ) in init.instructions
        await call(s, "create_table", table_args("App"))
        described = await call(s, "describe_table", {"TableName": "App"})
        assert described["DataModel"] == SCHEMA
        other = {
            **table_args("Other"),
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        }
        await call(s, "create_table", other)
        assert "DataModel" not in await call(s, "describe_table", {"TableName": "Other"})


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not json", "is not JSON: "),
        ('{"models": {}}', 'needs indexes.primary.hash (e.g. {"hash": "pk", "sort": "sk"})'),
        (
            '{"indexes": {"primary": {"hash": "pk"}}, "models": []}',
            "needs models, an object of entity definitions",
        ),
    ],
)
def test_a_file_that_is_no_onetable_schema_stops_mcp(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "schema.json"
    path.write_text(content)
    done = subprocess.run(
        [sys.executable, "-m", "dynoxide_streams", "mcp", "--in-memory", "--data-model", str(path)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(f"dynoxide-streams: data model {path}")
    assert problem in done.stderr
    assert done.stderr.count("\n") == 1
