"""Shard iterators: opaque, signed, bound to one stream and shard, expiring.

A token is ``<stream ARN>|1|<base64 payload>.<signature>``; the payload holds the
stream's internal id, the shard id, the position (read records with sequence counter
greater than it) and the creation time by the data clock. The HMAC (a per-database
secret) makes forged or edited iterators detectable, and the secret survives restarts,
so iterators issued before a restart stay valid until they expire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

import orjson

ITERATOR_LIFETIME_SECONDS = 15 * 60
_VERSION = 1


class InvalidIterator(ValueError):
    """The token is not an iterator this server issued."""


class ExpiredIterator(ValueError):
    """The iterator is older than its lifetime."""


@dataclass(frozen=True)
class ShardIterator:
    stream_arn: str
    stream_id: int
    shard_id: str
    position: int  # read records whose counter is > position
    issued_at: float

    def encode(self, secret: bytes) -> str:
        payload = orjson.dumps(
            [
                _VERSION,
                self.stream_id,
                self.shard_id,
                self.position,
                self.issued_at,
                self.stream_arn,
            ]
        )
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        mac = hmac.new(secret, body.encode(), hashlib.sha256).digest()[:12]
        signature = base64.urlsafe_b64encode(mac).decode().rstrip("=")
        return f"{self.stream_arn}|1|{body}.{signature}"


def decode_iterator(token: str, secret: bytes, now: float) -> ShardIterator:
    """Verify and decode ``token``; raise InvalidIterator or ExpiredIterator."""
    try:
        arn, version, rest = token.rsplit("|", 2)
        body, signature = rest.split(".", 1)
    except ValueError:
        raise InvalidIterator(token) from None
    if version != "1":
        raise InvalidIterator(token)
    expected = (
        base64.urlsafe_b64encode(hmac.new(secret, body.encode(), hashlib.sha256).digest()[:12])
        .decode()
        .rstrip("=")
    )
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        raise InvalidIterator(token)
    try:
        fields = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        _, stream_id, shard, position, issued_at, stream_arn = fields
        iterator = ShardIterator(
            str(stream_arn), int(stream_id), str(shard), int(position), float(issued_at)
        )
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise InvalidIterator(token) from None
    if iterator.stream_arn != arn:
        raise InvalidIterator(token)
    if now - iterator.issued_at > ITERATOR_LIFETIME_SECONDS:
        raise ExpiredIterator(token)
    return iterator
