"""Stores circuit breaker states so other processes (admin, status command, metrics) can show them.

A state is written on each change, and again whenever its process wants to vouch for it (the relay's
first successful round). An open state is refreshed by each failed probe, at least once per cool-down
cap; so an open state not refreshed for longer than that (plus :data:`STALE_MARGIN`) was left behind by
a process that stopped, and readers show it as unknown rather than open (``stale_at``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import DatabaseError
from django.utils import timezone

from outbox.breaker import CircuitBreaker, State
from outbox.models import BreakerState

logger = logging.getLogger(__name__)

#: Seconds past a breaker's cool-down cap after which its unrefreshed open state counts as stale.
STALE_MARGIN = 60.0


def record(breaker: CircuitBreaker, using: str = "default") -> None:
    """Store the breaker's current state; ``changed_at`` moves only when the stored state differs.
    A database error is logged, never raised (the stored state is advisory)."""
    now = timezone.now()
    state = breaker.state.value
    stale_at = None if breaker.state is State.CLOSED else now + timedelta(seconds=breaker.cooldown_cap + STALE_MARGIN)
    values = {"failures": breaker.failures, "reason": breaker.last_reason[:2000], "updated_at": now,
              "stale_at": stale_at}
    try:
        states = BreakerState.objects.using(using)
        if not states.filter(name=breaker.name, state=state).update(**values):
            states.update_or_create(name=breaker.name, defaults={**values, "state": state, "changed_at": now})
    except DatabaseError:
        logger.warning("could not store the state of circuit %s", breaker.name, exc_info=True,
                       extra={"action": "breaker_store_failed", "breaker": breaker.name})
