# Every target creates or reuses .venv and installs what it needs, so a fresh machine
# with Python 3.11, git, make and a C compiler needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.edgemark-installed
OUT ?= demo-out

.PHONY: demo test bench lint install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/edgemark demo --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest src tests

# Each bench/*.py prints one JSON object; together they make one JSON line per bench.
bench: $(STAMP)
	@for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info src/*.egg-info
