"""Live subscriptions: ``resources/subscribe`` on ``dynamodb://table/<name>`` and the
``notifications/resources/updated`` that follow each committed write to that table.

Fed only by the :class:`~dynoxide_streams.engine.changes.ChangeSource` (as push and
triggers are), so it works against this database and, in sidecar mode, an upstream
engine alike. One task per (session, table) subscription, in the session's own task
group (:func:`session_feeds`, entered by the SDK's per-session lifespan), so a
session's tasks end with it:

1. sleep in ``wait_for_records`` (woken right after a local commit; a 0.25 s poll
   against an upstream);
2. walk the table's current stream from the position it last told about
   (``changes.walk``); if records came, send one notification whose ``_meta`` carries
   ``StreamArn``, ``After`` (where these records begin: ``read_changes`` with
   ``After`` returns exactly them), ``SequenceNumber`` (the newest) and ``Records``
   (how many);
3. then wait ``COALESCE_SECONDS`` before the next one: writes that land meanwhile
   are told in the next notification, so a subscription gets at most 10 a second
   however fast the table is written.

Memory per subscription is one position; a slow client only delays the task (the
SDK's write stream applies backpressure), it never queues notifications.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp.types as types
import structlog
from anyio.abc import TaskGroup
from mcp.server.session import ServerSession
from mcp.shared.exceptions import McpError

from dynoxide_streams.engine.changes import ChangeSource
from dynoxide_streams.mcp.changes import current_stream, walk

log = structlog.get_logger("dynoxide_streams.mcp")

URI_PREFIX = "dynamodb://table/"
COALESCE_SECONDS = 0.1
WAKE_TIMEOUT = 5.0
WALK_LIMIT = 1000


def table_of(uri: str) -> str | None:
    """The table name of a table resource URI (None: not one)."""
    if not uri.startswith(URI_PREFIX):
        return None
    name = uri[len(URI_PREFIX) :]
    return name or None


def _invalid(message: str) -> McpError:
    return McpError(types.ErrorData(code=types.INVALID_PARAMS, message=message))


class Feeds:
    """The subscriptions of one session."""

    def __init__(self, source: ChangeSource, tg: TaskGroup) -> None:
        self.source = source
        self._tg = tg
        self._scopes: dict[str, anyio.CancelScope] = {}

    async def subscribe(self, uri: str, session: ServerSession) -> None:
        """Start telling ``session`` about writes to the table of ``uri`` (idempotent).
        Raises McpError (invalid params) for an unknown table or one without a stream,
        saying which."""
        table = table_of(uri)
        if table is None:
            raise _invalid(f"not a table resource: {uri} (expected {URI_PREFIX}<table>)")
        if uri in self._scopes:
            return
        stream = await current_stream(self.source, table)
        if stream is None and table not in await self.source.tables():
            raise _invalid(f"no such resource: {uri} (no table {table})")
        if stream is None or stream.status != "ENABLED":
            raise _invalid(
                f"table {table} has no enabled stream: enable one with update_table "
                '(StreamSpecification {"StreamEnabled": true, "StreamViewType": '
                '"NEW_AND_OLD_IMAGES"}) to subscribe'
            )
        position = await self.source.start_position(stream.stream_arn, "LATEST")
        assert position is not None
        scope = anyio.CancelScope()
        self._scopes[uri] = scope
        self._tg.start_soon(self._watch, uri, table, stream.stream_arn, position, session, scope)

    def unsubscribe(self, uri: str) -> None:
        scope = self._scopes.pop(uri, None)
        if scope is not None:
            scope.cancel()

    async def _watch(
        self,
        uri: str,
        table: str,
        arn: str,
        position: str,
        session: ServerSession,
        scope: anyio.CancelScope,
    ) -> None:
        mark = self.source.high_water
        generation = self.source.streams_generation
        with scope:
            try:
                while True:
                    mark = await self.source.wait_for_records(mark, WAKE_TIMEOUT)
                    if self.source.streams_generation != generation:
                        generation = self.source.streams_generation
                        stream = await current_stream(self.source, table)
                        if stream is not None and stream.stream_arn != arn:
                            arn = stream.stream_arn  # a new stream: tell from its start
                            fresh = await self.source.start_position(arn, "TRIM_HORIZON")
                            position = fresh or position
                    records, after = await walk(self.source, arn, position, WALK_LIMIT)
                    if not records:
                        position = after
                        continue
                    await _notify(session, uri, arn, position, after, len(records))
                    position = after
                    await anyio.sleep(COALESCE_SECONDS)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return  # the session went away
            except Exception:
                # a bug or an I/O failure ends this subscription, never the session
                log.exception("MCP subscription failed", uri=uri)
            finally:
                self._scopes.pop(uri, None)


async def _notify(
    session: ServerSession, uri: str, arn: str, after: str, newest: str, count: int
) -> None:
    meta: dict[str, Any] = {
        "StreamArn": arn,
        "After": after,
        "SequenceNumber": newest,
        "Records": count,
    }
    params = types.ResourceUpdatedNotificationParams.model_validate({"uri": uri, "_meta": meta})
    await session.send_notification(
        types.ServerNotification(types.ResourceUpdatedNotification(params=params))
    )


@asynccontextmanager
async def session_feeds(source: ChangeSource) -> AsyncIterator[Feeds]:
    """The :class:`Feeds` of one session, its tasks cancelled when the session ends."""
    async with anyio.create_task_group() as tg:
        feeds = Feeds(source, tg)
        try:
            yield feeds
        finally:
            tg.cancel_scope.cancel()
