# The course's commands. `make book` and `make test` set everything up on first use:
# a virtual environment in .venv with requirements.txt and the library (editable).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BOOK_FLAGS := -W -n --keep-going

# JupyterLab refuses to start as root unless told: containers often run as root.
LAB_FLAGS := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
# The student's working folder: make lab-student fills it once; make clean and make student
# never touch it (it ignores itself in git through its own .gitignore).
STUDENT_WORK := student-work

.PHONY: all book test nbval lab lab-student student assign grade bench clean distclean setup

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

## test: every test (library, book build, student edition, browser); the book build executes
## every chapter with errors fatal, so nbval's lax pass (make nbval) would run them a fifth time
test: $(STAMP)
	@status=0; \
	$(BIN)/python -m pytest --doctest-modules lecture_lib tests/ || status=1; \
	if [ -f _build/exec_times.txt ]; then \
	  echo "notebook execution times (from the book build):"; cat _build/exec_times.txt; fi; \
	exit $$status

## nbval: every chapter's cells run by nbval in lax mode (also covered by the book build in make test)
nbval: $(STAMP)
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env book/

## lab: JupyterLab on the instructor chapters (book/, with solutions)
lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=book $(LAB_FLAGS)

## lab-student: JupyterLab on the released student notebooks, copied once into student-work/
lab-student: assign
	@mkdir -p $(STUDENT_WORK)
	@[ -f $(STUDENT_WORK)/.gitignore ] || echo '*' > $(STUDENT_WORK)/.gitignore
	@for nb in _build/nbgrader/release/*/*.ipynb; do \
	  if [ -e "$(STUDENT_WORK)/$$(basename $$nb)" ]; then echo "kept your $(STUDENT_WORK)/$$(basename $$nb)"; \
	  else cp "$$nb" $(STUDENT_WORK)/ && echo "new: $(STUDENT_WORK)/$$(basename $$nb)"; fi; done
	$(BIN)/jupyter lab --ServerApp.root_dir=$(STUDENT_WORK) $(LAB_FLAGS)

## assign: release every chapter as an nbgrader assignment (_build/nbgrader/release/chNN/)
assign: $(STAMP)
	$(BIN)/python tools/assign.py assign

## grade: autograde SUBMISSIONS/<student>/<chapter>.ipynb, gradebook in _build/nbgrader/grades.csv
grade: $(STAMP)
	@[ -n "$(SUBMISSIONS)" ] || { echo "usage: make grade SUBMISSIONS=dir (dir/<student>/NN_topic.ipynb)"; exit 2; }
	$(BIN)/python tools/assign.py grade "$(SUBMISSIONS)"

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

## experiments: chapter 5's stored run (experiments/geodesics.json; resumable per pair, CUDA when present)
.PHONY: experiments
experiments: $(STAMP)
	$(BIN)/python tools/experiments.py

## gpu-check: on a CUDA machine, the CUDA tests and the benchmarks in about 5 min (skips without CUDA)
.PHONY: gpu-check
gpu-check:
	@py=$$([ -x $(BIN)/python ] && echo $(BIN)/python || command -v python3); $$py benchmarks/gpu_check.py
