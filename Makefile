# The two commands a user needs: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-properties-long lint format bench bench-pg bench-reports bench-send bench-e2e bench-e2e-pg clean

$(BIN)/smsrelay: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: set PYTHON=..."; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/smsrelay
	$(BIN)/smsrelay demo --host $(HOST) --port $(PORT)

lint: $(BIN)/smsrelay
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

test: lint
	$(BIN)/pytest

# The bad-input property tests with EXAMPLES examples each and a fresh random seed (make test
# runs 20, derandomized). A failure prints the @reproduce_failure line that replays it.
EXAMPLES ?= 500
PROPERTY_TESTS := tests/api/test_input_properties.py tests/api/test_wire.py tests/domain/test_schedule.py
test-properties-long: $(BIN)/smsrelay
	PROPERTY_EXAMPLES=$(EXAMPLES) $(BIN)/pytest -p no:cacheprovider -o timeout=0 $(PROPERTY_TESTS)

bench: $(BIN)/smsrelay
	$(BIN)/python bench/multi_status.py

# The same, with smsrelay on PostgreSQL too (a fresh database on PG_URL's server, dropped
# at the end), side by side in one table; the last line is `pg ratio:`.
PG_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
bench-pg: $(BIN)/smsrelay
	$(BIN)/python bench/multi_status.py --database $(PG_URL)

# Delivery reports applied and durable per second, on SQLite and on PostgreSQL.
bench-reports: $(BIN)/smsrelay
	$(BIN)/python bench/reports.py --database $(PG_URL)

bench-send: $(BIN)/smsrelay
	$(BIN)/python bench/send.py

bench-e2e: $(BIN)/smsrelay
	$(BIN)/python bench/end_to_end.py

# End to end with the server on PostgreSQL (a fresh database on PG_URL's server), at the
# rate issue 10 asks for.
bench-e2e-pg: $(BIN)/smsrelay
	$(BIN)/python bench/end_to_end.py --rate 3000 --database $(PG_URL)

format: $(BIN)/smsrelay
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) var/*.db var/*.db-* .pytest_cache .mypy_cache .ruff_cache
