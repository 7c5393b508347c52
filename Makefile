# zonesblanches — commandes de développement.
# `make demo` et `make test` créent l'environnement virtuel .venv s'il manque.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STAMP_TEST := $(VENV)/.installed-test

.PHONY: demo test lint venv clean data bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/zonesblanches demo --sortie resultats

test: $(STAMP_TEST)
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP_TEST)
	$(BIN)/ruff check zonesblanches scripts tests
	$(BIN)/ruff format --check zonesblanches scripts tests

# Reconstruit les données de référence embarquées à partir de ../shared/data.
data: $(STAMP)
	$(BIN)/python scripts/build_reference_data.py

bench: $(STAMP)
	$(BIN)/python scripts/bench_engine.py

clean:
	rm -rf $(VENV) resultats .pytest_cache
