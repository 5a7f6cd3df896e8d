"""Bugs the reliability suite found (chaos runs, property tests), each pinned by the scenario that showed it."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import OperationalError, transaction

import outbox
from inbox.consumer import InboxConsumer
from inbox.processing import Processor
from outbox.models import OutboxMessage
from outbox.relay import Relay, wakeup
from tests.testapp.models import Effect
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_publish__wake_up_fails_after_commit__caller_sees_a_normal_commit():
    """The NOTIFY after commit fails when the connection dropped right after COMMIT (a terminated
    backend): the caller's transaction committed and its ``atomic`` block must exit normally."""
    failing = mock.patch.object(wakeup, "notify", side_effect=OperationalError("server closed the connection"))
    with failing, transaction.atomic():
        message = outbox.publish("orders.placed", {"order": 1})
    assert OutboxMessage.objects.get().id == message.id


def test_consumer__database_error_on_a_key_head__later_prefetched_message_of_the_key_waits(handlers, inbox_queue):
    """The database fails for seq 1 (nothing committed, the message is requeued) while seq 2 of the key is
    already prefetched by the same worker: seq 2 must not be applied before seq 1 comes back."""

    @handlers("accounts.*", name="ordered-ledger", ordered=True)
    def ledger(message):
        Effect.objects.create(handler="ledger", message_id=message.id, key=message.key, sequence=message.sequence)

    deliver = Processor.deliver
    failed: list[int] = []

    def fail_first_head(self, message, spec):
        if message.sequence == 1 and not failed:
            failed.append(1)
            raise OperationalError("terminating connection due to administrator command")
        return deliver(self, message, spec)

    consumer = InboxConsumer()
    consumer.run(once=True, idle_timeout=0.1)  # declares and binds the queues
    outbox.publish_many([outbox.OutgoingMessage("accounts.changed", {"n": n}, key="acct-1") for n in range(3)])
    assert Relay().drain().sent == 3  # all three are in the queue before the worker prefetches them
    with mock.patch.object(Processor, "deliver", fail_first_head):
        def applied() -> bool:
            consumer.run(once=True, idle_timeout=0.3)
            return Effect.objects.count() == 3

        wait_until(applied, timeout=30, interval=0, what="three messages applied")
    assert failed == [1]
    assert list(Effect.objects.order_by("id").values_list("sequence", flat=True)) == [1, 2, 3]
