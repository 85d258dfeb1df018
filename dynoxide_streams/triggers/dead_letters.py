"""Dead-letter delivery: where the failure record of a discarded batch goes.

When Lambda's retry rules discard a batch (retries exhausted, record too old), its
failure record (:func:`~dynoxide_streams.triggers.events.failure_record`) is stored in
the mapping's dead letters (``GET /_admin/triggers/dead-letters``) and, when the
mapping's ``DestinationConfig.OnFailure`` is an http(s) URL, POSTed there. A
destination that refuses or cannot be reached is logged; the record stays stored and
the lane goes on either way.
"""

from __future__ import annotations

import uuid

import anyio
import orjson
import structlog

from dynoxide_streams.engine.trigger_store import TriggerStore
from dynoxide_streams.logs import oplog
from dynoxide_streams.triggers import events
from dynoxide_streams.triggers.functions import InvokeResult
from dynoxide_streams.triggers.mappings import Mapping, parse_function_name
from dynoxide_streams.triggers.retry_rules import Batch

log = structlog.get_logger("dynoxide_streams.triggers")

DESTINATION_TIMEOUT_SECONDS = 5.0


def function_of(mapping: Mapping) -> str:
    """The name of the mapping's function (no ARN, no qualifier)."""
    ref = parse_function_name(mapping.function_name)
    return mapping.function_name if ref is None else ref.name


async def deliver(
    store: TriggerStore,
    mapping: Mapping,
    shard_id: str,
    batch: Batch,
    condition: str,
    result: InvokeResult,
    now: float,
    *,
    last_error: tuple[str, str] | None = None,
) -> None:
    """Store the failure record of ``batch`` (discarded for ``condition`` after its
    last invocation ended with ``result``; ``last_error`` the (type, message) of the
    last failed invocation) and send it to the OnFailure destination.

    Raises only what the store raises; destination failures are logged.
    """
    body = events.failure_record(
        request_id=str(uuid.uuid4()),
        function_arn=mapping.function_arn,
        condition=condition,
        invoke_count=batch.invokes,
        status_code=result.status_code,
        function_error=result.error,
        shard_id=shard_id,
        stream_arn=mapping.event_source_arn,
        records=batch.records,
        now=now,
        last_error=last_error,
    )
    error_type, message = last_error or ("", "")
    oplog.warning(
        "batch discarded",
        uuid=mapping.uuid,
        function=function_of(mapping),
        condition=condition,
        first=body["DDBStreamBatchInfo"]["startSequenceNumber"],
        size=len(batch.records),
        error_type=error_type or None,
        error=message or None,
    )
    await store.add_dead_letter(mapping.uuid, body)
    destination = mapping.on_failure
    if destination is not None and destination.startswith(("http://", "https://")):
        # imported here: the browser bundle leaves the HTTP client out
        from dynoxide_streams.http_client import http_post

        try:
            status, _, _ = await http_post(
                destination, orjson.dumps(body), timeout=DESTINATION_TIMEOUT_SECONDS
            )
            if not 200 <= status < 300:
                log.warning("on-failure destination refused", url=destination, status=status)
        except (OSError, TimeoutError, anyio.BrokenResourceError) as exc:
            log.warning("on-failure destination unreachable", url=destination, error=str(exc))
