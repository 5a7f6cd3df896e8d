"""The inbox's queues are quorum queues unless INBOX_QUEUE_TYPE opts out; an existing queue of the other type
is consumed as it is, and the consumer says (at ERROR) how to migrate, instead of stopping or a broker traceback."""

from __future__ import annotations

import pytest
from amqp.exceptions import PreconditionFailed
from django.test import override_settings
from kombu import Connection, Queue

import outbox
from inbox.conf import inbox_settings
from inbox.consumer import InboxConsumer, subscriptions_for
from inbox.models import InboxMessage
from inbox.registry import registry
from outbox.relay import Relay
from outbox.transports.amqp_consumer import kombu_queues
from tests.integration.consuming import consume, declare_inbox_queues

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def declared_type(name: str, **arguments: object) -> str:
    """The type of an existing queue: redeclaring it as a quorum queue (with its other ``arguments``) is
    refused with PRECONDITION_FAILED unless it is one."""
    with Connection(inbox_settings.BROKER_URL) as connection:
        try:
            connection.channel().queue_declare(name, durable=True, auto_delete=False,
                                               arguments={"x-queue-type": "quorum", **arguments})
        except PreconditionFailed:
            return "classic"
        return "quorum"


def declare_classic(name: str) -> None:
    """The queue as releases before quorum queues declared it (no x-queue-type)."""
    with Connection(inbox_settings.BROKER_URL) as connection:
        Queue(name, durable=True, auto_delete=False)(connection.default_channel).declare()


def test_subscriptions__default__quorum_queue_and_a_classic_single_active_consumer_ordered_one(handlers):
    handlers("orders.placed")(lambda message: None)
    handlers("orders.paid", ordered=True)(lambda message: None)

    queues = {q.name: q.queue_arguments for _, q in kombu_queues(subscriptions_for(registry, "svc"), "events")}

    assert queues == {"svc": {"x-queue-type": "quorum"},
                      "svc.ordered": {"x-single-active-consumer": True}}
    with override_settings(INBOX_ORDERED_QUEUE_TYPE="quorum"):
        queues = {q.name: q.queue_arguments for _, q in kombu_queues(subscriptions_for(registry, "svc"), "events")}
    assert queues["svc.ordered"] == {"x-queue-type": "quorum", "x-single-active-consumer": True}


def test_subscriptions__classic_opt_out__declared_as_before(handlers):
    handlers("orders.paid", ordered=True)(lambda message: None)
    with override_settings(INBOX_QUEUE_TYPE="classic"):
        queues = {q.name: q.queue_arguments for _, q in kombu_queues(subscriptions_for(registry, "svc"), "events")}
    assert queues == {"svc.ordered": {"x-single-active-consumer": True}}


def test_consumer__default_queue_type__declares_quorum_queues_and_applies_messages(inbox_queue, handlers):
    seen = []
    handlers("orders.placed")(lambda message: seen.append(message.payload))
    handlers("orders.paid", ordered=True)(lambda message: seen.append(message.payload))
    declare_inbox_queues()
    outbox.publish("orders.placed", {"n": 1})
    outbox.publish("orders.paid", {"n": 2}, key="order-1")
    Relay().drain()

    consume()

    assert sorted(p["n"] for p in seen) == [1, 2]
    ordered = declared_type(f"{inbox_queue}.ordered", **{"x-single-active-consumer": True})
    assert (declared_type(inbox_queue), ordered) == ("quorum", "classic")  # INBOX_ORDERED_QUEUE_TYPE


def test_consumer__existing_classic_queue__consumed_as_it_is_and_the_migration_logged(inbox_queue, handlers, caplog):
    # An upgrade: the queue exists from an older version as a classic queue, and RabbitMQ refuses to redeclare
    # it as a quorum queue. Halting the consumer there would stop a running service on upgrade: it consumes
    # the queue as it is (bindings included) and says at ERROR how to migrate.
    seen = []
    handlers("orders.placed")(lambda message: seen.append(message.payload))
    declare_classic(inbox_queue)

    with caplog.at_level("ERROR"):
        InboxConsumer().run(once=True, idle_timeout=0.1)  # binds the existing queue
        outbox.publish("orders.placed", {"n": 1})
        Relay().drain()
        InboxConsumer().run(once=True, idle_timeout=0.1)

    assert seen == [{"n": 1}]
    assert declared_type(inbox_queue) == "classic"  # left as it was
    hints = [r.getMessage() for r in caplog.records if getattr(r, "action", "") == "inbox_queue_type_mismatch"]
    assert hints, "the consumer says how to migrate"
    hint = hints[0]
    assert inbox_queue in hint and "INBOX_QUEUE_TYPE" in hint and "docs/operations.md" in hint


def test_consumer__classic_opt_out__keeps_consuming_an_existing_classic_queue(inbox_queue, handlers):
    seen = []
    handlers("orders.placed")(lambda message: seen.append(message.payload))
    declare_classic(inbox_queue)
    with override_settings(INBOX_QUEUE_TYPE="classic"):
        declare_inbox_queues()
        outbox.publish("orders.placed", {"n": 1})
        Relay().drain()
        consume()
    assert seen == [{"n": 1}] and InboxMessage.objects.count() == 1
