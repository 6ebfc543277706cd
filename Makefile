# Quorum: `make run` starts the whole app, `make test` runs the whole suite.
# Both install what they need into .venv first; nothing else is assumed.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Django 6 needs Python 3.12+. pyenv shims answer `command -v` even when the
# version is not selected, so each candidate is asked to run, not just found.
PYTHON ?= $(shell for p in python3.13 python3.12 $$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 && { echo "$$p"; break; }; done)

.PHONY: run test bench chaos lint chromium tesseract clean

$(VENV)/.installed: requirements.txt
	@if [ -z "$(PYTHON)" ]; then \
		echo "Quorum needs Python 3.12 or 3.13 (Django 6.1), and neither python3.13 nor python3.12 runs here."; \
		echo "Install one (e.g. 'pyenv install 3.13') or pass PYTHON=/path/to/python3.12."; exit 1; fi
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

run: $(VENV)/.installed tesseract
	$(PY) -m config.devserver

# Browser tests drive Debian's chromium; install it when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; \
		command -v chromium >/dev/null 2>&1 || echo "!!! chromium could not be installed: the browser tests will be SKIPPED !!!"; }

# Scanned PDFs and images are read with Debian's Tesseract (English and German);
# the test invoices are drawn with the DejaVu fonts. Install them when missing.
OCR_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu fonts-dejavu-core
tesseract:
	@{ command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx deu \
		&& [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; } || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(OCR_PACKAGES) >/dev/null; \
		elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(OCR_PACKAGES) >/dev/null; fi; \
		command -v tesseract >/dev/null 2>&1 || echo "!!! tesseract could not be installed (apt-get install $(OCR_PACKAGES)): scanned documents will be REFUSED and the OCR tests SKIPPED !!!"; }

# Tests get their own embedded servers and uploads under var/test, so they never
# touch (or steal jobs from) a running `make run`. Tests serve plain HTTP and
# static files from the source tree.
TEST_VAR ?= $(CURDIR)/var/test
# Tests and the benchmark run with DEBUG off, as production does, so they need a key: a fresh one each time.
RANDOM_KEY = $$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
test: $(VENV)/.installed chromium tesseract
	@mkdir -p $(TEST_VAR)  # pytest makes --basetemp but not its parents (DATABASE_URL set: no embedded servers made it)
	QUORUM_VAR_DIR=$(TEST_VAR) HTTPS=false STATIC_MANIFEST=false SECRET_KEY=$${SECRET_KEY:-$(RANDOM_KEY)} \
		$(PY) -m config.embedded $(PY) -m pytest --basetemp=$(TEST_VAR)/pytest-tmp $(PYTEST_ARGS)

# A benchmark, not a test: prints a table and writes var/bench/latest.json.
# `make bench ARGS=pages` runs one module.
# The peers bench/peers.py compares against (LangGraph, DBOS): benchmark-only.
$(VENV)/.bench-installed: $(VENV)/.installed bench/requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	@touch $@

bench: $(VENV)/.installed $(VENV)/.bench-installed tesseract
	QUORUM_VAR_DIR=$(CURDIR)/var/bench/run HTTPS=false STATIC_MANIFEST=false QUORUM_BENCH_OUT=$(CURDIR)/var/bench/latest.json \
		SECRET_KEY=$${SECRET_KEY:-$(RANDOM_KEY)} \
		$(PY) -m config.embedded $(PY) -m bench $(ARGS)

# Not a test either: workers SIGKILLed every 20 s, Valkey and PostgreSQL restarted,
# provider faults and low rate limits; writes var/bench/chaos.json (at most ~10 min).
chaos: $(VENV)/.installed
	QUORUM_VAR_DIR=$(CURDIR)/var/bench/chaos HTTPS=false STATIC_MANIFEST=false SECRET_KEY=$${SECRET_KEY:-$(RANDOM_KEY)} \
		$(PY) -m bench.chaos

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf var/test var/bench
