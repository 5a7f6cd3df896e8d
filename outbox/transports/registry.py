"""Which transport serves a broker URL, by its scheme. The built-in ones are registered here; a new broker is
one module implementing :class:`~outbox.transports.base.Transport` and
:class:`~outbox.transports.base.Consumer`, plus a :func:`register` call (from an ``AppConfig.ready()``).
The system checks (outbox.E002, inbox.E009) accept exactly the registered schemes.
"""

from __future__ import annotations

from dataclasses import dataclass

from outbox.broker_nodes import BrokerURL, node_urls
from outbox.exceptions import ConfigurationError
from outbox.transports.amqp import AmqpTransport
from outbox.transports.amqp_consumer import AmqpConsumer
from outbox.transports.base import Consumer, ConsumerFactory, Transport, TransportFactory
from outbox.transports.memory import MemoryConsumer, MemoryTransport


@dataclass(frozen=True)
class Scheme:
    """The two sides of one broker: how to publish to it, how to consume from it."""

    transport: TransportFactory
    consumer: ConsumerFactory


_schemes: dict[str, Scheme] = {}


def register(scheme: str, publisher_factory: TransportFactory, consumer_factory: ConsumerFactory) -> None:
    """Serve URLs ``<scheme>://...`` with these factories (replacing what served the scheme before)."""
    _schemes[scheme] = Scheme(publisher_factory, consumer_factory)


def schemes() -> list[str]:
    """The registered URL schemes, sorted."""
    return sorted(_schemes)


def scheme_of(url: BrokerURL) -> str:
    """``amqp`` for ``amqp://...`` (what precedes ``://``; of the first node, for a cluster's nodes)."""
    return (node_urls(url) or [""])[0].split("://", 1)[0]


def _lookup(url: BrokerURL) -> Scheme:
    try:
        return _schemes[scheme_of(url)]
    except KeyError:
        raise ConfigurationError(f"no transport for the broker URL scheme {scheme_of(url)!r}: "
                                 f"one of {', '.join(schemes())}") from None


def transport_for_url(url: BrokerURL, *, window: int = 256) -> Transport:
    """The publishing transport for a broker URL; ``window``: how many messages may await their confirm.

    Raises :class:`ConfigurationError` for a scheme nobody registered."""
    return _lookup(url).transport(url, window=window)


def consumer_for_url(url: BrokerURL, *, prefetch: int, heartbeat: int | None = None) -> Consumer:
    """The consumer for a broker URL: ``prefetch`` unacknowledged deliveries at most, ``heartbeat`` seconds
    (0 or None: off). Raises :class:`ConfigurationError` for a scheme nobody registered."""
    return _lookup(url).consumer(url, prefetch=prefetch, heartbeat=heartbeat)


for _name in ("amqp", "amqps", "pyamqp"):
    register(_name, AmqpTransport, AmqpConsumer)
register("memory", MemoryTransport, MemoryConsumer)
