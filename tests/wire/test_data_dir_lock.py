"""One server per data directory, through real processes.

A second ``serve`` (or ``sidecar``) on a data directory a running server holds exits 1
with one line naming the holder's PID and port, and the holder keeps serving its data.
The lock dies with its holder: after ``kill -9`` a new server starts on the directory.
Two embedded :class:`Server` objects in one process are refused the same way;
``--in-memory`` servers take no lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dynoxide_streams import Server
from dynoxide_streams.datadir import DataDirInUse, DataDirLock
from tests.conftest import RawClient, make_client
from tests.process import SIDECAR_ENV, ServerProcess, free_port, start_server

KEY = {"pk": {"S": "kept"}}


def refusal(data: Path, holder: ServerProcess) -> str:
    port = holder.endpoint.rsplit(":", 1)[1]
    return (
        f"dynoxide-streams: data directory {data} is in use by process {holder.proc.pid} "
        f"(port {port}): stop it, or give another --data-dir\n"
    )


def run_second(command: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYNOXIDE_STREAMS_")}
    return subprocess.run(
        [sys.executable, "-m", "dynoxide_streams", command, "--port", str(free_port()), *args],
        env={**env, **SIDECAR_ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_kept(endpoint: str, table: str) -> None:
    raw = RawClient(endpoint)
    got = raw.call("GetItem", {"TableName": table, "Key": KEY, "ConsistentRead": True})
    assert (got.status, got.json) == (200, {"Item": KEY})


def seed(endpoint: str) -> str:
    client = make_client(endpoint)
    client.create_table(
        TableName="locked",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName="locked", Item=KEY)
    return "locked"


@pytest.mark.parametrize("command", ["serve", "sidecar"])
def test_a_second_process_on_a_held_data_dir_is_refused(tmp_path: Path, command: str) -> None:
    data = tmp_path / "data"
    first = start_server(data)
    try:
        table = seed(first.endpoint)
        extra = ["--upstream", first.endpoint] if command == "sidecar" else []
        second = run_second(command, "--data-dir", str(data), *extra)
        assert (second.returncode, second.stdout, second.stderr) == (
            1,
            "",
            refusal(data, first),
        )
        assert first.proc.poll() is None
        assert_kept(first.endpoint, table)
    finally:
        first.kill9()


def test_the_lock_dies_with_its_holder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(data)
    try:
        table = seed(first.endpoint)
    finally:
        first.kill9()  # no shutdown code runs: only the kernel can release the lock
    holder = json.loads((data / "lock").read_text())
    assert holder == {"pid": first.proc.pid, "port": int(first.endpoint.rsplit(":", 1)[1])}
    second = start_server(data)
    try:
        assert_kept(second.endpoint, table)
        third = run_second("serve", "--data-dir", str(data))
        assert (third.returncode, third.stderr) == (1, refusal(data, second))
    finally:
        second.kill9()


def test_two_embedded_servers_on_one_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "db"
    with Server(data_dir=data).run_in_thread() as first:
        port = int(first.endpoint.rsplit(":", 1)[1])
        # start-up errors of an embedded server may come inside a task group's group
        with pytest.raises(BaseException) as info, Server(data_dir=data).run_in_thread():
            pass
        refused = _found(info.value)
        assert (refused.pid, refused.port) == (os.getpid(), port)
        assert str(refused) == (
            f"data directory {data} is in use by process {os.getpid()} (port {port}): "
            "stop it, or give another --data-dir"
        )
        assert make_client(first.endpoint).list_tables()["TableNames"] == []
    # released on a clean stop: the directory can be opened again
    with Server(data_dir=data).run_in_thread() as again:
        assert make_client(again.endpoint).list_tables()["TableNames"] == []


def _found(exc: BaseException) -> DataDirInUse:
    if isinstance(exc, BaseExceptionGroup):
        matched, _ = exc.split(DataDirInUse)
        assert matched is not None, exc
        return _found(matched.exceptions[0])
    assert isinstance(exc, DataDirInUse), exc
    return exc


def test_in_memory_servers_take_no_lock() -> None:
    with Server().run_in_thread() as one, Server().run_in_thread() as two:
        assert one.endpoint != two.endpoint


def test_the_lock_api(tmp_path: Path) -> None:
    data = tmp_path / "new" / "dir"
    with DataDirLock.acquire(data) as lock:
        assert json.loads((data / "lock").read_text()) == {"pid": os.getpid(), "port": None}
        lock.record_port(8123)
        with pytest.raises(DataDirInUse) as refused:
            DataDirLock.acquire(data)
        assert (refused.value.pid, refused.value.port) == (os.getpid(), 8123)
    assert (data / "lock").read_text() == ""
    DataDirLock.acquire(data).release()
