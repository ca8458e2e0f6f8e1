# envwatch — the two commands of the README: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench system-deps browser-deps font-deps pg-deps i18n clean

$(BIN)/python:
	@$(PY) -m venv $(VENV) 2>/dev/null || { $(MAKE) --no-print-directory system-deps && $(PY) -m venv $(VENV); }

# reinstall when the dependencies change
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Debian packages the platform or its tests need that a bare machine may lack.
system-deps:
	@if ! $(PY) -m venv --help >/dev/null 2>&1 || ! $(PY) -c 'import ensurepip' >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq python3-venv; \
		else echo "python3-venv is missing: sudo apt-get install python3-venv" >&2; exit 1; fi; \
	fi

# The browser tests drive Debian's chromium through Playwright (never `playwright install`: no downloads
# besides Debian's own mirror); fonts-wqy-zenhei gives the Chinese pages glyphs in the screenshots and is the
# font embedded in sample labels (sampling.labels); poppler-utils' pdftoppm renders labels for the QR tests.
# `apt-get update` only when the plain install fails (a fresh image has empty lists).
BROWSER_PKGS := chromium fonts-wqy-zenhei poppler-utils
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/pdftoppm ] || ! fc-list 2>/dev/null | grep -qi zenhei; then \
		if [ "$$(id -u)" = 0 ]; then \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y -qq $(BROWSER_PKGS) || { apt-get update -qq && apt-get install -y -qq $(BROWSER_PKGS); }; \
		else echo "chromium is missing: sudo apt-get install $(BROWSER_PKGS) (browser tests will skip)" >&2; fi; \
	fi

# the Chinese font embedded in sample labels (sampling.labels); the demo prints labels
font-deps:
	@if ! fc-list 2>/dev/null | grep -qi zenhei; then \
		if [ "$$(id -u)" = 0 ]; then \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y -qq fonts-wqy-zenhei || { apt-get update -qq && apt-get install -y -qq fonts-wqy-zenhei; }; \
		else echo "fonts-wqy-zenhei is missing: sudo apt-get install fonts-wqy-zenhei (labels cannot be printed)" >&2; fi; \
	fi

# pg_partman next to Debian's PostgreSQL 15, so that its path of the partitions is tested too
# (tests/core/test_partitions.py skips it without); the database itself needs CREATE EXTENSION pg_partman.
pg-deps:
	@if [ -d /usr/lib/postgresql/15 ] && [ ! -f /usr/share/postgresql/15/extension/pg_partman.control ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get install -y -qq postgresql-15-partman || { apt-get update -qq && apt-get install -y -qq postgresql-15-partman; }; \
		else echo "pg_partman is missing: sudo apt-get install postgresql-15-partman (its test will skip)" >&2; fi; \
	fi

demo: font-deps $(STAMP)
	$(BIN)/envwatch demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# A hung test must end as a failure with its stacks in the log (faulthandler_timeout, pyproject.toml),
# not run into CI's limit: the whole run is bounded at 40 min (it takes about 17 here)
unit: $(STAMP)
	timeout --signal=INT --kill-after=60 2400 $(BIN)/pytest

test: system-deps browser-deps pg-deps lint typecheck unit

# Page translations (docs/web.md): extract every _()/N_() string of the templates and page code, merge
# into the zh_CN and en catalogs, compile the .mo files (committed beside the .po files, so a fresh clone
# needs no build step; tests/web/pages/test_i18n.py fails when they lag or a Chinese string is missing).
I18N := src/envwatch/web/i18n
i18n: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output --project envwatch \
		--copyright-holder "envwatch contributors" -o $(I18N)/messages.pot .
	$(BIN)/pybabel update -D messages -i $(I18N)/messages.pot -d $(I18N) --ignore-obsolete --no-fuzzy-matching --width 110
	$(BIN)/pybabel compile -D messages -d $(I18N) --statistics

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
