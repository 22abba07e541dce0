# The two set-up commands of the README: `make demo` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.policylab-installed
TEST_STAMP := $(VENV)/.policylab-test-installed

.PHONY: demo test test-slow bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,fast,xls]'
	touch $(TEST_STAMP)

demo: $(STAMP)
	$(BIN)/policylab run

# The numba kernels compile once per installation (minutes of CPU): two background processes compile the serial
# and the parallel kernels at once while the packages install; the tests that need them wait for them.
test: $(TEST_STAMP)
	$(BIN)/policylab warm-up --kernels serial > $(VENV)/warm-up-serial.log 2>&1 &
	$(BIN)/policylab warm-up --kernels parallel > $(VENV)/warm-up-parallel.log 2>&1 &
	scripts/debian-packages.sh dot=graphviz chromium=chromium
	POLICYLAB_SOURCES=$(CURDIR)/../shared/seed $(BIN)/policylab check --strict models/iraq_dialogue/model.yaml
	POLICYLAB_SOURCES=$(CURDIR)/../shared/seed $(BIN)/python -m pytest -q

test-slow: $(TEST_STAMP)
	scripts/debian-packages.sh dot=graphviz
	POLICYLAB_SOURCES=$(CURDIR)/../shared/seed $(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	$(BIN)/python benchmarks/engine.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info
