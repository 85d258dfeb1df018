"""The pytest summary of tests/docs: how many code blocks each document ran, and each
block it did not run with the reason, so that no block is left out silently."""

from __future__ import annotations

import pytest

NOT_RUN_KEY = pytest.StashKey[list[str]]()


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    lines = config.stash.get(NOT_RUN_KEY, [])
    if lines:
        terminalreporter.section("code blocks of README.md and docs/*.md (tests/docs)")
        for line in lines:
            terminalreporter.write_line(line)
