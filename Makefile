# genjin — two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test test-slow test-all lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(STAMP)

# make run PORT=8080 HOST=0.0.0.0 — unset, server.port / server.host (config, GENJIN_SERVER_*) apply.
run: $(STAMP)
	$(BIN)/genjin serve$(if $(HOST), --host $(HOST))$(if $(PORT), --port $(PORT))

# make test: everything but the `slow` end-to-end suites (under 3 minutes); make test-slow: those;
# make test-all: both. PostgreSQL too when GENJIN_TEST_DATABASE_URL is set.
# One worker more than cores: many tests wait on PostgreSQL or a local fake server.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --durations=10 -m "not slow" $(PYTEST_ARGS)

test-slow: $(TEST_STAMP)
	$(BIN)/python -m pytest -n auto --durations=10 -m slow $(PYTEST_ARGS)

test-all: $(TEST_STAMP)
	$(BIN)/python -m pytest -n auto --durations=10 $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

format: $(TEST_STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) instance/*.db*
