"""Database routers: every write of the outbox and inbox goes to the router's write alias (never a read
replica), and publish() refuses to write outside the caller's transaction. The second alias, ``mail_provider``,
is a second connection to the same test database (a mirror); made read-only, it plays a read replica."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections, transaction
from django.db.models import Model
from django.test import override_settings

import outbox
from inbox.models import InboxMessage
from inbox.models import Status as InboxStatus
from outbox.exceptions import OutboxError, TransactionMismatch
from outbox.models import OutboxMessage, Status
from tests.admin_support import INBOX_LIST, OUTBOX_LIST, client_for, confirm_action, dead_inbox, dead_outbox, staff
from tests.testapp.models import Effect
from tests.testapp.tasks import RECORD_TASK, record_effect

OTHER = "mail_provider"
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, databases=["default", OTHER])]


class ReadReplicaRouter:
    """The usual replica router: the outbox's and inbox's models are read from the replica, written to the
    primary (the default)."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return OTHER if model._meta.app_label in ("outbox", "inbox") else None

    def db_for_write(self, model: type[Model], **hints: Any) -> str | None:
        return None


class OutboxElsewhereRouter:
    """Sends the outbox's writes to another alias than the business data."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return OTHER if model._meta.app_label == "outbox" else None

    db_for_write = db_for_read


@pytest.fixture
def read_replica() -> Iterator[None]:
    """OTHER becomes a read-only connection (a write there fails, as on a replica) read through ReadReplicaRouter."""
    settings = connections[OTHER].settings_dict
    saved = dict(settings["OPTIONS"])
    settings["OPTIONS"]["options"] = "-c default_transaction_read_only=on"
    connections[OTHER].close()
    try:
        with override_settings(DATABASE_ROUTERS=[ReadReplicaRouter()]):
            yield
    finally:
        settings["OPTIONS"] = saved
        connections[OTHER].close()


# -- publish() and the caller's transaction ----------------------------------------------------------

def test_publish__caller_in_a_transaction_on_another_alias__error_and_nothing_written():
    with pytest.raises(TransactionMismatch, match=r"'default'.*not in a transaction.*'mail_provider'") as raised, \
            transaction.atomic(using=OTHER):
        outbox.publish("orders.placed", {"order": 1})
    assert isinstance(raised.value, OutboxError)
    assert not OutboxMessage.objects.exists()


def test_publish__router_sends_the_outbox_to_another_alias_than_the_callers_transaction__error():
    with override_settings(DATABASE_ROUTERS=[OutboxElsewhereRouter()]), \
            pytest.raises(TransactionMismatch, match=r"'mail_provider'.*'default'"), transaction.atomic():
        Effect.objects.create(handler="h", message_id="m", value={})
        outbox.publish("orders.placed", {"order": 1})
    assert not OutboxMessage.objects.exists() and not Effect.objects.exists()


def test_publish__transactions_on_both_aliases__written_in_the_outbox_one():
    with transaction.atomic(), transaction.atomic(using=OTHER):
        message = outbox.publish("orders.placed", {"order": 1})
    assert OutboxMessage.objects.filter(pk=message.pk).exists()


def test_publish__no_transaction_anywhere__its_own_transaction():
    message = outbox.publish("orders.placed", {"order": 1})
    assert OutboxMessage.objects.filter(pk=message.pk).exists()


def test_publish__explicit_using_in_the_callers_transaction__allowed():
    with transaction.atomic(using=OTHER):
        message = outbox.publish("orders.placed", {"order": 1}, using=OTHER)
    assert OutboxMessage.objects.filter(pk=message.pk).exists()


# -- writes go to the write alias, not the read replica ------------------------------------------------

def test_idempotent_task__read_replica_router__recorded_on_the_primary_and_runs_once(read_replica):
    task_id = str(uuid.uuid4())
    assert record_effect.apply(args=["a"], task_id=task_id).get() == "a"
    assert record_effect.apply(args=["a"], task_id=task_id).get() is None
    assert InboxMessage.objects.using("default").filter(handler=f"celery:{RECORD_TASK}", message_id=task_id).exists()
    assert Effect.objects.filter(message_id="a").count() == 1


def test_admin_retry__read_replica_router__outbox_and_inbox_rows_changed_on_the_primary(read_replica):
    operator = client_for(staff(superuser=True))
    message = dead_outbox()
    row = dead_inbox(ValueError("x"))

    assert confirm_action(operator, OUTBOX_LIST, "retry", [message.pk]).status_code == 302
    assert confirm_action(operator, INBOX_LIST, "retry", [row.pk]).status_code == 302

    assert OutboxMessage.objects.using("default").get(pk=message.pk).status == Status.PENDING
    assert InboxMessage.objects.using("default").get(pk=row.pk).status == InboxStatus.WAITING


class EverythingElsewhereRouter:
    """Sends the outbox, the inbox and the project's data to the other alias."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return OTHER

    db_for_write = db_for_read


def test_relay_processor_and_receive__no_alias_given__the_routers_write_alias():
    from inbox.processing import Processor
    from outbox.relay import Relay

    with override_settings(DATABASE_ROUTERS=[EverythingElsewhereRouter()]):
        assert Relay().using == OTHER and Processor().using == OTHER
        row = InboxMessage(handler="h", message_id=str(uuid.uuid4()), topic="t", payload={})
        with transaction.atomic(using=OTHER):
            assert InboxMessage.objects.receive(row)
        assert row._state.db == OTHER
    assert Relay(using="default").using == "default"
