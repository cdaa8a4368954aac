# Every target bootstraps .venv from the pinned requirement files when it is missing or stale.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help venv system-deps test lint package docs demo bench sdk-check clean

help:
	@echo "make demo     run the whole pipeline locally (no AWS account needed)"
	@echo "make test     run the full test suite, lint gates included"
	@echo "make package  build dist/lambdas.zip"
	@echo "make docs     regenerate docs/parameters.md from the template"
	@echo "make bench    run the benchmarks and rewrite docs/benchmarks.md"
	@echo "make sdk-check  train and serve the image under SageMaker Python SDK local mode, 2.x and 3.x"

# Local mode authorises every AWS request with an IAM policy engine from npm (package-lock.json).
$(STAMP): requirements.txt requirements-dev.txt package.json package-lock.json
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	@command -v npm >/dev/null || { echo "local mode needs Node.js 20+ and npm (Debian: nodejs npm)" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

TASKCAT_VENV := $(VENV)/taskcat
TASKCAT_STAMP := $(TASKCAT_VENV)/.installed

# taskcat pins jsonschema 3.x, which checkov and moto cannot share: it gets its own venv.
$(TASKCAT_STAMP): requirements-taskcat.txt | $(STAMP)
	@test -x $(TASKCAT_VENV)/bin/python || $(PYTHON) -m venv $(TASKCAT_VENV)
	$(TASKCAT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-taskcat.txt
	@touch $@

BENCH_STAMP := $(VENV)/.bench-installed
BYO_VENV := $(VENV)/bench-byo

# The bench's harness extras go into .venv; the reference BYO stack it measures against gets its own
# virtualenv, as it would have its own image (pandas next to scikit-learn changes what sklearn imports).
$(BENCH_STAMP): benchmarks/requirements.txt benchmarks/requirements-harness.txt | $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -r benchmarks/requirements-harness.txt
	@test -x $(BYO_VENV)/bin/python || $(PYTHON) -m venv $(BYO_VENV)
	$(BYO_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r benchmarks/requirements.txt
	@touch $@

venv: $(STAMP) $(TASKCAT_STAMP) $(BENCH_STAMP)

system-deps:
	@bash scripts/install-system-deps.sh

test: venv system-deps
	$(PY) -m pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(PY) -m pytest -m lint

package: $(STAMP)
	$(PY) -m scripts.package_lambdas
	$(PY) -m scripts.package_container
	cp container/buildspec.yml dist/buildspec.yml

docs: $(STAMP)
	$(PY) scripts/gen_parameters_doc.py
	$(PY) scripts/gen_security_doc.py

demo: $(STAMP)
	./launch-cicd-pipeline.sh --local

bench: $(STAMP) $(BENCH_STAMP) system-deps
	$(PY) -m benchmarks.run

SDK_VENVS := build/sdk-check

# Each SageMaker Python SDK major in its own virtualenv, pinned by sdk-check/requirements-sdk<N>.txt.
$(SDK_VENVS)/sdk%/.installed: sdk-check/requirements-sdk%.txt
	@test -x $(SDK_VENVS)/sdk$*/bin/python || $(PYTHON) -m venv $(SDK_VENVS)/sdk$*
	$(SDK_VENVS)/sdk$*/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	@touch $@

# Outside `make test`: it installs two SDKs and runs real local-mode jobs (docs/sdk-local-mode.md).
sdk-check: $(STAMP) $(SDK_VENVS)/sdk2/.installed $(SDK_VENVS)/sdk3/.installed
	@bash scripts/install-sdk-check-deps.sh
	$(PY) sdk-check/run.py

clean:
	rm -rf dist build .pytest_cache .ruff_cache .hypothesis .local-run node_modules
