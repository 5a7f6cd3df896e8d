"""Issue 4 end to end on PostgreSQL + RabbitMQ: per-key order, dead heads, expiry, staleness, breakers."""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import defaultdict
from datetime import timedelta

import amqp
import pytest
from django.db import close_old_connections, transaction
from django.test import override_settings
from django.utils import timezone

import outbox
from inbox import operations
from inbox.consumer import InboxConsumer
from inbox.models import InboxMessage, Status
from outbox.models import BreakerState
from outbox.relay import Relay
from tests.testapp.models import Effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _bind(consumer: InboxConsumer) -> None:
    consumer.run(once=True, idle_timeout=0.1)  # declares and binds the queues


def _drive(consumer: InboxConsumer, done, *, rounds: int = 400) -> None:
    """Run the consumer (deliveries, then due retries) until ``done()`` or the round budget is spent."""
    for _ in range(rounds):
        if done():
            return
        Relay().drain()
        consumer.run(once=True, idle_timeout=0.05)
    raise AssertionError("the messages were not all processed")


def _raw_publish(exchange: str, topic: str, payload: object, headers: dict, message_id: str | None = None) -> str:
    message_id = message_id or str(uuid.uuid4())
    with amqp.Connection("127.0.0.1:5672", userid="guest", password="guest") as conn:
        channel = conn.channel()
        channel.basic_publish(amqp.Message(json.dumps(payload), content_type="application/json",
                                           message_id=message_id, application_headers=headers),
                              exchange=exchange, routing_key=topic)
    return message_id


class RequeueingConsumer(InboxConsumer):
    """A worker that hands a seeded share of its deliveries back unprocessed (forcing redeliveries)."""

    def __init__(self, *args, seed: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rng = random.Random(seed)

    def _on_delivery(self, received):
        if self.rng.random() < 0.15 and not received.redelivered:
            self.broker.reject(received, requeue=True)
            return
        super()._on_delivery(received)


# RequeueingConsumer forces redeliveries with basic.reject(requeue): a classic queue puts the message back at its
# head, a quorum queue (RabbitMQ 3.10) at its tail, behind the later messages of its key. The consumer itself never
# requeues one message: it gives back what it holds by closing the channel, which keeps queue order on both types.
@override_settings(INBOX_QUEUE_TYPE="classic")
def test_ordered_handler__three_workers_50_keys_failures_and_redeliveries__never_out_of_order(
        handlers, inbox_queue):
    failing = set()
    rng = random.Random(4)

    @handlers("accounts.*", name="ordered-ledger", ordered=True, immediate_retries=0, backoff="constant",
              backoff_base=0.05, delayed_retries=5)
    def ledger(message):
        if message.id in failing and message.attempt == 1:
            raise ConnectionError("injected transient failure")
        Effect.objects.create(handler="ledger", message_id=message.id, key=message.key, sequence=message.sequence)

    _bind(InboxConsumer())
    with transaction.atomic():
        rows = outbox.publish_many(outbox.OutgoingMessage("accounts.changed", {"n": n}, key=f"acct-{n % 50}")
                                   for n in range(500))
    failing.update(str(r.id) for r in rows if rng.random() < 0.2)
    stop = threading.Event()
    workers = [RequeueingConsumer(stop=stop, seed=seed) for seed in range(3)]

    def work(worker: InboxConsumer) -> None:
        try:
            worker.run()
        finally:
            close_old_connections()

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    try:
        from tests.waiting import wait_until

        def all_applied() -> bool:
            Relay().drain()
            return Effect.objects.count() >= 500

        wait_until(all_applied, timeout=90, interval=0.1, what="500 ordered messages applied")
    finally:
        stop.set()
        for t in threads:
            t.join()
    per_key = defaultdict(list)
    for key, sequence in Effect.objects.order_by("id").values_list("key", "sequence"):
        per_key[key].append(sequence)
    assert len(per_key) == 50
    assert all(seqs == sorted(seqs) for seqs in per_key.values())
    assert sum(len(s) for s in per_key.values()) == 500
    assert Effect.objects.values("message_id").distinct().count() == 500
    assert InboxMessage.objects.filter(status=Status.WAITING, attempts__gt=0).count() == 0


def test_ordered_handler__dead_head__blocks_its_key_until_retried(handlers, inbox_queue):
    broken = {"on": True}

    @handlers("ship.*", name="ordered-shipping", ordered=True, immediate_retries=0, delayed_retries=0)
    def ship(message):
        if broken["on"] and message.payload["n"] == 0:
            raise ValueError("carrier rejected the label")
        Effect.objects.create(handler="ship", message_id=message.id, key=message.key, sequence=message.sequence)

    consumer = InboxConsumer()
    _bind(consumer)
    outbox.publish_many([outbox.OutgoingMessage("ship.requested", {"n": n}, key="parcel-1") for n in range(3)]
                        + [outbox.OutgoingMessage("ship.requested", {"n": 9}, key="parcel-2")])
    _drive(consumer, lambda: InboxMessage.objects.filter(status=Status.BLOCKED).count() == 2
           and Effect.objects.filter(key="parcel-2").exists())
    head = InboxMessage.objects.get(status=Status.DEAD)
    assert head.sequence == 1 and head.key == "parcel-1"
    assert not Effect.objects.filter(key="parcel-1").exists()
    broken["on"] = False
    assert operations.retry(InboxMessage.objects.filter(pk=head.pk)) == 1
    _drive(consumer, lambda: Effect.objects.filter(key="parcel-1").count() == 3)
    assert list(Effect.objects.filter(key="parcel-1").order_by("id").values_list("sequence", flat=True)) == [1, 2, 3]


def test_ordered_handler__dead_releases_key_when_configured(handlers, inbox_queue):
    @handlers("ship.*", name="ordered-lenient", ordered=True, immediate_retries=0, delayed_retries=0)
    def ship(message):
        if message.payload["n"] == 0:
            raise ValueError("bad label")
        Effect.objects.create(handler="ship", message_id=message.id, key=message.key, sequence=message.sequence)

    consumer = InboxConsumer()
    _bind(consumer)
    with override_settings(INBOX_DEAD_BLOCKS_KEY=False):
        outbox.publish_many([outbox.OutgoingMessage("ship.requested", {"n": n}, key="p") for n in range(3)])
        _drive(consumer, lambda: Effect.objects.count() == 2)
    assert InboxMessage.objects.get(status=Status.DEAD).sequence == 1


def test_expired_message__recorded_expired_not_applied(handlers, inbox_queue, exchange):
    @handlers("alerts.*", name="price-alert", ttl=3600)
    def alert(message):
        Effect.objects.create(handler="alert", message_id=message.id)

    consumer = InboxConsumer()
    _bind(consumer)
    past = (timezone.now() - timedelta(seconds=1)).isoformat()
    old = (timezone.now() - timedelta(hours=2)).isoformat()
    by_expiry = _raw_publish(exchange, "alerts.price", {"p": 1}, {"expires_at": past})
    by_ttl = _raw_publish(exchange, "alerts.price", {"p": 2}, {"cloudEvents:time": old})
    fresh = _raw_publish(exchange, "alerts.price", {"p": 3}, {"cloudEvents:time": timezone.now().isoformat()})
    _drive(consumer, lambda: InboxMessage.objects.count() == 3)
    statuses = dict(InboxMessage.objects.values_list("message_id", "status"))
    assert statuses == {by_expiry: Status.EXPIRED, by_ttl: Status.EXPIRED, fresh: Status.DONE}
    assert list(Effect.objects.values_list("message_id", flat=True)) == [fresh]


def test_skip_stale__older_message_of_key_recorded_skipped(handlers, inbox_queue, exchange):
    @handlers("prices.*", name="price-view", skip_stale=True)
    def view(message):
        Effect.objects.create(handler="view", message_id=message.id, key=message.key, sequence=message.sequence)

    consumer = InboxConsumer()
    _bind(consumer)
    newer = _raw_publish(exchange, "prices.changed", {"p": 2}, {"key": "ACME", "sequence": 2})
    older = _raw_publish(exchange, "prices.changed", {"p": 1}, {"key": "ACME", "sequence": 1})
    _drive(consumer, lambda: InboxMessage.objects.count() == 2)
    assert InboxMessage.objects.get(message_id=older).status == Status.SKIPPED
    assert list(Effect.objects.values_list("message_id", flat=True)) == [newer]


def test_breaker__downstream_down_for_100_messages__opens_and_recovers_without_dead_messages(
        handlers, inbox_queue):
    downstream = {"down": True, "calls": 0}

    def send_mail(to: str) -> None:
        downstream["calls"] += 1
        if downstream["down"]:
            raise ConnectionError("mail API unavailable")

    @handlers("users.*", name="mailer", immediate_retries=1, delayed_retries=3, backoff="constant",
              backoff_base=0.05)
    def mailer(message):
        send_mail(message.payload["email"])
        Effect.objects.create(handler="mailer", message_id=message.id)

    @handlers("users.*", name="audit")
    def audit(message):
        Effect.objects.create(handler="audit", message_id=message.id)

    consumer = InboxConsumer()
    _bind(consumer)
    with override_settings(INBOX_BREAKER_FAILURES=3, INBOX_BREAKER_COOLDOWN=0.5, INBOX_BREAKER_COOLDOWN_CAP=2.0):
        outbox.publish_many(outbox.OutgoingMessage("users.registered", {"email": f"u{n}@example.com"})
                            for n in range(100))
        # The outage: every message would fail; the other handler must not notice.
        _drive(consumer, lambda: Effect.objects.filter(handler="audit").count() == 100)
        assert BreakerState.objects.get(name="mailer").state in ("open", "half_open")
        calls_during_outage = downstream["calls"]
        downstream["down"] = False  # the mail API recovers
        _drive(consumer, lambda: Effect.objects.filter(handler="mailer").count() == 100, rounds=2000)
    assert calls_during_outage < 25  # far fewer than the 100 messages reached the failing API
    assert not InboxMessage.objects.filter(status=Status.DEAD).exists()
    assert BreakerState.objects.get(name="mailer").state == "closed"
    assert Effect.objects.values("handler", "message_id").distinct().count() == 200
    assert Effect.objects.count() == 200
