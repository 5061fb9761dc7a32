# feedpipe: `make demo` and `make test` work on a fresh machine with Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Versions verified together; regenerate with `make constraints` after changing dependencies.
PIP_INSTALL := $(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo airflow test eval bench install constraints clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP_INSTALL) -e '.[test,bench,airflow]'
	touch $@

install: $(VENV)/.installed

demo: install
	FEEDPIPE_HOME=$(CURDIR)/.feedpipe $(BIN)/feedpipe demo

# The DAGs in `airflow standalone` on the embedded Postgres and the local archive, state in .feedpipe/ (Ctrl-C stops).
airflow: install
	FEEDPIPE_HOME=$${FEEDPIPE_HOME:-$(CURDIR)/.feedpipe} $(BIN)/python scripts/airflow_standalone.py

# pytest exits 5 when it collected no test: that is a failure here, not a pass.
test: install
	$(BIN)/python -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$status

# Every benchmark under bench/ (each prints its figures and exits non-zero when it misses its target).
bench: install
	@status=0; for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || status=1; done; exit $$status

# Extraction quality against raw trafilatura, and story grouping precision/recall (see bench/README.md).
eval: install
	@status=0; for script in bench/eval_*.py; do echo "== $$script"; $(BIN)/python $$script || status=1; done; exit $$status

constraints: install
	$(BIN)/pip freeze --exclude-editable | grep -vi '^feedpipe' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
