# learnapp: the commands a newcomer types. `make run` and `make test` set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app learnapp
HOST ?= 127.0.0.1
PORT ?= 5000
# Debian packages: Pango and fonts for PDF certificates; chromium for browser tests; zbarimg and
# pdftoppm for the tests that scan and look at a rendered certificate; wrk for make bench.
SYSTEM_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core fonts-noto-core fonts-noto-cjk
BROWSER_PACKAGES := chromium
CERTIFICATE_TEST_PACKAGES := zbar-tools poppler-utils

.PHONY: run test lint bench soak check-system clean lighthouse screenshots

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# Re-install only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	@pkg-config --exists icu-i18n || { echo "PyICU builds against ICU: sudo apt-get install libicu-dev pkg-config g++"; exit 1; }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

check-system:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "Missing Debian packages (certificates need them):$$missing"; \
	echo "Install with: sudo apt-get install$$missing"; fi
	@$(PYTHON) -I learnapp/fonts.py

run: $(VENV)/.installed check-system
	$(FLASK) content check
	$(FLASK) db upgrade
	$(FLASK) demo
	@echo "Serving on http://$(HOST):$(PORT)"
	@echo "Development mailbox (the mail the site wrote): http://$(HOST):$(PORT)/dev/mail"
	@# The worker sends the mail; it stops when the server does (Ctrl-C, or the server exiting).
	$(FLASK) worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT; trap 'exit 130' INT TERM; \
	$(FLASK) run --host $(HOST) --port $(PORT)

# The suite in up to four processes (pytest-xdist): on 2 cores it takes half the time.
# `make test PYTEST_ARGS=-n0` runs it in one; any pytest options go there too.
PYTEST_ARGS ?= -n auto --maxprocesses 4

test: $(VENV)/.installed check-system
	@command -v chromium >/dev/null || echo "chromium is missing: browser tests will be skipped (sudo apt-get install $(BROWSER_PACKAGES))"
	@command -v zbarimg >/dev/null && command -v pdftoppm >/dev/null || echo "zbarimg or pdftoppm is missing: the certificate's QR scan and page layout tests will be skipped (sudo apt-get install $(CERTIFICATE_TEST_PACKAGES))"
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check learnapp tests migrations $(wildcard bench) $(wildcard soak)
	$(BIN)/ruff format --check learnapp tests migrations $(wildcard bench) $(wildcard soak)

bench: $(VENV)/.installed
	$(BIN)/python -m bench $(BENCH_ARGS)

# Neither is part of `make test` or .ci/run. Lighthouse (npm, pinned in tools/lighthouse/) is
# installed into tools/lighthouse/node_modules by `npm ci`, never globally; both drive
# Debian's chromium.
LIGHTHOUSE_DIR := tools/lighthouse

$(LIGHTHOUSE_DIR)/node_modules/.installed: $(LIGHTHOUSE_DIR)/package.json $(LIGHTHOUSE_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "make lighthouse needs Node.js 18.16+ and npm: sudo apt-get install nodejs npm"; exit 1; }
	cd $(LIGHTHOUSE_DIR) && npm ci --no-audit --no-fund
	touch $@

lighthouse: $(VENV)/.installed $(LIGHTHOUSE_DIR)/node_modules/.installed
	$(BIN)/python -m bench.lighthouse $(LIGHTHOUSE_ARGS)

screenshots: $(VENV)/.installed check-system
	$(BIN)/python -m bench.screenshots

clean:
	rm -rf $(VENV) .pytest_cache

soak: $(VENV)/.installed
	$(BIN)/python -m soak
