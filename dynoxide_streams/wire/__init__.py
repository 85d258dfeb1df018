"""The HTTP face of the server: an ASGI app speaking the DynamoDB JSON protocol.

``App`` is imported on first use, so ``wire.errors`` (the one error renderer) can be
imported without uvicorn: the browser engine renders its errors with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dynoxide_streams.wire.app import App

__all__ = ["App"]


def __getattr__(name: str) -> Any:
    if name == "App":
        from dynoxide_streams.wire.app import App

        return App
    raise AttributeError(name)
