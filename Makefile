# OpenCXO — the two commands a new user needs are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR := src/opencxo/web/static/vendor

.PHONY: demo test install assets lint typecheck unit browser-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The assets are plain files: --ignore-scripts runs no package's install script (such as the
# install-time analytics that swagger-ui-dist depends on).
$(VENDOR)/.installed: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/bootstrap $(VENDOR)/htmx $(VENDOR)/bootstrap-icons $(VENDOR)/swagger-ui
	cp frontend/node_modules/bootstrap/dist/css/bootstrap.min.css frontend/node_modules/bootstrap/dist/js/bootstrap.bundle.min.js $(VENDOR)/bootstrap/
	cp frontend/node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx/
	cp -r frontend/node_modules/bootstrap-icons/font/bootstrap-icons.min.css frontend/node_modules/bootstrap-icons/font/fonts $(VENDOR)/bootstrap-icons/
	cp frontend/node_modules/swagger-ui-dist/swagger-ui-bundle.js frontend/node_modules/swagger-ui-dist/swagger-ui.css frontend/node_modules/swagger-ui-dist/favicon-32x32.png $(VENDOR)/swagger-ui/
	touch $@

install: $(STAMP) assets
assets: $(VENDOR)/.installed

demo: install
	$(BIN)/opencxo demo

# Debian's chromium drives the browser tests; installed once when missing.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser tests"; \
	  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
	  (sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null); }

lint: install
	$(BIN)/ruff format --check src tests migrations benchmarks
	$(BIN)/ruff check src tests migrations benchmarks
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

unit: install browser-deps
	$(BIN)/pytest -n 2 -q

test: lint typecheck unit

clean:
	rm -rf $(VENV) frontend/node_modules $(VENDOR) var/*.db*
