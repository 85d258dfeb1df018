"""The websocket subscription protocol — pure: messages in, messages out.

Client → server (JSON text frames)::

    {"action": "subscribe", "id": "s1", "table": "users", "from": "TRIM_HORIZON"}
    {"action": "subscribe", "id": "s2", "streamArn": "arn:…", "from": "LATEST"}
    {"action": "subscribe", "id": "s3", "table": "users", "from": {"after": "1000…42"}}
    {"action": "unsubscribe", "id": "s1"}

``from`` defaults to LATEST. ``after`` is the last SequenceNumber the client saw (a
stream is one lineage, so one number is a position across its shards); resuming with
it delivers everything after it, nothing twice.

Server → client::

    {"type": "subscribed", "id", "streamArn", "position"}   # position: start, as {"after": …}
    {"type": "record", "id", "streamArn", "shardId", "record": <GetRecords record>}
    {"type": "shard_end", "id", "streamArn", "shardId"}
    {"type": "trimmed", "id", "streamArn", "message"}       # fell behind retention
    {"type": "stream_disabled", "id", "streamArn"}
    {"type": "table_deleted", "id", "streamArn"}
    {"type": "unsubscribed", "id"}
    {"type": "error", "id"?, "code", "message"}             # the connection stays usable
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from dynoxide_streams.shards import ids

MAX_SUBSCRIPTIONS = 64
MAX_MESSAGE_BYTES = 64 * 1024


class ProtocolError(ValueError):
    """A client message the server refuses; becomes an ``error`` frame."""

    def __init__(self, code: str, message: str, subscription: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.subscription = code, message, subscription

    def frame(self) -> bytes:
        body: dict[str, Any] = {"type": "error", "code": self.code, "message": self.message}
        if self.subscription is not None:
            body["id"] = self.subscription
        return orjson.dumps(body)


@dataclass(frozen=True)
class Subscribe:
    id: str
    table: str | None
    stream_arn: str | None
    start: str  # "TRIM_HORIZON" | "LATEST" | a sequence number to read after


@dataclass(frozen=True)
class Unsubscribe:
    id: str


def parse_message(data: str | bytes) -> Subscribe | Unsubscribe:
    """Decode one client frame or raise ProtocolError (``BadRequest``)."""
    size = len(data.encode("utf-8", "surrogatepass")) if isinstance(data, str) else len(data)
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError("BadRequest", "message too large")
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ProtocolError("BadRequest", "message is not JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError("BadRequest", "message must be a JSON object")
    subscription = message.get("id")
    if not isinstance(subscription, str) or not 1 <= len(subscription) <= 128:
        raise ProtocolError("BadRequest", "id must be a string of 1 to 128 characters")
    action = message.get("action")
    if action == "unsubscribe":
        return Unsubscribe(subscription)
    if action != "subscribe":
        raise ProtocolError("BadRequest", "action must be subscribe or unsubscribe", subscription)
    table, arn = message.get("table"), message.get("streamArn")
    if (table is None) == (arn is None) or not isinstance(table or arn, str):
        raise ProtocolError("BadRequest", "give exactly one of table or streamArn", subscription)
    if arn is not None and ids.parse_stream_arn(arn) is None:
        raise ProtocolError("BadRequest", f"malformed streamArn: {arn}", subscription)
    start = message.get("from", "LATEST")
    if isinstance(start, dict):
        after = start.get("after")
        if not ids.is_sequence_number(after):
            raise ProtocolError("BadRequest", "from.after must be a SequenceNumber", subscription)
        start = after
    elif start not in ("TRIM_HORIZON", "LATEST"):
        raise ProtocolError(
            "BadRequest",
            'from must be "TRIM_HORIZON", "LATEST" or {"after": SequenceNumber}',
            subscription,
        )
    return Subscribe(subscription, table, arn, start)


def frame(kind: str, subscription: str, stream_arn: str, **extra: Any) -> bytes:
    return orjson.dumps({"type": kind, "id": subscription, "streamArn": stream_arn, **extra})


def record_frame(subscription: str, stream_arn: str, shard_id: str, record: bytes) -> bytes:
    """A ``record`` frame around stored GetRecords JSON, without re-encoding it."""
    head = orjson.dumps(
        {"type": "record", "id": subscription, "streamArn": stream_arn, "shardId": shard_id}
    )
    return head[:-1] + b',"record":' + record + b"}"
