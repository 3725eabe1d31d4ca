# Kamustatus — `make run` and `make test` are all a fresh clone needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
WORKERS ?= 4
MANAGE := $(BIN)/python manage.py

# `make run` behaves like production (DEBUG off) with a secret kept in a
# git-ignored file; tests get a throwaway one.
# CHECKS_ALLOW_PRIVATE: the demo checks the server itself on 127.0.0.1.
RUN_ENV  = SECRET_KEY="$$(cat .secret-key)" ALLOWED_HOSTS=$${ALLOWED_HOSTS:-127.0.0.1,localhost} PORT=$(PORT) \
           CHECKS_ALLOW_PRIVATE=$${CHECKS_ALLOW_PRIVATE:-1} PAGE_URL=$${PAGE_URL:-http://127.0.0.1:$(PORT)}
TEST_ENV = SECRET_KEY=$${SECRET_KEY:-insecure-test-only-key} DEBUG=0

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
	$(RUN_ENV) $(MANAGE) loaddemo --credentials
	@# The background worker (alert deliveries, window ends) runs beside gunicorn
	@# and is stopped with it: Ctrl-C, a TERM to make, or gunicorn exiting.
	$(RUN_ENV) sh -c '$(MANAGE) worker & worker=$$!; \
	  $(BIN)/gunicorn statuspage.wsgi --bind 127.0.0.1:$(PORT) --workers $(WORKERS) --access-logfile - & web=$$!; \
	  trap "kill -TERM $$worker $$web 2>/dev/null; wait" EXIT; trap "exit 0" INT TERM; \
	  wait $$web'

test: install-dev
	$(TEST_ENV) $(MANAGE) collectstatic --noinput --verbosity 0
	$(TEST_ENV) $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .

# Load benchmark (README "Benchmark"); `make bench ARGS=--quick` for the small size.
bench: install-dev
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python tests/bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
