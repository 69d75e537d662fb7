# Two entry points for people: `make run` and `make test`. Each sets itself up first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# Two stamps: `make run` needs only the runtime dependencies (pip install -e .); the
# developer tools (pytest, mypy, ruff, Jupyter, Dask...) come with `make test` and the rest.
STAMP  := $(VENV)/.runtime-stamp
DEV    := $(VENV)/.dev-stamp
SCENARIO ?= scenarios/quickstart.yaml

.PHONY: run test bench lint typecheck docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

$(DEV): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(DEV)

## Run the main job on the bundled quickstart scenario (results/quickstart/).
run: $(STAMP)
	$(VENV)/bin/epcsim run $(SCENARIO)

## Run the test suite (benchmarks excluded).
test: $(DEV)
	$(PY) -m pytest -q -m "not benchmark" -n 2 --dist loadfile

## Run the benchmarks (figures go to docs/performance.md).
bench: $(DEV)
	$(PY) -m pytest -q -m benchmark benchmarks -s -p no:xdist

lint: $(DEV)
	$(VENV)/bin/ruff check epcsim tests benchmarks
	$(VENV)/bin/mypy epcsim

## Regenerate docs/scenarios.md from the field help.
docs: $(DEV)
	$(VENV)/bin/epcsim schema --markdown > docs/scenarios.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
