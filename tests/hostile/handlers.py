"""The handlers of the hostile-corpus consumer: one records good messages, one with a ttl records timed ones,
one refuses every single-word routing key with a business error (those are the keys that are no outbox topic)."""

from __future__ import annotations

from inbox import BusinessError, Message, handler
from tests.testapp.models import Effect


@handler("hostile.good", name="hostile-record")
def record(message: Message) -> None:
    Effect.objects.create(handler="hostile-record", message_id=message.id, value=message.payload)


@handler("hostile.timed", name="hostile-timed", ttl=60)
def record_timed(message: Message) -> None:
    Effect.objects.create(handler="hostile-timed", message_id=message.id, value=message.payload)


@handler("*", name="hostile refuse")
def refuse(message: Message) -> None:
    raise BusinessError(f"{message.topic!r} refused")
