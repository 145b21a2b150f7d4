# The README's two commands: `make demo` and `make test`. Both set up what they need and are idempotent.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
SHARED ?= ../shared
BIN := $(VENV)/bin
DEMO_OUT ?= demo-output
REAL_MAPS := $(SHARED)/data/wm811k-real/public.npz
TORCH_PIN := torch==2.13.0

.PHONY: demo test system-deps clean

# Debian packages the tests use (Java runs the reference METEOR and PTB tokenizer).
system-deps:
	@command -v java >/dev/null || { apt-get update -qq && apt-get install -y -qq default-jre-headless; }

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Reinstall only when the package's dependencies change.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[$*]"
	@touch $@

demo: $(VENV)/.installed-demo
	@mkdir -p $(DEMO_OUT)
	$(BIN)/fabsight ingest $(SHARED)/data/stdf --out $(DEMO_OUT)/wafers
	$(BIN)/fabsight stats $(SHARED)/data/stdf
	$(BIN)/fabsight classify $(SHARED)/data/stdf $(DEMO_OUT)/wafers
	$(BIN)/fabsight generate "edge ring with a scratch, 12% fail" -n 8 --seed 3 --out $(DEMO_OUT)/synthetic
	$(BIN)/fabsight stats $(DEMO_OUT)/synthetic/*.npz --max-clusters 3
	$(BIN)/fabsight classify $(DEMO_OUT)/synthetic/*.npz
	@# How well it reads real wafers: the WM-811K maps carry their labels, so the output scores as it stands.
	@if [ -f $(REAL_MAPS) ]; then set -x; \
		$(BIN)/fabsight classify $(REAL_MAPS) --json > $(DEMO_OUT)/real-maps.json && \
		$(BIN)/fabsight evaluate classify --preds $(DEMO_OUT)/real-maps.json; \
	else echo "no real labelled maps at $(REAL_MAPS): their evaluation is skipped"; fi
	$(BIN)/fabsight generate any -n 300 --seed 11 --no-png --out $(DEMO_OUT)/history
	@# Rebuilt every run: the index refuses vectors from other weights, and an update may ship new ones.
	rm -rf $(DEMO_OUT)/index
	$(BIN)/fabsight index add --index $(DEMO_OUT)/index $(SHARED)/data/stdf $(DEMO_OUT)/history
	$(BIN)/fabsight index info --index $(DEMO_OUT)/index
	$(BIN)/fabsight search --index $(DEMO_OUT)/index "edge ring" --top 5
	$(BIN)/fabsight search --index $(DEMO_OUT)/index --like $(SHARED)/data/stdf/lot2.stdf.gz --top 5
	$(BIN)/fabsight search --index $(DEMO_OUT)/index --like $(SHARED)/data/stdf/lot2.stdf.gz "with a scratch" --top 5
	@echo "Pictures and maps are in $(DEMO_OUT)/"

test: system-deps $(VENV)/.installed-test
	$(BIN)/ruff check
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
