"""A plain ``serve`` loads only what it uses: the modules of features it was not asked
for (sidecar, trigger pollers and filters, the push feed, PartiQL, the TOML reader,
h11) are imported when the feature is first used, so they cost neither start-up time
nor memory.

Each test runs a fresh interpreter (the test process has imported everything already)
and asserts on module names, never on time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LAZY = (
    "dynoxide_streams.sidecar",
    "dynoxide_streams.triggers.poller",
    "dynoxide_streams.triggers.lane",
    "dynoxide_streams.triggers.dead_letters",
    "dynoxide_streams.triggers.filters",
    "dynoxide_streams.push",
    "dynoxide_streams.engine.partiql",
    "tomllib",
    "h11",
    "uvicorn.protocols.http.h11_impl",
    "httpx",
    "botocore",
    "mcp",
    "hypothesis",
)
"""Module name prefixes a plain ``serve`` must not import."""

SERVE = textwrap.dedent(
    """
    import json, sys

    import anyio

    from dynoxide_streams import cli
    from dynoxide_streams.service import Service

    args = cli._parser().parse_args(["serve", "--port", "0", "--in-memory"])
    settings = cli._settings(vars(args))
    settings.upstream = None
    cli.configure(settings.log_level, settings.log_format)

    async def main() -> bytes:
        service = Service(settings)
        async with anyio.create_task_group() as tg:
            await tg.start(service.run)
            port = int(service.endpoint.rsplit(":", 1)[1])
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                await stream.send(
                    b"POST / HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n"
                    b"X-Amz-Target: DynamoDB_20120810.ListTables\\r\\n"
                    b"Content-Type: application/x-amz-json-1.0\\r\\n"
                    b"Content-Length: 2\\r\\n\\r\\n{}"
                )
                reply = await stream.receive()
            service.stop()
        return reply

    reply = anyio.run(main, backend_options={"use_uvloop": True})
    print(json.dumps({"status": reply.split(b"\\r\\n", 1)[0].decode(), "modules": sorted(sys.modules)}))
    """
)


def _run(code: str) -> dict[str, object]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    for name in list(env):
        if name.startswith("DYNOXIDE_STREAMS_"):
            del env[name]  # a config file or flags from the environment would load more
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _loaded(modules: object, prefixes: tuple[str, ...]) -> list[str]:
    assert isinstance(modules, list)
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes)]


def test_a_plain_serve_answering_a_request_does_not_import_the_lazy_modules() -> None:
    result = _run(SERVE)
    assert result["status"] == "HTTP/1.1 200 OK"
    assert _loaded(result["modules"], LAZY) == []
    # it did load what it uses
    assert _loaded(result["modules"], ("dynoxide_streams.triggers.runner",)) != []


def test_importing_the_command_line_does_not_import_the_lazy_modules() -> None:
    result = _run(
        "import json, sys; import dynoxide_streams.cli, dynoxide_streams.server; "
        'print(json.dumps({"modules": sorted(sys.modules)}))'
    )
    assert _loaded(result["modules"], LAZY) == []


@pytest.mark.parametrize(
    ("code", "module"),
    [
        (
            "from dynoxide_streams.config import load_config_file\n"
            "try:\n    load_config_file('/nonexistent.toml')\nexcept Exception:\n    pass",
            "tomllib",
        ),
        (
            "from dynoxide_streams.triggers.mappings import check_create\n"
            "try:\n    check_create({'FunctionName': 'f', 'StartingPosition': 'LATEST',"
            " 'EventSourceArn': 'arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/"
            "2020-01-01T00:00:00.000', 'FilterCriteria': {'Filters': [{'Pattern': '{}'}]}})\n"
            "except Exception as exc:\n    assert 'filter pattern' in str(exc), exc",
            "dynoxide_streams.triggers.filters",
        ),
    ],
)
def test_the_lazy_modules_load_when_their_feature_is_used(code: str, module: str) -> None:
    result = _run(
        "import json, sys\n" + code + '\nprint(json.dumps({"modules": sorted(sys.modules)}))'
    )
    assert module in _loaded(result["modules"], (module,))
