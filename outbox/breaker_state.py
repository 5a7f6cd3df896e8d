"""Stores circuit breaker state changes so other processes (admin, status command) can show them."""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.utils import timezone

from outbox.breaker import CircuitBreaker
from outbox.models import BreakerState

logger = logging.getLogger(__name__)


def record(breaker: CircuitBreaker, using: str = "default") -> None:
    """Upsert the breaker's current state; a database error is logged, never raised (state is advisory)."""
    try:
        BreakerState.objects.using(using).update_or_create(
            name=breaker.name, defaults={"state": breaker.state.value, "failures": breaker.failures,
                                         "reason": breaker.last_reason[:2000], "changed_at": timezone.now()})
    except DatabaseError:
        logger.warning("could not store the state of circuit %s", breaker.name, exc_info=True,
                       extra={"action": "breaker_store_failed", "breaker": breaker.name})
