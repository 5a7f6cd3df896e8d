"""topic_matches() agrees with RabbitMQ: for each pattern, the keys the broker routes to a queue bound with it
are the keys the registry would hand to a handler declared with it (the table the unit tests use)."""

from __future__ import annotations

import uuid

import amqp
import pytest
from kombu import Connection

from inbox.registry import topic_matches
from tests.amqp_topics import KEYS, ROUTED

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def routed_by_broker(broker_url: str, patterns: list[str], keys: list[str]) -> dict[str, list[str]]:
    """Bind one exclusive queue per pattern to a fresh topic exchange, publish each key (confirmed, so routed
    when publishing returns), and read back which keys each queue got."""
    exchange = f"test-routing-{uuid.uuid4().hex[:10]}"
    with Connection(broker_url) as connection:
        channel = connection.channel()
        channel.exchange_declare(exchange, "topic", auto_delete=False)
        try:
            queues = {}
            for pattern in patterns:
                queues[pattern] = channel.queue_declare("", exclusive=True).queue
                channel.queue_bind(queues[pattern], exchange, pattern)
            channel.confirm_select()
            for key in keys:
                channel.basic_publish(amqp.Message(key.encode()), exchange=exchange, routing_key=key)
            return {pattern: _read_all(channel, queue) for pattern, queue in queues.items()}
        finally:
            channel.exchange_delete(exchange)


def _read_all(channel: amqp.Channel, queue: str) -> list[str]:
    keys = []
    while (message := channel.basic_get(queue, no_ack=True)) is not None:
        body = message.body
        keys.append(body.decode() if isinstance(body, bytes) else body)
    return keys


def test_topic_matches__agrees_with_rabbitmq_routing(broker_url):
    broker = routed_by_broker(broker_url, list(ROUTED), KEYS)

    assert broker == ROUTED
    assert {p: [k for k in KEYS if topic_matches(p, k)] for p in ROUTED} == broker
