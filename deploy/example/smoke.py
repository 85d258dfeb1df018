"""Smoke test for a running dynoxide-streams: a stream-enabled table, one write, its record.

Run by the ``tests`` service of deploy/compose.yaml (``pip install boto3`` first), or by
hand against any server::

    DYNOXIDE_ENDPOINT=http://127.0.0.1:8000 python deploy/example/smoke.py

Exits 0 when the INSERT record of the item it wrote comes back through GetRecords.
"""

from __future__ import annotations

import os
import sys
import time
import uuid

import boto3

ENDPOINT = os.environ.get("DYNOXIDE_ENDPOINT", "http://dynoxide:8000")
CREDENTIALS = {
    "region_name": "us-east-1",
    "aws_access_key_id": "test",  # any credentials are accepted
    "aws_secret_access_key": "test",
}


def main() -> int:
    ddb = boto3.client("dynamodb", endpoint_url=ENDPOINT, **CREDENTIALS)
    streams = boto3.client("dynamodbstreams", endpoint_url=ENDPOINT, **CREDENTIALS)
    table = f"smoke-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1})
    ddb.put_item(TableName=table, Item={"id": {"S": "item-1"}, "greeting": {"S": "hello"}})

    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    deadline = time.monotonic() + 10
    records: list[dict] = []
    while not records and iterator and time.monotonic() < deadline:
        page = streams.get_records(ShardIterator=iterator)
        records = page["Records"]
        iterator = page.get("NextShardIterator")
        if not records:
            time.sleep(0.2)
    ddb.delete_table(TableName=table)

    if not records:
        print(f"FAIL: no stream record on {arn}", file=sys.stderr)
        return 1
    record = records[0]
    new_image = record["dynamodb"]["NewImage"]
    if record["eventName"] != "INSERT" or new_image != {
        "id": {"S": "item-1"},
        "greeting": {"S": "hello"},
    }:
        print(f"FAIL: unexpected record {record}", file=sys.stderr)
        return 1
    print(f"ok: {record['eventName']} {record['dynamodb']['Keys']} via {ENDPOINT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
