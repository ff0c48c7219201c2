# Two commands: `make demo` and `make test`. Both create .venv if missing and install into it.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: demo test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.core: pyproject.toml | $(PY)
	$(PIP) install -q -e .
	@touch $@

$(VENV)/.test: pyproject.toml $(VENV)/.core
	$(PIP) install -q -e '.[test,live,ray,service]'
	@touch $@

demo: $(VENV)/.core
	$(VENV)/bin/computefolio demo

test: $(VENV)/.test
	$(PY) -m pytest -q

bench: $(VENV)/.test
	$(PY) benchmarks/run_all.py

clean:
	rm -rf out .pytest_cache
