"""Celery tasks of the front desk, dispatched with ``outbox.send_task`` (autodiscovered by Celery)."""

from __future__ import annotations

from typing import Any

import inbox
from demo_project.hotel.models import Invoice, Reservation


@inbox.idempotent_task(name="hotel.issue_invoice", bind=True)
def issue_invoice(self: Any, reservation_id: int) -> int:
    """Issue the invoice of a confirmed reservation; returns its id. A redelivered task does nothing
    (the inbox deduplicates on the task id, which is the outbox message's id)."""
    reservation = Reservation.objects.get(pk=reservation_id)
    return Invoice.objects.create(reservation_id=reservation.pk, amount=reservation.amount,
                                  task_id=str(self.request.id)).pk
