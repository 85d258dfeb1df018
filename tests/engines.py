"""Upstream engines for the sidecar tests: this project's own server, moto's server and
Dynoxide, each started as a child process on a free loopback port.

The peers are installed by ``tools/peers.sh`` (npm and a scratch venv under the
git-ignored ``.cache/peers``; pinned versions), called once per test session before
the first peer starts, so a clean clone's ``make test`` needs nothing installed by hand.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.config import Config

from tests.conftest import make_client
from tests.process import Processes, ServerProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
PEERS_SCRIPT = ROOT / "tools" / "peers.sh"
ENGINES = ("this", "moto", "dynoxide")


@functools.cache
def peers_dir() -> Path:
    """The peers' directory, installed (``tools/peers.sh dynoxide moto``) on first use."""
    where = Path(os.environ.get("PEERS_DIR", ROOT / ".cache" / "peers"))
    subprocess.run(
        ["bash", str(PEERS_SCRIPT), "dynoxide", "moto"],
        check=True,
        env={**os.environ, "PEERS_DIR": str(where)},
        timeout=600,
    )
    return where


def command(engine: str, port: int, work: Path) -> list[str]:
    """The command line serving ``engine`` on ``port`` (data, if any, under ``work``)."""
    if engine == "this":  # TTL left to the sidecar: the upstream never expires items
        data = work / f"upstream-{port}"
        serve = [sys.executable, "-m", "dynoxide_streams", "serve", "--port", str(port)]
        return [*serve, "--data-dir", str(data), "--ttl-period", "0"]
    if engine == "moto":
        python = peers_dir() / "moto-venv" / "bin" / "python"
        return [str(python), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    if engine == "dynoxide":
        binary = peers_dir() / "node_modules" / "@dynoxide" / "linux-x64" / "dynoxide"
        return [str(binary), "serve", "--host", "127.0.0.1", "--port", str(port)]
    raise ValueError(f"unknown engine {engine}")


def client(endpoint: str, service: str = "dynamodb") -> Any:
    """A boto3 client for an upstream. The Streams client skips botocore's parameter
    validation: Dynoxide's shard ids (``shardId-00000001-table``) are shorter than
    the model's minimum of 28."""
    if service != "dynamodbstreams":
        return make_client(endpoint, service)
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )


def wait_answering(endpoint: str, server: ServerProcess, deadline_s: float = 60.0) -> None:
    """Poll a signed ListTables until the engine answers (fail if it exits)."""
    ddb = make_client(endpoint)
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.log_path.name} exited:\n{server.log()[-3000:]}")
        try:
            ddb.list_tables()
            return
        except Exception:  # not listening yet
            time.sleep(0.05)
    raise TimeoutError(f"{endpoint} did not answer ListTables")


def start_engine(procs: Processes, engine: str) -> ServerProcess:
    """``engine`` serving on a free port, answering, killed when ``procs`` ends."""
    port = free_port()
    argv = command(engine, port, procs.work)
    procs.work.mkdir(parents=True, exist_ok=True)
    log_path = procs.work / f"{engine}-{port}.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT)
    server = ServerProcess(proc, f"http://127.0.0.1:{port}", log_path)
    procs.started.append(server)
    wait_answering(server.endpoint, server)
    return server


@dataclass
class Upstream:
    """An engine with boto3 clients for its DynamoDB and Streams APIs."""

    server: ServerProcess
    engine: str
    ddb: Any
    streams: Any

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def records(self, arn: str) -> list[dict[str, Any]]:
        """Every record of the stream as GetRecords gives it, shard by shard in
        lineage order, each shard read from TRIM_HORIZON to its current end."""
        shards: list[dict[str, Any]] = []
        params: dict[str, Any] = {"StreamArn": arn}
        while True:
            description = self.streams.describe_stream(**params)["StreamDescription"]
            shards.extend(description["Shards"])
            last = description.get("LastEvaluatedShardId")
            if not last:
                break
            params["ExclusiveStartShardId"] = last
        known = {s["ShardId"] for s in shards}
        ordered: list[dict[str, Any]] = []
        while len(ordered) < len(shards):
            placed = {s["ShardId"] for s in ordered}
            for shard in shards:
                parent = shard.get("ParentShardId")
                if shard["ShardId"] not in placed and (parent not in known or parent in placed):
                    ordered.append(shard)
                    placed.add(shard["ShardId"])
        records: list[dict[str, Any]] = []
        for shard in ordered:
            iterator = self.streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                page = self.streams.get_records(ShardIterator=iterator)
                records.extend(page["Records"])
                iterator = page.get("NextShardIterator")
                if not page["Records"]:
                    break
        return records


def upstream(procs: Processes, engine: str) -> Upstream:
    server = start_engine(procs, engine)
    return Upstream(
        server, engine, client(server.endpoint), client(server.endpoint, "dynamodbstreams")
    )
