# Two commands: `make serve` and `make test`. Both create/refresh .venv themselves.
# `make test-fast` is the inner loop: unit tests and the in-process wire tests only.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS := constraints.txt
SERVE_STAMP := $(VENV)/.stamp-serve
TEST_STAMP := $(VENV)/.stamp-test
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: serve test test-fast lint typecheck pytest bench clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(SERVE_STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP) install -c $(CONSTRAINTS) -e .
	touch $@

# Browser tests drive Debian's Chromium through Playwright (no `playwright install`:
# its browser download does not work here); install the apt package when missing.
# The in-tab engine's bundle and the browser tests' AWS SDK are built with Node and npm
# (issue 22): installed the same way when missing.
$(TEST_STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP) install -c $(CONSTRAINTS) -e '.[test]'
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium)
	command -v npm >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm)
	touch $@ $(SERVE_STAMP)

serve: $(SERVE_STAMP)
	$(BIN)/dynoxide-streams serve $(ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check dynoxide_streams tests bench tools
	$(BIN)/ruff format --check dynoxide_streams tests bench tools

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

# pytest exits 5 when it collected no tests: that is a failure here, not a pass.
# PYTEST_TIER selects a tier by marker (pyproject.toml); empty runs every test.
PYTEST_TIER :=
pytest: $(TEST_STAMP)
	@$(BIN)/python -m pytest -q $(PYTEST_TIER) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

test: lint typecheck pytest

# No child processes, browser, packaging or slow tests; `make test` still runs them all.
test-fast: PYTEST_TIER = -m "(unit or wire) and not process and not slow"
test-fast: pytest

bench: $(SERVE_STAMP)
	$(BIN)/python bench/loadgen.py --op all $(ARGS)

clean:
	rm -rf $(VENV) .dynoxide-streams .mypy_cache .ruff_cache

# The engine in a browser tab (issue 22): Pyodide from npm and this package's modules
# laid out in dist/browser/ (npm and PyPI downloads cached in .cache/browser/).
# The browser tests build it themselves too, so `make test` needs nothing more.
browser: $(TEST_STAMP)
	$(BIN)/python -m dynoxide_streams.browser.build dist/browser
