"""Driving the inbox consumer from a test: declare the queues, consume until idle, run delayed retries until
a database condition holds (with a deadline, never a fixed sleep)."""

from __future__ import annotations

from collections.abc import Callable

from kombu import Connection

from inbox.conf import inbox_settings
from inbox.consumer import ConsumeStats, InboxConsumer, subscriptions_for
from inbox.processing import Processor
from inbox.registry import registry
from outbox.conf import outbox_settings
from outbox.transports.amqp_consumer import kombu_queues
from tests.waiting import wait_until


def declare_inbox_queues() -> None:
    """Declare INBOX_QUEUE with the bindings of the handlers registered now (as the consumer does at start)."""
    with Connection(inbox_settings.BROKER_URL) as connection:
        for _subscription, queue in kombu_queues(subscriptions_for(registry, inbox_settings.QUEUE),
                                                 outbox_settings.EXCHANGE):
            queue(connection.default_channel).declare()


def consume(idle_timeout: float = 0.3, consumer: InboxConsumer | None = None) -> ConsumeStats:
    """Consume until the queue stays empty for ``idle_timeout`` seconds; returns this consumer's counts."""
    return (consumer or InboxConsumer()).run(once=True, idle_timeout=idle_timeout)


def retry_until(processor: Processor, condition: Callable[[], object], *, timeout: float = 5.0,
                what: str = "the condition") -> None:
    """Run due delayed retries until ``condition()`` holds; fail after ``timeout`` seconds."""

    def step() -> object:
        processor.retry_due()
        return condition()

    wait_until(step, timeout=timeout, interval=0.01, what=what)
