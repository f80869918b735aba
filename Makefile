VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-all clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh

# The main job on the built-in scene: generate a capture, reconstruct it with its objects, edit
# them (move, duplicate, drop under gravity, delete) and render before | after (out/demo).
demo: setup
	$(VENV)/bin/scenegen info
	$(VENV)/bin/scenegen demo -o out/demo

# The default test suite (fast); test-all adds the slow end-to-end checks.
test: setup
	$(PY) -m pytest -q -m "not slow"

test-all: setup
	$(PY) -m pytest -q

clean:
	rm -rf out .pytest_cache .hypothesis
