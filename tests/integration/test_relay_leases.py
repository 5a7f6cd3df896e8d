"""Relay leases against the database's clock: relays whose own clocks are wrong neither steal nor hold work."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

import outbox
from outbox.conf import outbox_settings
from outbox.models import OutboxMessage, Status
from outbox.relay import Relay

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def database_now() -> datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp()")
        return cursor.fetchone()[0]


@contextmanager
def clock_off_by(offset: timedelta) -> Iterator[None]:
    """This process's clock (``django.utils.timezone.now``, what the relay reads) is ``offset`` off."""
    real_now = timezone.now
    with mock.patch("django.utils.timezone.now", side_effect=lambda: real_now() + offset):
        yield


def lease() -> timedelta:
    return timedelta(seconds=outbox_settings.LEASE_SECONDS)


def claim_as_healthy_relay(owner: str = "healthy-relay") -> int:
    """A relay with a correct clock claims everything due; returns how many."""
    return len(OutboxMessage.objects.claim(100, owner, lease(), True))


def test_relay__clock_ahead_by_twice_the_lease__does_not_steal_a_live_lease(bound_queue):
    queue = bound_queue()
    outbox.publish("orders.placed", {"order": 1}, key="order-1")
    assert claim_as_healthy_relay() == 1

    with clock_off_by(2 * lease()):
        result = Relay().drain()

    assert result.claimed == 0
    assert queue.settle(0.3) == []
    assert OutboxMessage.objects.get().lease_owner == "healthy-relay"


def test_relay__clock_behind_by_twice_the_lease__takes_an_expired_lease(bound_queue):
    queue = bound_queue()
    message = outbox.publish("orders.placed", {"order": 1}, key="order-1")
    OutboxMessage.objects.update(lease_owner="dead-relay", lease_until=database_now() - timedelta(seconds=1))

    with clock_off_by(-2 * lease()):
        result = Relay().drain()

    assert result.sent == 1
    [received] = queue.take(1)
    assert received.message_id == str(message.id)


def test_relay__clock_behind__publishes_a_message_due_by_the_database_clock(bound_queue):
    queue = bound_queue()
    message = outbox.publish("orders.placed", {"order": 1})
    OutboxMessage.objects.update(available_at=database_now())

    with clock_off_by(-2 * lease()):
        assert Relay().drain().sent == 1

    assert [r.message_id for r in queue.take(1)] == [str(message.id)]


def test_relay__clock_ahead__leases_and_backs_off_from_the_database_clock(exchange):
    with override_settings(OUTBOX_BACKOFF_BASE=60.0, OUTBOX_BACKOFF_CAP=60.0):
        message = outbox.publish("nobody.listens", {"x": 1})
        before = database_now()
        with clock_off_by(timedelta(hours=1)):
            assert Relay().drain().retried == 1
    message.refresh_from_db()
    # exponential jitter: 60 s plus up to half of it, counted from the database's now
    assert before + timedelta(seconds=60) <= message.available_at <= database_now() + timedelta(seconds=90)


def test_relay__clock_ahead_of_expiry__still_sends_a_message_the_database_says_is_fresh(bound_queue):
    queue = bound_queue()
    message = outbox.publish("orders.placed", {"order": 1}, expires_in=600)

    with clock_off_by(timedelta(hours=1)):
        result = Relay().drain()

    assert (result.sent, result.expired) == (1, 0)
    assert [r.message_id for r in queue.take(1)] == [str(message.id)]


def test_relay__claim__lease_runs_from_the_database_clock(exchange):
    outbox.publish("orders.placed", {"order": 1})
    before = database_now()
    with clock_off_by(timedelta(hours=1)):
        OutboxMessage.objects.claim(10, uuid.uuid4().hex, lease(), True)
    row = OutboxMessage.objects.get()
    assert row.status == Status.PENDING
    assert before + lease() <= row.lease_until <= database_now() + lease()
