"""The HTTP face of the server: an ASGI app speaking the DynamoDB JSON protocol."""

from dynoxide_streams.wire.app import App

__all__ = ["App"]
