"""Payments: hold the amount on the card, release the hold when the reservation is rejected."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.utils import timezone

import outbox
from demo_project.hotel.exceptions import CardDeclined
from demo_project.hotel.models import AuthorisationStatus, CardAuthorisation

CARD_AUTHORISED = "payments.card.authorised"


def authorise(reservation: dict[str, Any], message_id: str) -> CardAuthorisation:
    """Hold the reservation's amount and announce it; raises :class:`CardDeclined` for an expired card."""
    expiry = reservation["card"]["expiry"]
    if expiry < date.today().strftime("%Y-%m"):
        raise CardDeclined(f"the card ending {reservation['card']['last4']} expired in {expiry}")
    hold = CardAuthorisation.objects.create(reservation_id=reservation["reservation_id"],
                                            amount=Decimal(str(reservation["amount"])), message_id=message_id)
    outbox.publish(CARD_AUTHORISED, {**reservation, "authorisation_id": hold.pk},
                   key=f"reservation:{reservation['reservation_id']}")
    return hold


def release(reservation_id: int) -> int:
    """Release the holds of a rejected reservation; returns how many (0: there was none, e.g. declined card)."""
    return CardAuthorisation.objects.filter(reservation_id=reservation_id, status=AuthorisationStatus.AUTHORISED
                                            ).update(status=AuthorisationStatus.RELEASED, released_at=timezone.now())
