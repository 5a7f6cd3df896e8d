"""A broker given as the nodes of a RabbitMQ cluster: the relay and the consumer go on through another node when
the one they use is SIGKILLed, nothing is lost (quorum queues), and a restarted node rejoins and serves again.

The cluster is the 3-node one of tests/cluster.py (started here when it does not run, stopped again after).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import close_old_connections, transaction
from django.test import override_settings
from kombu import Connection, Exchange, Queue

import outbox
from inbox.consumer import InboxConsumer
from inbox.models import InboxMessage, Status
from outbox.exceptions import BrokerUnavailable
from outbox.models import OutboxMessage
from outbox.models import Status as OutboxStatus
from outbox.relay import Relay
from tests import cluster
from tests.integration.consuming import declare_inbox_queues
from tests.testapp.models import Effect
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

QUORUM = {"x-queue-type": "quorum"}


@pytest.fixture(scope="module")
def nodes() -> Iterator[None]:
    """The 3-node cluster; stopped after the module when it was started for it, made whole again otherwise."""
    started_here = not cluster.healthy()
    cluster.start()
    yield
    if started_here:
        cluster.stop_all()
    else:
        cluster.start()


@pytest.fixture
def broker_url(request: pytest.FixtureRequest, nodes: None) -> Iterator[str]:
    """The cluster as OUTBOX_BROKER_URL, node 1 first: kombu's ``;``-joined form, or a list of URLs (the fixture's
    value is the joined form either way, for the helpers that take one string)."""
    form = getattr(request, "param", "semicolons")
    setting: Any = cluster.broker_url(1) if form == "semicolons" else cluster.urls(1)
    with override_settings(OUTBOX_BROKER_URL=setting, OUTBOX_BREAKER_RESET=0.05, OUTBOX_BREAKER_RESET_CAP=0.05):
        yield cluster.broker_url(1)
    cluster.start()  # every node up again for the next test


@pytest.fixture
def quorum_queue(broker_url: str, exchange: str) -> Iterator[Callable[[str], str]]:
    """Factory: a durable quorum queue bound to the test's exchange with ``pattern``; deleted afterwards."""
    names: list[str] = []

    def declare(pattern: str) -> str:
        name = f"test-quorum-{uuid.uuid4().hex[:10]}"
        with Connection(broker_url) as connection:
            Queue(name, Exchange(exchange, "topic", durable=True), routing_key=pattern, durable=True,
                  queue_arguments=QUORUM)(connection.default_channel).declare()
        names.append(name)
        return name

    yield declare
    with Connection(broker_url) as connection:
        for name in names:
            connection.default_channel.queue_delete(name)


@pytest.fixture
def relay() -> Iterator[Relay]:
    """A relay on the test's OUTBOX_BROKER_URL, closed afterwards."""
    relay = Relay()
    yield relay
    relay.close()


def publish(count: int, topic: str = "orders.placed") -> list[str]:
    with transaction.atomic():
        return [str(outbox.publish(topic, {"n": n}).id) for n in range(count)]


def message_ids_in(queue: str, url: str) -> list[str]:
    """Every message in ``queue`` (taken off it), by message id, in queue order."""
    ids = []
    with Connection(url) as connection:
        channel = connection.default_channel
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            ids.append(message.properties["message_id"])
    return ids


def relay_until_sent(relay: Relay) -> int:
    """Drain until nothing is pending, through the broker's outage (the breaker's short cooldown in between)."""
    sent = 0

    def drained() -> bool:
        nonlocal sent
        try:
            sent += relay.drain().sent
        except BrokerUnavailable:
            return False
        return not OutboxMessage.objects.pending().exists()

    wait_until(drained, timeout=60, interval=0.05, what="the relay to send everything")
    return sent


def test_cluster__relay_on_node1__node1_killed__next_batch_through_node2_nothing_lost(broker_url, quorum_queue,
                                                                                      relay):
    queue = quorum_queue("orders.#")
    before = publish(5)
    assert relay.drain().sent == 5
    assert relay.transport.nodes.current == cluster.node(1).url

    cluster.kill(1)
    after = publish(5)
    # The idle connection to the dead node is found dead before the next batch goes out, and the relay
    # reconnects, to node 2, at once (or the batch meets it and is released, no attempt spent).
    assert relay_until_sent(relay) == 5

    assert relay.transport.nodes.current == cluster.node(2).url
    assert sorted(message_ids_in(queue, cluster.node(2).url)) == sorted(before + after)
    # A batch nacked while the queue elects a new leader is charged an attempt and sent again: none is dead.
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}


@pytest.mark.parametrize("broker_url", ["semicolons", "list"], indirect=True)
def test_cluster__node1_down_at_start__relay_connects_to_node2(broker_url, quorum_queue, relay):
    queue = quorum_queue("orders.#")
    cluster.kill(1)
    wait_until(lambda: cluster.leader(queue, via=2) not in (None, cluster.node(1)), timeout=30,
               what="the queue to elect a leader on a node that runs")
    sent = publish(3)

    assert relay.drain().sent == 3
    assert relay.transport.nodes.current == cluster.node(2).url

    assert sorted(message_ids_in(queue, cluster.node(3).url)) == sorted(sent)


class ConsumerThread(threading.Thread):
    """An InboxConsumer running until stopped, in its own thread (own database connection)."""

    def __init__(self, url: str) -> None:
        super().__init__(name="cluster-consumer", daemon=True)
        self.stop = threading.Event()
        self.consumer = InboxConsumer(url=url, stop=self.stop)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.consumer.run(idle_timeout=0.2)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            close_old_connections()

    def finish(self) -> None:
        self.stop.set()
        self.join(30)
        assert not self.is_alive() and self.error is None


def applied(count: int) -> Callable[[], bool]:
    return lambda: InboxMessage.objects.filter(status=Status.DONE).count() >= count


def test_cluster__consumer_on_node1__nodes_killed_and_restarted__every_message_applied_once(
        broker_url, handlers, inbox_queue, settings, relay):
    handlers("orders.#", name="record")(lambda message: Effect.objects.create(handler="record",
                                                                                message_id=message.id))
    declare_inbox_queues()  # bound before anything is relayed: an unroutable message would go to <exchange>.unrouted
    worker = ConsumerThread(settings.OUTBOX_BROKER_URL)
    worker.start()
    try:
        publish(5)
        relay_until_sent(relay)
        wait_until(applied(5), timeout=30, what="5 messages applied")
        assert worker.consumer.broker.nodes.current == cluster.node(1).url

        cluster.kill(1)
        publish(5)
        relay_until_sent(relay)
        wait_until(applied(10), timeout=60, what="10 messages applied after node 1 died")
        assert worker.consumer.broker.nodes.current == cluster.node(2).url

        cluster.restart(1)  # rejoins the cluster; node 2, where the consumer is now, dies next
        assert cluster.healthy()
        cluster.kill(2)
        publish(5)
        relay_until_sent(relay)
        wait_until(applied(15), timeout=60, what="15 messages applied after node 2 died")
        assert worker.consumer.broker.nodes.current == cluster.node(3).url
    finally:
        worker.finish()

    assert InboxMessage.objects.count() == Effect.objects.count() == 15
    assert Effect.objects.values("message_id").distinct().count() == 15
