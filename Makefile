# `make test` is the whole test suite, on a fresh machine too: it installs what it needs first.
VENV ?= .venv
PYTEST_ARGS ?=

.PHONY: test setup bench

setup:
	VENV=$(VENV) scripts/setup-test-env

test: setup
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(VENV)/bin/python bench/envelope.py
	$(VENV)/bin/python bench/keyservice.py
	$(VENV)/bin/python bench/proxy.py
	$(VENV)/bin/python bench/operator.py
	$(VENV)/bin/python bench/fhe.py
	$(VENV)/bin/python bench/security_api.py
	$(VENV)/bin/python bench/grpc.py
	$(VENV)/bin/python bench/reports.py
