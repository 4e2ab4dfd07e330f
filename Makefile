# kubeheal: the developer's entry points. `make demo` and `make test` set up what is missing.
SHELL := /bin/bash
CACHE ?= $(HOME)/.cache/kubeheal
VENV ?= $(CACHE)/venv
PY := $(VENV)/bin/python
STACK_DIR ?= .stack
PYTEST_ARGS ?= --durations=15
E2E_WORKERS ?= 4  # end-to-end files run in parallel, each worker on a stack of its own
CHART := deploy/chart
IMAGE ?= kubeheal:dev

.PHONY: setup crds lint test test-unit cluster-up cluster-down clean chart image kind-e2e demo

demo: setup ## the closed loop on the local stack: a bad rollout, detected, rolled back, verified
	$(PY) hack/demo.py --dir $(STACK_DIR) $(if $(KEEP),--keep)

setup: ## install Debian packages, build the stack binaries, create the venv (cached)
	@hack/setup.sh

crds: ## regenerate crds/ from the API models
	$(PY) -m kubeheal.cli crds --out crds

lint: ## ruff, mypy --strict, import contracts, opa check
	$(VENV)/bin/ruff check operator tests hack bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(CACHE)/bin/opa check --strict policies/
	$(CACHE)/bin/helm lint --strict $(CHART)

test: setup ## every test: unit, policy, integration and end-to-end on the local stack
	$(MAKE) --no-print-directory lint
	$(CACHE)/bin/opa test policies/ --coverage --threshold 90 >/dev/null
	$(CACHE)/bin/opa test policies/
	$(PY) -m pytest --ignore=tests/e2e -n 2 $(PYTEST_ARGS)
	$(PY) -m pytest tests/e2e -n $(E2E_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-unit: ## the tests without I/O
	$(PY) -m pytest tests/unit operator/kubeheal $(PYTEST_ARGS)

cluster-up: setup ## start the local stack in $(STACK_DIR) and leave it running
	$(PY) hack/localstack.py up --dir $(STACK_DIR)

cluster-down: ## stop everything cluster-up started
	$(PY) hack/localstack.py down --dir $(STACK_DIR)

clean: cluster-down
	rm -rf $(STACK_DIR)

chart: ## copy into the chart what it ships from elsewhere: CRDs, admission policy, RBAC, policies
	rm -f $(CHART)/crds/kubeheal.io_*.yaml
	cp crds/kubeheal.io_*.yaml $(CHART)/crds/
	rm -rf $(CHART)/files/admission $(CHART)/files/rbac $(CHART)/files/policies
	mkdir -p $(CHART)/files/admission $(CHART)/files/rbac $(CHART)/files/policies
	cp deploy/admission/*.yaml $(CHART)/files/admission/
	cp deploy/rbac/*.yaml $(CHART)/files/rbac/
	cd policies && find kubeheal -type f \( -name '*.rego' ! -name '*_test.rego' -o -name data.json \) \
		-exec cp --parents -t ../$(CHART)/files/policies {} +

image: ## build the operator's container image (needs Docker): make image IMAGE=kubeheal:dev
	docker build -f operator/Dockerfile -t $(IMAGE) .

kind-e2e: ## on kind (needs Docker): the chart, a minimal Prometheus, the demo and a bad rollout
	IMAGE=$(IMAGE) hack/kind-e2e.sh
