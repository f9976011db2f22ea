# Two commands on a machine with only Python 3.11:
#   make run   - create .venv, install Waymark, run the demo school (`waymark demo`)
#   make test  - create .venv with the test extras, then ruff, mypy and the whole test suite
#                (on PostgreSQL too when one answers at 127.0.0.1:5432)
# A stamp file per install remembers that pyproject.toml has not changed since, so a second run
# skips pip entirely.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.stamp-run
STAMP_TEST := $(VENV)/.stamp-test
DEMO_ARGS ?=
# Two workers, a test file each at a time: files keep their order (test_cli's steps build on each other)
# and every worker has its own PostgreSQL schema per test, so they never meet.
PYTEST_ARGS ?= -n 2 --dist loadfile --durations=30

.PHONY: run test lint clean-venv

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Waymark needs Python 3.11 or newer: set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/waymark demo $(DEMO_ARGS)

lint: $(STAMP_TEST)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The PostgreSQL cases run when WAYMARK_TEST_PG_URL is set; when it is not and a PostgreSQL answers
# on 127.0.0.1:5432, `make test` uses that one (creating database `test` if missing), so a
# newcomer runs the same cases as CI. Without either it says so in one line and runs SQLite only.
LOCAL_PG := postgresql://postgres@127.0.0.1:5432

test: lint
	@if [ -z "$$WAYMARK_TEST_PG_URL" ] && command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then \
		psql "$(LOCAL_PG)/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" 2>/dev/null | grep -q 1 \
			|| psql "$(LOCAL_PG)/postgres" -qc "CREATE DATABASE test" >/dev/null; \
		echo "make test: using the local PostgreSQL at $(LOCAL_PG)/test"; \
		WAYMARK_TEST_PG_URL="$(LOCAL_PG)/test" $(BIN)/python -m pytest -q $(PYTEST_ARGS); \
	else \
		[ -n "$$WAYMARK_TEST_PG_URL" ] || echo "make test: no PostgreSQL at 127.0.0.1:5432 and WAYMARK_TEST_PG_URL unset: PostgreSQL cases skipped"; \
		$(BIN)/python -m pytest -q $(PYTEST_ARGS); \
	fi

clean-venv:
	rm -rf $(VENV)
