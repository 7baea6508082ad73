# asha_nb developer commands. Each target sets up what it needs in .venv itself.
#   make demo    run the main job (a real ASHA search on sklearn's digits data)
#   make test    install every test dependency and run the whole test suite
#   make bench   run the benchmarks and print their tables
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
# Extras the full test suite needs (torch is pinned in pyproject to the CPU wheel on disk).
TEST_EXTRAS := dev,dask,jax,torch,widgets,notebooks,mpi

.PHONY: demo test test-fast bench lint clean browser mpi

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.demo-stamp: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e ".[sklearn]"
	touch $@

$(VENV)/.test-stamp: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e ".[$(TEST_EXTRAS)]"
	touch $@ $(VENV)/.demo-stamp

demo: $(VENV)/.demo-stamp
	$(PY) -m asha_nb demo

browser:
	@bash .ci/install-browser

# Open MPI from Debian's packages (the MPI executor's test and the Iris notebook use it).
mpi:
	@bash .ci/install-mpi

test: mpi $(VENV)/.test-stamp browser
	$(PY) -m ruff check asha_nb tests benchmarks
	$(VENV)/bin/lint-imports
	$(PY) -m mypy
	$(PY) -m pytest -q tests
	$(PY) -m pytest -q -p no:cacheprovider --doctest-modules asha_nb
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then \
		ASHA_NB_QUICK=1 ASHA_NB_JAX_CACHE_DIR=$$(mktemp -d) \
			$(PY) -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
			--nbval-cell-timeout=300 notebooks/; \
	fi

# Unit tests only (no browser, no notebooks): the quick inner loop.
test-fast: mpi $(VENV)/.test-stamp
	$(PY) -m pytest -q tests --ignore=tests/browser -x

bench: $(VENV)/.test-stamp
	$(PY) benchmarks/bench_core.py
	$(PY) benchmarks/bench_runtime.py
	@for b in benchmarks/bench_batched.py benchmarks/bench_dashboard.py benchmarks/bench_sklearn.py; do \
		if [ -f $$b ]; then $(PY) $$b || exit 1; fi; done

lint: $(VENV)/.test-stamp
	$(PY) -m ruff check asha_nb tests benchmarks

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis artifacts
