"""The two handlers under test, on every chaos event: one ordered per key, one not. Each records its effect
in its own transaction (the inbox's), so an applied duplicate would show as a second Effect row.

About 1% of messages fail on their first attempt (decided by the uid, the same in every process), which
sends them through delayed retries and, for the ordered handler, blocks the later messages of their key.
"""

from __future__ import annotations

from chaos.config import ORDERED_HANDLER as ORDERED
from chaos.config import PLAIN_HANDLER as PLAIN
from chaos.models import Effect
from inbox import Message, handler

FLAKY_MODULUS = 100


class TransientFailure(Exception):
    """An injected failure of a first attempt."""


def _apply(name: str, message: Message) -> None:
    uid = str(message.payload["uid"])
    if message.attempt == 1 and int(uid[:8], 16) % FLAKY_MODULUS == 0:
        raise TransientFailure(f"first attempt of {uid} fails on purpose")
    Effect.objects.create(handler=name, uid=uid, message_id=message.id, key=message.key, seq=message.sequence)


@handler("chaos.#", name=ORDERED, ordered=True, immediate_retries=0, delayed_retries=20, backoff="constant")
def ordered(message: Message) -> None:
    _apply(ORDERED, message)


@handler("chaos.#", name=PLAIN, immediate_retries=0, delayed_retries=20, backoff="constant")
def plain(message: Message) -> None:
    _apply(PLAIN, message)
