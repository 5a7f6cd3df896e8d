"""The broker behind a small interface: publish a batch, learn which messages the broker took.

``AmqpTransport`` speaks py-amqp with publisher confirms awaited for a window of in-flight messages
(not one round trip per message). ``MemoryTransport`` uses kombu's in-process broker, for the
embedded default and tests. Both pass the same contract tests (tests/integration/test_transport_contract.py).
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from amqp.exceptions import FrameSyntaxError
from kombu import Connection, Exchange, Producer
from kombu.exceptions import ChannelError

from outbox import amqp_properties
from outbox.exceptions import BrokerUnavailable
from outbox.wire import Envelope

logger = logging.getLogger(__name__)


@dataclass
class PublishReport:
    """What became of a batch: confirmed, refused by the broker (with why), or unknown (connection lost)."""

    confirmed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    broker_error: str | None = None


#: Longest a wait for confirms goes without calling the transport's ``on_wait`` (the relay renews its
#: leases there: OUTBOX_LEASE_SECONDS must be more than twice this, see outbox.checks).
WAIT_TICK = 0.5


class Transport(Protocol):
    """Publishes envelopes to a topic exchange and reports the broker's verdict per message.

    ``on_wait``, when set, is called at least every :data:`WAIT_TICK` seconds while the transport waits
    for the broker (a transport that never waits may ignore it).
    """

    on_wait: Callable[[], None] | None

    def publish(self, exchange: str, envelopes: Sequence[Envelope], *, mandatory: bool = True,
                timeout: float = 10.0) -> PublishReport: ...

    def close(self) -> None: ...


def transport_for_url(url: str, *, window: int = 256) -> Transport:
    """The transport for a broker URL: ``memory://`` in-process, anything py-amqp speaks otherwise."""
    if url.startswith("memory://"):
        return MemoryTransport(url)
    return AmqpTransport(url, window=window)


class MemoryTransport:
    """kombu's in-memory broker (process-global): routes like a topic exchange, confirms at once."""

    def __init__(self, url: str = "memory://") -> None:
        self.on_wait: Callable[[], None] | None = None  # never waits: confirms at once
        self._connection = Connection(url)
        self._declared: set[str] = set()

    def publish(self, exchange: str, envelopes: Sequence[Envelope], *, mandatory: bool = True,
                timeout: float = 10.0) -> PublishReport:
        channel = self._connection.default_channel
        target = Exchange(exchange, "topic" if exchange else "direct", durable=True)
        if exchange and exchange not in self._declared:
            target.declare(channel=channel)
            self._declared.add(exchange)
        producer = Producer(channel, exchange=target)
        report = PublishReport()
        for envelope in envelopes:
            if mandatory and not _memory_routes(channel, exchange, envelope.routing_key):
                report.failed[envelope.message_id] = f"unroutable: no queue bound for {envelope.routing_key!r}"
                continue
            properties = {k: v for k, v in envelope.properties.items() if k not in ("content_type",
                                                                                     "content_encoding")}
            producer.publish(envelope.body, routing_key=envelope.routing_key, serializer=None,
                             content_type=envelope.properties["content_type"],
                             content_encoding=envelope.properties["content_encoding"],
                             headers=dict(envelope.headers), **properties)
            report.confirmed.append(envelope.message_id)
        return report

    def close(self) -> None:
        self._connection.release()


def _memory_routes(channel: Any, exchange: str, routing_key: str) -> list[str]:
    if not exchange:  # the default exchange routes to the queue named by the routing key, if it exists
        try:
            channel.queue_declare(routing_key, passive=True)
        except ChannelError:
            return []
        return [routing_key]
    try:
        return list(channel.typeof(exchange).lookup(channel.get_table(exchange), exchange, routing_key, None))
    except KeyError:
        return []


class AmqpTransport:
    """py-amqp with publisher confirms, ``mandatory`` returns, and a window of unconfirmed messages.

    Confirms are tracked by delivery tag (1, 2, ... per channel after ``confirm.select``); an ack with
    ``multiple`` confirms every tag up to it. RabbitMQ sends ``basic.return`` for an unroutable
    message before that message's ack, so a returned message is failed even though it is then acked.
    """

    def __init__(self, url: str, *, window: int = 256) -> None:
        self.url = url
        self.window = window
        self.on_wait: Callable[[], None] | None = None
        self._connection: Connection | None = None
        self._channel: Any = None
        self._declared: set[str] = set()
        self._tag = 0
        self._batch: _Batch | None = None
        probe = Connection(url)  # lazy: nothing connects; it only tells which errors its driver raises
        self._error_types: tuple[type[BaseException], ...] = (
            *probe.connection_errors, *probe.channel_errors, OSError)

    def publish(self, exchange: str, envelopes: Sequence[Envelope], *, mandatory: bool = True,
                timeout: float = 10.0) -> PublishReport:
        return self.start(exchange, envelopes, mandatory=mandatory, timeout=timeout).collect()

    def start(self, exchange: str, envelopes: Sequence[Envelope], *, mandatory: bool = True,
              timeout: float = 10.0) -> InFlight:
        """Send every message of the batch (waiting for confirms only to keep ``window`` in flight) and
        return at once; :meth:`InFlight.collect` awaits the rest. One batch at a time per transport:
        the previous one must have been collected (its confirms arrive on the same channel)."""
        if self._batch is not None and not self._batch.collected:
            raise RuntimeError("the previous batch was not collected")
        batch = self._batch = _Batch(time.monotonic() + timeout, [e.message_id for e in envelopes])
        try:
            channel = self._ready(exchange)
            for envelope in envelopes:
                self._send(channel, exchange, envelope, mandatory, batch)
                while len(batch.pending) >= self.window and not batch.expired():
                    self._drain(batch)
        except BrokerUnavailable as exc:
            batch.report.broker_error = str(exc)
        return InFlight(self, batch)

    def _collect(self, batch: _Batch) -> PublishReport:
        try:
            while batch.pending and not batch.expired() and batch.report.broker_error is None:
                self._drain(batch)
        except BrokerUnavailable as exc:
            batch.report.broker_error = str(exc)
        batch.collected = True
        return batch.finish(self)

    def _send(self, channel: Any, exchange: str, envelope: Envelope, mandatory: bool, batch: _Batch) -> None:
        try:
            message = amqp_properties.PrebuiltMessage(envelope.body, amqp_properties.encode(envelope.properties,
                                                                                            envelope.headers))
        except (ValueError, TypeError, struct.error, FrameSyntaxError) as exc:  # this message can never be sent
            batch.report.failed[envelope.message_id] = f"cannot be encoded as an AMQP message: {exc}"
            return
        try:
            channel.basic_publish(message, exchange=exchange, routing_key=envelope.routing_key, mandatory=mandatory)
        except self._error_types as exc:
            self.reset()
            raise BrokerUnavailable(f"publish failed: {exc!r}") from exc
        self._tag += 1
        batch.pending[self._tag] = envelope.message_id

    def _drain(self, batch: _Batch) -> None:
        assert self._connection is not None
        if self.on_wait is not None:
            self.on_wait()
        try:
            self._connection.drain_events(timeout=max(0.01, min(WAIT_TICK, batch.deadline - time.monotonic())))
        except TimeoutError:
            return
        except self._error_types as exc:
            self.reset()
            raise BrokerUnavailable(f"connection lost while awaiting confirms: {exc!r}") from exc

    def _ready(self, exchange: str) -> Any:
        if self._channel is None:
            self._connect()
        if exchange and exchange not in self._declared:  # "" is AMQP's default exchange: it always exists
            try:
                self._channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
            except self._error_types as exc:
                self.reset()
                raise BrokerUnavailable(f"cannot declare exchange {exchange!r}: {exc!r}") from exc
            self._declared.add(exchange)
        return self._channel

    def _connect(self) -> None:
        connection = Connection(self.url, connect_timeout=5)
        try:
            connection.connect()
            channel: Any = connection.channel()
            channel.confirm_select()
        except self._error_types as exc:
            connection.release()
            raise BrokerUnavailable(f"cannot connect to {connection.as_uri()}: {exc!r}") from exc
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        channel.events["basic_return"].add(self._on_return)
        self._connection, self._channel, self._tag = connection, channel, 0

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if self._batch is not None:
            self._batch.resolve(delivery_tag, multiple, None)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        if self._batch is not None:
            self._batch.resolve(delivery_tag, multiple, "nacked by the broker")

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        if self._batch is not None:
            message_id = message.properties.get("message_id", "")
            self._batch.returned[message_id] = f"unroutable: {exc} (exchange {exchange!r}, key {routing_key!r})"

    def reset(self) -> None:
        """Drop the connection; the next publish reconnects. Late confirms of the old channel are ignored."""
        connection, self._connection, self._channel = self._connection, None, None
        self._declared.clear()
        if connection is not None:
            try:
                connection.release()
            except Exception:
                logger.debug("error while closing a broken broker connection", exc_info=True)

    def close(self) -> None:
        self.reset()


class InFlight:
    """A batch that was sent and whose confirms are still arriving (see :meth:`AmqpTransport.start`)."""

    def __init__(self, transport: AmqpTransport, batch: _Batch) -> None:
        self._transport = transport
        self._batch = batch

    def collect(self) -> PublishReport:
        """Wait for the remaining confirms (up to the batch's timeout); returns the batch's report."""
        return self._transport._collect(self._batch)


@dataclass
class _Batch:
    deadline: float
    message_ids: list[str]
    pending: dict[int, str] = field(default_factory=dict)
    returned: dict[str, str] = field(default_factory=dict)
    report: PublishReport = field(default_factory=PublishReport)
    collected: bool = False

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def resolve(self, delivery_tag: int, multiple: bool, error: str | None) -> None:
        tags = [t for t in self.pending if t <= delivery_tag] if multiple else [delivery_tag]
        for tag in tags:
            message_id = self.pending.pop(tag, None)
            if message_id is None:
                continue
            failure = error or self.returned.get(message_id)
            if failure:
                self.report.failed[message_id] = failure
            else:
                self.report.confirmed.append(message_id)

    def finish(self, transport: AmqpTransport) -> PublishReport:
        """Classify what is still unconfirmed: unknown when the connection failed, timed out otherwise."""
        report = self.report
        decided = set(report.confirmed) | set(report.failed)
        undecided = [m for m in self.message_ids if m not in decided]
        if report.broker_error is not None:
            report.unknown.extend(undecided)
        elif undecided:
            report.failed.update(dict.fromkeys(undecided, "no confirm from the broker before the timeout"))
            transport.reset()  # the channel's tag accounting is unreliable after a timeout
        return report
