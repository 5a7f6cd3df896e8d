"""Fuzzing the consumer with generated AMQP messages: the worker never dies, and every message ends up
applied or recorded dead with a reason (never retried forever, never lost).

Bodies: random bytes, JSON (NaN and NUL included), invalid UTF-8, oversized. Headers: random nested
tables (deeper than the recursion limit too), plus adversarial values for the headers the inbox reads
(key, sequence, expires_at, a sent time in year 10000, ...). Properties: random values for every basic
property. Content types include pickle, YAML and msgpack; content encodings include compressions.
Routing keys include keys that are not outbox topics. Handlers: plain, ordered, with a ttl, skipping
stale messages, and refusing with a business error (so faults are built for every routing key). Most
examples go through :meth:`InboxConsumer.handle_safely` in process; a smaller sample goes through
RabbitMQ and a real consumer (kombu's own message handling included), with content headers py-amqp
cannot decode among them.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import amqp
import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kombu import Connection

from inbox import BusinessError
from inbox.consumer import InboxConsumer
from inbox.models import InboxMessage, KeyPosition, Status
from inbox.processing import Outcome, Processor
from inbox.registry import HandlerSpec, Registry
from outbox.models import OutboxMessage
from outbox.wire import Delivery
from tests.raw_amqp import RawPropertiesMessage, basic_properties, nested_table, table, timestamp_entry
from tests.testapp.models import Effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MAX_BODY = 2048
FINAL = (Outcome.APPLIED, Outcome.REJECTED, Outcome.EXPIRED, Outcome.FAULTED, Outcome.SKIPPED, Outcome.PARKED)
SETTLED = (Status.DONE, Status.DEAD, Status.EXPIRED, Status.SKIPPED)
FUZZ = settings(max_examples=500, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
WIRE = settings(FUZZ, max_examples=4)


# -- generated messages -----------------------------------------------------------------------------
def _json_values(floats: st.SearchStrategy[float]) -> st.SearchStrategy[Any]:
    leaves = st.none() | st.booleans() | st.integers() | floats | st.text(max_size=20)
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=10)


JSON_VALUES = _json_values(st.floats())
FINITE_JSON = _json_values(st.floats(allow_nan=False, allow_infinity=False)).map(lambda v: json.dumps(v).encode())
#: Half the examples are well-formed apart from their headers, properties and routing key: they reach handlers.
WELL_FORMED = {"message_id": st.uuids().map(str), "content_type": st.just("application/json"),
               "content_encoding": st.none()}
BODIES = st.one_of(
    st.binary(max_size=200),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),  # json.dumps writes NaN and Infinity as bare words
    JSON_VALUES.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    st.binary(min_size=1, max_size=20).map(lambda b: b'{"text": "\xff\xfe' + b + b'"}'),  # invalid UTF-8
    st.integers(MAX_BODY - 4, MAX_BODY * 3).map(lambda n: b'"' + b"a" * n + b'"'),  # around the size limit
    st.sampled_from([b"", b"null", b'"\\u0000"', b'{"a": "\\ud800"}', b"NaN", b"[Infinity]", b"\xef\xbb\xbf{}",
                     b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00\x8c\x01a\x94.", b"--- !!python/object:os.system"]),
)
CONTENT_TYPES = st.one_of(
    st.sampled_from([None, "", "application/json", "application/json; charset=utf-8", "text/json",
                     "application/cloudevents+json", "APPLICATION/JSON", "application/x-python-serialize",
                     "application/x-yaml", "application/x-msgpack", "application/data", "text/plain"]),
    st.text(max_size=30))
CONTENT_ENCODINGS = st.one_of(
    st.sampled_from([None, "", "utf-8", "UTF-8", "utf8", "binary", "gzip", "zlib", "application/x-gzip", "base64",
                     "latin-1"]),
    st.text(max_size=20))
HEADER_LEAVES = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=30)
                 | st.binary(max_size=20) | st.decimals(places=3) | st.datetimes()
                 | st.datetimes().map(lambda d: d.replace(tzinfo=timezone.utc)))
HEADER_VALUES = st.recursive(HEADER_LEAVES, lambda inner: st.lists(inner, max_size=3)
                             | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
LONG_TEXT = st.text(min_size=250, max_size=400)
TIMES = st.one_of(st.datetimes(timezones=st.just(timezone.utc)).map(datetime.isoformat),
                  st.just(datetime.now(timezone.utc).isoformat()),
                  st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "not a time"]),
                  st.text(max_size=30))
KNOWN_HEADERS = st.fixed_dictionaries({}, optional={
    "key": st.one_of(st.text(max_size=10), LONG_TEXT, HEADER_VALUES),
    "sequence": st.one_of(st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=10),
                          st.sampled_from([Decimal("Infinity"), Decimal("NaN"), "1e400"])),
    "expires_at": TIMES,
    "cloudEvents:time": TIMES,
    "causation_id": st.one_of(st.text(max_size=10), LONG_TEXT),
    "traceparent": st.text(max_size=60),
    "compression": st.sampled_from(["application/x-gzip", "zlib", "", "bogus"]),
})
def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"n": value}
    return value


HEADERS = st.builds(lambda known, extra: {**extra, **known}, KNOWN_HEADERS,
                    st.dictionaries(st.text(max_size=12), HEADER_VALUES | st.integers(90, 1200).map(_nested),
                                    max_size=4))
MESSAGE_IDS = st.one_of(st.none(), st.just(""), st.uuids().map(str), st.text(max_size=20), LONG_TEXT)
HANDLED = ["fuzz.plain.event", "fuzz.ordered.event", "fuzz.ttl.event", "fuzz.stale.event", "fuzz.refuse.event"]
NOT_TOPICS = ["fuzz.refuse.a b", "fuzz.refuse.a:b", "fuzz.refuse.a/b", "fuzz.refuse.passée", "fuzz.refuse." + "o" * 240]
TOPICS = st.one_of(st.sampled_from([*HANDLED, *NOT_TOPICS, "other.topic", ""]),
                   st.text(max_size=40).map(lambda t: f"fuzz.refuse.{t}"), st.text(max_size=40))
#: Every basic property but the headers, with any value of its type (and some of another type).
OTHER_PROPERTIES = st.fixed_dictionaries({}, optional={
    "delivery_mode": st.integers(0, 255), "priority": st.integers(0, 255), "reply_to": st.text(max_size=20),
    "expiration": st.text(max_size=10), "timestamp": st.datetimes() | st.integers(-(2**70), 2**70),
    "user_id": st.text(max_size=10), "app_id": st.text(max_size=10), "cluster_id": st.text(max_size=10),
    "content_type": st.binary(max_size=10)})


@st.composite
def deliveries(draw: st.DrawFn) -> Delivery:
    properties = {"message_id": draw(MESSAGE_IDS), "content_type": draw(CONTENT_TYPES),
                  "content_encoding": draw(CONTENT_ENCODINGS), "correlation_id": draw(st.none() | st.text(max_size=40)),
                  "type": draw(st.none() | st.text(max_size=20))}
    properties = {**draw(OTHER_PROPERTIES), **properties} if draw(st.booleans()) else properties
    if draw(st.booleans()):
        properties = {**properties, **{name: draw(value) for name, value in WELL_FORMED.items()}}
        return Delivery(draw(FINITE_JSON), draw(TOPICS), properties, draw(HEADERS))
    return Delivery(draw(BODIES), draw(TOPICS), properties, draw(HEADERS))


# -- the consumer under test ------------------------------------------------------------------------
def _refuse(message: Any) -> None:
    raise BusinessError(f"{message.topic!r} refused")


def _registry() -> Registry:
    """Handlers that record their effect: plain, ordered, with a ttl, skipping stale messages; and one that
    refuses every message with a business error (its fault is built for whatever the routing key is)."""
    handlers = Registry()
    for name, options in (("fuzz-plain", {}), ("fuzz-ordered", {"ordered": True}), ("fuzz-ttl", {"ttl": 60}),
                          ("fuzz-stale", {"skip_stale": True})):
        def record(message: Any, name: str = name) -> None:
            Effect.objects.create(handler=name, message_id=message.id, key=message.key, sequence=message.sequence)

        pattern = f"{name.replace('-', '.')}.#"
        handlers.register(HandlerSpec(name, record, (pattern,), breaker=False, **options))  # type: ignore[arg-type]
    handlers.register(HandlerSpec("fuzz refuse", _refuse, ("fuzz.refuse.#",), breaker=False))
    return handlers


def _consumer() -> InboxConsumer:
    """A consumer of the test broker (OUTBOX_BROKER_URL); handle() alone never connects."""
    handlers = _registry()
    return InboxConsumer(Processor(handlers), handlers=handlers)


def _reset() -> None:
    for model in (InboxMessage, KeyPosition, Effect, OutboxMessage):
        model.objects.all().delete()


def _assert_settled(outcomes: list[Outcome]) -> None:
    """Every outcome final, and recorded: applied with its effect, dead (or expired, skipped) with a reason,
    or parked for a worker with a handler; never a crash of the inbox's own steps (those would be bugs)."""
    assert outcomes and all(o in FINAL for o in outcomes), outcomes
    parked = InboxMessage.objects.filter(handler="", status=Status.WAITING)
    assert not InboxMessage.objects.exclude(status__in=SETTLED).exclude(pk__in=parked).exists()
    assert InboxMessage.objects.filter(status=Status.DONE).count() == Effect.objects.count()
    assert InboxMessage.objects.count() == len(outcomes)
    assert not InboxMessage.objects.filter(status=Status.DEAD, error_message="").exists()
    assert not InboxMessage.objects.filter(error_message__startswith="processing crashed").exists()
    assert not InboxMessage.objects.filter(history__contains=[{"event": "crashed"}]).exists()
    faulted = InboxMessage.objects.filter(handler="fuzz refuse", status=Status.DEAD).count()
    assert OutboxMessage.objects.count() == faulted


@override_settings(INBOX_MAX_BODY_BYTES=MAX_BODY)
@FUZZ
@given(delivery=deliveries(), ordered=st.booleans())
def test_consumer__generated_deliveries__each_applied_or_dead_with_reason(transactional_db, delivery, ordered):
    _reset()
    outcomes = _consumer().handle_safely(delivery, ordered)
    _assert_settled(outcomes)


# -- a smaller sample through RabbitMQ and a real consumer -----------------------------------------
def _shortstr(text: str) -> bool:
    return len(text.encode("utf-8", "surrogatepass")) <= 255


AMQP_LEAVES = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
               | st.floats(allow_nan=False, allow_infinity=False)  # RabbitMQ closes the connection on those
               | st.text(max_size=30) | st.binary(max_size=20)
               | st.datetimes(datetime(1970, 1, 1), datetime(2100, 1, 1)).map(  # AMQP timestamps: 64-bit seconds
                   lambda d: d.replace(tzinfo=timezone.utc, microsecond=0)))
AMQP_VALUES = st.recursive(AMQP_LEAVES, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)
AMQP_HEADERS = st.builds(lambda known, extra: {**extra, **known},
                         st.fixed_dictionaries({}, optional={
                             "key": st.text(max_size=10) | st.text(min_size=250, max_size=250),
                             "sequence": st.integers(-(2**63), 2**63 - 1) | st.text(max_size=10),
                             "expires_at": TIMES, "cloudEvents:time": TIMES,
                             "compression": st.sampled_from(["application/x-gzip", "bogus"])}),
                         st.dictionaries(st.text(max_size=12), AMQP_VALUES, max_size=3))


#: Content headers RabbitMQ routes and py-amqp cannot decode (the message id varies: see wire_messages).
UNDECODABLE = [
    {"message_id": b"\xff\xfe"}, {"content_type": b"application/\xffjson"},
    {"headers": table(timestamp_entry(b"t", 2**64 - 1))}, {"headers": nested_table(1000)},
    {"headers": nested_table(600)},
]


@st.composite
def wire_messages(draw: st.DrawFn) -> tuple[str, amqp.Message]:
    """A routing key and an AMQP message that RabbitMQ accepts (short strings fit in 255 bytes); one in eight
    with a content header py-amqp cannot decode."""
    topic = draw(st.sampled_from([*HANDLED, *NOT_TOPICS]))
    body = draw(BODIES)
    if draw(st.integers(0, 7)) == 0:
        raw = {"message_id": draw(st.uuids()).hex.encode(), **draw(st.sampled_from(UNDECODABLE))}
        return topic, RawPropertiesMessage(body, basic_properties(**raw))
    properties = {"content_type": draw(CONTENT_TYPES), "content_encoding": draw(CONTENT_ENCODINGS),
                  "message_id": draw(st.none() | st.just("") | st.uuids().map(str) | st.text(max_size=20)),
                  "reply_to": draw(st.none() | st.text(max_size=20)), "priority": draw(st.none() | st.integers(0, 9))}
    if draw(st.booleans()):
        properties = {**properties, **{name: draw(value) for name, value in WELL_FORMED.items()}}
        body = draw(FINITE_JSON)
    properties = {k: v for k, v in properties.items() if v is not None and (not isinstance(v, str) or _shortstr(v))}
    return topic, amqp.Message(body, application_headers=draw(AMQP_HEADERS), **properties)


def _publish(broker_url: str, exchange: str, queue: str, messages: list[tuple[str, amqp.Message]]) -> None:
    """Publish with confirms, after emptying the queues (of what an earlier failed example left)."""
    with Connection(broker_url) as conn:
        channel: Any = conn.default_channel  # py-amqp's channel: publishes the generated amqp.Message as is
        for name in (queue, f"{queue}.ordered"):
            channel.queue_purge(name)
        channel.confirm_select()
        for topic, message in messages:
            channel.basic_publish(message, exchange=exchange, routing_key=topic)


@override_settings(INBOX_MAX_BODY_BYTES=MAX_BODY)
@WIRE
@given(messages=st.lists(wire_messages(), min_size=10, max_size=25,
                         unique_by=lambda m: getattr(m[1], "properties", {}).get("message_id") or id(m)))
def test_consumer__generated_messages_through_rabbitmq__worker_survives_and_settles_all(
        transactional_db, broker_url, exchange, inbox_queue, messages):
    _reset()
    _consumer().run(once=True, idle_timeout=0.1)  # declares and binds the queues
    _publish(broker_url, exchange, inbox_queue, messages)
    consumer = _consumer()
    # Each run raises if the worker would have died. On a loaded machine a quorum queue may pause its deliveries
    # for longer than the idle timeout that ends a `--once` run: run again (its counts add up) until every
    # message is settled, or a deadline says one never will be.
    deadline = time.monotonic() + 60
    while sum(consumer.stats.outcomes.values()) < len(messages) and time.monotonic() < deadline:
        consumer.run(once=True, idle_timeout=0.5)
    stats = consumer.stats
    outcomes = [Outcome(name) for name, count in stats.outcomes.items() for _ in range(count)]
    assert len(outcomes) == len(messages), stats.outcomes
    _assert_settled(outcomes)

