# seco-mm: the two commands of the README, plus benchmarks.
#   make demo   install, generate demo data, pretrain, evaluate, print summary
#   make test   install and run the pytest suite (what CI runs)
#   make bench  install and run the benchmarks in benchmarks/
# Each target creates or reuses the project-local virtualenv .venv.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.seco-installed
DEMO_DIR ?= data/demo
WORK_DIR ?= work_dirs/demo

.PHONY: install demo test bench clean-demo

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the pins or the package metadata change.
$(STAMP): requirements.txt requirements-test.txt setup.py | $(PY)
	$(PY) -m pip install --quiet -r requirements-test.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) tools/run_demo.py --data $(DEMO_DIR) --work-dir $(WORK_DIR)
	@echo "To run the README's python tools/... commands: source $(VENV)/bin/activate"

test: install
	$(PY) -m pytest tests -q

bench: install
	$(PY) benchmarks/run_all.py

clean-demo:
	rm -rf $(DEMO_DIR) $(WORK_DIR)
