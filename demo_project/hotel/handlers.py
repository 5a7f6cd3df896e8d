"""The hotel booking's consumers (autodiscovered by the inbox app).

The chain: front desk → payments → hotel → front desk. A business error (declined card, sold out)
is not retried: the inbox records it and publishes "<topic>.fault", which the front desk handles by
rejecting the reservation; payments then release the hold on the card.
"""

from __future__ import annotations

import inbox
from demo_project.hotel import frontdesk, payments, rooms


@inbox.handler(frontdesk.RESERVATION_PLACED, name="payments.authorise-card")
def authorise_card(message: inbox.Message) -> None:
    payments.authorise(message.payload, message.id)


@inbox.handler(payments.CARD_AUTHORISED, name="hotel.book-room")
def book_room(message: inbox.Message) -> None:
    rooms.book(message.payload, message.id)


@inbox.handler(rooms.ROOM_BOOKED, name="frontdesk.confirm")
def confirm_reservation(message: inbox.Message) -> None:
    frontdesk.confirm(message.payload["reservation_id"], message.id)


# Fault messages carry the refused message's payload and the error. A failure here is not itself
# turned into a fault (faults=False): nobody is listening for faults of faults.
@inbox.handler(f"{frontdesk.RESERVATION_PLACED}.fault", f"{payments.CARD_AUTHORISED}.fault",
               name="frontdesk.compensate", faults=False)
def compensate(message: inbox.Message) -> None:
    fault = message.payload
    frontdesk.reject(fault["payload"]["reservation_id"], fault["error_message"], message.id)


@inbox.handler(frontdesk.RESERVATION_REJECTED, name="payments.release-hold")
def release_hold(message: inbox.Message) -> None:
    payments.release(message.payload["reservation_id"])
