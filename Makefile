# Two commands do everything on a fresh machine:
#   make demo   train DiffPC on the embedded digits data set and print accuracy + communication
#   make test   lint and run the whole test suite
# Both create .venv with Python 3.10 (lava-nc 0.10 needs it) when missing and install the
# package editable with its test extras; re-running is cheap when nothing changed.

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTHON310 ?= $(shell command -v python3.10 2>/dev/null || \
	ls -d $$(pyenv root 2>/dev/null)/versions/3.10*/bin/python3.10 2>/dev/null | tail -n 1)

.PHONY: demo test lint venv clean

venv: $(STAMP)

$(PY):
	@if [ -z "$(PYTHON310)" ]; then \
		echo "error: Python 3.10 not found (lava-nc 0.10 needs exactly 3.10)."; \
		echo "Install it (e.g. 'pyenv install 3.10') or run 'make PYTHON310=/path/to/python3.10 ...'."; \
		exit 1; fi
	$(PYTHON310) -m venv $(VENV)

$(STAMP): $(PY) setup.cfg pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m lava_diffpc demo

lint: $(STAMP)
	$(VENV)/bin/ruff check lava_diffpc tests examples benchmarks

test: lint
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
