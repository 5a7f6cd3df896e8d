"""OpenTelemetry (optional): a span for publish, one per relay batch and one per handler call, joined into the
producer's trace through the ``traceparent`` header the messages carry; nothing happens without it."""

from __future__ import annotations

import importlib
import sys

import pytest
from django.db import transaction
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import outbox
from outbox import tracing
from outbox.models import OutboxMessage
from outbox.relay import Relay
from tests.integration.consuming import consume, declare_inbox_queues

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

@pytest.fixture
def spans(monkeypatch) -> InMemorySpanExporter:
    """The finished spans of this test: an SDK provider with an in-memory exporter, for this test only (the
    process-wide provider stays the API's no-op one, so other tests see no span and no header)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", lambda: provider.get_tracer("tests"))
    return exporter


def confirm(message):
    outbox.publish("orders.confirmed", {"order": message.payload["order"]})


def refuse(message):
    raise RuntimeError("stock service down")


def test_tracing__publish_relay_handle__one_trace_with_messaging_attributes(spans, handlers, inbox_queue, exchange):
    handlers("orders.placed", name="confirm", immediate_retries=0)(confirm)
    declare_inbox_queues()
    with transaction.atomic():
        placed = outbox.publish("orders.placed", {"order": 7})
    assert Relay().drain().sent == 1

    assert consume().outcomes == {"applied": 1}

    by_name = {span.name: span for span in spans.get_finished_spans()}
    publish, send, process = by_name["publish orders.placed"], by_name[f"send {exchange}"], by_name[
        "process orders.placed"]
    follow_up = by_name["publish orders.confirmed"]
    assert (publish.kind, send.kind, process.kind) == (SpanKind.PRODUCER, SpanKind.PRODUCER, SpanKind.CONSUMER)
    assert dict(publish.attributes) == {
        "messaging.system": "rabbitmq", "messaging.operation.type": "publish", "messaging.operation.name": "publish",
        "messaging.destination.name": exchange, "messaging.rabbitmq.destination.routing_key": "orders.placed",
        "messaging.message.id": str(placed.id)}
    placed.refresh_from_db()
    context = publish.get_span_context()
    assert placed.headers["traceparent"].startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    assert [link.context.span_id for link in send.links] == [context.span_id]
    assert send.attributes["outbox.confirmed"] == 1
    assert process.parent.span_id == context.span_id and process.context.trace_id == context.trace_id
    assert process.attributes["messaging.consumer.group.name"] == "confirm"
    assert follow_up.parent.span_id == process.context.span_id
    confirmed = OutboxMessage.objects.get(topic="orders.confirmed")
    assert confirmed.headers["traceparent"].split("-")[2] == f"{follow_up.context.span_id:016x}"


def test_tracing__handler_raises__process_span_records_the_error(spans, handlers, inbox_queue):
    handlers("orders.placed", name="refuse", immediate_retries=0, delayed_retries=0)(refuse)
    declare_inbox_queues()
    outbox.publish("orders.placed", {"order": 7})
    Relay().drain()

    assert consume().outcomes == {"dead": 1}

    [process] = [span for span in spans.get_finished_spans() if span.name == "process orders.placed"]
    assert process.status.status_code is StatusCode.ERROR
    assert [event.name for event in process.events] == ["exception"]


def test_tracing__api_without_sdk__no_header():
    assert tracing.enabled()  # the API is installed, but no SDK is configured in this process
    assert "traceparent" not in outbox.publish("orders.placed", {"order": 7}).headers


def test_tracing__caller_set_traceparent__kept(spans):
    own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    message = outbox.publish("orders.placed", {"order": 7}, headers={"traceparent": own})
    assert message.headers["traceparent"] == own


def test_tracing__opentelemetry_not_installed__no_span_no_header(monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import fails as when it is not installed
    try:
        without = importlib.reload(tracing)
        assert not without.enabled()
        message = outbox.publish("orders.placed", {"order": 7})
        assert "traceparent" not in message.headers
    finally:
        monkeypatch.undo()
        importlib.reload(tracing)
    assert tracing.enabled()
