VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test test-all fuzz clean

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

# The fuzz suites with 2000 examples a property instead of 200 (CI runs it after the tests).
fuzz: setup
	SCENEGEN_FUZZ=explore $(PY) -m pytest -q tests/test_io_fuzz.py tests/test_fuzz_documents.py tests/test_io_spz.py \
		tests/test_io_sog.py tests/test_io_gltf_splats.py tests/test_io_compressed_ply.py -k "fuzz or damaged or random or mutated or huge or headers or give"

test-all: setup
	$(PY) -m pytest -q

clean:
	rm -rf out .pytest_cache .hypothesis
