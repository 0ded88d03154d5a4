# Every target that runs singdyn first makes sure the local virtual environment exists
# and holds the package with what it needs; a fresh machine needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OUT ?= out
STAMP := $(VENV)/.installed
CODE := src tests $(wildcard benchmarks)

.PHONY: install reproduce test lint format bench clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

reproduce: $(STAMP)
	$(BIN)/singdyn reproduce --out $(OUT)

lint: $(STAMP)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)

# The report's browser test needs Debian's chromium; where it cannot be installed
# the test is skipped and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: the browser test will be skipped"; \
	  else \
	    echo "chromium is missing and cannot be installed here: the browser test will be skipped"; \
	  fi; }

test: lint browser
	$(BIN)/python -m pytest -n 2

format: $(STAMP)
	$(BIN)/ruff format $(CODE)
	$(BIN)/ruff check --fix $(CODE)

# PyTorch, the benchmark's baseline only (the `bench` extra), is installed by this
# target and never needed by singdyn itself. Protocol: benchmarks/bench_train.py.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_train.py

clean:
	rm -rf $(VENV) $(OUT)
