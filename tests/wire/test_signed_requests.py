"""``serve --credentials FILE``: every DynamoDB, Streams and Lambda request must carry a
valid SigV4 signature by a known key. Real clients (boto3, the AWS CLI, the AWS SDK for
JavaScript v3) pass unchanged; tampered requests get AWS's exact error and change
nothing."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from dynoxide_streams.server import Server
from tests.process import ServerProcess, free_port, start_command, wait_log

KEY, SECRET = "AKIDSIGNEDTEST", "signed-test-secret/with+chars"
OTHER_KEY, OTHER_SECRET = "AKIDSECOND", "second-secret"
REPO = Path(__file__).resolve().parents[2]
NPM_DIR = REPO / ".cache" / "js-sdk"
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
CORAL = "com.amazon.coral.service#"


def write_credentials(path: Path, mode: int = 0o600) -> Path:
    path.write_text(f'[credentials]\n{KEY} = "{SECRET}"\n{OTHER_KEY} = "{OTHER_SECRET}"\n')
    path.chmod(mode)
    return path


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("signed")
    credentials = write_credentials(work / "credentials.toml")
    args = [
        "--in-memory",
        "--clock",
        "virtual",
        "--credentials",
        str(credentials),
        "--function",
        "audit=http://127.0.0.1:9/invocations",
    ]
    server = start_command("serve", args, work, port=free_port(), env={})
    try:
        yield server
    finally:
        server.terminate()


@pytest.fixture(scope="module")
def endpoint(signed_server: ServerProcess) -> str:
    return signed_server.endpoint


def client(endpoint: str, service: str, key: str = KEY, secret: str = SECRET) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=30),
    )


@pytest.fixture(scope="module")
def table(endpoint: str) -> str:
    name = f"signed_{uuid.uuid4().hex[:8]}"
    client(endpoint, "dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return name


# ------------------------------------------------------------------ raw requests


def send(
    endpoint: str, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(endpoint)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return (
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            response.read(),
        )
    finally:
        conn.close()


def signed_headers(
    endpoint: str,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    *,
    service: str = "dynamodb",
    key: str = KEY,
    secret: str = SECRET,
    shift: dt.timedelta = dt.timedelta(0),
) -> dict[str, str]:
    """``headers`` plus the SigV4 headers botocore adds, signed at now + ``shift``."""
    request = AWSRequest(method=method, url=endpoint + path, headers=headers, data=body)
    when = dt.datetime.now(dt.UTC).replace(tzinfo=None) + shift
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        SigV4Auth(Credentials(key, secret), service, "eu-west-1").add_auth(request)
    return dict(request.headers.items())


def dynamodb_headers(operation: str) -> dict[str, str]:
    return {
        "X-Amz-Target": f"DynamoDB_20120810.{operation}",
        "Content-Type": "application/x-amz-json-1.0",
    }


def put_body(table: str, pk: str) -> bytes:
    return json.dumps({"TableName": table, "Item": {"pk": {"S": pk}}}).encode()


def item(endpoint: str, table: str, pk: str) -> Any:
    found = client(endpoint, "dynamodb").get_item(TableName=table, Key={"pk": {"S": pk}})
    return found.get("Item")


def stream_records(endpoint: str, table: str) -> list[Any]:
    ddb = client(endpoint, "dynamodb")
    streams = client(endpoint, "dynamodbstreams")
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    records: list[Any] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator)["Records"]
    return records


def error_body(name: str, message: str) -> dict[str, str]:
    return {"__type": CORAL + name, "message": message}


# ---------------------------------------------------------------- real clients


def test_boto3_dynamodb_streams_and_lambda_pass_unchanged(endpoint: str, table: str) -> None:
    ddb = client(endpoint, "dynamodb")
    ddb.put_item(TableName=table, Item={"pk": {"S": "boto3"}, "n": {"N": "1"}})
    assert item(endpoint, table, "boto3") == {"pk": {"S": "boto3"}, "n": {"N": "1"}}
    assert any(
        r["dynamodb"]["Keys"] == {"pk": {"S": "boto3"}} for r in stream_records(endpoint, table)
    )

    lam = client(endpoint, "lambda")
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    created = lam.create_event_source_mapping(
        FunctionName="audit", EventSourceArn=arn, StartingPosition="LATEST", Enabled=False
    )
    listed = lam.list_event_source_mappings(FunctionName="audit", EventSourceArn=arn)
    assert [m["UUID"] for m in listed["EventSourceMappings"]] == [created["UUID"]]
    assert lam.get_event_source_mapping(UUID=created["UUID"])["UUID"] == created["UUID"]
    lam.delete_event_source_mapping(UUID=created["UUID"])


def test_a_second_key_of_the_file_works_too(endpoint: str, table: str) -> None:
    client(endpoint, "dynamodb", OTHER_KEY, OTHER_SECRET).put_item(
        TableName=table, Item={"pk": {"S": "second"}}
    )
    assert item(endpoint, table, "second") == {"pk": {"S": "second"}}


def test_boto3_with_an_unknown_key_or_a_wrong_secret_is_refused(endpoint: str, table: str) -> None:
    with pytest.raises(ClientError) as unknown:
        client(endpoint, "dynamodb", "AKIDUNKNOWN", SECRET).put_item(
            TableName=table, Item={"pk": {"S": "nope"}}
        )
    assert unknown.value.response["Error"] == {
        "Code": "UnrecognizedClientException",
        "Message": "The security token included in the request is invalid",
    }
    assert unknown.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as wrong:
        client(endpoint, "dynamodbstreams", KEY, "wrong").list_streams()
    assert wrong.value.response["Error"] == {
        "Code": "InvalidSignatureException",
        "Message": BAD_SIGNATURE,
    }
    with pytest.raises(ClientError) as lam:
        client(endpoint, "lambda", "AKIDUNKNOWN", SECRET).list_event_source_mappings()
    assert lam.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert lam.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert item(endpoint, table, "nope") is None


def aws_cli(endpoint: str, home: Path, secret: str, *args: str) -> subprocess.CompletedProcess[str]:
    (home / "config").write_text("")
    (home / "credentials").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-west-2",
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_MAX_ATTEMPTS": "1",
        "HOME": str(home),
    }
    command = [sys.executable, "-m", "awscli", *args, "--endpoint-url", endpoint]
    return subprocess.run(
        [*command, "--output", "json"], capture_output=True, text=True, env=env, timeout=120
    )


def test_aws_cli_passes_with_the_right_keys_and_fails_with_a_wrong_secret(
    endpoint: str, table: str, tmp_path: Path
) -> None:
    put = aws_cli(
        endpoint, tmp_path, SECRET, "dynamodb", "put-item", "--table-name", table,
        "--item", '{"pk": {"S": "cli"}}',
    )  # fmt: skip
    assert put.returncode == 0, put.stderr
    got = aws_cli(
        endpoint, tmp_path, SECRET, "dynamodb", "get-item", "--table-name", table,
        "--key", '{"pk": {"S": "cli"}}',
    )  # fmt: skip
    assert json.loads(got.stdout)["Item"] == {"pk": {"S": "cli"}}
    listed = aws_cli(endpoint, tmp_path, SECRET, "lambda", "list-event-source-mappings")
    assert listed.returncode == 0, listed.stderr
    bad = aws_cli(
        endpoint, tmp_path, "wrong", "dynamodb", "put-item", "--table-name", table,
        "--item", '{"pk": {"S": "cli-bad"}}',
    )  # fmt: skip
    assert bad.returncode != 0
    assert "(InvalidSignatureException)" in bad.stderr and BAD_SIGNATURE in bad.stderr
    assert item(endpoint, table, "cli-bad") is None


JS_PROGRAM = """
const { DynamoDBClient, PutItemCommand, GetItemCommand } = require("@aws-sdk/client-dynamodb");
const [endpoint, table, secret] = process.argv.slice(2);
const ddb = new DynamoDBClient({
  endpoint, region: "ap-south-1", maxAttempts: 1,
  credentials: { accessKeyId: "ACCESS_KEY_ID", secretAccessKey: secret },
});
(async () => {
  try {
    await ddb.send(new PutItemCommand({ TableName: table, Item: { pk: { S: "js-" + secret.length } } }));
    const got = await ddb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: "js-" + secret.length } } }));
    console.log(JSON.stringify({ ok: got.Item }));
  } catch (e) {
    console.log(JSON.stringify({ error: e.name, message: e.message, status: e.$metadata.httpStatusCode }));
  }
})();
""".replace("ACCESS_KEY_ID", KEY)


@pytest.fixture(scope="module")
def js_sdk() -> Path:
    """The AWS SDK for JavaScript v3's DynamoDB client, installed with npm into
    ``.cache/js-sdk`` (git-ignored) the first time."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed for the JavaScript SDK test"
    if not (NPM_DIR / "node_modules" / "@aws-sdk" / "client-dynamodb").is_dir():
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(NPM_DIR),
             "@aws-sdk/client-dynamodb@3"],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    script = NPM_DIR / "signed.js"
    script.write_text(JS_PROGRAM)
    return script


def test_aws_sdk_for_javascript_v3_passes_and_a_wrong_secret_fails(
    endpoint: str, table: str, js_sdk: Path
) -> None:
    def run(secret: str) -> Any:
        done = subprocess.run(
            ["node", str(js_sdk), endpoint, table, secret],
            capture_output=True, text=True, timeout=120, cwd=NPM_DIR,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert run(SECRET) == {"ok": {"pk": {"S": f"js-{len(SECRET)}"}}}
    assert run("x") == {
        "error": "InvalidSignatureException",
        "message": BAD_SIGNATURE,
        "status": 400,
    }
    assert item(endpoint, table, "js-1") is None


# ------------------------------------------------------------- tampered requests


def tamper_cases(endpoint: str, table: str, pk: str) -> dict[str, tuple[dict[str, str], bytes]]:
    """name -> (headers, body) of a PutItem of ``pk`` that must be refused."""
    body = put_body(table, pk)
    good = signed_headers(endpoint, "POST", "/", body, dynamodb_headers("PutItem"))
    other_header = dict(good, **{"X-Amz-Target": "DynamoDB_20120810.DeleteItem"})
    return {
        "body changed after signing": (good, put_body(table, pk + "x")),
        "signed header changed": (other_header, body),
        "date 16 minutes off": (
            signed_headers(
                endpoint,
                "POST",
                "/",
                body,
                dynamodb_headers("PutItem"),
                shift=dt.timedelta(minutes=-16),
            ),
            body,
        ),
        "unknown key": (
            signed_headers(endpoint, "POST", "/", body, dynamodb_headers("PutItem"), key="AKIDX"),
            body,
        ),
        "wrong secret": (
            signed_headers(endpoint, "POST", "/", body, dynamodb_headers("PutItem"), secret="s"),
            body,
        ),
        "missing Authorization": (
            {k: v for k, v in good.items() if k != "Authorization"},
            body,
        ),
    }


EXPECTED = {
    "body changed after signing": ("InvalidSignatureException", BAD_SIGNATURE),
    "signed header changed": ("InvalidSignatureException", BAD_SIGNATURE),
    "unknown key": (
        "UnrecognizedClientException",
        "The security token included in the request is invalid",
    ),
    "wrong secret": ("InvalidSignatureException", BAD_SIGNATURE),
    "missing Authorization": (
        "MissingAuthenticationTokenException",
        "Request is missing Authentication Token",
    ),
}


@pytest.mark.parametrize(
    "case",
    [
        "body changed after signing",
        "signed header changed",
        "date 16 minutes off",
        "unknown key",
        "wrong secret",
        "missing Authorization",
    ],
)
def test_tampered_dynamodb_request_gets_awss_error_and_changes_nothing(
    endpoint: str, table: str, case: str
) -> None:
    pk = f"tampered-{uuid.uuid4().hex[:6]}"
    before = len(stream_records(endpoint, table))
    headers, body = tamper_cases(endpoint, table, pk)[case]
    status, response_headers, answer = send(endpoint, "POST", "/", body, headers)
    assert status == 400
    assert response_headers["content-type"] == "application/x-amz-json-1.0"
    data = json.loads(answer)
    if case == "date 16 minutes off":
        assert data["__type"] == CORAL + "InvalidSignatureException"
        match = re.fullmatch(
            r"Signature expired: (\d{8}T\d{6}Z) is now earlier than (\d{8}T\d{6}Z) "
            r"\((\d{8}T\d{6}Z) - 15 min\.\)",
            data["message"],
        )
        assert match is not None, data
        sent, limit, now = (dt.datetime.strptime(g, "%Y%m%dT%H%M%SZ") for g in match.groups())
        assert now - limit == dt.timedelta(minutes=15)
        assert dt.timedelta(minutes=15) < now - sent <= dt.timedelta(minutes=17)
    else:
        assert data == error_body(*EXPECTED[case])
    assert item(endpoint, table, pk) is None
    assert item(endpoint, table, pk + "x") is None
    assert len(stream_records(endpoint, table)) == before


def test_tampered_streams_request_is_refused(endpoint: str) -> None:
    body = b"{}"
    headers = {
        "X-Amz-Target": "DynamoDBStreams_20120810.ListStreams",
        "Content-Type": "application/x-amz-json-1.0",
    }
    good = signed_headers(endpoint, "POST", "/", body, headers)
    status, _, answer = send(endpoint, "POST", "/", body, good)
    assert status == 200 and "Streams" in json.loads(answer)
    lambda_scoped = signed_headers(endpoint, "POST", "/", body, headers, service="lambda")
    status, _, answer = send(endpoint, "POST", "/", body, lambda_scoped)
    assert (status, json.loads(answer)) == (
        400,
        error_body(
            "InvalidSignatureException",
            "Credential should be scoped to correct service: 'dynamodb'. ",
        ),
    )


def test_lambda_refusals_are_403_rest_json_and_change_nothing(endpoint: str, table: str) -> None:
    arn = client(endpoint, "dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    lam = client(endpoint, "lambda")

    def mappings() -> list[str]:
        listed = lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]
        return sorted(m["UUID"] for m in listed)

    before = mappings()
    path = "/2015-03-31/event-source-mappings/"
    body = json.dumps(
        {"FunctionName": "audit", "EventSourceArn": arn, "StartingPosition": "LATEST"}
    ).encode()
    plain = {"Content-Type": "application/json"}
    status, headers, answer = send(endpoint, "POST", path, body, plain)
    assert status == 403
    assert headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert json.loads(answer) == {
        "Type": "User",
        "message": "Request is missing Authentication Token",
    }
    good = signed_headers(endpoint, "POST", path, body, plain, service="lambda")
    tampered = body.replace(b"LATEST", b"TRIM_H")
    status, headers, answer = send(endpoint, "POST", path, tampered, good)
    assert status == 403 and headers["x-amzn-errortype"] == "InvalidSignatureException"
    assert json.loads(answer) == {"Type": "User", "message": BAD_SIGNATURE}
    unknown = signed_headers(endpoint, "POST", path, body, plain, service="lambda", key="AKIDX")
    status, headers, answer = send(endpoint, "POST", path, body, unknown)
    assert status == 403 and headers["x-amzn-errortype"] == "UnrecognizedClientException"
    assert json.loads(answer) == {
        "Type": "User",
        "message": "The security token included in the request is invalid.",
    }
    assert mappings() == before


def test_the_virtual_clock_does_not_move_the_signature_window(endpoint: str, table: str) -> None:
    advance = json.dumps({"advance_seconds": 3 * 86400}).encode()
    status, _, _ = send(
        endpoint, "POST", "/_admin/clock", advance, {"Content-Type": "application/json"}
    )
    assert status == 200
    client(endpoint, "dynamodb").put_item(TableName=table, Item={"pk": {"S": "after-advance"}})
    assert item(endpoint, table, "after-advance") == {"pk": {"S": "after-advance"}}


def test_health_stays_open(endpoint: str) -> None:
    status, _, answer = send(endpoint, "GET", "/", b"", {})
    assert (status, answer) == (200, b"healthy: dynamodb.us-east-1.amazonaws.com ")


# ---------------------------------------------------------------- configuration


def serve_error(tmp_path: Path, credentials: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "dynoxide_streams", "serve", "--in-memory", "--port", "0",
         "--credentials", credentials],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    return done.returncode, done.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read credentials file {path}: No such file or directory"),
        ("[credentials\n", "credentials file {path}: "),
        ("[credentials]\n", "{path}: needs a non-empty [credentials] table"),
        ("[other]\nA = 'b'\n", "{path}: needs a non-empty [credentials] table"),
        ("[credentials]\nAKID = 5\n", "{path}: credentials 'AKID' must be a non-empty string"),
    ],
)
def test_a_bad_credentials_file_is_a_one_line_startup_error(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "credentials.toml"
    if content is not None:
        path.write_text(content)
    code, stderr = serve_error(tmp_path, str(path))
    assert code == 1
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("dynoxide-streams: " + expected.format(path=path)), stderr


def test_a_credentials_file_others_can_read_is_a_warning(tmp_path: Path) -> None:
    credentials = write_credentials(tmp_path / "credentials.toml", mode=0o644)
    args = ["--in-memory", "--credentials", str(credentials)]
    server = start_command("serve", args, tmp_path, port=free_port(), env={})
    try:
        line = wait_log(server, "credentials file readable by others")
        assert "warning" in line.lower() and "0644" in line
        warnings = [x for x in server.log().splitlines() if "credentials file" in x]
        assert len(warnings) == 1
    finally:
        server.terminate()


def test_the_environment_twin_names_the_file_too(tmp_path: Path) -> None:
    credentials = write_credentials(tmp_path / "credentials.toml")
    env = {"DYNOXIDE_STREAMS_CREDENTIALS": str(credentials)}
    server = start_command("serve", ["--in-memory"], tmp_path, port=free_port(), env=env)
    try:
        assert client(server.endpoint, "dynamodb").list_tables()["TableNames"] == []
        status, _, answer = send(
            server.endpoint, "POST", "/", b"{}", dynamodb_headers("ListTables")
        )
        assert (status, json.loads(answer)) == (
            400,
            error_body(
                "MissingAuthenticationTokenException", "Request is missing Authentication Token"
            ),
        )
    finally:
        server.terminate()


def test_embedded_server_takes_a_mapping_or_a_path(tmp_path: Path) -> None:
    path = write_credentials(tmp_path / "credentials.toml")
    for credentials in ({KEY: SECRET}, str(path)):
        with Server(credentials=credentials).run_in_thread() as srv:
            assert client(srv.endpoint, "dynamodb").list_tables()["TableNames"] == []
            with pytest.raises(ClientError) as refused:
                client(srv.endpoint, "dynamodb", "AKIDX", "s").list_tables()
            assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_without_credentials_any_authorization_is_accepted() -> None:
    with Server().run_in_thread() as srv:
        status, _, answer = send(
            srv.endpoint, "POST", "/", b"{}", {"X-Amz-Target": "DynamoDB_20120810.ListTables"}
        )
        assert (status, json.loads(answer)) == (200, {"TableNames": []})
        anyone = client(srv.endpoint, "dynamodb", "anything", "at-all")
        assert anyone.list_tables()["TableNames"] == []
