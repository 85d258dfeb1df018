#!/usr/bin/env python3
"""A do-nothing DynamoDB-shaped HTTP server, for measuring the load generator itself.

    python bench/null_server.py --port 5002

It answers every request immediately with a canned body (keep-alive, no
storage): DescribeTable says the table is ACTIVE, GetItem returns a fixed
item, BatchWriteItem returns empty UnprocessedItems, everything else ``{}``.
Running ``loadgen.py`` against it shows the generator's ceiling and its CPU
cost per request (``client_cpu_pct`` / ``ops_per_s``).  ``--delay-ms D`` holds
each response D ms, capping the rate near concurrency / D, to see what the
generator costs at a realistic 5-10k requests/s.  Only binds loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

RESPONSES = {
    b"DescribeTable": (
        b'{"Table":{"TableName":"bench_table","TableStatus":"ACTIVE","KeySchema":['
        b'{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}]}}'
    ),
    b"GetItem": b'{"Item":{"pk":{"S":"load-0000000"},"sk":{"S":"s00"}}}',
    b"BatchWriteItem": b'{"UnprocessedItems":{}}',
    b"Query": b'{"Count":0,"Items":[],"ScannedCount":0}',
    b"ListTables": b'{"TableNames":[]}',
}


def _response(body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


CANNED = {k: _response(v) for k, v in RESPONSES.items()}
DEFAULT = _response(b"{}")


DELAY_S = 0.0  # --delay-ms: hold every response this long (caps the rate, like a real server)


class NullProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        out = []
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end].lower()
            i = head.find(b"content-length:")
            n = (
                int(head[i + 15 : head.find(b"\r\n", i) if head.find(b"\r\n", i) >= 0 else None])
                if i >= 0
                else 0
            )
            if len(buf) < end + 4 + n:
                break
            t = head.find(b"x-amz-target: dynamodb_20120810.")
            op = b""
            if t >= 0:
                s = t + 32
                e = head.find(b"\r\n", s)
                op = buf[s : e if e >= 0 else end].strip()
            out.append(CANNED.get(op, DEFAULT))
            buf = buf[end + 4 + n :]
        self.buf = buf
        if out and self.transport is not None:
            if DELAY_S > 0:
                loop = asyncio.get_running_loop()
                loop.call_later(DELAY_S, self._write, b"".join(out))
            else:
                self.transport.write(b"".join(out))

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(NullProtocol, "127.0.0.1", port)
    print(f"null server on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description="canned-response DynamoDB-shaped server")
    ap.add_argument("--port", type=int, default=5002)
    ap.add_argument("--no-uvloop", action="store_true")
    ap.add_argument("--delay-ms", type=float, default=0.0, help="delay every response")
    a = ap.parse_args()
    global DELAY_S
    DELAY_S = a.delay_ms / 1000
    try:
        if a.no_uvloop:
            raise ImportError
        import uvloop

        uvloop.run(serve(a.port))
    except ImportError:
        asyncio.run(serve(a.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
