"""Idempotency tokens of TransactWriteItems (ClientRequestToken)."""

from __future__ import annotations

from typing import Any

from dynoxide_streams.engine import messages
from dynoxide_streams.errors import IdempotentParameterMismatchException
from dynoxide_streams.lru import LRU

TOKEN_SECONDS = 600
MAX_TOKENS = 10_000


class TokenCache:
    """ClientRequestToken → (request fingerprint, response), for 10 minutes, bounded."""

    def __init__(self) -> None:
        self._entries: LRU[str, tuple[bytes, dict[str, Any], float]] = LRU(MAX_TOKENS)

    def lookup(self, token: str, fingerprint: bytes, now: float) -> dict[str, Any] | None:
        self._expire(now)
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry[0] != fingerprint:
            raise IdempotentParameterMismatchException(messages.IDEMPOTENT_MISMATCH.template)
        return entry[1]

    def store(self, token: str, fingerprint: bytes, response: dict[str, Any], now: float) -> None:
        self._entries.put(token, (fingerprint, response, now + TOKEN_SECONDS))

    def _expire(self, now: float) -> None:
        self._entries.evict_while(lambda _token, entry: entry[2] <= now)
