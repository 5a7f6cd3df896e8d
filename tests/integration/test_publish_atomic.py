"""publish() outside transaction.atomic(): by default the message commits at once (autocommit), as the README
says; with OUTBOX_REQUIRE_ATOMIC the call raises and writes nothing, so the mistake shows in development."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import override_settings

import outbox
from outbox.exceptions import NotInTransaction, OutboxError
from outbox.models import OutboxMessage

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_publish__outside_atomic_by_default__committed_at_once():
    outbox.publish("orders.placed", {"order_id": 1})
    with transaction.atomic():
        transaction.set_rollback(True)  # nothing the caller rolls back afterwards takes it away
    assert OutboxMessage.objects.filter(topic="orders.placed").count() == 1


@override_settings(OUTBOX_REQUIRE_ATOMIC=True)
def test_publish__outside_atomic_when_required__raises_and_writes_nothing():
    with pytest.raises(NotInTransaction, match=r"transaction\.atomic\(\)") as raised:
        outbox.publish("orders.placed", {"order_id": 1})
    assert isinstance(raised.value, OutboxError)
    with pytest.raises(NotInTransaction):
        outbox.publish_many([outbox.OutgoingMessage("orders.placed", {"order_id": 2})])
    assert OutboxMessage.objects.count() == 0


@override_settings(OUTBOX_REQUIRE_ATOMIC=True)
def test_publish__inside_atomic_when_required__stored_with_the_transaction():
    with transaction.atomic():
        outbox.publish("orders.placed", {"order_id": 1})
    assert OutboxMessage.objects.filter(topic="orders.placed").count() == 1
