"""The ``mcp`` SDK's own client against ``dynoxide-streams mcp`` in a subprocess
(stdio), and a helper that calls a tool and parses its compact JSON answer."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

ROOT = Path(__file__).resolve().parents[1]


def mcp_command(*args: str) -> StdioServerParameters:
    """``python -m dynoxide_streams mcp ARGS...`` with this checkout on the path. The
    SDK starts it as a child process through anyio, which tests/conftest.py cannot see;
    ``subprocess`` is named here so the tests using it get the ``process`` marker."""
    assert subprocess.DEVNULL  # see the docstring
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "dynoxide_streams", "mcp", "--log-level", "warning", *args],
        env=env,
    )


@asynccontextmanager
async def stdio_session(*args: str, **handlers: Any) -> AsyncIterator[ClientSession]:
    """An initialised client session with a fresh ``mcp`` process (ARGS its flags)."""
    async with (
        stdio_client(mcp_command(*args)) as (read, write),
        ClientSession(read, write, **handlers) as session,
    ):
        await session.initialize()
        yield session


async def call(session: ClientSession, tool: str, arguments: dict[str, Any]) -> Any:
    """The parsed JSON result of a tool call that must succeed."""
    result = await session.call_tool(tool, arguments)
    text = result.content[0].text  # type: ignore[union-attr]
    assert not result.isError, f"{tool}: {text}"
    return orjson.loads(text)


async def call_error(session: ClientSession, tool: str, arguments: dict[str, Any]) -> Any:
    """The parsed JSON error of a tool call that must fail (a tool error)."""
    result = await session.call_tool(tool, arguments)
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.isError, f"{tool} succeeded: {text}"
    return orjson.loads(text)
