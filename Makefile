# tagfeed — the two commands that matter: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8080
STAMP  := $(VENV)/.installed

.PHONY: run test lint install migrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install tagfeed with its dev tools

run: $(STAMP)  ## serve on http://127.0.0.1:$(PORT) (SQLite ./tagfeed.db unless TAGFEED_DATABASE_URL)
	$(BIN)/tagfeed serve --host 127.0.0.1 --port $(PORT)

migrate: $(STAMP)
	$(BIN)/tagfeed migrate

test: $(STAMP)  ## unit, integration (SQLite + PostgreSQL if TAGFEED_TEST_POSTGRES_URL) and e2e
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis tagfeed.db*
