"""Log output: structlog and stdlib logging (uvicorn, libraries) rendered alike, as console
lines or JSON lines on stderr, chosen once at start-up; and :data:`oplog`, the logger
of what an operator reads at the default INFO level.

Operator events (at INFO unless said otherwise; never one per request):

==============================  =========  ==========================================
event                           level      fields
==============================  =========  ==========================================
``listening``                   info       endpoint, data, clock (upstream)
``table created``               info       table
``table deleted``               info       table
``stream enabled``              info       table, stream_arn, view_type
``stream disabled``             info       table, stream_arn
``index backfill started``      info       table, index, items
``index backfill progress``     info       table, index, scanned, items
``index backfill finished``     info       table, index, scanned, indexed
``ttl sweep``                   info       table, deleted
``trigger invocation failed``   warning    uuid, function, shard, lane, error_type,
                                           error, decision, attempt, records
``batch discarded``             warning    uuid, function, condition, first, size,
                                           error_type, error
``upstream reachable``          info       upstream
``upstream unreachable``        warning    upstream, error
``shutting down``               info       endpoint
``stopped``                     info       endpoint
==============================  =========  ==========================================
"""

from __future__ import annotations

import logging
import sys

import structlog

oplog = structlog.wrap_logger(
    None, cache_logger_on_first_use=False, logger_factory_args=("dynoxide_streams.events",)
)
"""The logger of operator events (the table above). Not cached on first use, unlike the
modules' own loggers: an event builds its logger from the configuration in force
(tens of microseconds more per line, for a handful of lines a minute; never on a
per-request path), so tests can capture events with a structlog ``LogCapture``
configuration set after start-up."""

_HANDLER_NAME = "dynoxide-streams"
"""The name of the root handler :func:`configure` installs (replaced on a second call)."""


def configure(level: str = "info", fmt: str = "console") -> None:
    """Route structlog and stdlib logging to stderr in ``fmt`` (``console`` or ``json``).

    structlog events at ``level`` and above are written directly; stdlib records (at
    WARNING and above, or ``level`` if higher) go through a handler on the root logger
    whose ``structlog.stdlib.ProcessorFormatter`` renders them with the same renderer,
    so every line of the process has one format; Python warnings are logged there too.
    The handler is installed only when the root logger has no other handler (as
    ``logging.basicConfig``), so an application that configured logging keeps its own.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    renderer: structlog.typing.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    shared: list[structlog.typing.Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root.addHandler(handler)
    root.setLevel(max(numeric, logging.WARNING))
    logging.captureWarnings(True)  # Python warnings become records of that handler too
