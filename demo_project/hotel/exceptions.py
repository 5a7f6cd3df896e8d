"""Business errors of the hotel booking: understood, refused, never retried (they become fault messages)."""

from __future__ import annotations

from inbox import BusinessError


class CardDeclined(BusinessError):
    """Payments refused the card; retrying cannot change that."""


class HotelSoldOut(BusinessError):
    """No room left; the reservation must be rejected and the card released."""
