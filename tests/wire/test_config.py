"""Settings from four sources: ``serve --print-config`` shows flag > environment
(``DYNOXIDE_STREAMS_<NAME>``) > config file (``--config`` or ``DYNOXIDE_STREAMS_CONFIG``)
> default for every kind of setting (int, float, bool, list, str), with the token
redacted; a config file with ``[functions]``/``[[trigger]]`` tables configures a real
server (port, region, data dir and a ``cmd:`` trigger that receives stream records);
a bad config — including a value the flag's choices would refuse, given through the
environment or the file — is one ``dynoxide-streams: ...`` line on stderr and exit
status 1; ``--data-dir`` on the command line beats ``in_memory`` from env or file."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_client
from tests.polling import wait_until
from tests.process import free_port, start_server, wait_healthy

PREFIX = "dynoxide-streams: "


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any DYNOXIDE_STREAMS_* variable, plus
    ``extra`` (names without the prefix)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DYNOXIDE_STREAMS_")}
    env.update({f"DYNOXIDE_STREAMS_{name}": value for name, value in extra.items()})
    return env


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dynoxide_streams", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env if env is not None else clean_env(),
        check=False,
    )


def print_config(*args: str, cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = run_cli("serve", *args, "--print-config", cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    settings = tomllib.loads(result.stdout)
    settings["__text__"] = result.stdout  # the raw output, for redaction checks
    return settings


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(PREFIX), lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# ------------------------------------------------------------------- precedence

FILE_TEXT = """\
port = 1111
ttl_period = 2.5
in_memory = true
allowed_origin = "https://file.test"
allowed_host = ["file-a.test", "file-b.test"]
region = "eu-central-1"
token = "file-secret-16-chars"
max_connections = 7
"""


def test_defaults(tmp_path: Path) -> None:
    settings = print_config(cwd=tmp_path)
    assert settings["port"] == 8000
    assert settings["ttl_period"] == 1.0 and isinstance(settings["ttl_period"], float)
    assert settings["in_memory"] is False
    assert settings["allowed_origin"] == [] and settings["allowed_host"] == []
    assert settings["region"] == "us-east-1"
    assert settings["max_connections"] == 1000
    assert settings["data_dir"] == ".dynoxide-streams"
    # unset optional settings are shown commented out, so TOML has no such key
    assert "token" not in settings and "config" not in settings
    assert "# token = (not set)" in settings["__text__"]


def test_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(FILE_TEXT, encoding="utf-8")

    from_file = print_config("--config", str(config), cwd=tmp_path)
    assert from_file["port"] == 1111
    assert from_file["ttl_period"] == 2.5
    assert from_file["in_memory"] is True
    assert from_file["allowed_origin"] == ["https://file.test"]  # a string is a 1-list
    assert from_file["allowed_host"] == ["file-a.test", "file-b.test"]
    assert from_file["region"] == "eu-central-1"
    assert from_file["max_connections"] == 7
    assert from_file["token"] == "<set>"
    assert "file-secret-16-chars" not in from_file["__text__"]
    assert from_file["config"] == str(config)
    assert from_file["log_level"] == "info"  # not in the file: the default

    env = clean_env(
        PORT="2222",
        TTL_PERIOD="3.5",
        IN_MEMORY="off",
        ALLOWED_ORIGIN="https://env-1.test, https://env-2.test",
        ALLOWED_HOST="env.test",
        REGION="ap-south-1",
        TOKEN="env-secret-16-chars",
    )
    from_env = print_config("--config", str(config), cwd=tmp_path, env=env)
    assert from_env["port"] == 2222
    assert from_env["ttl_period"] == 3.5
    assert from_env["in_memory"] is False  # the environment turns off what the file set
    assert from_env["allowed_origin"] == ["https://env-1.test", "https://env-2.test"]
    assert from_env["allowed_host"] == ["env.test"]
    assert from_env["region"] == "ap-south-1"
    assert from_env["max_connections"] == 7  # not in the environment: the file's
    assert from_env["token"] == "<set>"
    assert "env-secret-16-chars" not in from_env["__text__"]
    assert "file-secret-16-chars" not in from_env["__text__"]

    from_flags = print_config(
        "--config",
        str(config),
        "--port",
        "3333",
        "--ttl-period",
        "4.5",
        "--in-memory",
        "--allowed-origin",
        "https://flag-1.test",
        "--allowed-origin",
        "https://flag-2.test",
        "--allowed-host",
        "flag.test",
        "--region",
        "us-west-2",
        "--token",
        "flag-secret-16-chars",
        cwd=tmp_path,
        env=env,
    )
    assert from_flags["port"] == 3333
    assert from_flags["ttl_period"] == 4.5
    assert from_flags["in_memory"] is True
    assert from_flags["allowed_origin"] == ["https://flag-1.test", "https://flag-2.test"]
    assert from_flags["allowed_host"] == ["flag.test"]
    assert from_flags["region"] == "us-west-2"
    assert from_flags["max_connections"] == 7
    assert from_flags["token"] == "<set>"
    for secret in ("flag-secret-16-chars", "env-secret-16-chars", "file-secret-16-chars"):
        assert secret not in from_flags["__text__"]


def test_env_values_of_every_kind(tmp_path: Path) -> None:
    config = tmp_path / "off.toml"
    config.write_text("in_memory = false\nstrict_ttl_limits = true\n", encoding="utf-8")
    env = clean_env(
        IN_MEMORY="Yes",
        STRICT_TTL_LIMITS="0",
        SHARD_ROTATION_RECORDS="12",
        WS_STALL_TIMEOUT="2.25",
        ALLOWED_HOST="a.test,,b.test ,",
        ACCOUNT_ID="123456789012",
        FUNCTION="one=cmd:true,two=cmd:false",
    )
    settings = print_config("--config", str(config), cwd=tmp_path, env=env)
    assert settings["in_memory"] is True
    assert settings["strict_ttl_limits"] is False
    assert settings["shard_rotation_records"] == 12
    assert settings["ws_stall_timeout"] == 2.25
    assert settings["allowed_host"] == ["a.test", "b.test"]
    assert settings["account_id"] == "123456789012"
    assert settings["function"] == ["one=cmd:true", "two=cmd:false"]


def test_env_lists_may_be_json_arrays_for_values_with_commas(tmp_path: Path) -> None:
    target = "cmd:python3 -c 'print(1, 2)'"
    env = clean_env(
        FUNCTION=json.dumps([f"commas={target}", "plain=cmd:true"]),
        ALLOWED_HOST=' ["a.test"] ',
    )
    settings = print_config(cwd=tmp_path, env=env)
    assert settings["function"] == [f"commas={target}", "plain=cmd:true"]
    assert settings["allowed_host"] == ["a.test"]


def test_config_env_names_the_file_and_the_flag_wins(tmp_path: Path) -> None:
    named_by_env = tmp_path / "env.toml"
    named_by_env.write_text('port = 4444\nregion = "sa-east-1"\n', encoding="utf-8")
    named_by_flag = tmp_path / "flag.toml"
    named_by_flag.write_text("port = 5555\n", encoding="utf-8")
    env = clean_env(CONFIG=str(named_by_env))

    settings = print_config(cwd=tmp_path, env=env)
    assert (settings["port"], settings["region"]) == (4444, "sa-east-1")
    assert settings["config"] == str(named_by_env)

    settings = print_config("--config", str(named_by_flag), cwd=tmp_path, env=env)
    assert (settings["port"], settings["region"]) == (5555, "us-east-1")
    assert settings["config"] == str(named_by_flag)


def test_dash_and_underscore_keys(tmp_path: Path) -> None:
    config = tmp_path / "keys.toml"
    config.write_text(
        "ttl-period = 2\n"  # an integer for a float setting
        "in-memory = true\n"
        'allowed_host = "one.test"\n'
        'allowed-origin = ["https://two.test"]\n'
        'account-id = "210987654321"\n'
        "shard_rotation_records = 9\n"
        'data-dir = "elsewhere"\n'
        'log-format = "json"\n',
        encoding="utf-8",
    )
    settings = print_config("--config", str(config), cwd=tmp_path)
    assert settings["ttl_period"] == 2.0 and isinstance(settings["ttl_period"], float)
    assert settings["in_memory"] is True
    assert settings["allowed_host"] == ["one.test"]
    assert settings["allowed_origin"] == ["https://two.test"]
    assert settings["account_id"] == "210987654321"
    assert settings["shard_rotation_records"] == 9
    assert settings["data_dir"] == "elsewhere"
    assert settings["log_format"] == "json"


def test_token_is_redacted_from_every_source(tmp_path: Path) -> None:
    config = tmp_path / "token.toml"
    config.write_text('token = "in-the-file-16-chars"\n', encoding="utf-8")
    for args, env, secret in (
        (("--token", "on-the-line-16-chars"), clean_env(), "on-the-line-16-chars"),
        ((), clean_env(TOKEN="in-the-env-16-chars"), "in-the-env-16-chars"),
        (("--config", str(config)), clean_env(), "in-the-file-16-chars"),
    ):
        settings = print_config(*args, cwd=tmp_path, env=env)
        assert settings["token"] == "<set>"
        assert secret not in settings["__text__"]


def test_trigger_tables_in_the_config_file_are_accepted(tmp_path: Path) -> None:
    config = tmp_path / "with-triggers.toml"
    config.write_text(
        "port = 6543\n"
        "[functions]\n"
        'audit = "cmd:true"\n'
        'rie = { target = "http://127.0.0.1:9/invoke", timeout = 10 }\n'
        "[[trigger]]\n"
        'table = "orders"\n'
        'function = "audit"\n'
        "batch_size = 5\n"
        "[[trigger]]\n"
        'table = "orders"\n'
        'function = "rie"\n',
        encoding="utf-8",
    )
    settings = print_config("--config", str(config), cwd=tmp_path)
    assert settings["port"] == 6543
    assert "functions" not in settings and "trigger" not in settings
    assert settings["function"] == []  # file functions are not --function flags


@pytest.mark.parametrize(
    ("where", "setting", "value"),
    [
        ("env", "clock", "weird"),
        ("env", "log_format", "xml"),
        ("file", "log_level", "verbose"),
        ("file", "clock", "wall"),
    ],
)
def test_values_the_flag_would_refuse_are_refused_from_env_and_file(
    tmp_path: Path, where: str, setting: str, value: str
) -> None:
    """``--clock``, ``--log-level`` and ``--log-format`` accept only their choices;
    their environment twins and config keys are the same settings."""
    flag = run_cli("serve", f"--{setting.replace('_', '-')}", value, "--print-config", cwd=tmp_path)
    assert flag.returncode == 2 and "invalid choice" in flag.stderr  # argparse refuses it
    if where == "env":
        result = run_cli(
            "serve", "--print-config", cwd=tmp_path, env=clean_env(**{setting.upper(): value})
        )
    else:
        config = tmp_path / "choice.toml"
        config.write_text(f'{setting} = "{value}"\n', encoding="utf-8")
        result = run_cli("serve", "--config", str(config), "--print-config", cwd=tmp_path)
    assert_one_line_error(result, setting.upper() if where == "env" else setting, repr(value))


def test_data_dir_flag_beats_in_memory_from_env_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--data-dir`` and ``--in-memory`` are alternatives (argparse makes them
    mutually exclusive): a ``--data-dir`` on the command line must win over
    ``in_memory`` from the environment or the config file, or the data the user
    asked to keep is silently thrown away at exit."""
    data = tmp_path / "keep-me"
    # the real server: what it writes must land in the directory given on the line
    monkeypatch.setenv("DYNOXIDE_STREAMS_IN_MEMORY", "1")
    server = start_server(data)
    try:
        make_client(server.endpoint).create_table(
            TableName="kept",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    finally:
        assert server.terminate() == 0
    assert (data / "data.db").is_file(), "the server ignored --data-dir and ran in memory"

    config = tmp_path / "mem.toml"
    config.write_text("in_memory = true\n", encoding="utf-8")
    for args, env in (
        (["--data-dir", str(data)], clean_env(IN_MEMORY="1")),
        (["--config", str(config), "--data-dir", str(data)], clean_env()),
    ):
        settings = print_config(*args, cwd=tmp_path, env=env)
        assert settings["data_dir"] == str(data)
        assert settings["in_memory"] is False, (args, "the --data-dir flag was overridden")


# ------------------------------------------------------------ a real server


def test_a_server_runs_from_its_config_file(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    script = tmp_path / "record.py"
    script.write_text(
        "import sys\n"
        "data = sys.stdin.read()\n"
        f"with open({str(out)!r}, 'a', encoding='utf-8') as f:\n"
        "    f.write(data.replace('\\n', ' ') + '\\n')\n",
        encoding="utf-8",
    )
    port = free_port()
    data_dir = tmp_path / "from-config"
    target = "cmd:" + shlex.join([sys.executable, str(script)])
    config = tmp_path / "server.toml"
    config.write_text(
        f"port = {port}\n"
        'region = "eu-west-1"\n'
        f"data-dir = {json.dumps(str(data_dir))}\n"
        'log_level = "warning"\n'
        "[functions]\n"
        f"recorder = {{ target = {json.dumps(target)}, timeout = 20 }}\n"
        "[[trigger]]\n"
        'table = "orders"\n'
        'function = "recorder"\n'
        "batch_size = 10\n",
        encoding="utf-8",
    )
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dynoxide_streams", "serve", "--config", str(config)],
            cwd=tmp_path,
            env=clean_env(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(endpoint, proc)
        assert data_dir.is_dir() and (data_dir / "data.db").is_file()
        ddb = make_client(endpoint)
        table = ddb.create_table(
            TableName="orders",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )["TableDescription"]
        assert table["TableArn"] == "arn:aws:dynamodb:eu-west-1:000000000000:table/orders"
        stream_arn = table["LatestStreamArn"]
        assert stream_arn.startswith("arn:aws:dynamodb:eu-west-1:000000000000:table/orders/")
        ddb.put_item(TableName="orders", Item={"pk": {"S": "o-1"}, "qty": {"N": "3"}})

        def delivered() -> list[dict[str, Any]]:
            if not out.exists():
                return []
            records = [
                record
                for line in out.read_text(encoding="utf-8").splitlines()
                if line.strip()
                for record in json.loads(line)["Records"]
            ]
            return records

        records = wait_until(delivered, 20.0, "the cmd: function to receive the record")
        assert len(records) == 1
        record = records[0]
        assert record["eventName"] == "INSERT"
        assert record["awsRegion"] == "eu-west-1"
        assert record["eventSourceARN"] == stream_arn
        assert record["dynamodb"]["Keys"] == {"pk": {"S": "o-1"}}
        assert record["dynamodb"]["NewImage"] == {"pk": {"S": "o-1"}, "qty": {"N": "3"}}
    finally:
        proc.terminate()
        code = proc.wait(timeout=30)
    assert code == 0, log_path.read_text(errors="replace")
    assert "Traceback" not in log_path.read_text(errors="replace")


# ---------------------------------------------------------------- bad configs


def _bad_case(case: str, tmp_path: Path) -> tuple[list[str], dict[str, str], list[str]]:
    """(arguments, environment, expected message parts) of one bad configuration."""
    config = tmp_path / "bad.toml"
    if case == "unknown key":
        config.write_text('port = 8123\ncolour = "blue"\n', encoding="utf-8")
        return ["--config", str(config)], clean_env(), [str(config), "unknown setting 'colour'"]
    if case == "config key in the file":
        config.write_text('config = "other.toml"\n', encoding="utf-8")
        return ["--config", str(config)], clean_env(), ["unknown setting 'config'"]
    if case == "wrong type":
        config.write_text('port = "x"\n', encoding="utf-8")
        return ["--config", str(config)], clean_env(), [str(config), "port must be a", "str"]
    if case == "wrong list type":
        config.write_text("allowed-host = [1, 2]\n", encoding="utf-8")
        return ["--config", str(config)], clean_env(), ["allowed_host must be a list"]
    if case == "toml syntax":
        config.write_text("port = = 1\n", encoding="utf-8")
        return ["--config", str(config)], clean_env(), [str(config), "line 1"]
    if case == "not utf-8":
        config.write_bytes(b"region = '\xff\xfe'\n")
        return ["--config", str(config)], clean_env(), [str(config)]
    if case == "directory":
        return (
            ["--config", str(tmp_path)],
            clean_env(),
            [f"cannot read config file {tmp_path}", "Is a directory"],
        )
    if case == "missing file":
        missing = tmp_path / "nope.toml"
        return (
            ["--config", str(missing)],
            clean_env(),
            [f"cannot read config file {missing}", "No such file or directory"],
        )
    if case == "missing file named by env":
        missing = tmp_path / "gone.toml"
        return [], clean_env(CONFIG=str(missing)), [f"cannot read config file {missing}"]
    if case == "bad env int":
        return [], clean_env(PORT="abc"), ["DYNOXIDE_STREAMS_PORT='abc' is not a valid int"]
    if case == "bad env float":
        return (
            [],
            clean_env(TTL_PERIOD="soon"),
            ["DYNOXIDE_STREAMS_TTL_PERIOD='soon' is not a valid float"],
        )
    if case == "bad env bool":
        return (
            [],
            clean_env(IN_MEMORY="maybe"),
            ["DYNOXIDE_STREAMS_IN_MEMORY='maybe' is not a valid bool"],
        )
    if case == "bad env json list":
        return (
            [],
            clean_env(FUNCTION='["a=cmd:true", 3]'),
            ["""DYNOXIDE_STREAMS_FUNCTION='["a=cmd:true", 3]' is not a valid list"""],
        )
    raise AssertionError(case)


BAD_CASES = [
    "unknown key",
    "config key in the file",
    "wrong type",
    "wrong list type",
    "toml syntax",
    "not utf-8",
    "directory",
    "missing file",
    "missing file named by env",
    "bad env int",
    "bad env float",
    "bad env bool",
    "bad env json list",
]


@pytest.fixture(scope="module")
def bad_results(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[tuple[str, str], tuple[subprocess.CompletedProcess[str], list[str], Path]]:
    """Every bad case run both as ``serve --print-config`` and as plain ``serve``, the
    processes started together (each is a fresh interpreter: running them side by side
    keeps the module fast). Values: (result, expected message parts, working dir)."""
    started: dict[tuple[str, str], tuple[subprocess.Popen[str], list[str], Path]] = {}
    try:
        for case in BAD_CASES:
            for mode in MODES:
                base = tmp_path_factory.mktemp("bad-config")
                args, env, needles = _bad_case(case, base)
                work = base / "cwd"
                work.mkdir()
                extra = ["--print-config"] if mode == "print-config" else []
                proc = subprocess.Popen(
                    [sys.executable, "-m", "dynoxide_streams", "serve", *args, *extra],
                    cwd=work,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                started[(case, mode)] = (proc, needles, work)
        results = {}
        for key, (proc, needles, work) in started.items():
            out, err = proc.communicate(timeout=60)
            completed = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
            results[key] = (completed, needles, work)
        return results
    finally:
        for proc, _, _ in started.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


MODES = ["print-config", "serve"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_config_is_one_line_and_exit_1(
    bad_results: dict[tuple[str, str], tuple[subprocess.CompletedProcess[str], list[str], Path]],
    case: str,
    mode: str,
) -> None:
    result, needles, work = bad_results[(case, mode)]
    assert_one_line_error(result, *needles)
    # nothing started: not even the default data directory was created
    assert list(work.iterdir()) == []
