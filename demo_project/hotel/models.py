"""Tables of the front desk (Hotel, Reservation, GuestNotice, Invoice), of payments
(CardAuthorisation) and of the hotel service (Booking). Services refer to each other's rows by id.

The effect tables keep the id of the message that caused the row, without a unique constraint, so
that the demo's tally would notice an effect applied twice.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone


class Hotel(models.Model):
    name = models.CharField(max_length=100, unique=True, help_text="Hotel name.")
    rooms = models.PositiveIntegerField(help_text="Rooms on sale.")
    booked = models.PositiveIntegerField(default=0, help_text="Rooms booked (the hotel service keeps it).")
    nightly_rate = models.DecimalField(max_digits=8, decimal_places=2, help_text="Price of one night, in EUR.")

    def __str__(self) -> str:
        return self.name


class ReservationStatus(models.TextChoices):
    PENDING = "pending", "pending: accepted, being confirmed"
    CONFIRMED = "confirmed", "confirmed"
    REJECTED = "rejected", "rejected (the guest was told why)"


class Reservation(models.Model):
    """What the guest asked the front desk for; answered at once with "pending"."""

    guest = models.CharField(max_length=100, help_text="Guest's name.")
    guest_email = models.EmailField(help_text="Where the guest hears back.")
    hotel = models.ForeignKey(Hotel, on_delete=models.PROTECT, help_text="Hotel asked for.")
    nights = models.PositiveIntegerField(help_text="Number of nights.")
    amount = models.DecimalField(max_digits=10, decimal_places=2, help_text="Nights times the nightly rate, EUR.")
    card_last4 = models.CharField(max_length=4, help_text="Last four digits of the card (never the number).")
    card_expiry = models.CharField(max_length=7, help_text="Card expiry, YYYY-MM.")
    status = models.CharField(max_length=16, choices=ReservationStatus.choices, default=ReservationStatus.PENDING,
                              help_text="pending until payments and the hotel have answered.")
    reason = models.CharField(max_length=255, blank=True, default="", help_text="Why it was rejected.")
    created_at = models.DateTimeField(default=timezone.now, help_text="When the guest booked.")
    decided_at = models.DateTimeField(null=True, blank=True, help_text="When it was confirmed or rejected.")

    def __str__(self) -> str:
        return f"#{self.pk} {self.guest} at {self.hotel}"


class AuthorisationStatus(models.TextChoices):
    AUTHORISED = "authorised", "authorised (amount held on the card)"
    RELEASED = "released", "released (compensated)"


class CardAuthorisation(models.Model):
    """Payments: an amount held on the guest's card."""

    reservation_id = models.BigIntegerField(help_text="The front desk's reservation.")
    amount = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal(0), help_text="Amount held, EUR.")
    status = models.CharField(max_length=16, choices=AuthorisationStatus.choices,
                              default=AuthorisationStatus.AUTHORISED, help_text="Held, or released again.")
    message_id = models.CharField(max_length=255, db_index=True, help_text="The event that caused the hold.")
    created_at = models.DateTimeField(default=timezone.now, help_text="When the amount was held.")
    released_at = models.DateTimeField(null=True, blank=True, help_text="When the hold was released.")

    def __str__(self) -> str:
        return f"hold #{self.pk} for reservation {self.reservation_id}: {self.status}"


class Booking(models.Model):
    """The hotel service: a room allocated to a reservation."""

    reservation_id = models.BigIntegerField(help_text="The front desk's reservation.")
    hotel = models.ForeignKey(Hotel, on_delete=models.PROTECT, help_text="Hotel whose room it is.")
    message_id = models.CharField(max_length=255, db_index=True, help_text="The event that caused the booking.")
    created_at = models.DateTimeField(default=timezone.now, help_text="When the room was allocated.")

    def __str__(self) -> str:
        return f"room at {self.hotel} for reservation {self.reservation_id}"


class GuestNotice(models.Model):
    """What the front desk told the guest (by e-mail, in a real system)."""

    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE, related_name="notices",
                                    help_text="The reservation it is about.")
    text = models.TextField(help_text="The message to the guest.")
    message_id = models.CharField(max_length=255, db_index=True, help_text="The event that caused the notice.")
    created_at = models.DateTimeField(default=timezone.now, help_text="When the guest was told.")

    def __str__(self) -> str:
        return f"to {self.reservation.guest}: {self.text[:60]}"


class Invoice(models.Model):
    """The front desk's invoice, issued by a Celery task dispatched through the outbox."""

    reservation_id = models.BigIntegerField(help_text="The confirmed reservation.")
    amount = models.DecimalField(max_digits=10, decimal_places=2, help_text="Amount invoiced, EUR.")
    task_id = models.CharField(max_length=255, db_index=True, help_text="Id of the Celery task that issued it.")
    created_at = models.DateTimeField(default=timezone.now, help_text="When it was issued.")

    def __str__(self) -> str:
        return f"invoice #{self.pk} for reservation {self.reservation_id}"
