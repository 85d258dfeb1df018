"""The README and docs/*.md run as written: every code block, in order, against a real
server, and the README's feature table names every operation the server does not serve.

How a document is run (``README.md``, then each ``docs/*.md`` with runnable blocks):

* A fresh ``dynoxide-streams serve`` starts in a temporary working directory, on a free
  loopback port. Every number from 8000 to 8099 in a block (``127.0.0.1:8000``,
  ``--port 8002``) is a *README port*: each gets its own free port the first time it is
  seen, and the text is rewritten with it. ``DYNOXIDE_STREAMS_PORT`` is set to the port
  that stands for 8000, so a command without ``--port`` finds it too.
* ```` ```python ```` blocks run one after another in ONE child process, in one shared
  namespace with ``__name__ == "__main__"`` (``block_runner.py``), as if pasted into one
  interpreter: a later block may use ``ddb`` from an earlier one.
* ```` ```sh ````/``bash``/``shell`` blocks run each in ``bash -e -o pipefail``; the
  variables a block exports carry over to later shell blocks, as in one terminal.
  ``console`` blocks run their ``$ `` lines. The environment starts without ``AWS_*``
  and ``DYNOXIDE_STREAMS_*`` variables and without ``~/.aws`` files: a block gets
  credentials only from the README.
* Each block has ``BLOCK_TIMEOUT`` seconds; a failure names the block (file, line,
  heading) and shows its output. Loops in examples must end by themselves.
* Other languages (toml, json, text, diagrams) are data, not run, unless a directive
  below says what to do with them. JavaScript and HTML blocks cannot run here: they
  must carry a "Not run" line (below), or the test fails.

Directives go on the lines just before a block's opening fence (blank lines between
are fine):

* ``*Not run by the README test: REASON.*`` — a visible line, shown to readers too:
  the block is not run (Docker, real AWS, a benchmark, ``make serve``). The reason is
  required; the test lists every block it did not run, with its reason, in the pytest
  summary ("code blocks not run"). Never leave a block out silently.
* ``<!-- readme-test: file PATH -->`` — write the block to PATH in the working
  directory (a handler module, a ``triggers.toml``) instead of running it.
* ``<!-- readme-test: background -->`` — the shell block starts servers that do not
  exit (``dynoxide-streams serve``/``sidecar``): each command in it starts as its own
  background process, as a reader would start each in its own terminal, and the test
  waits until it answers on its README port (``--port N``, else 8000). A server
  already on that README port is stopped first. Later blocks talk to the new one.
* ``<!-- readme-test: server PORT [FLAGS...] -->`` — before the block, start a fresh
  ``dynoxide-streams serve FLAGS`` for README port PORT (e.g. the upstream at 8001 of
  a sidecar example, or ``server 8000 --clock virtual --ttl-period 0``).

Everything started is stopped when the document is done.
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn

import botocore.session
import pytest

from dynoxide_streams.engine.operations import OPERATIONS, STREAM_OPERATIONS
from tests.conftest import RawClient
from tests.docs.conftest import NOT_RUN_KEY
from tests.process import free_port, start_server, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK_TIMEOUT = 60.0  # seconds for one block (the slowest measured: about 3 s)

PYTHON = {"python", "py", "python3"}
SHELL = {"sh", "bash", "shell", "console"}
NEEDS_A_BROWSER = {"js", "javascript", "mjs", "ts", "typescript", "html"}

FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})\s*([\w+-]*)")  # indented: in a list item
NOT_RUN = re.compile(r"^\*Not run by the README test: (.*)\*$")
DIRECTIVE = re.compile(r"^<!--\s*readme-test:\s*(.*?)\s*-->$")
README_PORT = re.compile(r"\b80\d\d\b")
HEADING = re.compile(r"^#{1,6} (.*)")

# ---------------------------------------------------------------------------- blocks


@dataclass
class Block:
    """One fenced code block of a document, with the directives written above it."""

    doc: str
    number: int  # 1-based among the document's fenced blocks
    line: int  # the opening fence's line
    lang: str
    heading: str
    text: str
    not_run: str | None = None  # the reason of a "Not run" line, or None
    directives: list[list[str]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.doc}:{self.line} block {self.number} ({self.lang or 'no language'}, under {self.heading!r})"

    def directive(self, word: str) -> list[list[str]]:
        return [d[1:] for d in self.directives if d[0] == word]


def parse_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of the markdown file at ``path``, in order."""
    lines = path.read_text().splitlines()
    doc = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
    blocks: list[Block] = []
    heading = "(top)"
    i = 0
    while i < len(lines):
        if found := HEADING.match(lines[i]):
            heading = found.group(1)
        fence = FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        indent, marker, lang = len(fence.group(1)), fence.group(2), fence.group(3).lower()
        end = i + 1
        while end < len(lines) and not lines[end].lstrip().startswith(marker):
            end += 1
        body = "\n".join(
            line[indent:] if line[:indent].isspace() else line for line in lines[i + 1 : end]
        )
        block = Block(doc, len(blocks) + 1, i + 1, lang, heading, body)
        j = i - 1
        while j >= 0:
            above = lines[j].strip()
            if not_run := NOT_RUN.match(above):
                block.not_run = not_run.group(1).strip().rstrip(".").strip()
            elif directive := DIRECTIVE.match(above):
                block.directives.insert(0, shlex.split(directive.group(1)))
            elif above:
                break
            j -= 1
        blocks.append(block)
        i = end + 1
    return blocks


def commands(block: Block) -> list[str]:
    """The shell commands of a block: its lines (``$`` lines of a console block), with
    backslash continuations joined and comments and blank lines dropped."""
    lines = block.text.splitlines()
    if block.lang == "console":
        kept: list[str] = []
        for line in lines:
            if line.startswith("$ ") or (kept and kept[-1].endswith("\\")):
                kept.append(line.removeprefix("$ "))
        lines = kept
    joined: list[str] = []
    for line in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + line.strip()
        else:
            joined.append(line)
    return [c for c in joined if c.strip() and not c.lstrip().startswith("#")]


def check_directives(block: Block) -> None:
    """Fail on a directive this test does not know, or a "Not run" line without reason."""
    if block.not_run is not None:
        assert block.not_run, f"{block.name}: a 'Not run' line must give a reason"
    for directive in block.directives:
        assert directive and directive[0] in {"file", "background", "server"}, (
            f"{block.name}: unknown directive <!-- readme-test: {' '.join(directive)} -->"
        )
        if directive[0] == "file":
            assert len(directive) == 2, f"{block.name}: file takes one PATH"
        if directive[0] == "server":
            assert len(directive) >= 2 and README_PORT.fullmatch(directive[1]), (
                f"{block.name}: server takes a README port (8000-8099), then flags"
            )
    if block.lang in NEEDS_A_BROWSER and block.not_run is None and not block.directive("file"):
        raise AssertionError(
            f"{block.name}: a {block.lang} block cannot run here; write a "
            "'*Not run by the README test: REASON.*' line above it"
        )


# --------------------------------------------------------------------------- session


class Session:
    """The servers, shell environment and Python process one document runs against."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.ports: dict[str, int] = {}
        self.servers: dict[str, subprocess.Popen[bytes]] = {}
        self.log = work / "blocks.log"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "DYNOXIDE_STREAMS_", "PYTEST_"))
        }
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        # no ~/.aws files either: what the blocks need, they set themselves
        env["AWS_CONFIG_FILE"] = str(work / "no-aws-config")
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(work / "no-aws-credentials")
        self.env = env
        self.python: subprocess.Popen[str] | None = None
        self.started = 0  # servers started by directives, to name their data directories

    # ports and servers

    def port(self, readme_port: str) -> int:
        if readme_port not in self.ports:
            self.ports[readme_port] = free_port()
        return self.ports[readme_port]

    def substitute(self, text: str) -> str:
        return README_PORT.sub(lambda m: str(self.port(m.group(0))), text)

    def shell_env(self) -> dict[str, str]:
        return {**self.env, "DYNOXIDE_STREAMS_PORT": str(self.port("8000"))}

    def stop(self, readme_port: str) -> None:
        proc = self.servers.pop(readme_port, None)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def serve(self, readme_port: str, flags: list[str]) -> None:
        """A fresh ``dynoxide-streams serve`` for ``readme_port`` (replacing any)."""
        self.stop(readme_port)
        self.started += 1
        data = self.work / f"server-{readme_port}-{self.started}"
        flags = [self.substitute(f) for f in flags]
        server = start_server(data, *flags, port=self.port(readme_port))
        self.servers[readme_port] = server.proc

    def background(self, block: Block) -> None:
        for command in commands(block):
            words = shlex.split(command)
            readme_port = words[words.index("--port") + 1] if "--port" in words else "8000"
            self.stop(readme_port)
            env = {**self.shell_env(), "DYNOXIDE_STREAMS_PORT": str(self.port(readme_port))}
            with self.log.open("ab") as log:
                log.write(f"===== {block.name}: {command}\n".encode())
                proc = subprocess.Popen(
                    ["bash", "-c", "exec " + self.substitute(command)],
                    cwd=self.work,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            self.servers[readme_port] = proc
            try:
                wait_healthy(f"http://127.0.0.1:{self.port(readme_port)}", proc)
            except (RuntimeError, TimeoutError) as exc:
                self.fail(block, f"`{command}` did not start serving: {exc}")

    # blocks

    def fail(self, block: Block, why: str) -> NoReturn:
        output = self.log.read_text(errors="replace")[-6000:] if self.log.exists() else ""
        pytest.fail(
            f"{block.name} failed: {why}\n--- block ---\n{block.text}\n"
            f"--- output of the blocks and background servers (end) ---\n{output}",
            pytrace=False,
        )

    def run_shell(self, block: Block) -> None:
        env_file = self.work / ".block-env"
        body = "\n".join(commands(block)) if block.lang == "console" else block.text
        script = "\n".join(
            ["set -e -o pipefail", f"trap 'env -0 > {shlex.quote(str(env_file))}' EXIT", body]
        )
        with self.log.open("ab") as log:
            log.write(f"===== {block.name}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                ["bash", "-c", self.substitute(script)],
                cwd=self.work,
                env=self.shell_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed whole on timeout
            )
            try:
                code = proc.wait(timeout=BLOCK_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                self.fail(
                    block,
                    f"still running after {BLOCK_TIMEOUT} s (a command that starts a server "
                    "that does not exit needs <!-- readme-test: background -->)",
                )
        if code != 0:
            self.fail(block, f"bash exited with {code}")
        if env_file.exists():  # what the block exported carries over to the next ones
            pairs = (item.split("=", 1) for item in env_file.read_text().split("\0") if "=" in item)
            skip = {"PWD", "OLDPWD", "SHLVL", "_"}
            self.env = {k: v for k, v in pairs if k not in skip}
            env_file.unlink()

    def run_python(self, block: Block) -> None:
        if self.python is None:
            self.python = subprocess.Popen(
                [sys.executable, "-m", "tests.docs.block_runner"],
                cwd=self.work,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.log.open("ab"),
                text=True,
            )
        assert self.python.stdin is not None and self.python.stdout is not None
        code = "\n" * block.line + self.substitute(block.text)  # tracebacks: document lines
        self.python.stdin.write(json.dumps({"name": block.name, "code": code}) + "\n")
        self.python.stdin.flush()
        answer = _read_line(self.python.stdout, BLOCK_TIMEOUT)
        if answer is None:
            self.python.kill()
            self.python.wait()
            self.python = None
            self.fail(block, f"still running after {BLOCK_TIMEOUT} s (or its process died)")
        result = json.loads(answer)
        if not result["ok"]:
            self.fail(block, result["error"])

    def run(self, block: Block) -> bool:
        """Run ``block`` as its kind and directives say; whether it ran as an example."""
        for readme_port, *flags in block.directive("server"):
            self.serve(readme_port, flags)
        if files := block.directive("file"):
            target = self.work / files[0][0]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(self.substitute(block.text) + "\n")
            return True
        if block.directive("background"):
            self.background(block)
            return True
        if block.lang in PYTHON:
            self.run_python(block)
            return True
        if block.lang in SHELL:
            self.run_shell(block)
            return True
        return False

    def close(self) -> None:
        if self.python is not None:
            assert self.python.stdin is not None
            self.python.stdin.close()
            try:
                self.python.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.python.kill()
                self.python.wait()
        for readme_port in list(self.servers):
            self.stop(readme_port)


def _read_line(stream: IO[str], timeout: float) -> str | None:
    """One line from ``stream`` within ``timeout`` seconds, or None (timeout or EOF)."""
    ready, _, _ = select.select([stream], [], [], timeout)
    if not ready:
        return None
    line = stream.readline()
    return line or None


def runnable(block: Block) -> bool:
    return block.not_run is None and (
        block.lang in PYTHON | SHELL or bool(block.directive("file") or block.directive("server"))
    )


# ----------------------------------------------------------------------------- tests


@pytest.fixture
def not_run_summary(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Lines for the pytest summary (tests/docs/conftest.py): the blocks not run."""
    lines: list[str] = request.config.stash.setdefault(NOT_RUN_KEY, [])
    yield lines


@pytest.mark.parametrize("path", DOCUMENTS, ids=[str(p.relative_to(ROOT)) for p in DOCUMENTS])
def test_code_blocks_run_as_written(path: Path, tmp_path: Path, not_run_summary: list[str]) -> None:
    blocks = parse_blocks(path)
    for block in blocks:
        check_directives(block)
    for block in blocks:
        if block.not_run is not None:
            not_run_summary.append(f"{block.name}: {block.not_run}")
    if path.name == "README.md":
        assert sum(runnable(b) for b in blocks) > 0, "the README test ran no block"
    if not any(runnable(b) for b in blocks):  # data only (JSON, diagrams): no server needed
        return
    session = Session(tmp_path)
    ran: list[str] = []
    try:
        session.serve("8000", [])
        for block in blocks:
            started = time.monotonic()
            if block.not_run is None and session.run(block):
                ran.append(f"{block.name}: {time.monotonic() - started:.1f} s")
    finally:
        session.close()
    print("ran:", *ran, sep="\n  ")  # shown with -s or -rP
    not_run = sum(b.not_run is not None for b in blocks)
    not_run_summary.append(f"{path.relative_to(ROOT)}: {len(ran)} blocks run, {not_run} not run")


def test_feature_table_names_every_operation_not_served(raw: RawClient) -> None:
    """Each DynamoDB and Streams operation of botocore's model that the server does not
    serve is named in the README's "Not yet" row, and answered as the row says: AWS's
    bare UnknownOperationException."""
    readme = (ROOT / "README.md").read_text()
    row = next((line for line in readme.splitlines() if line.startswith("| Not yet |")), None)
    assert row is not None, "README.md has no '| Not yet |' row in its feature table"
    session = botocore.session.get_session()
    unserved = sorted(
        {
            name
            for service, served in [
                ("dynamodb", OPERATIONS),
                ("dynamodbstreams", STREAM_OPERATIONS),
            ]
            for name in session.get_service_model(service).operation_names
            if name not in served
        }
    )
    assert unserved, "botocore's model lists no operation the server lacks"
    for name in unserved:
        response = raw.call(name, {})
        assert (response.status, response.json) == (
            400,
            {"__type": "com.amazon.coral.service#UnknownOperationException"},
        ), name
    missing = [name for name in unserved if not re.search(rf"\b{name}\b", row)]
    assert missing == [], f"the README's 'Not yet' row does not name {missing}"
    named = set(re.findall(r"`([A-Z][A-Za-z]+)`", row))
    served = set(OPERATIONS) | set(STREAM_OPERATIONS)
    assert named & served == set(), f"the 'Not yet' row names served operations: {named & served}"


def test_block_rules_leave_nothing_out_silently(tmp_path: Path) -> None:
    """The parser reads directives and "Not run" lines; a JavaScript block without a
    reason, an empty reason and an unknown directive are refused."""
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# Title\n\n- a list item:\n\n  ```python\n  if True:\n      x = 1\n  ```\n\n"
        "*Not run by the README test: needs a browser.*\n\n```js\nrun()\n```\n\n"
        "<!-- readme-test: server 8001 --clock virtual -->\n<!-- readme-test: background -->\n"
        "```sh\ndynoxide-streams sidecar --upstream http://localhost:8001 \\\n"
        "    --port 8002   # a comment\n```\n\n"
        "## Other\n\n```javascript\nrun()\n```\n\n"
        "*Not run by the README test: .*\n\n```sh\nmake\n```\n\n"
        "<!-- readme-test: teleport -->\n```sh\ntrue\n```\n"
    )
    blocks = parse_blocks(doc)
    assert [(b.lang, b.line, b.heading, b.not_run, b.directives) for b in blocks] == [
        ("python", 5, "Title", None, []),
        ("js", 12, "Title", "needs a browser", []),
        ("sh", 18, "Title", None, [["server", "8001", "--clock", "virtual"], ["background"]]),
        ("javascript", 25, "Other", None, []),
        ("sh", 31, "Other", "", []),
        ("sh", 36, "Other", None, [["teleport"]]),
    ]
    assert blocks[0].text == "if True:\n    x = 1"
    assert commands(blocks[2]) == [
        "dynoxide-streams sidecar --upstream http://localhost:8001  --port 8002   # a comment"
    ]
    for ok in blocks[:3]:
        check_directives(ok)
    refusals = [
        "doc.md:25 block 4 (javascript, under 'Other'): a javascript block cannot run here",
        "doc.md:31 block 5 (sh, under 'Other'): a 'Not run' line must give a reason",
        "doc.md:36 block 6 (sh, under 'Other'): unknown directive <!-- readme-test: teleport",
    ]
    for bad, refusal in zip(blocks[3:], refusals, strict=True):
        with pytest.raises(AssertionError) as refused:
            check_directives(bad)
        assert str(refused.value).startswith(refusal), str(refused.value)
    assert not runnable(blocks[1]) and runnable(blocks[0]) and runnable(blocks[2])


class _ScriptedSocket:
    """Stands in for ``websockets.sync.client.connect(...)`` in the README's push
    example: it answers ``recv`` with the frames given, in order."""

    def __init__(self, frames: list[dict[str, Any]]) -> None:
        self.frames = [json.dumps(frame) for frame in frames]
        self.sent: list[dict[str, Any]] = []

    def __call__(self, url: str) -> _ScriptedSocket:
        return self

    def __enter__(self) -> _ScriptedSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    def recv(self, timeout: float | None = None) -> str:
        assert self.frames, "the example asked for a frame after it should have stopped"
        return self.frames.pop(0)


def _push_example() -> str:
    (block,) = [
        b
        for b in parse_blocks(ROOT / "README.md")
        if b.heading == "Live push" and b.lang == "python"
    ]
    return block.text


def _record(n: int) -> dict[str, Any]:
    keys = {"id": {"S": f"u{n}"}}
    return {
        "type": "record",
        "id": "s1",
        "record": {"eventName": "INSERT", "dynamodb": {"Keys": keys, "SequenceNumber": str(n)}},
    }


@pytest.mark.parametrize(
    ("frames", "printed", "raised"),
    [
        pytest.param(
            [{"type": "error", "id": "s1", "code": "ResourceNotFound", "message": "no stream"}],
            [],
            "ResourceNotFound: no stream",
            id="error",
        ),
        pytest.param(
            [
                {"type": "subscribed", "id": "s1"},
                {"type": "trimmed", "id": "s1", "message": "records before 5 were trimmed"},
                _record(5),
                _record(6),
                _record(7),
            ],
            [
                "gap in the feed: records before 5 were trimmed",
                "INSERT {'id': {'S': 'u5'}}",
                "INSERT {'id': {'S': 'u6'}}",
                "INSERT {'id': {'S': 'u7'}}",
            ],
            None,
            id="trimmed",
        ),
        pytest.param(
            [_record(1), {"type": "stream_disabled", "id": "s1"}],
            ["INSERT {'id': {'S': 'u1'}}", "subscription ended: stream_disabled"],
            None,
            id="stream_disabled",
        ),
    ],
)
def test_the_push_example_handles_each_frame_as_a_consumer_should(
    frames: list[dict[str, Any]],
    printed: list[str],
    raised: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The README's push loop, exactly as written, fed scripted frames: an ``error``
    frame raises with the server's code and message, a ``trimmed`` frame is reported and
    the loop goes on, ``stream_disabled`` ends it; it never reads past its end."""
    import websockets.sync.client

    socket = _ScriptedSocket(frames)
    out: list[str] = []
    namespace: dict[str, Any] = {"print": lambda *a: out.append(" ".join(map(str, a)))}
    monkeypatch.setattr(websockets.sync.client, "connect", socket)
    if raised is None:
        exec(_push_example(), namespace)
    else:
        with pytest.raises(RuntimeError) as error:
            exec(_push_example(), namespace)
        assert str(error.value) == raised
    assert socket.sent == [
        {"action": "subscribe", "id": "s1", "table": "users", "from": "TRIM_HORIZON"}
    ]
    assert out == printed
    assert socket.frames == []
