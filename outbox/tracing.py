"""OpenTelemetry spans, when ``opentelemetry-api`` is installed (the ``[otel]`` extra); without it, nothing.

- ``publish <topic>`` (producer) around :func:`outbox.publish`: its context travels as the message's
  ``traceparent`` header (unless the caller set one), so the consumer's span joins the producer's trace;
- ``send <exchange>`` (producer) for each relay batch, linked to the trace of every message in it;
- ``process <topic>`` (consumer) for each handler call, a child of the message's ``traceparent``; an
  exception raised by the handler is recorded on it.

Attributes follow the messaging semantic conventions (``messaging.system``, ``messaging.operation.type``,
``messaging.destination.name``, ``messaging.message.id``, ...). With the API alone (no SDK configured) the
spans are non-recording and no header is written: nothing changes either.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

try:
    from opentelemetry import trace as _trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # not installed: every function below does nothing
    _trace = None  # type: ignore[assignment]

from outbox.conf import outbox_settings
from outbox.context import current_cause
from outbox.transports.base import PublishReport
from outbox.wire import TRACEPARENT_HEADER, Envelope

SYSTEM = "rabbitmq"


def enabled() -> bool:
    """True when ``opentelemetry-api`` is importable."""
    return _trace is not None


@contextlib.contextmanager
def publishing(rows: Sequence[Any]) -> Iterator[None]:
    """A ``publish`` span around writing ``rows`` (outbox messages), whose context each row carries as its
    ``traceparent`` (replacing one only inherited from the message being handled, not one the caller set)."""
    if not _recording():
        yield
        return
    topics = {row.topic for row in rows}
    topic = next(iter(topics)) if len(topics) == 1 else ""
    exchange = rows[0].exchange or outbox_settings.EXCHANGE
    attributes = _attributes("publish", exchange, topic, len(rows), rows[0].id if len(rows) == 1 else None)
    with _tracer().start_as_current_span(f"publish {topic}".strip(), kind=_trace.SpanKind.PRODUCER,
                                         attributes=attributes):
        traceparent = _current_traceparent()
        cause = current_cause()
        inherited = cause.traceparent if cause is not None else None
        for row in rows:
            if traceparent and row.headers.get(TRACEPARENT_HEADER) in (None, inherited):
                row.headers[TRACEPARENT_HEADER] = traceparent
        yield


def start_batch(exchange: str, envelopes: Sequence[Envelope]) -> Any:
    """Start the ``send`` span of a relay batch (ended by :func:`end_batch`); None without OpenTelemetry."""
    if not _recording():
        return None
    links = [_trace.Link(span_context) for envelope in envelopes
             if (span_context := _span_context(envelope.headers.get(TRACEPARENT_HEADER))) is not None]
    return _tracer().start_span(f"send {exchange}", kind=_trace.SpanKind.PRODUCER, links=links,
                                attributes=_attributes("send", exchange, "", len(envelopes), None))


def end_batch(span: Any, report: PublishReport) -> None:
    """End a batch's span with the broker's verdict (an error status when the broker failed)."""
    if span is None or _trace is None:
        return
    span.set_attribute("outbox.confirmed", len(report.confirmed))
    span.set_attribute("outbox.failed", len(report.failed))
    if report.broker_error is not None:
        span.set_status(_trace.Status(_trace.StatusCode.ERROR, report.broker_error))
    span.end()


@contextlib.contextmanager
def processing(handler: str, message: Any) -> Iterator[None]:
    """A ``process`` span around one handler call, a child of the message's ``traceparent``."""
    if not _recording():
        yield
        return
    parent = TraceContextTextMapPropagator().extract({TRACEPARENT_HEADER: message.traceparent or ""})
    attributes = {**_attributes("process", "", message.topic, 1, message.id),
                  "messaging.consumer.group.name": handler}
    with _tracer().start_as_current_span(f"process {message.topic}", context=parent,
                                         kind=_trace.SpanKind.CONSUMER, attributes=attributes):
        yield


def _recording() -> bool:
    """Whether spans can record: the API is installed and an SDK tracer answers. With the API alone the tracer
    is a proxy or no-op one whose spans record nothing: skip building them (publish is a hot path)."""
    return _trace is not None and not isinstance(_tracer(), (_trace.ProxyTracer, _trace.NoOpTracer))


def _tracer() -> Any:
    assert _trace is not None
    return _trace.get_tracer("django-outbox-inbox")


def _attributes(operation: str, exchange: str, topic: str, count: int, message_id: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {"messaging.system": SYSTEM, "messaging.operation.type": operation,
                                  "messaging.operation.name": operation}
    if exchange:
        attributes["messaging.destination.name"] = exchange
    if topic:
        attributes["messaging.rabbitmq.destination.routing_key"] = topic
    if count > 1:
        attributes["messaging.batch.message_count"] = count
    if message_id is not None:
        attributes["messaging.message.id"] = str(message_id)
    return attributes


def _current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get(TRACEPARENT_HEADER)


def _span_context(traceparent: Any) -> Any:
    if not traceparent:
        return None
    assert _trace is not None
    context = TraceContextTextMapPropagator().extract({TRACEPARENT_HEADER: str(traceparent)})
    span_context = _trace.get_current_span(context).get_span_context()
    return span_context if span_context.is_valid else None
