# Every target creates .venv when it is missing and installs the package with its dev extras.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NOTEBOOKS := notebooks

.PHONY: install demo test lint pytest notebooks bench lab app browser node clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## demo: install, execute the quickstart notebook headless and print what it did
demo: install
	$(BIN)/python -m eliza_nb.notebook $(NOTEBOOKS)/01-quickstart.ipynb

## test: install, lint, type-check, then every test and every notebook (nbval)
test: install lint pytest

lint: install
	$(BIN)/ruff check eliza_nb tests benchmarks
	$(BIN)/ruff format --check eliza_nb tests benchmarks
	$(BIN)/mypy eliza_nb

pytest: install browser node
	$(BIN)/python -m pytest tests -q
	$(BIN)/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with $(NOTEBOOKS)/sanitize.cfg $(NOTEBOOKS) -q -p no:randomly

## bench: every benchmark script, each printing figures measured in one run
bench: install
	for b in dispatch magics store load batch dashboard records_memory bridge; do $(BIN)/python benchmarks/$$b.py || exit 1; done

## lab: JupyterLab on notebooks/ with the package installed in .venv
lab: install
	$(BIN)/jupyter lab --notebook-dir=$(NOTEBOOKS)

## app: the Voila app (notebooks/app.ipynb: action runner and dashboard, code hidden)
APP_PORT ?= 8866
app: install
	$(BIN)/voila $(NOTEBOOKS)/app.ipynb --port=$(APP_PORT) --no-browser

## browser: Debian's Chromium for tests/test_browser.py (Playwright never downloads a browser);
## where it cannot be installed, the browser tests skip and say why
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "browser: no apt-get here; the browser tests will skip"; \
	else \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo -n); \
		{ $$SUDO apt-get update -q && \
		  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
		|| echo "browser: could not install chromium; the browser tests will skip"; \
	fi

# Prints the major version of the node on PATH ('' when there is none).
NODE_MAJOR = node --version 2>/dev/null | sed -n 's/^v\([0-9]*\).*/\1/p'

## node: Debian's Node.js and npm for the Node bridge (Node 18 or later; plugin packages go to
## eliza_nb.npm's cache, never into the project); where they cannot be had, those tests skip
node:
	@if [ "$$($(NODE_MAJOR))" -ge 18 ] 2>/dev/null && command -v npm >/dev/null 2>&1; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "node: no apt-get here; the Node-bridge tests will skip"; \
	else \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo -n); \
		if { $$SUDO apt-get update -q && \
		     $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm; }; then \
			[ "$$($(NODE_MAJOR))" -ge 18 ] 2>/dev/null || \
			echo "node: this system's Node.js is older than 18; the Node-bridge tests will skip"; \
		else \
			echo "node: could not install nodejs and npm; the Node-bridge tests will skip"; \
		fi; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
