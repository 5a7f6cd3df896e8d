"""Lease renewal: a relay that is alive and waiting on the broker keeps the batches it holds.

A lease is what lets another relay take over the batch of one that died; renewing it while the
holder waits for confirms is what lets the lease be short (a dead relay's batch is taken over after
OUTBOX_LEASE_SECONDS) without a slow broker handing a live relay's batch to a second relay. Renewal
happens on the relay's own thread, inside its waits for the broker (``Transport.on_wait``): a relay
that hangs elsewhere stops renewing, and its batch is taken over as if it had died.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.db import DatabaseError

from outbox.conf import outbox_settings
from outbox.models import OutboxMessageQuerySet
from outbox.relay.claimed import Claimed

logger = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews the leases of the batches a relay holds, once half of the lease has passed.

    Only the last two batches claimed are held: the relay overlaps at most two (one on the wire, one
    claimed ahead, see ``Relay.drain``). Rows already recorded are skipped by the renewal itself (no
    longer pending, or no longer leased to this relay), so nothing has to be forgotten batch by batch.
    """

    def __init__(self, mine: Callable[[], OutboxMessageQuerySet]) -> None:
        self._mine = mine
        #: The batches held: their ids, and when (monotonic) each is due for renewal.
        self._held: list[tuple[list[uuid.UUID], float]] = []

    def forget(self) -> None:
        """Hold nothing: a new drain starts (a batch left from a failed one is left to its lease)."""
        self._held = []

    def took(self, messages: list[Claimed]) -> None:
        """A batch was just claimed: hold it (and the one before it), to be renewed at half its lease."""
        if messages:
            self._held = [*self._held[-1:], ([m.id for m in messages], _half_a_lease_from_now())]

    def tick(self) -> None:
        """Renew every batch held once half of the lease has passed since the oldest was claimed or renewed."""
        if not self._held or time.monotonic() < min(due for _, due in self._held):
            return
        lease, due = _lease(), _half_a_lease_from_now()
        self._held = [(ids, due) for ids, _ in self._held]
        try:
            renewed = self._mine().renew([i for ids, _ in self._held for i in ids], lease)
        except DatabaseError as exc:
            # The wait for confirms goes on; if the lease lapses meanwhile, another relay may send the
            # batch again (the inbox drops the duplicate) and this relay's late results are fenced off.
            logger.warning("could not renew the relay's leases: %s", exc, extra={"action": "outbox_lease_renew"})
            return
        logger.debug("renewed %d lease(s) for %.1fs", renewed, lease.total_seconds(),
                     extra={"action": "outbox_lease_renew"})


def _half_a_lease_from_now() -> float:
    return time.monotonic() + outbox_settings.LEASE_SECONDS / 2


def _lease() -> timedelta:
    return timedelta(seconds=outbox_settings.LEASE_SECONDS)
