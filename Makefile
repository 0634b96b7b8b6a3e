# One-command entry points. Needs only python3 (3.11) and make: uv is installed
# on first use and called as `python3 -m uv`, so PATH never matters.

PYTHON ?= python3
UV := $(PYTHON) -m uv
SYNC := $(UV) sync --frozen --compile-bytecode
RUN := $(UV) run --frozen --no-sync

# uv must use the machine's Python, never download one; LiteLLM and the Agents
# SDK must not reach for the network at import or run time.
export UV_PYTHON_DOWNLOADS := never
export LITELLM_LOCAL_MODEL_COST_MAP := True
export OPENAI_AGENTS_DISABLE_TRACING := 1

# One mypy run per workspace member: several members have a tests/conftest.py,
# which one run over all of them would see as duplicate modules.
MYPY_TARGETS := shared services/gateway services/history services/agent-worker \
	tests scripts $(if $(wildcard bench/*.py),bench)

.PHONY: help uv setup run test lint fmt compose-check bench bench-quick

help:
	@echo "make run            start the whole stack (embedded PostgreSQL/Redis unless configured)"
	@echo "make test           set up and run every test suite"
	@echo "make lint           ruff, format check, mypy, module sizes"
	@echo "make fmt            format and auto-fix"
	@echo "make compose-check  validate docker-compose.yml"
	@echo "make bench          benchmark against the official ChatKitServer (<10 min)"
	@echo "make bench-quick    the same with small counts (<1 min, smoke)"

uv:
	@$(UV) --version >/dev/null 2>&1 \
	  || $(PYTHON) -m pip install --user --quiet uv \
	  || $(PYTHON) -m pip install --quiet uv \
	  || $(PYTHON) -m pip install --user --quiet --break-system-packages uv
	@$(UV) --version

setup: uv
	$(SYNC)

run: setup
	$(RUN) python scripts/devstack.py

test: setup
	$(RUN) pytest

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) python scripts/check_module_size.py
	@status=0; for target in $(MYPY_TARGETS); do \
	  echo "mypy $$target"; $(RUN) mypy $$target || status=1; \
	done; exit $$status

fmt: setup
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

compose-check:
	@if docker compose version >/dev/null 2>&1; then \
	  docker compose -f docker-compose.yml config -q && echo "docker-compose.yml OK (docker compose)"; \
	elif command -v docker-compose >/dev/null 2>&1; then \
	  docker-compose -f docker-compose.yml config -q && echo "docker-compose.yml OK (docker-compose)"; \
	else \
	  echo "compose-check skipped: neither 'docker compose' nor 'docker-compose' is installed"; \
	fi

bench: setup
	$(RUN) python -m bench

bench-quick: setup
	$(RUN) python -m bench --quick
