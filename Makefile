VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-all clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh

# The main job on the built-in default: environment report, then load and render the bundled scene.
demo: setup
	$(VENV)/bin/scenegen info
	$(VENV)/bin/scenegen render assets/demo_scene.zip -o out/demo.png --views 4 --size 320x240

# The default test suite (fast); test-all adds the slow end-to-end checks.
test: setup
	$(PY) -m pytest -q -m "not slow"

test-all: setup
	$(PY) -m pytest -q

clean:
	rm -rf out .pytest_cache .hypothesis
