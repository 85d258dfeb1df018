"""Trigger handlers the MCP tests register in the ``mcp`` subprocess
(``--function copy=python:tests.mcp_handlers:copy``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3


def copy(event: dict[str, Any], context: Any) -> None:
    """Copy each inserted item into table ``Copies`` of the server whose endpoint is in
    the file ``$MCP_TEST_ENDPOINT_FILE``."""
    endpoint = Path(os.environ["MCP_TEST_ENDPOINT_FILE"]).read_text()
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    for record in event["Records"]:
        if record["eventName"] == "INSERT":
            client.put_item(TableName="Copies", Item=record["dynamodb"]["NewImage"])


def record(event: dict[str, Any], context: Any) -> None:
    """Append each record of the batch, one JSON line, to ``$MCP_TEST_RECORDS_FILE``."""
    with Path(os.environ["MCP_TEST_RECORDS_FILE"]).open("a", encoding="utf-8") as out:
        for each in event["Records"]:
            out.write(json.dumps(each) + "\n")


def fail(event: dict[str, Any], context: Any) -> None:
    """Fail every batch (so a mapping without retries dead-letters it)."""
    raise RuntimeError("refused on purpose")
