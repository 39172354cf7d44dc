# One-command workflows. Everything installs into .venv (Python), .cache/codex (the Codex CLI)
# and .cache/claude-code (Claude Code), the real clients the end-to-end tests drive, so a fresh
# machine needs only python3, npm and make.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CODEX_VERSION := 0.171.0
CODEX := .cache/codex/node_modules/.bin/codex
CLAUDE_CODE_VERSION := 2.1.332
CLAUDE := .cache/claude-code/node_modules/.bin/claude
LINTED := llmproxy routes tests examples bench
PYTEST_ARGS ?=

.PHONY: help setup run test check fmt lint types bench soak clean

help:
	@echo "make run    - set up and start the gateway on 127.0.0.1:8080"
	@echo "make test   - set up and run the whole test suite"
	@echo "make check  - format check, lint, mypy --strict, tests"
	@echo "make bench  - side-by-side benchmark (see docs/benchmarks.md)"
	@echo "make soak   - minutes of mixed faulty traffic; fails unless memory/fds/tasks end flat"

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,fast]'
	touch $(STAMP)

setup: $(STAMP)

$(CODEX):
	npm install --prefix .cache/codex --no-audit --no-fund --loglevel=error @openai/codex@$(CODEX_VERSION)

$(CLAUDE):
	npm install --prefix .cache/claude-code --no-audit --no-fund --loglevel=error @anthropic-ai/claude-code@$(CLAUDE_CODE_VERSION)

run: $(STAMP)
	$(BIN)/llmproxy serve --log-format console $(ARGS)

# pytest exits 5 when it collected no test: that is a failure here, never a pass.
test: $(STAMP) $(CODEX) $(CLAUDE)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest ran no tests: failing"; exit 1; fi; exit $$rc

fmt: $(STAMP)
	$(BIN)/ruff format $(LINTED)
	$(BIN)/ruff check --fix $(LINTED)

lint: $(STAMP)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/ruff check $(LINTED)

types: $(STAMP)
	$(BIN)/mypy

check: lint types test

bench: $(STAMP)
	$(BIN)/python -m bench.run $(ARGS)

soak: $(STAMP)
	$(BIN)/python -m bench.soak $(ARGS)

clean:
	rm -rf $(VENV) .cache *.egg-info .mypy_cache .ruff_cache
