PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test check fmt bench clean install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/graphdrive serve

# The whole suite on SQLite; then, when GRAPHDRIVE_TEST_POSTGRES_URL names a PostgreSQL server
# (CI sets it), the end-to-end suite again with every test server on its own PostgreSQL database.
test: $(STAMP)
	$(BIN)/pytest -q
	@if [ -n "$$GRAPHDRIVE_TEST_POSTGRES_URL" ]; then \
		echo "== end-to-end suite on PostgreSQL =="; \
		GRAPHDRIVE_TEST_BACKEND=postgres $(BIN)/pytest -q tests/e2e; \
	else \
		echo "PostgreSQL run skipped: set GRAPHDRIVE_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test to run the end-to-end suite on PostgreSQL too."; \
	fi

check: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .graphdrive .pytest_cache .mypy_cache .ruff_cache
