"""The write side: a price move and the alerts it raises, committed together with their messages."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

import outbox
from demo_project.alerts.models import Alert, PriceMove, Subscription
from outbox.models import OutboxMessage

PRICE_ALERT = "alerts.price_alert"


def record_price_move(symbol: str, old: Decimal, new: Decimal, *, worthless_after: float | None = None
                      ) -> list[OutboxMessage]:
    """Store the move and one alert per subscriber whose threshold it crosses; returns their messages.

    ``worthless_after`` (seconds) makes a flash alert: not sent, nor applied, once it has passed.
    Returns [] when nobody is interested (the move is still stored).
    """
    with transaction.atomic():
        move = PriceMove.objects.create(symbol=symbol, old_price=old, new_price=new)
        subscribers = [s for s in Subscription.objects.filter(symbol=symbol).order_by("pk")
                       if abs(move.change_pct) >= s.threshold_pct]
        messages = outbox.publish_many([_message(move, s, worthless_after) for s in subscribers])
        Alert.objects.bulk_create([
            Alert(subscription=s, price_move=move, message_id=str(m.id), expires_at=m.expires_at)
            for s, m in zip(subscribers, messages, strict=True)])
    return messages


def _message(move: PriceMove, subscription: Subscription, worthless_after: float | None) -> outbox.OutgoingMessage:
    payload = {"email": subscription.email, "symbol": move.symbol, "old_price": move.old_price,
               "new_price": move.new_price, "change_pct": round(move.change_pct, 2)}
    return outbox.OutgoingMessage(PRICE_ALERT, payload, key=f"subscription:{subscription.pk}",
                                  expires_in=worthless_after)
