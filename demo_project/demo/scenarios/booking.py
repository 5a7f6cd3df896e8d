"""Seed 000: a reservation accepted at once and confirmed later; business failures compensated."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from demo_project.demo.driver import Driver
from demo_project.hotel import frontdesk
from demo_project.hotel.models import (
    AuthorisationStatus,
    Booking,
    CardAuthorisation,
    GuestNotice,
    Hotel,
    Invoice,
    Reservation,
    ReservationStatus,
)
from inbox.models import InboxMessage, Status
from outbox import operations
from outbox.models import OutboxMessage

KEY = "booking"
TITLE = "2. Hotel booking: pending at once, confirmed later, failures compensated"
STORY = ("seed 000 · front desk → payments → hotel; a sold-out hotel and a declined card are business errors: "
         "no retries, a fault message, and the front desk compensates")
TOPICS = ("frontdesk.#", "payments.#", "hotel.#")
VALID_CARD, EXPIRED_CARD = "2031-08", "2020-12"
REFUSING_HANDLERS = ("payments.authorise-card", "hotel.book-room")


def run(driver: Driver) -> None:
    hotel = Hotel.objects.create(name="Hotel Miramare", rooms=1, nightly_rate=Decimal("120.00"))
    driver.note("setup", "hotel", f"{hotel.name} has {hotel.rooms} room left, at {hotel.nightly_rate} EUR a night")
    ada = _book(driver, "Ada", hotel, 2, "4242", VALID_CARD)
    driver.until(lambda: _decided([ada]) and Invoice.objects.filter(reservation_id=ada.pk).exists(),
                 "Ada's reservation to be confirmed and invoiced")
    grace = _book(driver, "Grace", hotel, 1, "5555", VALID_CARD)
    linus = _book(driver, "Linus", hotel, 3, "0005", EXPIRED_CARD)
    driver.until(lambda: _decided([grace, linus]) and not _held_for_rejected(), "the front desk to compensate")
    _publish_again(driver, OutboxMessage.objects.get(topic=frontdesk.ISSUE_INVOICE))


def _book(driver: Driver, guest: str, hotel: Hotel, nights: int, last4: str, expiry: str) -> Reservation:
    with driver.action("commit", "front desk", f"{guest} books {nights} night(s), card …{last4} valid to "
                       f"{expiry}: stored as pending with its event, the guest sees 'pending' at once"):
        reservation = frontdesk.place_reservation(guest, f"{guest.lower()}@example.com", hotel, nights, last4,
                                                  expiry)
        driver.labels.name(f"reservation:{reservation.pk}", guest)
    return reservation


def _decided(reservations: list[Reservation]) -> bool:
    pks = [r.pk for r in reservations]
    return not Reservation.objects.filter(pk__in=pks, status=ReservationStatus.PENDING).exists()


def _held_for_rejected() -> bool:
    rejected = Reservation.objects.filter(status=ReservationStatus.REJECTED).values("pk")
    return CardAuthorisation.objects.filter(reservation_id__in=rejected, status=AuthorisationStatus.AUTHORISED).exists()


def _publish_again(driver: Driver, message: OutboxMessage) -> None:
    sent_at, invoices = message.sent_at, Invoice.objects.count()
    with driver.action("redeliver", "demo", "the invoice task is sent again with the same task id "
                       "(outbox.operations.replay; a relay crash after publishing does the same)"):
        driver.redelivered[KEY] += operations.replay(OutboxMessage.objects.filter(pk=message.pk))
    driver.until(lambda: OutboxMessage.objects.sent().filter(pk=message.pk).exclude(sent_at=sent_at).exists(),
                 "the relay to publish the invoice task again")
    driver.settle()
    driver.note("checked", "demo", f"invoices after the second delivery: {Invoice.objects.count()} "
                f"(before: {invoices})")


def effects() -> list[tuple[str, list[Any]]]:
    return [("card holds per reservation", list(CardAuthorisation.objects.values_list("reservation_id", flat=True))),
            ("rooms booked per reservation", list(Booking.objects.values_list("reservation_id", flat=True))),
            ("invoices per reservation", list(Invoice.objects.values_list("reservation_id", flat=True))),
            ("guest notices per event", list(GuestNotice.objects.values_list("message_id", flat=True)))]


def facts() -> tuple[dict[str, Any], list[str], list[str]]:
    reservations = Reservation.objects.all()
    numbers = {
        "reservations": reservations.count(),
        "confirmed": reservations.filter(status=ReservationStatus.CONFIRMED).count(),
        "rejected": reservations.filter(status=ReservationStatus.REJECTED).count(),
        "pending": reservations.filter(status=ReservationStatus.PENDING).count(),
        "holds_released": CardAuthorisation.objects.filter(status=AuthorisationStatus.RELEASED).count(),
        "rooms": sum(h.rooms for h in Hotel.objects.all()),
        "rooms_booked": Booking.objects.count(),
        "invoices": Invoice.objects.count(),
        "business_failures_retried": _business_failures_retried(),
    }
    lines = [f"reservations {numbers['reservations']}: confirmed {numbers['confirmed']}, rejected "
             f"{numbers['rejected']} (guest told, card holds released {numbers['holds_released']}), pending "
             f"{numbers['pending']}; rooms booked {numbers['rooms_booked']} of {numbers['rooms']}; invoices "
             f"{numbers['invoices']}; business failures retried {numbers['business_failures_retried']} times"]
    problems = []
    if numbers["pending"] or _held_for_rejected():
        problems.append("a reservation is still pending, or a rejected one still holds money on a card")
    if numbers["rooms_booked"] > numbers["rooms"]:
        problems.append("the hotel is overbooked")
    if numbers["business_failures_retried"]:
        problems.append("a business error was retried")
    return numbers, lines, problems


def _business_failures_retried() -> int:
    """Extra runs of messages that failed with a business error (should be 0: refused at once)."""
    dead = InboxMessage.objects.filter(status=Status.DEAD, handler__in=REFUSING_HANDLERS).only("history", "attempts")
    refused = [row for row in dead
               if any(entry.get("event") == "business_error" for entry in row.history or [])]
    return sum(row.attempts - 1 for row in refused)
