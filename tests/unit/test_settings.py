"""Settings are described once (``config.Settings`` field metadata): the README's flag
table names exactly the settings there are, with their defaults and commands; every
setting has a kind, help text and known commands; the embedded server's keyword
arguments are the ``serve`` settings, checked against the same choices, ranges and
patterns as the command line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dynoxide_streams import Server
from dynoxide_streams.config import ConfigError, Settings, described

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(
    r"^\| `--(?P<flag>[a-z0-9-]+)[^`]*` \| (?P<default>[^|]+) \| (?P<commands>[^|]+) \|"
)
COMMAND_ORDER = ("serve", "sidecar", "mcp")


def readme_rows() -> dict[str, tuple[str, str]]:
    """The README's flag table: setting name -> (default cell, commands cell)."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Command line\n") :]
    section = section[: section.index("\n## ", 1)]
    rows: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match is None:
            continue
        name = match["flag"].replace("-", "_")
        assert name not in rows, f"--{match['flag']} has two rows in the README"
        rows[name] = (match["default"].strip(), match["commands"].strip())
    assert rows, "no flag table found under '## Command line' in the README"
    return rows


def test_readme_flag_table_names_every_setting_and_no_other() -> None:
    rows = readme_rows()
    names = {s.name for s in described()}
    assert sorted(names - rows.keys()) == [], "settings missing from the README table"
    assert sorted(rows.keys() - names) == [], "README rows naming no setting"


@pytest.mark.parametrize("name", [s.name for s in described()])
def test_readme_row_shows_the_default_and_commands(name: str) -> None:
    (s,) = [s for s in described() if s.name == name]
    default, commands = readme_rows()[name]
    assert default == (f"`{s.shown_default}`" if s.shown_default else "—")
    assert commands == ", ".join(c for c in COMMAND_ORDER if c in s.about.commands)


def test_every_setting_is_described() -> None:
    for s in described():
        assert s.about.help and s.about.commands, s.name
        assert s.about.commands <= set(COMMAND_ORDER), s.name
        assert not s.about.choices or s.default in s.about.choices, s.name
    assert {s.kind for s in described()} == {"bool", "int", "float", "list", "path", "str"}


def test_environment_twins_and_flags_follow_the_name() -> None:
    (s,) = [s for s in described() if s.name == "ws_stall_timeout"]
    assert (s.flag, s.env) == ("--ws-stall-timeout", "DYNOXIDE_STREAMS_WS_STALL_TIMEOUT")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"port": 70000}, "port 70000 is out of range (0-65535)"),
        ({"port": -1}, "port -1 is out of range (0-65535)"),
        ({"lease_duration": 0.0}, "lease_duration must be positive (got 0.0)"),
        (
            {"lease_table": "ab"},
            "lease_table must be a DynamoDB table name: 3 to 255 of a-z A-Z 0-9 _ - . (got 'ab')",
        ),
        ({"clock": "wall"}, "clock 'wall' is not one of real, virtual"),
    ],
)
def test_checks_read_the_bounds_from_the_description(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_sources(values, environ={})
    assert str(caught.value) == message


def test_settings_within_bounds_pass() -> None:
    settings = Settings.from_sources(
        {"port": 0, "lease_duration": 0.5, "lease_table": "leases"}, environ={}
    )
    assert (settings.port, settings.lease_duration, settings.lease_table) == (0, 0.5, "leases")


def test_embedded_server_takes_every_serve_setting() -> None:
    srv = Server(
        allowed_origin=("https://app.test",),  # any iterable for a list
        ws_stall_timeout=5.0,
        stream_retention_seconds=60.0,
        token="a-token-of-16-chars",
    )
    settings = srv.settings
    assert settings.allowed_origin == ["https://app.test"]
    assert (settings.ws_stall_timeout, settings.stream_retention_seconds) == (5.0, 60.0)
    assert (settings.port, settings.in_memory, settings.log_level) == (0, True, "warning")
    kept = Server(data_dir="somewhere").settings
    assert (kept.data_dir, kept.in_memory) == (Path("somewhere"), False)


@pytest.mark.parametrize("name", ["upstream", "lease_table", "config", "colour"])
def test_embedded_server_refuses_what_is_no_serve_setting(name: str) -> None:
    with pytest.raises(TypeError, match=repr(name)):
        Server(**{name: "x"})


def test_embedded_server_checks_bounds() -> None:
    with pytest.raises(ConfigError, match="out of range"):
        Server(port=70000)
