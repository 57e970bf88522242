# townhall: two commands. `make demo` sets everything up and runs a live space; `make test` runs the suite.
VENV  := .venv
STAMP := $(VENV)/.installed-stamp
BIN   := $(VENV)/bin

.PHONY: demo test setup lint typecheck unit services clean bench

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $@

setup: $(STAMP)

demo: setup
	$(BIN)/townhall demo --data-dir data/demo

services:
	bash scripts/services.sh

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

test: setup services lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
