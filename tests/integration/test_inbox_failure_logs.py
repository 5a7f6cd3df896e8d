"""Every failed attempt of a handler is logged when it happens, with its traceback and what happens next
(immediate retry, retry in n seconds, dead), as Celery's worker does: not only once the message is dead."""

from __future__ import annotations

import logging

import pytest

import inbox
from inbox.consumer import InboxConsumer
from inbox.models import InboxMessage, Status
from tests.integration.consuming import consume, declare_inbox_queues, retry_until
from tests.raw_amqp import publish_json

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class PaymentGatewayDown(RuntimeError):
    pass


class CardDeclined(inbox.BusinessError):
    pass


def always_down(message):
    raise PaymentGatewayDown(f"gateway timeout for order {message.payload['order']}")


def declined(message):
    raise CardDeclined("card declined")


def failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "inbox.processing"]


def test_handler_always_fails__each_attempt_logged_with_traceback_and_retry_decision(
        handlers, inbox_queue, broker_url, exchange, caplog):
    caplog.set_level(logging.INFO, logger="inbox.processing")
    handlers("orders.*", name="charge", immediate_retries=1, delayed_retries=1, backoff="constant",
             backoff_base=0.2)(always_down)
    declare_inbox_queues()
    message_id = publish_json(broker_url, exchange, "orders.placed", {"order": 9})
    consumer = InboxConsumer()

    consume(consumer=consumer)
    retry_until(consumer.processor, lambda: InboxMessage.objects.filter(status=Status.DEAD).exists(),
                what="the message to go dead")

    records = failures(caplog)
    assert [(r.levelno, r.action, r.message_id) for r in records] == [
        (logging.WARNING, "inbox_attempt_failed", message_id),
        (logging.WARNING, "inbox_attempt_failed", message_id),
        (logging.ERROR, "inbox_dead", message_id)]
    prefix = f"charge failed on message {message_id}"
    error = "PaymentGatewayDown: gateway timeout for order 9"
    assert records[0].getMessage() == f"{prefix} (attempt 1 of 3): {error}; immediate retry"
    assert records[1].getMessage() == f"{prefix} (attempt 2 of 3): {error}; retrying in 0.2s"
    assert records[2].getMessage() == f"{prefix} (attempt 3 of 3): {error}; dead"
    for record in records:
        assert record.exc_info is not None and isinstance(record.exc_info[1], PaymentGatewayDown)
        assert "in always_down" in caplog.text and "Traceback" in logging.Formatter().format(record)


def test_business_error__logged_once_with_traceback_as_dead(handlers, inbox_queue, broker_url, exchange, caplog):
    caplog.set_level(logging.INFO, logger="inbox.processing")
    handlers("orders.*", name="charge")(declined)
    declare_inbox_queues()
    message_id = publish_json(broker_url, exchange, "orders.placed", {"order": 9})

    assert consume().outcomes == {"faulted": 1}

    [record] = failures(caplog)
    assert (record.levelno, record.action, record.message_id) == (logging.WARNING, "inbox_business_error", message_id)
    assert record.getMessage() == (f"charge refused message {message_id} (attempt 1): CardDeclined: card declined; "
                                   "dead (business error, not retried)")
    assert record.exc_info is not None and isinstance(record.exc_info[1], CardDeclined)
