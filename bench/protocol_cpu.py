#!/usr/bin/env python3
"""CPU time per request of the HTTP protocol plus the app, without sockets or a client.

    PYTHONPATH=/path/to/checkout python bench/protocol_cpu.py [--requests 20000] [--rounds 5]

Starts an embedded in-memory server, builds the server's HTTP protocol objects on its
engine context with a fake transport, and feeds each one the exact bytes a load
generator sends (``bench/dynproto.py``'s request head, ~200-byte items, 100 partitions
of 10), one request at a time, waiting for the whole response to be written. Two
protocols, alternating round by round:

* ``asgi``: ``wire/limits.py``'s httptools protocol, every request through uvicorn's
  ``RequestResponseCycle`` and ``App`` (the server before ``wire/direct.py``);
* ``direct``: ``wire/direct.py``'s protocol, as the server runs now.

Prints one JSON line per (op, protocol): the median over ``--rounds`` of the process CPU
time per request in µs (``time.process_time``), and the load average. What is left out
is the kernel and the event loop's own socket work (``bench/null_server.py`` under
``bench/loadgen.py`` measures that: a bare ``asyncio.Protocol`` answering canned bytes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from typing import Any

import orjson
import uvicorn
from app_cpu import TABLE, TABLE_SPEC, item, request_makers  # the same workload
from uvicorn.server import ServerState

from dynoxide_streams import Server
from dynoxide_streams.wire.app import App
from dynoxide_streams.wire.direct import direct_protocols
from dynoxide_streams.wire.limits import ConnectionLimits

HEAD = (
    "POST / HTTP/1.1\r\n"
    "Host: 127.0.0.1:8000\r\n"
    "X-Amz-Target: DynamoDB_20120810.{op}\r\n"
    "Content-Type: application/x-amz-json-1.0\r\n"
    "Authorization: AWS4-HMAC-SHA256 Credential=x/20240101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host;x-amz-date;x-amz-target, Signature=abc\r\n"
    "X-Amz-Date: 20240101T000000Z\r\n"
    "Accept-Encoding: identity\r\n"
    "Content-Length: {length}\r\n\r\n"
)


class _Transport(asyncio.Transport):
    """Collects what is written; resolves ``done`` once a whole response is in."""

    def __init__(self) -> None:
        super().__init__()
        self.buf = bytearray()
        self.done: asyncio.Future[bytes] | None = None

    def write(self, data: Any) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0 or self.done is None:
            return
        head = bytes(self.buf[:end]).lower()
        length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
        if len(self.buf) >= end + 4 + length:
            response = bytes(self.buf[: end + 4 + length])
            del self.buf[: end + 4 + length]
            self.done.set_result(response)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name in ("sockname", "peername"):
            return ("127.0.0.1", 8000)
        return default

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _request(op: str, params: Any) -> bytes:
    body = orjson.dumps(params)
    return HEAD.format(op=op, length=len(body)).encode() + body


class _Connection:
    def __init__(self, protocol_class: type[asyncio.Protocol], config: uvicorn.Config) -> None:
        self.transport = _Transport()
        self.protocol = protocol_class(  # type: ignore[call-arg]
            config=config, server_state=ServerState(), app_state={}
        )
        self.protocol.connection_made(self.transport)

    async def call(self, request: bytes) -> bytes:
        self.transport.done = asyncio.get_running_loop().create_future()
        self.protocol.data_received(request)
        return await self.transport.done


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ops", default="GetItem,PutItem,Query", help="comma-separated")
    ap.add_argument("--protocols", default="asgi,direct", help="comma-separated")
    args = ap.parse_args()
    async with Server() as srv:
        assert srv._service is not None and srv._service.ctx is not None
        app = App(srv._service.ctx)
        limits = ConnectionLimits(max_connections=0, header_timeout=10.0, max_header_bytes=65536)
        config = uvicorn.Config(app, lifespan="off", access_log=False, log_config=None)
        config.load()
        protocols = {"asgi": limits.protocols()[0], "direct": direct_protocols(limits, app)[0]}
        setup = _Connection(protocols["asgi"], config)
        conns = {name: _Connection(protocols[name], config) for name in args.protocols.split(",")}
        await setup.call(_request("CreateTable", TABLE_SPEC))
        for p in range(100):
            for s in range(10):
                await setup.call(_request("PutItem", {"TableName": TABLE, "Item": item(p, s)}))
        rnd = random.Random(7)
        requests = request_makers(rnd, put_sort_keys=1)
        for op in args.ops.split(","):
            make = requests[op]
            pool = [_request(op, make()) for _ in range(512)]
            samples: dict[str, list[float]] = {name: [] for name in conns}
            for conn in conns.values():
                answer = await conn.call(pool[0])
                assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer
            for _ in range(args.rounds):
                for name, conn in conns.items():
                    start = time.process_time()
                    for i in range(args.requests):
                        await conn.call(pool[i & 511])
                    samples[name].append((time.process_time() - start) / args.requests * 1e6)
            with open("/proc/loadavg") as f:
                load = float(f.read().split()[0])
            for name, per_request in samples.items():
                print(
                    json.dumps(
                        {
                            "op": op,
                            "protocol": name,
                            "cpu_us_per_request": round(statistics.median(per_request), 1),
                            "rounds": [round(x, 1) for x in per_request],
                            "loadavg_1m": load,
                        }
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
