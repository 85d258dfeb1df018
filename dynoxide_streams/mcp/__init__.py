"""The MCP server (Model Context Protocol, through the official ``mcp`` SDK): tools
over the engine's operations, table resources with live change notifications.

Nothing here is imported by a plain ``serve``: the ``mcp`` command (``mcp_main.py``)
imports it on start.
"""
