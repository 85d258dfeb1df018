"""The real AWS CLI (``python -m awscli``) as a subprocess against the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest


class Cli:
    def __init__(self, endpoint: str, home: Path) -> None:
        self.endpoint = endpoint
        config = home / "config"
        credentials = home / "credentials"
        config.write_text("")
        credentials.write_text("")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env |= {
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_RETRY_MODE": "standard",
            "AWS_MAX_ATTEMPTS": "1",
            "HOME": str(home),
        }
        self.env = env
        self.cwd = home

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "awscli",
                "dynamodb",
                *args,
                "--endpoint-url",
                self.endpoint,
                "--output",
                "json",
            ],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.cwd,
            timeout=120,
        )

    def __call__(self, *args: str) -> Any:
        """Run a command that must succeed; return its parsed JSON output (None if empty)."""
        result = self.run(*args)
        assert result.returncode == 0, (args, result.returncode, result.stderr)
        return json.loads(result.stdout) if result.stdout.strip() else None


@pytest.fixture
def aws(endpoint: str, tmp_path: Path) -> Cli:
    return Cli(endpoint, tmp_path)


@pytest.fixture
def table(aws: Cli) -> str:
    name = f"cli_{uuid.uuid4().hex[:10]}"
    aws(
        "create-table",
        "--table-name",
        name,
        "--attribute-definitions",
        "AttributeName=pk,AttributeType=S",
        "AttributeName=sk,AttributeType=S",
        "AttributeName=team,AttributeType=S",
        "AttributeName=score,AttributeType=N",
        "--key-schema",
        "AttributeName=pk,KeyType=HASH",
        "AttributeName=sk,KeyType=RANGE",
        "--global-secondary-indexes",
        json.dumps(
            [
                {
                    "IndexName": "by_team",
                    "KeySchema": [
                        {"AttributeName": "team", "KeyType": "HASH"},
                        {"AttributeName": "score", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["name"]},
                }
            ]
        ),
        "--billing-mode",
        "PAY_PER_REQUEST",
    )
    aws("wait", "table-exists", "--table-name", name)
    return name


def test_create_table_describe_and_delete(aws: Cli) -> None:
    name = f"cli_{uuid.uuid4().hex[:10]}"
    created = aws(
        "create-table",
        "--table-name",
        name,
        "--attribute-definitions",
        "AttributeName=pk,AttributeType=S",
        "AttributeName=gk,AttributeType=N",
        "--key-schema",
        "AttributeName=pk,KeyType=HASH",
        "--global-secondary-indexes",
        "IndexName=by_gk,KeySchema=[{AttributeName=gk,KeyType=HASH}],"
        "Projection={ProjectionType=KEYS_ONLY}",
        "--billing-mode",
        "PAY_PER_REQUEST",
        "--tags",
        "Key=team,Value=core",
    )
    desc = created["TableDescription"]
    assert desc["TableName"] == name
    assert desc["TableStatus"] in ("CREATING", "ACTIVE")
    assert desc["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert desc["TableArn"] == f"arn:aws:dynamodb:us-east-1:000000000000:table/{name}"
    (gsi,) = desc["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "by_gk"
    assert gsi["KeySchema"] == [{"AttributeName": "gk", "KeyType": "HASH"}]
    assert gsi["Projection"] == {"ProjectionType": "KEYS_ONLY"}

    assert aws("wait", "table-exists", "--table-name", name) is None

    described = aws("describe-table", "--table-name", name)["Table"]
    assert described["TableStatus"] == "ACTIVE"
    assert described["ItemCount"] == 0
    assert described["TableSizeBytes"] == 0
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert sorted(
        (d["AttributeName"], d["AttributeType"]) for d in described["AttributeDefinitions"]
    ) == [("gk", "N"), ("pk", "S")]
    (gsi,) = described["GlobalSecondaryIndexes"]
    assert (gsi["IndexName"], gsi["IndexStatus"], gsi["ItemCount"]) == ("by_gk", "ACTIVE", 0)
    assert gsi["IndexArn"] == f"{described['TableArn']}/index/by_gk"
    assert aws("list-tags-of-resource", "--resource-arn", described["TableArn"]) == {
        "Tags": [{"Key": "team", "Value": "core"}]
    }
    assert name in aws("list-tables")["TableNames"]

    deleted = aws("delete-table", "--table-name", name)["TableDescription"]
    assert deleted["TableName"] == name
    assert deleted["TableStatus"] == "DELETING"
    assert aws("wait", "table-not-exists", "--table-name", name) is None
    assert name not in aws("list-tables")["TableNames"]


def test_describe_missing_table_fails_with_resource_not_found(aws: Cli) -> None:
    result = aws.run("describe-table", "--table-name", "no_such_table_here")
    # AWS CLI v1 exits 255 on a service error (v2: 254)
    assert result.returncode == 255
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "An error occurred (ResourceNotFoundException) when calling the DescribeTable "
        "operation (reached max retries: 0): "
        "Requested resource not found: Table: no_such_table_here not found"
    )


def test_put_get_update_item(aws: Cli, table: str) -> None:
    item = {
        "pk": {"S": "p1"},
        "sk": {"S": "a"},
        "team": {"S": "red"},
        "score": {"N": "10.50"},
        "name": {"S": "Ann"},
        "tags": {"SS": ["x", "y"]},
        "meta": {"M": {"deep": {"L": [{"N": "1"}, {"BOOL": True}, {"NULL": True}]}}},
    }
    assert aws("put-item", "--table-name", table, "--item", json.dumps(item)) is None

    got = aws("get-item", "--table-name", table, "--key", '{"pk": {"S": "p1"}, "sk": {"S": "a"}}')
    assert got == {"Item": {**item, "score": {"N": "10.5"}}}

    missing = aws(
        "get-item", "--table-name", table, "--key", '{"pk": {"S": "p1"}, "sk": {"S": "zz"}}'
    )
    assert missing is None  # AWS returns {}, which the CLI prints as nothing

    updated = aws(
        "update-item",
        "--table-name",
        table,
        "--key",
        '{"pk": {"S": "p1"}, "sk": {"S": "a"}}',
        "--update-expression",
        "SET score = score + :d, #n = :n REMOVE meta ADD visits :one, tags :t",
        "--expression-attribute-names",
        '{"#n": "name"}',
        "--expression-attribute-values",
        '{":d": {"N": "2"}, ":n": {"S": "Anna"}, ":one": {"N": "1"}, ":t": {"SS": ["z"]}}',
        "--condition-expression",
        "attribute_exists(pk)",
        "--return-values",
        "ALL_NEW",
    )
    assert updated == {
        "Attributes": {
            "pk": {"S": "p1"},
            "sk": {"S": "a"},
            "team": {"S": "red"},
            "score": {"N": "12.5"},
            "name": {"S": "Anna"},
            "tags": {"SS": ["x", "y", "z"]},
            "visits": {"N": "1"},
        }
    }

    failed = aws.run(
        "put-item",
        "--table-name",
        table,
        "--item",
        '{"pk": {"S": "p1"}, "sk": {"S": "a"}}',
        "--condition-expression",
        "attribute_not_exists(pk)",
    )
    assert failed.returncode == 255
    assert "ConditionalCheckFailedException" in failed.stderr
    assert "The conditional request failed" in failed.stderr


def _batch_file(tmp: Path, table: str) -> Path:
    requests = [
        {
            "PutRequest": {
                "Item": {
                    "pk": {"S": "p2" if i % 2 else "p1"},
                    "sk": {"S": f"s{i:02d}"},
                    "team": {"S": "blue" if i < 6 else "green"},
                    "score": {"N": str(100 - i * 7)},
                    "name": {"S": f"n{i}"},
                    "extra": {"N": str(i)},
                }
            }
        }
        for i in range(10)
    ]
    path = tmp / "batch.json"
    path.write_text(json.dumps({table: requests}))
    return path


def test_batch_write_query_and_scan(aws: Cli, table: str, tmp_path: Path) -> None:
    path = _batch_file(tmp_path, table)
    assert aws("batch-write-item", "--request-items", f"file://{path}") == {"UnprocessedItems": {}}

    count = aws("scan", "--table-name", table, "--select", "COUNT")
    assert (count["Count"], count["ScannedCount"]) == (10, 10)
    assert "Items" not in count

    queried = aws(
        "query",
        "--table-name",
        table,
        "--key-condition-expression",
        "pk = :p AND sk BETWEEN :a AND :b",
        "--expression-attribute-values",
        '{":p": {"S": "p1"}, ":a": {"S": "s02"}, ":b": {"S": "s06"}}',
        "--projection-expression",
        "sk, score",
    )
    assert queried["Items"] == [
        {"sk": {"S": "s02"}, "score": {"N": "86"}},
        {"sk": {"S": "s04"}, "score": {"N": "72"}},
        {"sk": {"S": "s06"}, "score": {"N": "58"}},
    ]
    assert (queried["Count"], queried["ScannedCount"]) == (3, 3)

    backwards = aws(
        "query",
        "--table-name",
        table,
        "--key-condition-expression",
        "pk = :p",
        "--filter-expression",
        "extra > :e",
        "--expression-attribute-values",
        '{":p": {"S": "p2"}, ":e": {"N": "4"}}',
        "--no-scan-index-forward",
    )
    assert [i["sk"]["S"] for i in backwards["Items"]] == ["s09", "s07", "s05"]
    assert (backwards["Count"], backwards["ScannedCount"]) == (3, 5)

    # the index: ordered by score as a number; INCLUDE projection carries name only
    by_team = aws(
        "query",
        "--table-name",
        table,
        "--index-name",
        "by_team",
        "--key-condition-expression",
        "team = :t AND score < :s",
        "--expression-attribute-values",
        '{":t": {"S": "blue"}, ":s": {"N": "90"}}',
    )
    assert by_team["Items"] == [
        {
            "pk": {"S": "p1" if i % 2 == 0 else "p2"},
            "sk": {"S": f"s{i:02d}"},
            "team": {"S": "blue"},
            "score": {"N": str(100 - i * 7)},
            "name": {"S": f"n{i}"},
        }
        for i in (5, 4, 3, 2)
    ]
    assert by_team["Count"] == 4

    # the CLI pages through with --page-size (Limit) and stitches the pages together
    paged = aws(
        "query",
        "--table-name",
        table,
        "--index-name",
        "by_team",
        "--key-condition-expression",
        "team = :t",
        "--expression-attribute-values",
        '{":t": {"S": "green"}}',
        "--page-size",
        "1",
    )
    assert [i["sk"]["S"] for i in paged["Items"]] == ["s09", "s08", "s07", "s06"]
    assert paged["Count"] == 4

    first = aws("scan", "--table-name", table, "--max-items", "3")
    assert len(first["Items"]) == 3
    rest = aws("scan", "--table-name", table, "--starting-token", first["NextToken"])
    assert "NextToken" not in rest
    assert sorted(i["sk"]["S"] for i in first["Items"] + rest["Items"]) == [
        f"s{i:02d}" for i in range(10)
    ]

    described = aws("describe-table", "--table-name", table)["Table"]
    assert described["ItemCount"] == 10
    assert described["GlobalSecondaryIndexes"][0]["ItemCount"] == 10

    aws(
        "delete-item",
        "--table-name",
        table,
        "--key",
        '{"pk": {"S": "p1"}, "sk": {"S": "s00"}}',
    )
    assert aws("scan", "--table-name", table, "--select", "COUNT")["Count"] == 9


def test_update_table_adds_an_index_and_backfills_it(aws: Cli, table: str, tmp_path: Path) -> None:
    path = _batch_file(tmp_path, table)
    aws("batch-write-item", "--request-items", f"file://{path}")
    updated = aws(
        "update-table",
        "--table-name",
        table,
        "--attribute-definitions",
        "AttributeName=name,AttributeType=S",
        "AttributeName=extra,AttributeType=N",
        "--global-secondary-index-updates",
        json.dumps(
            [
                {
                    "Create": {
                        "IndexName": "by_name",
                        "KeySchema": [
                            {"AttributeName": "name", "KeyType": "HASH"},
                            {"AttributeName": "extra", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "KEYS_ONLY"},
                    }
                }
            ]
        ),
    )["TableDescription"]
    indexes = {g["IndexName"]: g for g in updated["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"by_team", "by_name"}
    assert indexes["by_name"]["IndexStatus"] in ("CREATING", "ACTIVE")

    deadline = time.monotonic() + 30
    while True:
        described = aws("describe-table", "--table-name", table)["Table"]
        status = {g["IndexName"]: g["IndexStatus"] for g in described["GlobalSecondaryIndexes"]}
        if status["by_name"] == "ACTIVE" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == {"by_team": "ACTIVE", "by_name": "ACTIVE"}

    found = aws(
        "query",
        "--table-name",
        table,
        "--index-name",
        "by_name",
        "--key-condition-expression",
        "#n = :n",
        "--expression-attribute-names",
        '{"#n": "name"}',
        "--expression-attribute-values",
        '{":n": {"S": "n7"}}',
    )
    assert found["Items"] == [
        {"pk": {"S": "p2"}, "sk": {"S": "s07"}, "name": {"S": "n7"}, "extra": {"N": "7"}}
    ]


def test_partiql_statements(aws: Cli, table: str) -> None:
    insert = f"INSERT INTO \"{table}\" VALUE {{'pk': 'p1', 'sk': ?, 'team': 'red', 'score': 3}}"
    assert aws("execute-statement", "--statement", insert, "--parameters", '[{"S": "s1"}]') == {
        "Items": []
    }
    duplicate = aws.run("execute-statement", "--statement", insert, "--parameters", '[{"S": "s1"}]')
    assert duplicate.returncode != 0
    assert "DuplicateItemException" in duplicate.stderr
    assert "Duplicate primary key exists in table" in duplicate.stderr
    found = aws(
        "execute-statement",
        "--statement",
        f'SELECT pk, score FROM "{table}"."by_team" WHERE team = \'red\'',
    )
    assert found == {"Items": [{"pk": {"S": "p1"}, "score": {"N": "3"}}]}
    batch = aws(
        "batch-execute-statement",
        "--statements",
        json.dumps(
            [
                {
                    "Statement": f"UPDATE \"{table}\" SET score = score + 1 WHERE pk = 'p1' AND sk = 's1'"
                },
                {"Statement": f"DELETE FROM \"{table}\" WHERE pk = 'p1' AND sk = 'nope'"},
            ]
        ),
    )
    assert batch == {"Responses": [{"TableName": table}, {"TableName": table}]}
    cancelled = aws.run(
        "execute-transaction",
        "--transact-statements",
        json.dumps(
            [
                {"Statement": f"UPDATE \"{table}\" SET score = 0 WHERE pk = 'p1' AND sk = 's1'"},
                {"Statement": f"UPDATE \"{table}\" SET score = 0 WHERE pk = 'p9' AND sk = 's1'"},
            ]
        ),
    )
    assert cancelled.returncode != 0
    assert "TransactionCanceledException" in cancelled.stderr
    assert "[None, ConditionalCheckFailed]" in cancelled.stderr
    got = aws(
        "execute-transaction",
        "--transact-statements",
        json.dumps([{"Statement": f"SELECT score FROM \"{table}\" WHERE pk = 'p1' AND sk = 's1'"}]),
    )
    assert got == {"Responses": [{"Item": {"score": {"N": "4"}}}]}
