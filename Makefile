# Every target creates its own virtual environment (.venv) from requirements.txt on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_BROKER_URL ?= amqp://guest:guest@127.0.0.1:5672//

# A second environment with Django 4.2 LTS, the oldest Django the package claims (pyproject.toml).
VENV42 ?= .venv-django42

.PHONY: demo test test-django42 lint typecheck migrations-check bench bench-quick bench-peers chaos chaos-small chaos-cluster chaos-cluster-small clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

demo: $(VENV)/.installed  ## the demo, on SQLite + the in-memory broker unless DATABASE_URL/BROKER_URL are set
	$(PY) manage.py migrate --verbosity 0
	$(PY) manage.py demo

test: $(VENV)/.installed  ## lint, type-check, migrations check, then the test suite on PostgreSQL + RabbitMQ
	DATABASE_URL=$(TEST_DATABASE_URL) BROKER_URL=$(TEST_BROKER_URL) $(PY) scripts/check_services.py
	$(MAKE) --no-print-directory lint typecheck migrations-check
	DATABASE_URL=$(TEST_DATABASE_URL) BROKER_URL=$(TEST_BROKER_URL) $(PY) -m pytest $(PYTEST_ARGS)

$(VENV42)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV42)
	$(VENV42)/bin/python -m pip install --quiet --upgrade pip
	$(VENV42)/bin/python -m pip install --quiet -r requirements.txt "Django>=4.2,<5.0"
	touch $@

test-django42: $(VENV42)/.installed  ## the unit and integration tests on Django 4.2 LTS (CI runs it after make test)
	DATABASE_URL=$(TEST_DATABASE_URL) BROKER_URL=$(TEST_BROKER_URL) $(VENV42)/bin/python scripts/check_services.py
	DATABASE_URL=$(TEST_DATABASE_URL) $(VENV42)/bin/python manage.py makemigrations --check --dry-run
	DATABASE_URL=$(TEST_DATABASE_URL) BROKER_URL=$(TEST_BROKER_URL) $(VENV42)/bin/python -m pytest tests/unit tests/integration $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy outbox inbox

migrations-check: $(VENV)/.installed
	$(PY) manage.py makemigrations --check --dry-run

bench: $(VENV)/.installed  ## full benchmark on PostgreSQL + RabbitMQ; writes docs/benchmarks.md
	DATABASE_URL=$(TEST_DATABASE_URL) BROKER_URL=$(TEST_BROKER_URL) $(PY) -m bench $(BENCH_ARGS)

bench-quick: $(VENV)/.installed
	DATABASE_URL=$(TEST_DATABASE_URL) BROKER_URL=$(TEST_BROKER_URL) $(PY) -m bench --quick $(BENCH_ARGS)

bench-peers: $(VENV)/.installed  ## our relay vs django-outbox-pattern and django-celery-outbox (throwaway venvs); docs/benchmarks.md
	DATABASE_URL=$(TEST_DATABASE_URL) BROKER_URL=$(TEST_BROKER_URL) $(PY) -m bench.peers $(BENCH_ARGS)

chaos: $(VENV)/.installed  ## fault-injection run (kills, crash points, broker and database restarts); docs/reliability.md
	DATABASE_URL=$(TEST_DATABASE_URL) BROKER_URL=$(TEST_BROKER_URL) $(PY) -m chaos $(CHAOS_ARGS)

chaos-small: $(VENV)/.installed  ## the same with ~2,000 messages and every kind of fault at least once (CI, < 4 min)
	DATABASE_URL=$(TEST_DATABASE_URL) BROKER_URL=$(TEST_BROKER_URL) $(PY) -m chaos --small $(CHAOS_ARGS)

chaos-cluster: $(VENV)/.installed  ## the chaos run on a 3-node RabbitMQ cluster beside the main node (quorum queues, queue leaders killed)
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m chaos --cluster $(CHAOS_ARGS)

chaos-cluster-small: $(VENV)/.installed  ## the same, small (CI, < 5 min); `make chaos-cluster CHAOS_ARGS=--small` too
	DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m chaos --cluster --small $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) $(VENV42) demo.sqlite3 demo-mailprovider.sqlite3 .mypy_cache .ruff_cache
