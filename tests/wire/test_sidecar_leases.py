"""Several sidecars sharing the upstream's shards through ``--lease-table``.

Real processes only: an upstream ``dynoxide-streams serve`` and two
``dynoxide-streams sidecar`` processes reading it over HTTP, each with the same
declared triggers (one ``cmd:`` function appending what it is given to one file).

* the lease table is created in the upstream and holds one lease per shard in the
  documented shape; a second sidecar takes half of the first one's leases;
* a sidecar killed with SIGKILL mid-stream loses its leases to the survivor, which
  resumes each shard from the checkpoint stored in the lease: every record of every
  stream is delivered, in order per process and shard, and the duplicates — counted —
  are only batches in flight when a lease moved;
* a sidecar stopped with SIGTERM releases its leases, so the other takes them without
  waiting for expiry; ParallelizationFactor lanes are checkpointed per lane in the lease;
* with ``--ttl-sweep``, one sidecar sweeps each table (a singleton lease per table);
  when it dies the survivor takes the sweep over;
* an upstream failing for longer than a lease lasts makes the sidecar drop the lease
  (logged), take it back once the upstream answers and resume from its checkpoint;
* a non-positive ``--lease-duration`` is a one-line start-up error.

Every wait polls with a deadline; every process is killed at the end of its test.
"""

from __future__ import annotations

import itertools
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RawClient, make_client
from tests.fault_proxy import FaultProxy
from tests.polling import wait_until
from tests.process import (
    SIDECAR_ENV,
    Processes,
    ServerProcess,
    assert_clean_log,
    assert_running,
    wait_log,
)
from tests.triggers_fixtures.support import echo_command, read_deliveries
from tests.wire.test_sidecar import unique
from tests.wire.test_streams import create_stream_table, describe_shards, read_stream

LEASES = "dynoxide_leases"
BATCH = 4
DURATION = "3"  # seconds before an unrenewed lease may be taken


def trigger_file(path: Path, out: Path, tables: list[str], **options: Any) -> Path:
    lines = ["[functions]", f"rec = {json.dumps(echo_command(out, '--hang', '0.05'))}"]
    for table in tables:
        lines += ["", "[[trigger]]", f'table = "{table}"', 'function = "rec"']
        lines += [f"{name} = {json.dumps(value)}" for name, value in options.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def lease_items(ddb: Any) -> list[dict[str, Any]]:
    """Every lease (none while the sidecar has not created the table yet)."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"TableName": LEASES, "ConsistentRead": True}
    while True:
        try:
            page = ddb.scan(**params)
        except ddb.exceptions.ResourceNotFoundException:
            return []
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def owner_pid(item: dict[str, Any]) -> int | None:
    """The pid in a lease owner's ``host:pid:random`` name."""
    owner = item.get("leaseOwner", {}).get("S")
    return None if owner is None else int(owner.rsplit(":", 2)[1])


def live_owners(ddb: Any) -> Counter[int | None]:
    """How many unfinished leases each process (by pid) holds."""
    return Counter(
        owner_pid(item)
        for item in lease_items(ddb)
        if item.get("checkpoint", {}).get("S") != "SHARD_END"
    )


def write(endpoint: str, tables: list[str], per_table: int, tag: str) -> None:
    """Two clients per table writing ``per_table`` puts between them to eight shared
    keys (so most records are MODIFYs racing another client's write); a key starts
    with its table's name, so a delivery tells which stream it came from."""
    errors: list[BaseException] = []

    def run(table: str, n: int) -> None:
        client = make_client(endpoint)
        try:
            for i in range(per_table // 2):
                client.put_item(
                    TableName=table,
                    Item={"pk": {"S": f"{table}:k{(i + n) % 8}"}, "v": {"S": f"{tag}-{n}-{i}"}},
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t, n)) for t in tables for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)


def where(line: dict[str, Any]) -> tuple[str, int]:
    """(table, sequence number) of a delivery."""
    return str(line["key"]).split(":")[0], int(line["seq"])


def shard_of(shards: list[dict[str, Any]], seq: int) -> str:
    for shard in shards:
        seqs = shard["SequenceNumberRange"]
        end = seqs.get("EndingSequenceNumber")
        if int(seqs["StartingSequenceNumber"]) <= seq and (end is None or seq <= int(end)):
            return str(shard["ShardId"])
    raise AssertionError(f"no shard holds {seq}")


def delivered_by(lines: list[dict[str, Any]], server: ServerProcess) -> list[dict[str, Any]]:
    return [line for line in lines if line["ppid"] == server.proc.pid]


# ---------------------------------------------------------------------------- tests


def test_two_sidecars_split_the_shards_and_take_over_a_killed_ones(tmp_path: Path) -> None:
    tables = [unique("Leased") for _ in range(4)]
    out = tmp_path / "out.jsonl"
    declared = trigger_file(tmp_path / "triggers.toml", out, tables, batch_size=BATCH)
    flags = ("--triggers", str(declared), "--lease-table", LEASES, "--lease-duration", DURATION)
    with Processes(tmp_path) as procs:
        up = procs.upstream("--shard-rotation-records", "30")
        ddb, raw = make_client(up.endpoint), RawClient(up.endpoint)
        arns: dict[str, str] = {}
        for table in tables:
            _, arn = create_stream_table(ddb, range_key=None, name=table)
            assert arn is not None
            arns[table] = arn

        # one sidecar alone: it creates the lease table and takes every lease
        first = procs.sidecar(up.endpoint, *flags)
        wait_until(
            lambda: live_owners(ddb) == {first.proc.pid: 4},
            timeout=20,
            what="the first sidecar holding the 4 leases",
        )
        table = ddb.describe_table(TableName=LEASES)["Table"]
        assert table["KeySchema"] == [{"AttributeName": "leaseKey", "KeyType": "HASH"}]
        write(up.endpoint, tables, 40, "one")
        wait_until(lambda: len(read_deliveries(out)) >= 40, timeout=30, what="deliveries")

        # a second one: it steals until each holds half
        second = procs.sidecar(up.endpoint, *flags)
        wait_until(
            lambda: live_owners(ddb) == {first.proc.pid: 2, second.proc.pid: 2},
            timeout=30,
            what="the leases split 2/2",
        )
        write(up.endpoint, tables, 40, "two")
        wait_until(
            lambda: (
                delivered_by(read_deliveries(out), second) and len(read_deliveries(out)) >= 4 * 80
            ),
            timeout=30,
            what="both sidecars delivering",
        )

        # kill the first mid-stream: more records arrive while it is down
        writer = threading.Thread(target=write, args=(up.endpoint, tables, 160, "three"))
        before = len(delivered_by(read_deliveries(out), first))
        writer.start()
        try:
            wait_until(
                lambda: len(delivered_by(read_deliveries(out), first)) >= before + 2 * BATCH,
                timeout=30,
                what="the first sidecar delivering new records",
            )
            first.kill9()
        finally:
            writer.join(timeout=120)
        wait_until(
            lambda: live_owners(ddb).keys() == {second.proc.pid},
            timeout=30,
            what="the survivor holding every lease",
        )
        write(up.endpoint, tables, 20, "four")

        streams = {table: read_stream(raw, arns[table]) for table in tables}
        expected = {
            (t, int(r["dynamodb"]["SequenceNumber"])) for t, rs in streams.items() for r in rs
        }
        assert len(expected) == 4 * (40 + 40 + 160 + 20)
        wait_until(
            lambda: {where(line) for line in read_deliveries(out)} >= expected,
            timeout=60,
            what="every record of every stream delivered",
        )
        shards = {table: describe_shards(raw, arns[table]) for table in tables}
        # the survivor's checkpoints reach the end of every open shard
        ends = {
            f"rec|{arns[t]}|{s[-1]['ShardId']}": s[-1]
            for t, s in shards.items()
            if "EndingSequenceNumber" not in s[-1]["SequenceNumberRange"]
        }
        last = {
            t: streams[t][-1]["dynamodb"]["SequenceNumber"]
            for t in tables
            if f"rec|{arns[t]}|{shards[t][-1]['ShardId']}" in ends
        }
        assert last, "no stream has an open shard"

        def checkpointed() -> bool:
            items = {i["leaseKey"]["S"]: i for i in lease_items(ddb)}
            return all(
                items[f"rec|{arns[t]}|{shards[t][-1]['ShardId']}"].get("checkpoint", {}).get("S")
                == seq
                for t, seq in last.items()
            )

        wait_until(checkpointed, timeout=30, what="checkpoints at the streams' ends")
        items = lease_items(ddb)
        lines = read_deliveries(out)
        assert_clean_log(second)
    # an invocation the first sidecar started just before it was killed finishes as an
    # orphan (its ppid then is 1 or a subreaper): it is the first sidecar's delivery
    for line in lines:
        if line["ppid"] != second.proc.pid:
            line["ppid"] = first.proc.pid

    assert all(len(s) >= 3 for s in shards.values()), "rotation did not happen"
    # the lease table: one lease per shard, in the documented shape
    by_key = {item["leaseKey"]["S"]: item for item in items}
    for table in tables:
        for shard in shards[table]:
            item = by_key[f"rec|{arns[table]}|{shard['ShardId']}"]
            assert item["functionName"] == {"S": "rec"}
            assert item["streamArn"] == {"S": arns[table]}
            assert item["shardId"] == {"S": shard["ShardId"]}
            if "ParentShardId" in shard:
                assert item["parentShardId"] == {"S": shard["ParentShardId"]}
            assert int(item["leaseCounter"]["N"]) >= 1
            assert item["parallelizationFactor"] == {"N": "1"}
            lanes = json.loads(item["lanes"]["S"])
            assert [lane["lane"] for lane in lanes] == [0]
            if "EndingSequenceNumber" in shard["SequenceNumberRange"]:
                assert item["checkpoint"] == {"S": "SHARD_END"}
                assert lanes[0]["finished"] is True
            else:
                assert owner_pid(item) == second.proc.pid
                assert lanes[0] == {
                    "lane": 0,
                    "position": item["checkpoint"]["S"],
                    "finished": False,
                    "window": None,
                }
                assert item["ownerSwitchesSinceCheckpoint"] == {"N": "0"}
    assert len(by_key) == sum(len(s) for s in shards.values())

    # every record delivered, none invented; each process in order within each shard
    assert {where(line) for line in lines} == expected
    per_shard: dict[str, list[tuple[int, int]]] = {}
    for line in lines:
        table, seq = where(line)
        per_shard.setdefault(shard_of(shards[table], seq), []).append((line["ppid"], seq))
    pids = {first.proc.pid, second.proc.pid}
    assert {pid for pid, _ in (x for xs in per_shard.values() for x in xs)} == pids
    duplicates = 0
    moves = 0
    for deliveries in per_shard.values():
        for pid in pids:
            mine = [seq for p, seq in deliveries if p == pid]
            assert mine == sorted(set(mine)), "a process delivered a shard out of order"
        counts = Counter(seq for _, seq in deliveries)
        twice = {seq for seq, n in counts.items() if n > 1}
        assert all(n <= 2 for n in counts.values())
        # a duplicate is a batch the first owner delivered but had not checkpointed
        # when the lease moved; each move of the lease re-delivers one batch at most
        switches = sum(1 for a, b in itertools.pairwise(deliveries) if a[0] != b[0])
        assert len(twice) <= BATCH * switches, (len(twice), switches)
        duplicates += len(twice)
        moves += switches
    print(f"duplicates: {duplicates} of {len(expected)} records over {moves} lease moves")
    assert duplicates <= BATCH * moves


def test_a_stopped_sidecar_releases_its_leases_per_lane_checkpoints(tmp_path: Path) -> None:
    table = unique("Released")
    out = tmp_path / "out.jsonl"
    declared = trigger_file(
        tmp_path / "triggers.toml", out, [table], batch_size=2, parallelization_factor=2
    )
    # a lease duration far beyond the test's deadlines: only a release can move it
    flags = ("--triggers", str(declared), "--lease-table", LEASES, "--lease-duration", "600")
    with Processes(tmp_path) as procs:
        up = procs.upstream()
        ddb, raw = make_client(up.endpoint), RawClient(up.endpoint)
        _, arn = create_stream_table(ddb, range_key=None, name=table)
        assert arn is not None
        first = procs.sidecar(up.endpoint, *flags)
        wait_until(lambda: live_owners(ddb) == {first.proc.pid: 1}, what="the lease taken")
        second = procs.sidecar(up.endpoint, *flags)
        wait_log(second, "lease table ready")
        write(up.endpoint, [table], 60, "one")
        wait_until(lambda: len(read_deliveries(out)) >= 60, timeout=30, what="deliveries")
        assert not delivered_by(read_deliveries(out), second)  # one lease: one reader

        def lanes_stored() -> list[dict[str, Any]]:
            item = lease_items(ddb)[0]
            stored: list[dict[str, Any]] = json.loads(item.get("lanes", {}).get("S", "[]"))
            return stored

        # both lanes checkpointed in the lease
        wait_until(lambda: len(lanes_stored()) == 2, what="two lanes in the lease")
        item = lease_items(ddb)[0]
        assert item["parallelizationFactor"] == {"N": "2"}

        first.proc.send_signal(signal.SIGTERM)
        assert first.proc.wait(timeout=30) == 0
        wait_until(lambda: live_owners(ddb) == {second.proc.pid: 1}, what="the lease moved")
        taken = wait_log(second, "lease taken")
        assert "previous_owner=None" in taken, taken  # released, not expired
        assert "lease released" in first.log()
        write(up.endpoint, [table], 40, "two")
        stream = [r for r in read_stream(raw, arn)]
        expected = {int(r["dynamodb"]["SequenceNumber"]) for r in stream}
        assert len(expected) == 100
        wait_until(
            lambda: {int(line["seq"]) for line in read_deliveries(out)} >= expected,
            timeout=30,
            what="every record delivered",
        )
        lines = read_deliveries(out)
        assert_clean_log(second)
        assert_clean_log(first)

    assert {int(line["seq"]) for line in lines} == expected
    assert delivered_by(lines, second)
    # per key, each process delivers in stream order (lanes keep a key's records together)
    order = {int(r["dynamodb"]["SequenceNumber"]): i for i, r in enumerate(stream)}
    for server in (first, second):
        by_key: dict[str, list[int]] = {}
        for line in delivered_by(lines, server):
            by_key.setdefault(line["key"], []).append(order[int(line["seq"])])
        for positions in by_key.values():
            assert positions == sorted(positions)
    counts = Counter(int(line["seq"]) for line in lines)
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates <= 2 * 2, counts  # one batch per lane, at most


def sidecar_refusing(*flags: str) -> subprocess.CompletedProcess[str]:
    """A sidecar started with ``flags`` (and no reachable upstream), expected to refuse
    them before doing anything."""
    command = [sys.executable, "-m", "dynoxide_streams", "sidecar", "--upstream"]
    return subprocess.run(
        [*command, "http://127.0.0.1:9", *flags],
        capture_output=True,
        text=True,
        timeout=60,
        env={**SIDECAR_ENV, "PATH": "/usr/bin:/bin"},
    )


def test_lease_duration_must_be_positive() -> None:
    result = sidecar_refusing("--lease-table", LEASES, "--lease-duration", "0")
    assert result.returncode == 1
    assert result.stderr.strip() == "dynoxide-streams: lease_duration must be positive (got 0.0)"
    assert result.stdout == ""


@pytest.mark.parametrize("name", ["ab", "x" * 256, "bad name", "leases/1"])
def test_lease_table_must_be_a_dynamodb_table_name(name: str) -> None:
    result = sidecar_refusing("--lease-table", name)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "dynoxide-streams: lease_table must be a DynamoDB table name: 3 to 255 of "
        f"a-z A-Z 0-9 _ - . (got {name!r})"
    )
    assert result.stdout == ""


def test_lease_duration_must_be_a_number() -> None:
    result = sidecar_refusing("--lease-table", LEASES, "--lease-duration", "soon")
    assert result.returncode == 2  # argparse's usage error
    assert "--lease-duration: invalid float value: 'soon'" in result.stderr
    assert result.stdout == ""


def test_leases_lost_while_the_upstream_fails_are_taken_back(tmp_path: Path) -> None:
    """The upstream answers 500 for longer than a lease lasts: the sidecar stops the
    shard (its lease could have been taken), says so in its log, takes the lease back
    once the upstream answers and resumes from the lease's checkpoint."""
    table = unique("Flaky")
    out = tmp_path / "out.jsonl"
    declared = trigger_file(tmp_path / "triggers.toml", out, [table], batch_size=BATCH)
    with Processes(tmp_path) as procs:
        up = procs.upstream()
        ddb, raw = make_client(up.endpoint), RawClient(up.endpoint)
        _, arn = create_stream_table(ddb, range_key=None, name=table)
        assert arn is not None
        proxy = FaultProxy(int(up.endpoint.rsplit(":", 1)[1]))
        with proxy.running():
            side = procs.sidecar(
                proxy.url,
                "--triggers",
                str(declared),
                "--lease-table",
                LEASES,
                "--lease-duration",
                "2",
            )
            wait_until(lambda: live_owners(ddb) == {side.proc.pid: 1}, what="the lease taken")
            write(up.endpoint, [table], 20, "one")
            wait_until(lambda: len(read_deliveries(out)) >= 20, what="deliveries")

            proxy.mode = "http500"
            write(up.endpoint, [table], 20, "two")
            wait_log(side, "lease lost", "not renewed in time", timeout=30)
            assert_running(side)
            proxy.mode = "pass"
            wait_until(
                lambda: sum("lease taken" in line for line in side.log().splitlines()) >= 2,
                timeout=30,
                what="the lease taken back",
            )
            write(up.endpoint, [table], 20, "three")
            stream = read_stream(raw, arn)
            expected = {int(r["dynamodb"]["SequenceNumber"]) for r in stream}
            assert len(expected) == 60
            wait_until(
                lambda: {int(line["seq"]) for line in read_deliveries(out)} >= expected,
                timeout=30,
                what="every record delivered",
            )
            lines = read_deliveries(out)
            log_text = side.log()
            assert_clean_log(side)
    assert proxy.served("http500") > 0
    assert "upstream call failed; retrying" in log_text
    counts = Counter(int(line["seq"]) for line in lines)
    assert set(counts) == expected
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates <= BATCH, counts  # the batch in flight when the lease was dropped


def swept(server: ServerProcess) -> int:
    """Items the sidecar's periodic TTL sweeps deleted, from its log."""
    return sum(
        int(match.group(1)) for match in re.finditer(r"\bttl sweep\s+deleted=(\d+)", server.log())
    )


def test_one_sidecar_sweeps_each_table_and_a_survivor_takes_over(tmp_path: Path) -> None:
    flags = ("--ttl-sweep", "--ttl-period", "0.5", "--lease-table", LEASES)
    flags += ("--lease-duration", DURATION)
    with Processes(tmp_path) as procs:
        up = procs.upstream("--ttl-period", "0")  # never expires anything itself
        ddb = make_client(up.endpoint)
        table, _ = create_stream_table(ddb, range_key=None, name=unique("Swept"))
        ddb.update_time_to_live(
            TableName=table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"},
        )
        sidecars = [procs.sidecar(up.endpoint, *flags), procs.sidecar(up.endpoint, *flags)]

        def expire(prefix: str, count: int) -> None:
            past = str(int(time.time()) - 10)
            for i in range(count):
                ddb.put_item(
                    TableName=table,
                    Item={"pk": {"S": f"{prefix}{i}"}, "exp": {"N": past}},
                )

        def remaining() -> int:
            return int(ddb.scan(TableName=table, Select="COUNT", ConsistentRead=True)["Count"])

        expire("a", 20)
        wait_until(lambda: remaining() == 0, timeout=30, what="the expired items swept")
        wait_until(lambda: sum(map(swept, sidecars)) == 20, what="the sweeps logged")
        counts = [swept(side) for side in sidecars]
        assert sorted(counts) == [0, 20], counts  # one of them did it all
        sweeper = sidecars[counts.index(20)]
        survivor = sidecars[1 - counts.index(20)]
        lease = {i["leaseKey"]["S"]: i for i in lease_items(ddb)}[f"ttl-sweep|{table}"]
        assert owner_pid(lease) == sweeper.proc.pid

        sweeper.kill9()
        expire("b", 10)
        wait_until(lambda: remaining() == 0, timeout=30, what="the survivor sweeping")
        wait_until(lambda: swept(survivor) == 10, what="the survivor's sweep logged")
        lease = {i["leaseKey"]["S"]: i for i in lease_items(ddb)}[f"ttl-sweep|{table}"]
        assert owner_pid(lease) == survivor.proc.pid
        assert_clean_log(survivor)


def test_a_deleted_lease_table_is_recreated_and_delivery_resumes_where_it_was(
    tmp_path: Path,
) -> None:
    """The lease table is deleted under a running sidecar: it is created again, its
    leases too, and delivery resumes from this process's own checkpoints (the
    lease checkpoints went with the table) — not from the start of the stream."""
    table = unique("Recreated")
    out = tmp_path / "out.jsonl"
    declared = trigger_file(tmp_path / "triggers.toml", out, [table], batch_size=BATCH)
    flags = ("--triggers", str(declared), "--lease-table", LEASES, "--lease-duration", DURATION)
    with Processes(tmp_path) as procs:
        up = procs.upstream()
        ddb, raw = make_client(up.endpoint), RawClient(up.endpoint)
        _, arn = create_stream_table(ddb, range_key=None, name=table)
        assert arn is not None
        side = procs.sidecar(up.endpoint, *flags)
        write(up.endpoint, [table], 40, "one")
        wait_until(lambda: len(read_deliveries(out)) >= 40, timeout=30, what="40 deliveries")
        wait_until(
            lambda: any("checkpoint" in item for item in lease_items(ddb)),
            what="a checkpoint in the lease",
        )

        ddb.delete_table(TableName=LEASES)
        wait_log(side, "the lease table is gone; creating it again", timeout=30)
        wait_until(
            lambda: live_owners(ddb) == {side.proc.pid: 1}, timeout=30, what="the lease again"
        )
        write(up.endpoint, [table], 20, "two")
        expected = {int(r["dynamodb"]["SequenceNumber"]) for r in read_stream(raw, arn)}
        assert len(expected) == 60
        wait_until(
            lambda: {int(line["seq"]) for line in read_deliveries(out)} >= expected,
            timeout=30,
            what="every record delivered",
        )
        lines = read_deliveries(out)
        assert_clean_log(side)
    counts = Counter(int(line["seq"]) for line in lines)
    assert set(counts) == expected
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates <= BATCH, counts  # a batch in flight at most, not the first 40
