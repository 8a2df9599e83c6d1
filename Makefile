# Two commands on a fresh clone: `make demo` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# where pip may also look for torch: empty = pip's configured index alone (PyPI's Linux x86-64 wheel is the CUDA
# build); `make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu` takes PyTorch's CPU build from its own index
TORCH_INDEX ?=

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# PyTorch pinned (an unpinned torch may pull a newer CUDA build); TORCH_INDEX above chooses the build
	$(BIN)/python -m pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dlexam demo

test: $(STAMP)
	# headless Chromium for the browser tests of the report and of `dlexam serve` (installs it where missing
	# and root; never fails; the tests skip, saying why, without it)
	bash scripts/ensure-chromium.sh
	# --dist loadfile: each test file on one worker, so a module's fixtures (a quick experiment, a trained model)
	# are made once, not once per worker: 424 s -> 384 s for the whole suite, one pair of runs on the quiet
	# 2-core machine, 2026-12-07
	# PYTHONDONTWRITEBYTECODE emptied: where the environment sets it, every process compiled dlexam's modules from
	# source and each worker rewrote every test module's asserts (16-20 s of collection a worker, 9 s with the
	# bytecode cached; __pycache__ is ignored by git)
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
