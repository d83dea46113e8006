# The two commands of the README: `make run` runs the whole system, `make test` runs the whole suite.
# Each creates .venv and installs the pinned dependencies on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test browser lint format bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/qsr up

# The docs pages are tested in Debian's Chromium (driven by pip's playwright, which downloads nothing), with a
# CJK font so that Chinese renders in their screenshots: installed here when missing.
browser:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi 'wenquanyi\|wqy'; then \
		apt-get install -y -q chromium fonts-wqy-microhei || \
		{ apt-get update -q && apt-get install -y -q chromium fonts-wqy-microhei; }; \
	fi

test: $(STAMP) browser
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m bench.gateway_throughput
	$(BIN)/python -m bench.gateway_upload --direct
	$(BIN)/python -m bench.read_by_id
	$(BIN)/python -m bench.spot_check_latency
	$(BIN)/python -m bench.grading_signals
	$(BIN)/python -m bench.outbox_relay
	$(BIN)/python -m bench.grading_recompute
	$(BIN)/python -m bench.registry_import
	$(BIN)/python -m bench.registry_search
	$(BIN)/python -m bench.mobile_sync
	$(BIN)/python -m bench.report

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .import_linter_cache
