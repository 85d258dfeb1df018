"""pytest plugin (auto-loaded through the ``pytest11`` entry point).

Fixtures:

* ``dynoxide_server`` — a session-wide embedded :class:`~dynoxide_streams.Server` on a
  free loopback port with a throwaway database;
* ``dynoxide_endpoint`` — its ``http://127.0.0.1:PORT`` URL, for ``endpoint_url=``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from dynoxide_streams.server import Server


@pytest.fixture(scope="session")
def dynoxide_server() -> Iterator[Server]:
    from dynoxide_streams.server import Server

    with Server().run_in_thread() as server:
        yield server


@pytest.fixture(scope="session")
def dynoxide_endpoint(dynoxide_server: Server) -> str:
    return dynoxide_server.endpoint
