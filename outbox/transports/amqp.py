"""Publishing to RabbitMQ: py-amqp with publisher confirms awaited for a window of in-flight messages (not one
round trip per message). The consuming side is in ``amqp_consumer.py``; both pass the contract tests
(tests/integration/test_transport_contract.py).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from amqp.exceptions import FrameSyntaxError
from kombu import Connection

from outbox import topology
from outbox.broker_nodes import BrokerNodes, BrokerURL
from outbox.conf import outbox_settings
from outbox.exceptions import BrokerUnavailable
from outbox.limits import SizeLimits
from outbox.transports import amqp_properties
from outbox.transports.base import WAIT_TICK, PublishReport, Transport
from outbox.wire import Envelope

logger = logging.getLogger(__name__)


class AmqpTransport(Transport):
    """py-amqp with publisher confirms, ``mandatory`` returns, and a window of unconfirmed messages.

    Confirms are tracked by delivery tag (1, 2, ... per channel after ``confirm.select``); an ack with
    ``multiple`` confirms every tag up to it. RabbitMQ sends ``basic.return`` for an unroutable
    message before that message's ack, so a returned message is failed even though it is then acked.

    A message larger than the size limits is rejected unsent. When the broker closes the channel or
    connection over a message all the same (a frame or precondition error on a publish: see
    :func:`_refusal`), the unconfirmed rest of the batch is sent again on a new connection one message at
    a time, each awaiting its confirm, until the broker refuses again: that message alone is failed, and
    the rest goes out at full speed. An outage stays an outage (``broker_error``).

    ``url`` may name the nodes of a cluster: a batch that loses its node ends as an outage, and the next
    connection goes to a node that answers (see :class:`~outbox.broker_nodes.BrokerNodes`).
    """

    def __init__(self, url: BrokerURL, *, window: int = 256, heartbeat: int | None = None) -> None:
        self.url = url
        self.nodes = BrokerNodes(url)
        self.window = window
        self.heartbeat = heartbeat  # None: OUTBOX_HEARTBEAT, read when connecting
        self.on_wait: Callable[[], None] | None = None
        self._connection: Connection | None = None
        self._channel: Any = None
        self._declared: set[str] = set()
        self._tag = 0
        self._batch: _Batch | None = None
        probe = self.nodes.probe()  # lazy: nothing connects; it only tells which errors its driver raises
        self._error_types: tuple[type[BaseException], ...] = (
            *probe.connection_errors, *probe.channel_errors, OSError)

    def publish(self, exchange: str, envelopes: Sequence[Envelope], *, mandatory: bool = True,
                timeout: float = 10.0) -> PublishReport:
        return self.start(exchange, envelopes, mandatory=mandatory, timeout=timeout).collect()

    def start(self, exchange: str, envelopes: Sequence[Envelope], *, mandatory: bool = True,
              timeout: float = 10.0) -> AmqpFlight:
        """Send every message of the batch (waiting for confirms only to keep ``window`` in flight) and
        return at once; :meth:`AmqpFlight.collect` awaits the rest. One batch at a time per transport:
        the previous one must have been collected (its confirms arrive on the same channel)."""
        if self._batch is not None and not self._batch.collected:
            raise RuntimeError("the previous batch was not collected")
        batch = self._batch = _Batch(time.monotonic() + timeout, exchange, mandatory, list(envelopes),
                                     SizeLimits.from_settings())
        self._run(batch, lambda: self._send_all(batch, batch.envelopes))
        return AmqpFlight(self, batch)

    def _collect(self, batch: _Batch) -> PublishReport:
        self._run(batch, lambda: self._await_confirms(batch))
        batch.collected = True
        return batch.finish(self)

    def _run(self, batch: _Batch, step: Callable[[], None]) -> None:
        """Run ``step``; after a refusal, send what is undecided again (see the class docstring) until the
        batch is decided or its time is up. A lost broker ends the batch with ``broker_error``."""
        try:
            while True:
                try:
                    return step()
                except _Refused as refusal:
                    if batch.expired():
                        return
                    step = functools.partial(self._resend, batch, self._after_refusal(batch, refusal))
        except BrokerUnavailable as exc:
            batch.report.broker_error = str(exc)

    @staticmethod
    def _after_refusal(batch: _Batch, refusal: _Refused) -> list[Envelope]:
        """Charge the refused message if it is known (the one message in flight while isolating); returns
        the envelopes to send again. The old channel's delivery tags mean nothing on the new one."""
        in_flight = list(batch.pending.values())
        batch.pending.clear()
        if batch.isolating and len(in_flight) == 1:
            batch.report.failed[in_flight[0]] = f"refused by the broker: {refusal}"
            batch.isolating = False
        else:
            batch.isolating = True
        return batch.undecided()

    def _send_all(self, batch: _Batch, envelopes: Sequence[Envelope]) -> None:
        channel = self._ready(batch.exchange)
        for envelope in envelopes:
            self._send(channel, envelope, batch)
            while len(batch.pending) >= (1 if batch.isolating else self.window) and not batch.expired():
                self._drain(batch)

    def _resend(self, batch: _Batch, envelopes: Sequence[Envelope]) -> None:
        self._send_all(batch, envelopes)
        self._await_confirms(batch)

    def _await_confirms(self, batch: _Batch) -> None:
        while batch.pending and not batch.expired():
            self._drain(batch)

    def _send(self, channel: Any, envelope: Envelope, batch: _Batch) -> None:
        try:
            amqp_properties.check_routing_key(envelope.routing_key)
            header = amqp_properties.encode(envelope.properties, envelope.headers)
        except (ValueError, TypeError, struct.error, FrameSyntaxError) as exc:  # this message can never be sent
            batch.report.failed[envelope.message_id] = f"cannot be encoded as an AMQP message: {exc}"
            return
        problem = batch.limits.problem(len(envelope.body), len(header))
        if problem is not None:  # the broker would close the connection over it, and every message in flight
            batch.report.rejected[envelope.message_id] = problem
            return
        try:
            channel.basic_publish(amqp_properties.PrebuiltMessage(envelope.body, header), exchange=batch.exchange,
                                  routing_key=envelope.routing_key, mandatory=batch.mandatory)
        except self._error_types as exc:
            raise self._lost(exc, "publish failed") from exc
        self._tag += 1
        batch.pending[self._tag] = envelope.message_id

    def _drain(self, batch: _Batch) -> None:
        """Wait a little for confirms (calling ``on_wait`` first: the relay renews its leases there), then check
        the heartbeat: a connection that went half-open while the batch was in flight is noticed after two
        heartbeat intervals, not at the confirm timeout."""
        connection = self._connection
        assert connection is not None
        if self.on_wait is not None:
            self.on_wait()
        try:
            with contextlib.suppress(TimeoutError):
                connection.drain_events(timeout=max(0.01, min(self._slice(), batch.deadline - time.monotonic())))
            connection.heartbeat_check()
        except self._error_types as exc:
            raise self._lost(exc, "connection lost while awaiting confirms") from exc

    def _lost(self, exc: BaseException, context: str) -> Exception:
        """Drop the connection; what to raise: the broker refused a message we sent, or it is unavailable."""
        self.reset()
        reason = _refusal(exc)
        return _Refused(reason) if reason is not None else BrokerUnavailable(f"{context}: {exc!r}")

    def _slice(self) -> float:
        """How long one wait for the broker may last: WAIT_TICK, or half a heartbeat when that is shorter."""
        beat = self._connection.get_heartbeat_interval() if self._connection is not None else 0
        return min(WAIT_TICK, beat / 2) if beat else WAIT_TICK

    def _alive(self) -> bool:
        """Whether the idle connection still works. Between batches nobody reads from it or ticks its
        heartbeat, so the broker may have closed it (it stopped hearing from us) or it may be half-open:
        read what arrived meanwhile (a close from the broker raises), then check the heartbeat."""
        connection = self._connection
        assert connection is not None
        try:
            with contextlib.suppress(TimeoutError):
                connection.drain_events(timeout=0)
            connection.heartbeat_check()
        except self._error_types as exc:
            logger.info("idle broker connection is gone (%r): reconnecting", exc,
                        extra={"action": "relay_reconnect"})
            return False
        return True

    def _ready(self, exchange: str) -> Any:
        if self._channel is not None and not self._alive():
            self.reset()  # reconnect once, transparently: the batch was not sent, nothing to release or charge
        if self._channel is None:
            self._connect()
        if exchange and exchange not in self._declared:  # "" is AMQP's default exchange: it always exists
            assert self._connection is not None
            try:
                topology.declare(self._connection.channel, self._channel, exchange)
            except self._error_types as exc:
                self.reset()
                raise BrokerUnavailable(f"cannot declare exchange {exchange!r}: {exc!r}") from exc
            self._declared.add(exchange)
        return self._channel

    def _connect(self) -> None:
        heartbeat = outbox_settings.HEARTBEAT if self.heartbeat is None else self.heartbeat
        connection: Connection | None = None
        try:
            connection = self.nodes.connect(connect_timeout=5, heartbeat=heartbeat)
            channel: Any = connection.channel()
            channel.confirm_select()
        except self._error_types as exc:
            if connection is not None:
                connection.release()
            raise BrokerUnavailable(f"cannot connect to {self.nodes.describe()}: {exc!r}") from exc
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
        """Drop the connection; the next publish reconnects. Late confirms of the old channel are ignored.

        The connection is dropped without AMQP's closing handshake: it failed, and a half-open one would
        never answer (closing politely would wait for ever)."""
        self._drop(polite=False)

    def close(self) -> None:
        self._drop(polite=True)

    def _drop(self, *, polite: bool) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        self._declared.clear()
        if connection is not None:
            try:
                connection.release() if polite else connection.collect()
            except Exception:
                logger.debug("error while closing a broker connection", exc_info=True)


#: AMQP reply codes with which the broker closes the connection over a frame it was sent (frame_too_large, ...).
_FRAME_ERRORS = (501, 502)
_PRECONDITION_FAILED = 406
_BASIC_PUBLISH = (60, 40)


def _refusal(exc: BaseException) -> str | None:
    """The broker's reply when it closed the connection over a frame we sent, or the channel over a publish
    (``message size ... is larger than configured max size``, a foreign ``user_id``, ...); None otherwise:
    a network error or a broker shutting down is an outage, not a message's fault."""
    code, method = getattr(exc, "reply_code", None), getattr(exc, "method_sig", None)
    if code in _FRAME_ERRORS or (code == _PRECONDITION_FAILED and method == _BASIC_PUBLISH):
        return f"{getattr(exc, 'reply_text', '') or exc!r} (reply {code})"
    return None


class _Refused(Exception):
    """The broker closed the channel or connection because of a message of the batch."""


class AmqpFlight:
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
    exchange: str
    mandatory: bool
    envelopes: list[Envelope]
    limits: SizeLimits
    pending: dict[int, str] = field(default_factory=dict)
    returned: dict[str, str] = field(default_factory=dict)
    report: PublishReport = field(default_factory=PublishReport)
    collected: bool = False
    isolating: bool = False
    nacked: bool = False

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def decided(self) -> set[str]:
        return set(self.report.confirmed) | set(self.report.failed) | set(self.report.rejected)

    def undecided(self) -> list[Envelope]:
        """The batch's envelopes the broker has not given a verdict on (nor the size check), in batch order."""
        decided = self.decided()
        return [envelope for envelope in self.envelopes if envelope.message_id not in decided]

    def resolve(self, delivery_tag: int, multiple: bool, error: str | None) -> None:
        self.nacked = self.nacked or error is not None
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
        undecided = [envelope.message_id for envelope in self.undecided()]
        if report.broker_error is not None:
            report.unknown.extend(undecided)
        elif undecided:
            report.failed.update(dict.fromkeys(undecided, "no confirm from the broker before the timeout"))
            transport.reset()  # the channel's tag accounting is unreliable after a timeout
        elif self.nacked:
            # A channel whose first publish to a quorum queue came while the queue had no leader (its node was
            # just lost) goes on nacking every message after a new leader is elected (RabbitMQ 3.10); a new
            # channel publishes normally. So the next batch starts on a new connection.
            transport.reset()
        return report
