# Two commands do all set-up on a fresh machine: `make run` and `make test`.
# Python 3.13 comes from pyenv through .python-version (python3 resolves to it here).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DEMO_ENV := DEBUG=1 SITE_URL=http://127.0.0.1:$(PORT)

.PHONY: run test install install-dev migrate demo lint format serve scale-out-check soak bench bench-smoke clean

# The virtual environment, rebuilt when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 13) else "Python 3.13 is needed (found %d.%d): install it with pyenv, or run make PYTHON=python3.13" % sys.version_info[:2])'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## make run: set up everything and serve the demo survey on http://127.0.0.1:8000/ (SQLite).
run: install
	@mkdir -p var
	$(DEMO_ENV) $(BIN)/python manage.py migrate --no-input -v 0
	$(DEMO_ENV) $(BIN)/python manage.py load_demo
	$(DEMO_ENV) $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

## make test: the whole suite (SQLite, or PostgreSQL when DATABASE_URL is set).
test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The production settings for a run on this machine. Plain HTTP on localhost, so no
# redirect to HTTPS; HSTS and Secure cookies stay on (see README.md, "Deploy").
# Anything already in the environment wins over these defaults.
SERVE_ENV = DEBUG=0 SECURE_SSL_REDIRECT=0 PORT=$(PORT) \
	SECRET_KEY="$${SECRET_KEY:-$$(cat var/secret_key)}" \
	DATABASE_URL="$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/calnet}" \
	ALLOWED_HOSTS="$${ALLOWED_HOSTS:-127.0.0.1,localhost}" \
	SITE_URL="$${SITE_URL:-http://localhost:$(PORT)}" \
	EMAIL_URL="$${EMAIL_URL:-smtp://127.0.0.1:25}"

## make serve: the production stack on http://localhost:8000/: DEBUG off, gunicorn
## (gunicorn.conf.py), PostgreSQL from DATABASE_URL, static files by whitenoise.
serve: install
	@mkdir -p var
	@test -s var/secret_key || $(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(64))' > var/secret_key
	$(SERVE_ENV) $(BIN)/python deploy/ensure_database.py
	$(SERVE_ENV) $(BIN)/python manage.py migrate --no-input
	$(SERVE_ENV) $(BIN)/python manage.py collectstatic --no-input -v 0
	$(SERVE_ENV) $(BIN)/gunicorn --config gunicorn.conf.py calnet_survey.wsgi

## make scale-out-check: two gunicorn servers on one PostgreSQL (DATABASE_URL, default
## .../calnet_scaleout): sign in on one, go on with the other; two send_reminders at once.
scale-out-check: install-dev
	DATABASE_URL="$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/calnet_scaleout}" \
		$(BIN)/python -m pytest -v tests/calnet_survey/test_scale_out.py

## make soak: the reliability suite with long runs (more fuzz inputs, soak-marked tests)
## on PostgreSQL (DATABASE_URL, default .../calnet_rel).
soak: install-dev
	DATABASE_URL="$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/calnet_rel}" \
	RELIABILITY_FUZZ_EXAMPLES="$${RELIABILITY_FUZZ_EXAMPLES:-300}" \
		$(BIN)/python -m pytest -v tests/reliability -m ""

## make bench: every benchmark on the large data set (PostgreSQL, DATABASE_URL default
## .../calnet_bench; builds it the first time, a few minutes), written to BENCHMARKS.md.
bench: install-dev
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install wrk"; exit 1; }
	$(BIN)/python -m bench.run

## make bench-smoke: the same harness on the demo data set with short runs (CI), so it cannot rot.
bench-smoke: install-dev
	@command -v wrk >/dev/null || { echo "make bench-smoke needs wrk: apt-get install wrk"; exit 1; }
	$(BIN)/python -m bench.run --smoke

lint: install-dev
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var staticfiles
