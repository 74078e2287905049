# `make train` / `make test` set everything up on a fresh machine (Python >= 3.10) and run.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch pinned in the SAME pip command: an unpinned torch (or lightning alone) pulls a multi-GB CUDA build.
TORCH ?= torch==2.13.0
# Extras to install: dev (tests, lint); CI adds optuna and slurm so their tests run too.
EXTRAS ?= dev
STAMP := $(VENV)/.installed

.PHONY: install train test test-slow lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)" -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(BIN)/python -m mosei_attn.train model=attention $(ARGS)

# One pytest worker per core (pytest-xdist), each test file on one worker: its module fixtures are built once.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile $(ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check mosei_attn tests benchmarks sweeps
	$(BIN)/ruff format --check mosei_attn tests benchmarks sweeps

bench: $(STAMP)
	$(BIN)/python benchmarks/data.py
	$(BIN)/python benchmarks/train_step.py

clean:
	rm -rf $(VENV) data lightning_logs
