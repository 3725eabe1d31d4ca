# Kamustatus — `make run` and `make test` are all a fresh clone needs.
PYTHON ?= python3
# VENV can point at an existing environment (tests run `make run` in a copy
# of the tree with the checkout's .venv).
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
# DEMO=0: start without the demo data (it is loaded once per database anyway).
DEMO   ?= 1
MANAGE := $(BIN)/python manage.py

# `make run` behaves like production (DEBUG off) with a secret kept in a
# git-ignored file; tests get a throwaway one.
# CHECKS_ALLOW_PRIVATE: the demo checks the server itself on 127.0.0.1.
RUN_ENV  = SECRET_KEY="$$(cat .secret-key)" ALLOWED_HOSTS=$${ALLOWED_HOSTS:-127.0.0.1,localhost} PORT=$(PORT) \
           $(if $(WORKERS),WEB_CONCURRENCY=$(WORKERS)) \
           CHECKS_ALLOW_PRIVATE=$${CHECKS_ALLOW_PRIVATE:-1} PAGE_URL=$${PAGE_URL:-http://127.0.0.1:$(PORT)}
TEST_ENV = SECRET_KEY=$${SECRET_KEY:-throwaway-key-for-the-test-suite-only-never-for-production} DEBUG=0

.PHONY: install install-dev run test lint bench clean

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

.secret-key:
	$(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))' > $@
	chmod 600 $@

run: install .secret-key
	$(RUN_ENV) $(MANAGE) migrate --noinput
	$(RUN_ENV) $(MANAGE) createcachetable
	$(RUN_ENV) $(MANAGE) collectstatic --noinput --verbosity 0
	$(RUN_ENV) $(MANAGE) loaddemo --credentials $(if $(filter 0,$(DEMO)),--no-data)
	@# gunicorn and the background worker, side by side (manage.py serve): a TERM
	@# to make (which passes it on), Ctrl-C, or either one exiting stops both.
	$(RUN_ENV) exec $(MANAGE) serve

# The suite runs in one pytest process per core (pytest-xdist), each test
# file in one process (its servers and browser are set up once per file);
# TEST_PROCESSES=0 runs it in this process alone.
TEST_PROCESSES ?= auto
test: install-dev
	$(TEST_ENV) $(MANAGE) collectstatic --noinput --verbosity 0
	$(TEST_ENV) $(BIN)/python -m pytest -n $(TEST_PROCESSES) --dist loadfile $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Load benchmark (docs/benchmark.md): SQLite, PostgreSQL and PostgreSQL + Redis
# side by side; `make bench ARGS=--quick` for the small size.
bench: install-dev
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python tests/bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
