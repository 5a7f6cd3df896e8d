"""The front desk: takes reservations at once, and hears back from payments and the hotel."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

import outbox
from demo_project.hotel.models import GuestNotice, Hotel, Reservation, ReservationStatus

RESERVATION_PLACED = "frontdesk.reservation.placed"
RESERVATION_REJECTED = "frontdesk.reservation.rejected"
ISSUE_INVOICE = "hotel.issue_invoice"


def place_reservation(guest: str, email: str, hotel: Hotel, nights: int, card_last4: str,
                      card_expiry: str) -> Reservation:
    """Accept the reservation as pending and announce it, in one transaction; returns it.

    The guest gets "pending" now; payments and the hotel decide later, asynchronously.
    """
    with transaction.atomic():
        reservation = Reservation.objects.create(guest=guest, guest_email=email, hotel=hotel, nights=nights,
                                                 amount=hotel.nightly_rate * nights, card_last4=card_last4,
                                                 card_expiry=card_expiry)
        outbox.publish(RESERVATION_PLACED, _placed(reservation), key=f"reservation:{reservation.pk}")
    return reservation


def _placed(reservation: Reservation) -> dict[str, Any]:
    return {"reservation_id": reservation.pk, "guest": reservation.guest, "hotel_id": reservation.hotel_id,
            "nights": reservation.nights, "amount": reservation.amount,
            "card": {"last4": reservation.card_last4, "expiry": reservation.card_expiry}}


def confirm(reservation_id: int, message_id: str) -> None:
    """The hotel booked a room: confirm, tell the guest, and have a Celery task issue the invoice."""
    reservation = Reservation.objects.select_for_update().get(pk=reservation_id)
    _decide(reservation, ReservationStatus.CONFIRMED, "")
    _tell(reservation, f"Your {reservation.nights} night(s) at {reservation.hotel} are confirmed.", message_id)
    # The task message is written with this transaction: the invoice is issued if and only if the
    # confirmation commits, even if this process dies right after the commit.
    outbox.send_task(ISSUE_INVOICE, args=[reservation.pk])


def reject(reservation_id: int, reason: str, message_id: str) -> None:
    """Compensate a failure further down: reject, tell the guest, and announce it (payments release the hold)."""
    reservation = Reservation.objects.select_for_update().get(pk=reservation_id)
    _decide(reservation, ReservationStatus.REJECTED, reason)
    _tell(reservation, f"Sorry, we could not book {reservation.hotel}: {reason}. Nothing will be charged.",
          message_id)
    outbox.publish(RESERVATION_REJECTED, {"reservation_id": reservation.pk, "reason": reason},
                   key=f"reservation:{reservation.pk}")


def _decide(reservation: Reservation, status: ReservationStatus, reason: str) -> None:
    reservation.status, reservation.reason, reservation.decided_at = status, reason, timezone.now()
    reservation.save(update_fields=["status", "reason", "decided_at"])


def _tell(reservation: Reservation, text: str, message_id: str) -> None:
    GuestNotice.objects.create(reservation=reservation, text=text, message_id=message_id)
