# The two commands a newcomer needs: `make run` (TradPal, locally) and `make test`.
# Each sets up .venv/ first when it is missing or older than the package files.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tradpal-installed
PYTEST_ARGS ?=

.PHONY: run test bench lint install
run: $(STAMP)
	$(BIN)/tradpal up

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

install: $(STAMP)

# The CDK CLI (pinned in package.json) comes from npm when the project has one.
$(STAMP): pyproject.toml setup.py $(wildcard package-lock.json) \
		layers/tradpal/python/tradpal/indicators/_kernels.c \
		layers/tradpal/python/tradpal/backtest/_engine.c
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "TradPal needs Python 3.11 or newer as '$(PYTHON)'"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local,test]'
	if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; fi
	touch $(STAMP)
