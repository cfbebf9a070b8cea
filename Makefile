# gitops-gen: make demo | make test | make bench | make lint | make mutate
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test bench lint mutate docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,lint]'
	rm -f $(VENV)/.installed-*; touch $(STAMP)

demo: $(STAMP)
	$(PY) -m gitops_gen.devtools.demo

test: $(STAMP)
	$(PY) -m pytest -q -n auto --maxprocesses=4 $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks.run $(BENCH)

lint: $(STAMP)
	$(VENV)/bin/ruff check generator tests benchmarks
	$(VENV)/bin/mypy

# Mutation testing of the rule and security code ([tool.mutmut] in pyproject.toml); slow: one
# module at a time with MUTANTS='gitops_gen.checks.policy.*' (a pattern of mutant names, which
# also re-tests those already decided). Results stay in $(MUTATE_DIR) between runs.
# Bytecode is written even where the environment says not to: every mutant runs in a fresh
# process, which would otherwise compile the mutated package (all mutants of each function
# in one file) again, seconds of CPU per mutant.
MUTATE_DIR := build/mutate
MUTANTS ?=
mutate: $(STAMP)
	$(PY) -c 'import mutmut' 2>/dev/null || \
		$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,lint,mutate]'
	$(PY) -m gitops_gen.devtools.mutation prepare $(MUTATE_DIR)
	cd $(MUTATE_DIR) && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" PYTHONDONTWRITEBYTECODE= \
		mutmut run $(MUTANTS)
	$(PY) -m gitops_gen.devtools.mutation report $(MUTATE_DIR)

docs: $(STAMP)
	$(PY) -m gitops_gen.devtools.chartdoc --write
	$(PY) -m gitops_gen.devtools.clidoc --write

clean:
	rm -rf $(VENV) .pytest_cache build dist
