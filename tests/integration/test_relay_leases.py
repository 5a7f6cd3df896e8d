"""Relay leases against the database's clock: relays whose own clocks are wrong neither steal nor hold work."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from unittest import mock
from urllib.parse import urlsplit

import pytest
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone

import outbox
from outbox.conf import outbox_settings
from outbox.models import OutboxMessage, Status
from outbox.relay import Relay, RelayResult
from outbox.relay.claimed import Claimed
from outbox.transports.amqp import AmqpTransport
from outbox.transports.base import PublishReport
from tests.proxy import OutageProxy
from tests.waiting import wait_until

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
    with override_settings(OUTBOX_BACKOFF_BASE=60.0, OUTBOX_BACKOFF_CAP=60.0, OUTBOX_UNROUTED=False):
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


def expire_leases() -> int:
    """The lease runs out (on the database's clock) instead of waiting LEASE_SECONDS."""
    return OutboxMessage.objects.pending().update(lease_until=database_now() - timedelta(seconds=1))


def claimed_by(relay: Relay) -> list[Claimed]:
    result, live = relay._claim()
    assert result.claimed == len(live) == 1
    return live


def test_relay__lease_lost_and_message_sent_by_another__late_confirm_changes_nothing(bound_queue, caplog):
    queue = bound_queue()
    message = outbox.publish("orders.placed", {"order": 1}, key="order-1")
    stale, healthy = Relay(), Relay()
    live = claimed_by(stale)
    expire_leases()
    assert healthy.drain().sent == 1
    queue.take(1)
    sent_at = OutboxMessage.objects.get().sent_at

    late = RelayResult()
    with caplog.at_level(logging.INFO, logger="outbox.relay"):
        stale._record(live, PublishReport(confirmed=[str(message.id)]), late)

    assert (late.sent, late.lost) == (0, 1)
    assert OutboxMessage.objects.get().sent_at == sent_at
    [record] = [r for r in caplog.records if getattr(r, "action", "") == "outbox_lease_lost"]
    assert record.levelno == logging.INFO


def test_relay__lease_lost_to_a_relay_in_flight__late_failure_neither_kills_nor_charges(exchange):
    message = outbox.publish("orders.placed", {"order": 1}, key="order-1")
    stale, healthy = Relay(), Relay()
    live = claimed_by(stale)
    expire_leases()
    in_flight = claimed_by(healthy)

    late = RelayResult()
    with override_settings(OUTBOX_MAX_ATTEMPTS=1):
        stale._record(live, PublishReport(failed={str(message.id): "nacked by the broker"}), late)

    assert (late.dead, late.retried, late.lost) == (0, 0, 1)
    row = OutboxMessage.objects.get()
    assert (row.status, row.attempts, row.lease_owner) == (Status.PENDING, 0, healthy.owner)
    healthy._record(in_flight, PublishReport(confirmed=[str(message.id)]), RelayResult())
    assert OutboxMessage.objects.get().status == Status.SENT


def test_relay__lease_lost_to_a_relay_in_flight__late_release_keeps_its_lease(exchange):
    message = outbox.publish("orders.placed", {"order": 1}, key="order-1")
    stale, healthy = Relay(), Relay()
    live = claimed_by(stale)
    expire_leases()
    claimed_by(healthy)
    lease_until = OutboxMessage.objects.get().lease_until

    late = RelayResult()
    stale._record(live, PublishReport(unknown=[str(message.id)]), late)
    stale._release(live, late)

    assert (late.released, late.lost) == (0, 2)
    row = OutboxMessage.objects.get()
    assert (row.lease_owner, row.lease_until) == (healthy.owner, lease_until)


def test_relay__owner__names_the_relays_host_and_process():
    owner = Relay().owner
    assert f":{os.getpid()}:" in owner and len(owner) <= OutboxMessage._meta.get_field("lease_owner").max_length


def test_relay__confirms_slower_than_the_lease__renews_it_and_no_other_relay_takes_the_batch(bound_queue, broker_url):
    queue = bound_queue()
    target = urlsplit(broker_url)
    proxy = OutageProxy((target.hostname or "127.0.0.1", target.port or 5672))
    slow = Relay(AmqpTransport(proxy.url()))
    outcome: list[RelayResult] = []
    worker = threading.Thread(target=lambda: outcome.append(drain_and_close(slow)))
    try:
        with override_settings(OUTBOX_LEASE_SECONDS=2.5, OUTBOX_CONFIRM_TIMEOUT=20.0):
            outbox.publish("orders.placed", {"order": 0})
            assert slow.drain().sent == 1  # connected
            message = outbox.publish("orders.placed", {"order": 1})
            proxy.hold_replies()
            worker.start()
            wait_until(lambda: OutboxMessage.objects.filter(pk=message.pk, lease_owner=slow.owner).exists(),
                       what="the slow relay's claim")
            first_lease = OutboxMessage.objects.get(pk=message.pk).lease_until
            wait_until(lambda: database_now() > first_lease + timedelta(seconds=1), timeout=10,
                       what="the first lease to run out")
            assert OutboxMessage.objects.get(pk=message.pk).lease_until > database_now()  # renewed
            assert Relay().drain().claimed == 0
    finally:
        proxy.release_replies()
        worker.join(timeout=30)
        proxy.close()
        slow.close()
    [result] = outcome
    assert (result.sent, result.lost) == (1, 0)
    assert [r.message_id for r in queue.take(2)][1:] == [str(message.id)]
    assert len(queue.settle(0.3)) == 2


def drain_and_close(relay: Relay) -> RelayResult:
    try:
        return relay.drain()
    finally:
        connections.close_all()
