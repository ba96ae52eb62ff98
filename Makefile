# ftkit developer commands. `make demo` and `make test` do all set-up themselves on a fresh machine.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ftkit-installed
# The real data sets: ../shared/data in this workplace and in CI; users point FTKIT_DATA at their cache.
ifeq ($(origin FTKIT_DATA), undefined)
  ifneq ($(wildcard ../shared/data),)
    export FTKIT_DATA := $(abspath ../shared/data)
  endif
endif
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export PYTHONWARNINGS ?= ignore::FutureWarning

.PHONY: install hooks browser demo test test-nbs test-py docs lab export clean help

help:
	@echo "make demo  - set up .venv if needed, run the digits case study, quick tier (digits 0-4 -> 5-9)"
	@echo "make test  - set up .venv if needed, run notebooks, pytest and the docs browser check"
	@echo "make docs  - build the docs site offline into _docs/"
	@echo "make lab   - JupyterLab on this repo"
	@echo "make clean - remove build outputs (keeps .venv)"

# Re-runs (and repairs a half-built venv) whenever settings.ini, setup.py or the installer change.
install:
	@tools/install.sh

hooks: install
	@tools/install_hooks.sh

# One thread per process unless OMP_NUM_THREADS is set (env or `make demo OMP_NUM_THREADS=4`): on a small, busy
# machine the default thread count is far slower (a one-seed demo: 106 s with default threads, 8 s with one).
demo: install
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/ftkit replicate digits --quick --out demo_output

export: install
	$(BIN)/nbdev_export

test-nbs: install
	OMP_NUM_THREADS=1 $(BIN)/nbdev_test --n_workers 2 --timing

# The docs test opens pages in headless Chromium (Debian's package); installed here when missing and root.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then echo "installing Chromium for the docs browser check"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	    { echo "make: could not install Chromium: run 'apt-get install -y chromium' and retry"; exit 1; }; \
	  else echo "make: Chromium is missing: run 'sudo apt-get install -y chromium' and retry"; exit 1; fi; }

test-py: install browser
	$(BIN)/python -m pytest tests -q -ra

test: hooks
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory test-nbs && \
	$(MAKE) --no-print-directory test-py && \
	echo "make test: all passed in $$(( $$(date +%s) - start )) s"

# Builds offline; on first use build_docs.py installs KaTeX (npm ci in tools/katex, else Debian's libjs-katex)
# to render formulas at build time.
docs: install
	$(BIN)/python tools/build_readme.py
	$(BIN)/python tools/build_docs.py

lab: install
	@echo "JupyterLab: open the http://127.0.0.1:8888/lab?token=... URL printed below"
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/jupyter lab --no-browser --ip 127.0.0.1 --port 8888 --allow-root --notebook-dir .

clean:
	rm -rf _docs _proc _site demo_output artifacts .pytest_cache build dist *.egg-info
	find . -name __pycache__ -not -path './.venv/*' -prune -exec rm -rf {} +
