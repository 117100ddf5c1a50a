# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run test lint install migrate seed clean bench bench-quick wrk

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

## Start the API (and the presence socket) on http://127.0.0.1:$(PORT) and the Celery worker with beat;
## Ctrl-C stops them. PORT defaults to 8000: `make run PORT=8001` when that one is taken.
PORT ?= 8000
run: seed
	@$(BIN)/python -c "import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); \
	  sys.exit(s.connect_ex(('127.0.0.1', $(PORT))) == 0)" \
	  || { echo "Port $(PORT) is already in use: run \`make run PORT=8001\` (or any free port)."; exit 1; }
	@# honcho gives the first Procfile process PORT=$(PORT). Ctrl-C reaches this shell too: the trap keeps it alive
	@# until honcho has stopped everything, and 130 (honcho's Ctrl-C) is a normal way to stop, so make prints nothing.
	@trap : INT; $(BIN)/python tools/procfile_run.py --procfile Procfile start --port $(PORT); \
	  status=$$?; [ $$status -eq 0 ] || [ $$status -eq 130 ]

## Run the whole test suite (SQLite and the embedded broker unless DATABASE_URL/REDIS_URL are set).
test: install
	$(BIN)/python -m pytest

## Lint: ruff's checks and its formatter (pyproject.toml); `ruff format .` and `ruff check --fix .` mend most findings.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## Benchmarks (docs/BENCHMARKS.md): PostgreSQL from DATABASE_URL (the bench uses its own `<name>_bench`
## database, created if missing), Redis from REDIS_URL; both default to the local servers.
BENCH_OUT ?= docs
bench: install wrk
	$(BIN)/python -m bench --out $(BENCH_OUT)

## The benchmarks' smoke run for CI: smaller sizes, shorter loads, about two minutes.
bench-quick: install wrk
	$(BIN)/python -m bench --quick --out $(BENCH_OUT)

wrk:
	@command -v wrk >/dev/null 2>&1 || apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }

## Soak (docs/RELIABILITY.md): 500 users heartbeating, 5 admins polling, users leaving and rejoining, for
## SOAK_SECONDS (60) against gunicorn + PostgreSQL (`<DATABASE_URL>_soak`) + Redis + a worker with beat.
.PHONY: soak
soak: install
	$(BIN)/python -m tests.soak.run_soak

clean:
	rm -rf $(VENV) var staticfiles
