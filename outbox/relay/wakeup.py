"""Wake a relay as soon as a publishing transaction commits, at most once per throttle window.

Two wake-ups, both optional and both only after commit (a rolled-back transaction wakes nobody):
``NOTIFY`` on PostgreSQL for the ``outbox_relay`` command's LISTEN, and the Celery relay task.
A wake-up skipped by the throttle is not lost: the relay drains again one throttle window after it
woke, and polling is the floor under both.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import partial, update_wrapper

from django.db import connections, transaction

from outbox.conf import outbox_settings

logger = logging.getLogger(__name__)


class Throttle:
    """Lets one call through per ``window`` seconds; thread-safe."""

    def __init__(self) -> None:
        self._last = 0.0
        self._lock = threading.Lock()

    def ready(self, window: float) -> bool:
        with self._lock:
            now = time.monotonic()
            if now - self._last < window:
                return False
            self._last = now
            return True


_notify_throttle = Throttle()
_celery_throttle = Throttle()


def after_commit(alias: str) -> None:
    """Schedule one wake-up for when the current transaction of ``alias`` commits (once per transaction)."""
    hooks = connections[alias].run_on_commit
    # Each entry is (savepoint ids, callable, robust); Django drops entries of rolled-back savepoints.
    if any(isinstance(entry[1], partial) and entry[1].func is _wake for entry in hooks):
        return
    # update_wrapper: when the wake-up fails (the connection dropped right after COMMIT), Django logs the
    # hook's __qualname__, which a bare partial lacks; the AttributeError would reach the caller's commit.
    transaction.on_commit(update_wrapper(partial(_wake, alias), _wake), using=alias, robust=True)


def _wake(alias: str) -> None:
    window = outbox_settings.NOTIFY_THROTTLE
    if outbox_settings.NOTIFY and connections[alias].vendor == "postgresql" and _notify_throttle.ready(window):
        notify(alias)
    if outbox_settings.CELERY_ON_COMMIT and _celery_throttle.ready(window):
        _kick_celery()


def notify(alias: str) -> None:
    """Send the relay's NOTIFY on ``alias`` (PostgreSQL only)."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, '')", [outbox_settings.NOTIFY_CHANNEL])


RELAY_TASK = "outbox.relay"


def _kick_celery() -> None:
    """Schedule the ``outbox.relay`` task by name, so that this module does not import ``outbox.tasks``.

    Looked up in the current app's registry (``OutboxConfig.ready`` registered it) so that
    ``task_always_eager`` still runs it in place; failing that it is sent by name to the workers that know it.
    """
    from celery import current_app  # the Celery app is optional; import only when asked to use it

    task = current_app.tasks.get(RELAY_TASK)
    if task is None:
        current_app.send_task(RELAY_TASK, ignore_result=True)
    else:
        task.apply_async(ignore_result=True)
