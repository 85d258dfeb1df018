"""Readers for the files under deploy/ and helpers shared by the packaging tests.

The Dockerfile reader understands what deploy/Dockerfile uses: parser directives and
comments, backslash continuations, stages (``FROM image [AS name]``), JSON (exec) and
shell forms, ``ENV`` with ``KEY=VALUE`` pairs and ``HEALTHCHECK [options] CMD ...``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
UNIT = DEPLOY / "dynoxide-streams.service"
SMOKE = DEPLOY / "example" / "smoke.py"

# Build-time clutter never copied into a build tree (when git cannot say what is tracked).
_IGNORED = (".git", ".venv", "build", "dist", "__pycache__", "*.egg-info", "*.pyc", ".*_cache")


@dataclass
class Instruction:
    keyword: str  # upper case
    args: str  # everything after the keyword, continuation lines joined
    line: int  # where it starts (1-based)

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form instruction (fails on the shell form)."""
        value = json.loads(self.args)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self
        return value


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def one(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert len(found) == 1, f"expected one {keyword} in stage {self.image}, got {found}"
        return found[0]

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for instruction in self.all("ENV"):
            words = shlex.split(instruction.args)
            if words and "=" not in words[0]:  # legacy form: ENV KEY value with spaces
                out[words[0]] = instruction.args.split(None, 1)[1]
                continue
            for word in words:
                key, _, value = word.partition("=")
                out[key] = value
        return out


def parse_dockerfile(text: str) -> list[Stage]:
    stages: list[Stage] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue  # comments (also inside continuations) and blank lines
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        logical = " ".join(part for part in pending if part)
        pending = []
        keyword, _, args = logical.partition(" ")
        instruction = Instruction(keyword.upper(), args.strip(), start)
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            words = [w for w in words if not w.startswith("--platform")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        else:
            assert stages, f"line {start}: {keyword} before the first FROM"
            stages[-1].instructions.append(instruction)
    assert not pending, "the Dockerfile ends inside a continuation"
    return stages


def dockerfile() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def healthcheck(stage: Stage) -> tuple[dict[str, str], list[str]]:
    """(options, exec-form command) of the stage's HEALTHCHECK."""
    head, sep, command = stage.one("HEALTHCHECK").args.partition("CMD ")
    assert sep, "HEALTHCHECK without CMD"
    options = {}
    for word in head.split():
        key, _, value = word.removeprefix("--").partition("=")
        options[key] = value
    return options, json.loads(command)


def image_server_command() -> tuple[list[str], dict[str, str]]:
    """What ``docker run IMAGE`` runs: ENTRYPOINT + CMD of the final stage, and its ENV."""
    final = dockerfile()[-1]
    argv = final.one("ENTRYPOINT").exec_form() + final.one("CMD").exec_form()
    return argv, final.env()


def compose() -> dict[str, Any]:
    import yaml  # PyYAML comes with the test extras (through awscli)

    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without Python or dynoxide-streams settings, plus extra."""
    drop = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONSAFEPATH")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in drop and not k.startswith("DYNOXIDE_STREAMS_")
    }
    env.update(extra)
    return env


def source_files() -> list[str]:
    """Paths (relative to the repository root) of the files a build may see: tracked and
    untracked-but-not-ignored files that exist, or a filtered walk without git."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout.decode()
        names = sorted({n for n in listed.split("\0") if n and (ROOT / n).is_file()})
        if names:
            return names
    except (OSError, subprocess.SubprocessError):
        pass
    out = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if path.is_file() and not any(rel.match(p) or p in rel.parts for p in _IGNORED):
            out.append(rel.as_posix())
    return sorted(out)


def copy_source_tree(dest: Path) -> Path:
    """A copy of the project's source files, so builds never write into the work tree
    (setuptools leaves build/ and *.egg-info behind, and a stale build/ leaks into wheels)."""
    for name in source_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    return dest
