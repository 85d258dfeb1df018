"""dynoxide-streams: a DynamoDB-compatible server with Streams, TTL, push and triggers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Server", "__version__"]

if TYPE_CHECKING:
    from dynoxide_streams.server import Server


def __getattr__(name: str) -> Any:
    # Imported lazily so that using one module (say, engine.values) does not load the
    # whole server stack.
    if name == "Server":
        from dynoxide_streams.server import Server

        return Server
    raise AttributeError(name)
