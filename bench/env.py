"""The benchmark's environment: a dedicated PostgreSQL database, Django set up on it, raw SQL helpers."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench import baselines

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test"
DEFAULT_BROKER_URL = baselines.DEFAULT_URL
BENCH_DATABASE = "outbox_bench"
TOPIC = baselines.ROUTING_KEY
OUTBOX_TABLE = "outbox_outboxmessage"
BENCH_ENV = "OUTBOX_BENCH_READY"
SERVER_URL_ENV = "OUTBOX_BENCH_SERVER_URL"
EXCHANGE_ENV = "OUTBOX_BENCH_EXCHANGE"


def bench_database_url(url: str, name: str = BENCH_DATABASE) -> str:
    """The same server as ``url``, another database."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def recreate_database(server_url: str, name: str = BENCH_DATABASE) -> None:
    """Drop (if there) and create database ``name`` on the server of ``server_url``.

    A fresh database per run: its schema is exactly what the migrations of the code under test make.
    """
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def prepare_environ(database: str = BENCH_DATABASE) -> tuple[str, str]:
    """Point this process (and its children) at the bench database; returns (database URL, broker URL).

    The first call (re)creates the database ``database``; child processes inherit the rewritten variables.
    """
    broker_url = os.environ.get("BROKER_URL", DEFAULT_BROKER_URL)
    if not os.environ.get(BENCH_ENV):
        server_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
        recreate_database(server_url, database)
        os.environ["DATABASE_URL"] = bench_database_url(server_url, database)
        os.environ[SERVER_URL_ENV] = server_url
        os.environ[BENCH_ENV] = "1"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")
    os.environ["DEBUG"] = "False"  # DEBUG keeps every query in memory: not what production runs
    os.environ["BROKER_URL"] = broker_url
    return os.environ["DATABASE_URL"], broker_url


def setup_django(migrate: bool = False, database: str = BENCH_DATABASE) -> None:
    """Set Django up on the bench database (``database``, recreated by the first call); the relay
    publishes to the baselines' exchange."""
    prepare_environ(database)
    import django
    from django.conf import settings

    django.setup()
    # A section may send elsewhere (the takeover stall uses an exchange of its own, see bench/takeover.py).
    settings.OUTBOX_EXCHANGE = os.environ.get(EXCHANGE_ENV, baselines.EXCHANGE)
    # The baselines declare their exchanges plainly (and they already exist so on shared brokers): no
    # alternate exchange, or the relay's declaration would be refused (PRECONDITION_FAILED).
    settings.OUTBOX_UNROUTED = False
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def sql(statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Run one statement on the default connection (autocommit); returns its rows, if any."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return list(cursor.fetchall()) if cursor.description else []


def scalar(statement: str, params: list[Any] | None = None) -> Any:
    """The first column of the first row."""
    return sql(statement, params)[0][0]
