"""How the long-running relay waits between rounds: LISTEN/NOTIFY on PostgreSQL, a plain sleep elsewhere."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

from django.db import connections

logger = logging.getLogger(__name__)

#: How often a LISTEN wait looks at the stop event.
STOP_CHECK_SECONDS = 0.2


class Waiter(Protocol):
    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True when woken by a notification."""

    def close(self) -> None: ...


class SleepWaiter:
    """Polling only: sleeps, but returns at once when ``stop`` is set."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    def wait(self, timeout: float) -> bool:
        self._stop.wait(timeout)
        return False

    def close(self) -> None:
        return None


class PgNotifyWaiter:
    """LISTENs on its own autocommit psycopg connection, so the relay's queries are not disturbed.

    If that connection breaks (database restart), it falls back to sleeping and reconnects on the
    next wait: polling stays the floor.
    """

    def __init__(self, alias: str, channel: str, stop: threading.Event) -> None:
        self._alias = alias
        self._channel = channel
        self._stop = stop
        self._conn: Any = None

    def wait(self, timeout: float) -> bool:
        import psycopg

        try:
            conn = self._connect()
            woke = self._await_notify(conn, timeout)
            if woke:  # swallow the burst that arrived meanwhile: one drain handles them all
                for _ in conn.notifies(timeout=0):
                    pass
            return woke
        except psycopg.Error as exc:
            logger.warning("LISTEN connection lost, polling until it is back: %s", exc,
                           extra={"action": "relay_listen_lost"})
            self.close()
            self._stop.wait(timeout)
            return False

    def _await_notify(self, conn: Any, timeout: float) -> bool:
        """Wait in short slices so that setting ``stop`` (SIGTERM) ends the wait promptly, not after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if any(True for _ in conn.notifies(timeout=min(left, STOP_CHECK_SECONDS), stop_after=1)):
                return True
        return False

    def _connect(self) -> Any:
        import psycopg
        from psycopg import sql

        if self._conn is None:
            params = connections[self._alias].get_connection_params()
            params.pop("cursor_factory", None)
            params.pop("context", None)
            self._conn = psycopg.connect(**params, autocommit=True)
            self._conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def waiter_for(alias: str, channel: str, stop: threading.Event, listen: bool) -> Waiter:
    """LISTEN/NOTIFY when asked and the database is PostgreSQL; polling otherwise."""
    if listen and connections[alias].vendor == "postgresql":
        return PgNotifyWaiter(alias, channel, stop)
    return SleepWaiter(stop)
