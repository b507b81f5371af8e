# deepvalue: one-command entry points. The environment is a venv at .venv built from the
# pinned requirements.lock (PyPI only; conda users see environment.yml).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.deepvalue-installed
CORES  ?= all

.PHONY: run test env lock lint clean

env: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "deepvalue needs Python 3.11, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

# the suite on every core (pytest-xdist), one test file per worker so that a file's module-scoped
# workflow run is built once; `pytest tests/unit/test_x.py` alone stays serial
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile --durations=40

# style and workflow checks (ruff at line length 120, snakefmt, snakemake's linter); CI runs
# them before the tests
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/
	$(BIN)/snakemake --lint

# Re-resolve the lock from pyproject.toml in a throwaway venv.
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv && .lockenv/bin/python -m pip install --quiet --upgrade pip
	.lockenv/bin/python -m pip install --quiet -e ".[test,lint]"
	( echo "# Pinned environment for deepvalue (Python 3.11). Regenerate with: make lock"; \
	  .lockenv/bin/python -m pip freeze --exclude-editable | grep -v '^-e' ) > requirements.lock
	rm -rf .lockenv

clean:
	rm -rf results logs .snakemake data/synthetic
