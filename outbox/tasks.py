"""Celery tasks: thin wrappers that call the same library functions as the management commands."""

from __future__ import annotations

import logging

from celery import shared_task

from outbox import relay as relay_module
from outbox import retention
from outbox.exceptions import BrokerUnavailable

logger = logging.getLogger(__name__)


@shared_task(name="outbox.relay", ignore_result=True)
def relay() -> int:
    """Relay everything due (scheduled after commit, and by beat as a sweep); returns how many were sent.

    Returns 0 while the broker is unreachable: the messages stay pending for the next sweep.
    """
    try:
        return relay_module.drain().sent
    except BrokerUnavailable as exc:
        logger.warning("outbox relay task: %s", exc, extra={"action": "relay_broker_down"})
        return 0


@shared_task(name="outbox.purge", ignore_result=True)
def purge() -> int:
    """Delete old finished outbox messages (``OUTBOX_RETENTION_DAYS``, dead ones kept); returns how many."""
    return retention.purge()
