# Sharp Eyes Hub — two commands on a fresh machine:
#   make run    set up everything, then start the hub with the demo cameras (http://127.0.0.1:8000/)
#   make test   set up everything, then run the test suite
# Re-running is quick: each step is skipped when its output is up to date.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   := data
DEPS_STAMP  := $(VENV)/.deps-$(shell cat requirements.txt requirements-nodeps.txt pyproject.toml | sha256sum | cut -c1-16)
MODEL_STAMP := $(DATA)/models/.exported-$(shell cat requirements.txt | sha256sum | cut -c1-8)

export PIP_DISABLE_PIP_VERSION_CHECK := 1
export YOLO_OFFLINE := 1
export YOLO_AUTOINSTALL := false

.PHONY: run test setup system venv model lint jscheck typecheck bench clean screenshots

run: setup
	$(BIN)/sharpeyes run --demo

test: setup
	$(BIN)/pytest

setup: system venv model

system:
	@bash scripts/setup-system.sh

venv: $(DEPS_STAMP)

$(DEPS_STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install -q --no-deps -e .
	@rm -f $(VENV)/.deps-*
	@touch $@

model: $(MODEL_STAMP)

$(MODEL_STAMP): $(DEPS_STAMP)
	-@$(BIN)/opt_in_out --opt_out >/dev/null 2>&1
	$(BIN)/sharpeyes model export --int8
	@rm -f $(DATA)/models/.exported-*
	@touch $@

lint: venv jscheck
	$(BIN)/ruff check .
	$(BIN)/mypy .
	cd tools/jscheck && npx --no-install tsc -p tsconfig.json

# the web app's JSDoc types checked by TypeScript (a development tool from npm, pinned by the lockfile; never served)
jscheck: tools/jscheck/node_modules/.package-lock.json

tools/jscheck/node_modules/.package-lock.json: tools/jscheck/package-lock.json
	cd tools/jscheck && npm ci --no-audit --no-fund

bench: setup
	$(BIN)/python bench/detect.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/queue.py
	$(BIN)/python bench/import.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) $(DATA)

# The web app's pages as PNGs in docs/screenshots/ (a real hub, Debian's Chromium; not run by the tests)
screenshots: setup
	PYTHONPATH=. $(BIN)/python -m tests.web.screenshots
