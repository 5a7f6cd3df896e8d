"""The broker behind two small interfaces: :class:`Transport` publishes for the relay, :class:`Consumer`
receives for the inbox. Each broker implements both in a module of its own (``amqp.py``, ``memory.py``) and
registers them under its URL schemes (``registry.py``); callers never ask which one they have. One contract
test suite runs against every registered implementation (tests/integration/test_transport_contract.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from outbox.wire import Delivery, Envelope

#: Longest a wait for confirms goes without calling the transport's ``on_wait`` (the relay renews its
#: leases there: OUTBOX_LEASE_SECONDS must be more than twice this, see outbox.checks).
WAIT_TICK = 0.5


@dataclass
class PublishReport:
    """What became of a batch: confirmed, refused by the broker (with why), unknown (connection lost), or
    rejected unsent because it can never be sent (larger than the size limits, with why)."""

    confirmed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    broker_error: str | None = None
    rejected: dict[str, str] = field(default_factory=dict)


class InFlight(Protocol):
    """A batch that was sent and whose verdicts may still be arriving (see :meth:`Transport.start`)."""

    def collect(self) -> PublishReport:
        """Wait for the remaining verdicts (up to the batch's timeout); returns the batch's report."""
        ...


@dataclass(frozen=True)
class Collected:
    """A batch whose verdicts are all in already: what a transport that never waits returns from ``start``."""

    report: PublishReport

    def collect(self) -> PublishReport:
        return self.report


class Transport(Protocol):
    """Publishes envelopes to a topic exchange and reports the broker's verdict per message.

    ``on_wait``, when set, is called at least every :data:`WAIT_TICK` seconds while the transport waits
    for the broker (a transport that never waits may ignore it).
    """

    on_wait: Callable[[], None] | None

    def publish(self, exchange: str, envelopes: Sequence[Envelope], *, mandatory: bool = True,
                timeout: float = 10.0) -> PublishReport:
        """Send the batch and wait for the broker's verdict on each message; returns the report."""
        ...

    def start(self, exchange: str, envelopes: Sequence[Envelope], *, mandatory: bool = True,
              timeout: float = 10.0) -> InFlight:
        """Send the batch and return it in flight, so that the caller works while the verdicts arrive; the
        previous batch must have been collected. By default (a subclass that does not keep batches in
        flight) the batch is published at once and returned collected."""
        return Collected(self.publish(exchange, envelopes, mandatory=mandatory, timeout=timeout))

    def close(self) -> None:
        """Close the connection, if any; the next publish connects again."""
        ...


@dataclass(frozen=True)
class Subscription:
    """A queue of the consuming service, bound to the exchange by ``patterns`` (topic patterns).

    ``ordered``: one consumer at a time (RabbitMQ's single active consumer), so that the queue is applied in
    broker order; ``queue_type``: RabbitMQ's ``x-queue-type`` ("classic" declares none), for brokers that
    have queue types.
    """

    name: str
    patterns: tuple[str, ...]
    ordered: bool = False
    queue_type: str = "classic"


@dataclass(frozen=True)
class Received:
    """One delivery from a subscription, with the transport's handle to acknowledge it. ``redelivered``: the
    broker delivered it before (to this consumer or another) without an ack."""

    delivery: Delivery
    subscription: Subscription
    handle: Any = field(compare=False, repr=False)
    redelivered: bool = False


class Consumer(Protocol):
    """One broker session at a time for the inbox: declare the queues, receive raw deliveries, ack them.

    A session is :meth:`open`, then :meth:`drain` as often as the caller likes, then :meth:`close`. Ending it
    gives back every delivery not acknowledged: the broker requeues them, in queue order.
    """

    #: Errors meaning the connection was lost: the caller closes with ``lost=True`` and reconnects.
    lost_errors: tuple[type[BaseException], ...]
    #: Errors meaning the broker refused a request (a login, a declaration): retrying cannot help.
    refused_errors: tuple[type[BaseException], ...]
    #: The broker's URL with its password masked, for messages.
    uri: str

    def open(self, exchange: str, subscriptions: Sequence[Subscription],
             on_delivery: Callable[[Received], None]) -> None:
        """Connect, declare ``exchange`` and the subscriptions' queues with their bindings, and start
        consuming; deliveries are handed to ``on_delivery`` during :meth:`drain`."""
        ...

    def drain(self, timeout: float, enough: Callable[[int], bool]) -> int:
        """Hand over the deliveries that arrive within ``timeout`` seconds; once one arrived, return as soon
        as none is waiting or ``enough(count so far)`` is true. Returns how many were handed over (0 when none
        came). Raises a :attr:`lost_errors` error when the connection is lost, and whatever ``on_delivery``
        raised."""
        ...

    def ack(self, received: Received) -> None:
        """Acknowledge a delivery: the broker forgets it."""
        ...

    def reject(self, received: Received, *, requeue: bool = False) -> None:
        """Refuse a delivery: dropped (or dead-lettered by the broker's policy), or requeued."""
        ...

    def close(self, *, lost: bool = False) -> None:
        """End the session; ``lost``: the connection failed, drop it without the closing handshake (a
        half-open connection would never answer it)."""
        ...


class TransportFactory(Protocol):
    def __call__(self, url: str | Sequence[str], *, window: int = ...) -> Transport: ...


class ConsumerFactory(Protocol):
    def __call__(self, url: str | Sequence[str], *, prefetch: int, heartbeat: int | None) -> Consumer: ...
