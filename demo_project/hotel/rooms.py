"""The hotel service: allocate a room, or refuse when the hotel is sold out (no overbooking)."""

from __future__ import annotations

from typing import Any

import outbox
from demo_project.hotel.exceptions import HotelSoldOut
from demo_project.hotel.models import Booking, Hotel

ROOM_BOOKED = "hotel.room.booked"


def book(reservation: dict[str, Any], message_id: str) -> Booking:
    """Allocate a room and announce it; raises :class:`HotelSoldOut` when none is left."""
    hotel = Hotel.objects.select_for_update().get(pk=reservation["hotel_id"])
    if hotel.booked >= hotel.rooms:
        raise HotelSoldOut(f"{hotel.name} is sold out")
    hotel.booked += 1
    hotel.save(update_fields=["booked"])
    booking = Booking.objects.create(reservation_id=reservation["reservation_id"], hotel=hotel, message_id=message_id)
    outbox.publish(ROOM_BOOKED, {"reservation_id": reservation["reservation_id"], "booking_id": booking.pk},
                   key=f"reservation:{reservation['reservation_id']}")
    return booking
