# keras_tfm: `make demo` runs the main job, `make test` the test suite.
# Both create .venv when it is missing and install everything from this repo's files.

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONUNBUFFERED := 1

.PHONY: install test test-tf test-jax demo bench build-file clean

$(STAMP): setup.py Makefile $(wildcard scripts/install_data.sh)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,eval,plots,bible]"
	if [ -f scripts/install_data.sh ]; then bash scripts/install_data.sh; fi
	touch $(STAMP)

install: $(STAMP)

# The whole suite on the TensorFlow backend, then the backend-agnostic part on JAX.
test: test-tf test-jax

test-tf: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile -m "not jax_only" tests

test-jax: $(STAMP)
	KERAS_BACKEND=jax $(PY) -m pytest -q -n 2 --dist loadfile -m "not tf_only" tests/layers tests/models $(wildcard tests/generation)

demo: $(STAMP)
	$(PY) -m pipelines.demo

# The CPU suite: each script prints ours/peer from one run (see benchmarks/RESULTS.md).
bench: $(STAMP)
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/attention.py
	$(PY) benchmarks/encoder_block.py
	$(PY) benchmarks/long_attention.py
	$(PY) benchmarks/vit.py
	$(PY) benchmarks/tflite.py
	$(PY) benchmarks/generation.py

build-file:
	python3 scripts/update_build.py

clean:
	rm -rf $(VENV) outputs
