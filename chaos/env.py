"""The run's own world: the ``outbox_chaos`` database (recreated and migrated each run), the ``chaos-*``
exchange and queues (deleted and declared again), a run directory for logs and producer files, and the
environment every child process gets."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test"
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
DATABASE = "outbox_chaos"
SETTINGS = "chaos.settings"
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class World:
    """Where this run lives."""

    server_url: str  # the server's maintenance database (faults and set-up connect here)
    database_url: str
    broker_url: str
    run_dir: Path
    cluster: bool = False  # the 3-node cluster of tests/cluster.py, with quorum queues

    @property
    def ordered_queue_type(self) -> str:
        """INBOX_ORDERED_QUEUE_TYPE of the run: quorum on the cluster (to survive a node), else the default."""
        return "quorum" if self.cluster else "classic"

    def child_env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"DJANGO_SETTINGS_MODULE": SETTINGS, "DATABASE_URL": self.database_url,
                    "BROKER_URL": self.broker_url, "CHAOS_RUN_DIR": str(self.run_dir), "PYTHONUNBUFFERED": "1",
                    "LOG_LEVEL": "WARNING", "CHAOS_ORDERED_QUEUE_TYPE": self.ordered_queue_type, **extra})
        return env

    def broker_url_from(self, node: int) -> str:
        """On the cluster: its nodes' URLs starting with node ``node`` (1-3), so that processes spread over the
        nodes; the one broker URL otherwise."""
        from tests import cluster

        return cluster.broker_url(node) if self.cluster else self.broker_url

    def file(self, name: str) -> Path:
        return self.run_dir / name


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def prepare(cluster: bool = False) -> World:
    """Recreate the database, migrate it, set Django up on it in this process, reset the broker topology (on
    the cluster, started first when it does not run)."""
    source = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    broker_url = os.environ.get("BROKER_URL", DEFAULT_BROKER_URL)
    if cluster:
        from tests import cluster as nodes

        nodes.start()
        broker_url = nodes.broker_url(1)
    world = World(server_url=_with_database(source, "postgres"), database_url=_with_database(source, DATABASE),
                  broker_url=broker_url, run_dir=Path(tempfile.mkdtemp(prefix="chaos-")), cluster=cluster)
    _recreate_database(world.server_url)
    os.environ.update(DJANGO_SETTINGS_MODULE=SETTINGS, DATABASE_URL=world.database_url, BROKER_URL=world.broker_url,
                      CHAOS_ORDERED_QUEUE_TYPE=world.ordered_queue_type)
    subprocess.run([sys.executable, "-m", "django", "migrate", "--verbosity", "0"], cwd=REPO, check=True,
                   env=world.child_env())
    import django

    django.setup()
    _reset_topology(world.broker_url)
    return world


def _recreate_database(server_url: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))


def _reset_topology(broker_url: str) -> None:
    """Delete what an earlier run left, then declare the inbox's queues and bindings (before any relay
    publishes: the relay publishes with ``mandatory``, and an unroutable message would be retried)."""
    from kombu import Connection

    from outbox.conf import outbox_settings

    queues = _queues()
    with Connection(broker_url) as conn:
        channel = conn.default_channel
        for queue, _ in queues:
            channel.queue_delete(queue.name)
        channel.exchange_delete(outbox_settings.EXCHANGE)
        for queue, _ in queues:
            queue(channel).declare()


def _queues() -> list[tuple[Any, bool]]:
    """The inbox's queues as the consumer declares them, each with whether it is the ordered one."""
    from inbox.conf import inbox_settings
    from inbox.consumer import subscriptions_for
    from inbox.registry import registry
    from outbox.conf import outbox_settings
    from outbox.transports.amqp_consumer import kombu_queues

    pairs = kombu_queues(subscriptions_for(registry, inbox_settings.QUEUE), outbox_settings.EXCHANGE)
    return [(queue, subscription.ordered) for subscription, queue in pairs]


def queue_depth() -> int:
    """Messages ready in the inbox's queues (unacknowledged ones are not counted)."""
    from kombu import Connection

    from outbox.conf import outbox_settings

    with Connection(outbox_settings.BROKER_URL) as conn:
        return sum(queue(conn.default_channel).queue_declare(passive=True).message_count for queue, _ in _queues())


def queued_uids() -> dict[bool, set[str]]:
    """The uids of the messages still in the inbox's queues, by queue (ordered or not), read without an ack:
    closing the channel puts them all back. Call it once no consumer runs."""
    from kombu import Connection

    from outbox.conf import outbox_settings

    found: dict[bool, set[str]] = {False: set(), True: set()}
    with Connection(outbox_settings.BROKER_URL) as conn:
        channel: Any = conn.channel()
        channel.basic_qos(0, 0, False)
        for queue, ordered in _queues():
            # basic.consume, not basic.get: a quorum queue with a single active consumer refuses basic.get.
            channel.basic_consume(queue.name, no_ack=False, callback=lambda message, ordered=ordered: found[
                ordered].add(str(json.loads(message.body)["uid"])))
        with contextlib.suppress(TimeoutError):
            while True:  # until the queues have delivered all they hold (no consumer runs any more)
                conn.drain_events(timeout=2.0)
    return found


def sql(statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Run one statement on the run's database and close the connection again: the harness holds no
    connection open while faults terminate backends and restart the server."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute(statement, params)
            return list(cursor.fetchall()) if cursor.description else []
    finally:
        connection.close()


def read_lines(paths: list[Path]) -> list[str]:
    """The lines of every file that exists (a process killed mid-write leaves at most a partial last line)."""
    lines: list[str] = []
    for path in paths:
        if path.exists():
            lines += [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return lines
