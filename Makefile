# Tally — developer entry points. `make run` and `make test` work on a fresh clone:
# they create .venv, install the dependencies, and use the PostgreSQL / Redis named in
# DATABASE_URL / CELERY_BROKER_URL, or start embedded ones in .local/ when those are unset
# (see config/devservices.py and docs/decisions/0001-embedded-services.md).
# They choose the development settings explicitly: without DJANGO_SETTINGS_MODULE a process
# gets the production settings, which refuse to start without their variables (docs/deploy.md).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help

# Exports DATABASE_URL and CELERY_BROKER_URL (starting the embedded services if needed).
# The assignment fails loudly when devservices fails; `eval "$(...)"` alone would not.
define DEVSERVICES_ENV
[ -n "$${DATABASE_URL:-}" ] || echo "==> DATABASE_URL unset: embedded PostgreSQL in .local/pgdata"
[ -n "$${CELERY_BROKER_URL:-}" ] || echo "==> CELERY_BROKER_URL unset: embedded Redis on 127.0.0.1:$${TALLY_EMBEDDED_REDIS_PORT:-6391}"
devservices_env="$$($(BIN)/python -m config.devservices env)"
eval "$$devservices_env"
endef

.PHONY: help install run test lint check db-stop clean distclean

help:
	@echo "make run      migrate, install schedules, seed the demo, start web + worker + beat"
	@echo "make test     run the test suite (PYTEST_ARGS='-k ...' to select)"
	@echo "make lint     ruff, import-linter (the layers) and mypy"
	@echo "make check    makemigrations --check and Django system checks"
	@echo "make db-stop  stop the embedded PostgreSQL and Redis"
	@echo "make clean    remove caches and build leftovers (distclean: also .venv and .local)"

$(BIN)/python:
	@echo "==> creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml is newer than the stamp. `packages = []` in
# pyproject.toml: the project itself installs nothing, this brings in the dependencies.
$(STAMP): pyproject.toml | $(BIN)/python
	@echo "==> installing dependencies into $(VENV) (pyproject.toml changed or first run)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@$(DEVSERVICES_ENV)
	export DJANGO_SETTINGS_MODULE="$${DJANGO_SETTINGS_MODULE:-config.settings.local}"
	export PATH="$(CURDIR)/$(BIN):$$PATH" VIRTUAL_ENV="$(CURDIR)/$(VENV)"
	echo "==> migrate"
	python manage.py migrate --noinput
	echo "==> install_schedules"
	python manage.py install_schedules
	echo "==> seed_demo"
	python manage.py seed_demo
	if [ -d locale ] && command -v msgfmt >/dev/null 2>&1; then
	  echo "==> compilemessages"
	  python manage.py compilemessages --ignore "$(VENV)" --ignore .local
	fi
	echo
	echo "Tally back office: http://127.0.0.1:8000/admin/"
	echo "API docs:         http://127.0.0.1:8000/api/docs/"
	echo "Demo logins (password tally-demo): admin (superuser), reviewer, manager, agent, supervisor, ops, collector"
	echo "Two-factor sign-in is offered, not required, locally: Two-factor authentication (top right)"
	echo "enrols an authenticator app; TALLY_STAFF_2FA_REQUIRED=true make run requires it (docs/decisions/0022)."
	echo "Starting web + worker + beat (Ctrl-C stops them)..."
	echo
	exec $(BIN)/honcho start -f Procfile

# The browser tests (tests/browser) drive Debian's chromium; Playwright never downloads one.
# Installed here when missing and we are root with apt-get; otherwise those tests fail and say how.
define ENSURE_CHROMIUM
if [ -z "$${TALLY_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing chromium for the browser tests (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null \
      || echo "make test: apt-get could not install chromium; the browser tests will fail" >&2
  else
    echo "make test: chromium not found; the browser tests will fail (sudo apt-get install -y chromium)" >&2
  fi
fi
endef

test: $(STAMP)
	@$(DEVSERVICES_ENV)
	$(ENSURE_CHROMIUM)
	export DJANGO_SETTINGS_MODULE=config.settings.test
	echo "==> pytest $(PYTEST_ARGS)"
	status=0
	$(BIN)/python -m pytest $(PYTEST_ARGS) || status=$$?
	if [ "$$status" -eq 5 ]; then
	  echo "make test: pytest collected no tests; that is a failure" >&2
	  exit 1
	fi
	exit "$$status"

lint: $(STAMP)
	@echo "==> ruff check ."
	$(BIN)/ruff check .
	echo "==> lint-imports (the layers: config → complaints → installments → risk → accounts)"
	$(BIN)/lint-imports
	echo "==> mypy"
	$(BIN)/mypy

check: $(STAMP)
	@$(DEVSERVICES_ENV)
	export DJANGO_SETTINGS_MODULE="$${DJANGO_SETTINGS_MODULE:-config.settings.local}"
	echo "==> makemigrations --check --dry-run"
	$(BIN)/python manage.py makemigrations --check --dry-run
	echo "==> check"
	$(BIN)/python manage.py check

db-stop:
	@$(BIN)/python -m config.devservices stop

clean:
	@find . -path ./$(VENV) -prune -o -path ./.local -prune -o -name __pycache__ -type d -print0 \
	  | xargs -0 rm -rf
	rm -rf .pytest_cache .hypothesis .ruff_cache test-artifacts staticfiles *.egg-info build $(STAMP)

# Also removes the virtualenv and the embedded database (all local data).
distclean: clean
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m config.devservices stop || true; fi
	rm -rf $(VENV) .local
