# The course's commands. `make book` and `make test` set everything up on first use:
# a virtual environment in .venv with requirements.txt and the library (editable).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BOOK_FLAGS := -W -n --keep-going

.PHONY: all book test lab student bench clean distclean setup

all: book

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the pins or the package metadata change.
$(STAMP): requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install -e .
	touch $@

setup: $(STAMP)

## book: execute every chapter and write the HTML book to _build/html (warnings are errors)
book: $(STAMP)
	$(BIN)/jupyter-book build . $(BOOK_FLAGS)
	@echo "open _build/html/index.html"

## test: every test (library, book build, student edition, browser) and nbval on the chapters
test: $(STAMP)
	@status=0; \
	$(BIN)/python -m pytest --doctest-modules lecture_lib tests/ || status=1; \
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env book/ || status=1; \
	if [ -f _build/exec_times.txt ]; then \
	  echo "notebook execution times (from the book build):"; cat _build/exec_times.txt; fi; \
	exit $$status

## lab: JupyterLab on the chapters
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=book

## student: the student edition (_build/student/notebooks and _build/student/html)
student: $(STAMP)
	$(BIN)/python tools/student.py --root . --out _build/student

## bench: every benchmarks/bench_*.py (uses CUDA when present)
bench: $(STAMP)
	@set -e; for script in benchmarks/bench_*.py; do \
	  [ -e "$$script" ] || { echo "no benchmarks/bench_*.py yet"; break; }; \
	  echo "== $$script"; $(BIN)/python "$$script"; done

clean:
	rm -rf _build .pytest_cache
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
