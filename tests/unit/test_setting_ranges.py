"""Every numeric setting has a range in its description (``config.Settings``); values
on its bounds pass and values just beyond them fail, from flags, the environment and
the config file alike; the README's flag table shows each range; and the token rule
(16 characters at least, never echoed) is metadata a later token setting reuses."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from dynoxide_streams.config import (
    MIN_TOKEN_LENGTH,
    ConfigError,
    Setting,
    Settings,
    described,
    load_config_file,
)

README = Path(__file__).resolve().parents[2] / "README.md"
NUMERIC = [s for s in described() if s.kind in ("int", "float")]


def _step(s: Setting) -> float:
    return 1 if s.kind == "int" else 0.001


def _typed(s: Setting, value: float) -> float:
    return int(value) if s.kind == "int" else float(value)


@pytest.mark.parametrize("s", NUMERIC, ids=lambda s: s.name)
def test_every_numeric_setting_has_a_lower_and_an_upper_bound(s: Setting) -> None:
    assert (s.about.ge is None) != (s.about.gt is None), s.name
    assert s.about.le is not None, s.name
    assert s.shown_range


@pytest.mark.parametrize("s", NUMERIC, ids=lambda s: s.name)
def test_bounds_pass_and_values_beyond_them_fail(s: Setting) -> None:
    about = s.about
    assert about.le is not None
    inside = [about.le, s.default]
    outside = [about.le + _step(s), math.inf, -math.inf]
    if about.ge is not None:
        inside.append(about.ge)
        outside.append(about.ge - _step(s))
    if about.gt is not None:
        inside.append(about.gt + _step(s))
        outside.append(about.gt)
    for value in inside:
        got = Settings.from_sources({s.name: _typed(s, value)}, environ={})
        assert getattr(got, s.name) == _typed(s, value)
        from_env = Settings.from_sources({}, environ={s.env: str(_typed(s, value))})
        assert getattr(from_env, s.name) == _typed(s, value)
    for value in outside:
        typed = value if math.isinf(value) else _typed(s, value)
        with pytest.raises(ConfigError, match=s.name):
            Settings.from_sources({s.name: typed}, environ={})
        if s.kind == "int" and math.isinf(value):
            continue  # not an int at all: refused as such
        with pytest.raises(ConfigError, match=f"^{s.env}: {s.name}"):
            Settings.from_sources({}, environ={s.env: str(typed)})


def test_a_file_value_out_of_range_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("max-connections = -1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    assert str(caught.value) == f"{path}: max_connections -1 is out of range (0-1000000)"


def test_readme_rows_show_each_range() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Command line\n") :]
    rows = {
        line.split("`")[1].split()[0]: line
        for line in section.splitlines()
        if line.startswith("| `--")
    }
    for s in NUMERIC:
        assert f"({s.shown_range}" in rows[s.flag], (s.flag, s.shown_range)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("", "token is empty or blank: give at least 16 characters"),
        ("   ", "token is empty or blank: give at least 16 characters"),
        ("x" * 15, "token must be at least 16 characters (got 15)"),
        (" " + "x" * 16, "token must not start or end with whitespace"),
    ],
)
def test_token_rule(token: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_sources({"token": token}, environ={})
    assert str(caught.value) == message
    assert Settings.from_sources({"token": "x" * MIN_TOKEN_LENGTH}, environ={}).token


def test_secret_settings_are_redacted_and_never_echoed() -> None:
    secrets = [s for s in described() if s.about.secret]
    assert "token" in {s.name for s in secrets}
    for s in secrets:
        assert s.about.min_length == MIN_TOKEN_LENGTH, s.name
        value = "leaked-secret-value-" + s.name
        assert Settings.from_sources({s.name: value}, environ={}).public()[s.name] == "<set>"
        with pytest.raises(ConfigError) as caught:
            Settings.from_sources({s.name: "tiny"}, environ={})
        assert "tiny" not in str(caught.value)
