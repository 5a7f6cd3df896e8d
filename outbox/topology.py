"""How the topic exchange is declared, by everyone who declares it: the relay's transports, the inbox's
consumer, tests. RabbitMQ refuses a redeclaration with other arguments, so they must all agree.

With ``OUTBOX_UNROUTED`` (the default) the exchange gets an alternate exchange, ``<exchange>.unrouted``
(fanout), bound to the durable queue of the same name: a message that no queue's binding matches (an
event published before its first subscriber exists, a fault nobody listens for) is kept there, where an
operator can see and replay it (docs/operations.md), instead of being returned to the relay, retried
and dead, blocking its key. The broker confirms it like any routed message, so the relay records it
sent; the queue's depth (:func:`unrouted_depth`) is the count of such messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from amqp.exceptions import PreconditionFailed
from kombu import Exchange

from outbox.broker_nodes import BrokerNodes, BrokerURL, node_urls
from outbox.conf import outbox_settings

SUFFIX = ".unrouted"
UNROUTED_QUEUE_ARGUMENTS = {"x-queue-type": "quorum"}

logger = logging.getLogger(__name__)


def unrouted_name(exchange: str) -> str:
    """Name of the alternate exchange of ``exchange``, and of its queue."""
    return f"{exchange}{SUFFIX}"


def exchange_arguments(exchange: str) -> dict[str, Any]:
    """Declare arguments of a topic exchange: its alternate exchange when OUTBOX_UNROUTED, else none."""
    return {"alternate-exchange": unrouted_name(exchange)} if exchange and outbox_settings.UNROUTED else {}


def topic_exchange(name: str, *, declared: bool = False) -> Exchange:
    """The kombu ``Exchange`` for ``name``, declared as the relay declares it; ``declared``: already
    declared (by :func:`declare`), so kombu only binds to it."""
    return Exchange(name, "topic", durable=True, arguments=exchange_arguments(name), no_declare=declared)


def declare(open_channel: Callable[[], Any], channel: Any, exchange: str) -> bool:
    """Declare ``exchange`` on a py-amqp ``channel``, its unrouted exchange and queue first (so that nothing
    routed there in between is dropped); returns False when the exchange already exists without them.

    RabbitMQ refuses to redeclare an exchange with other arguments and closes the channel that asked, so the
    topic exchange is declared on a channel of its own (``open_channel()``): an exchange declared by an older
    version keeps working as it is, unroutable messages are returned to the relay as before, and the fix
    (:func:`mismatch_hint`) is logged at ERROR, once per exchange and process, instead of halting the relay
    or the consumer of a running system on upgrade. Raises the channel's other errors (broker down).
    """
    arguments = exchange_arguments(exchange)
    if arguments:
        _declare_unrouted(open_channel, channel, unrouted_name(exchange))
    own = open_channel()
    try:
        own.exchange_declare(exchange, "topic", durable=True, auto_delete=False, arguments=arguments)
    except PreconditionFailed as exc:
        _log_mismatch(exchange, exc)
        return False
    own.close()
    return True


def _declare_unrouted(open_channel: Callable[[], Any], channel: Any, name: str) -> None:
    """The fanout exchange ``name`` and its queue, bound. The queue is a quorum queue: replicated, so that on
    a cluster the loss of the node it lives on neither loses what it keeps nor stops every later declaration
    (a classic queue whose node is down fails its redeclaration with NOT_FOUND, and with it the relay's every
    connection). One declared otherwise before (by hand, a classic queue) is kept as it is: declared on a
    channel of its own, as RabbitMQ closes the channel that asks for other arguments."""
    channel.exchange_declare(name, "fanout", durable=True, auto_delete=False)
    own = open_channel()
    try:
        own.queue_declare(name, durable=True, auto_delete=False, arguments=UNROUTED_QUEUE_ARGUMENTS)
    except PreconditionFailed:
        logger.info("unrouted queue %r exists with other arguments: kept as it is", name,
                    extra={"action": "unrouted_queue_kept"})
    else:
        own.close()
    channel.queue_bind(name, name, "")


_mismatches_logged: set[str] = set()


def _log_mismatch(exchange: str, exc: Exception) -> None:
    if exchange not in _mismatches_logged:
        _mismatches_logged.add(exchange)
        logger.error("%s", mismatch_hint(exchange), exc_info=exc, extra={"action": "exchange_without_unrouted"})


def mismatch_hint(exchange: str) -> str:
    """What to do when ``exchange`` already exists declared otherwise (by an older version, or by hand)."""
    if outbox_settings.UNROUTED:
        return (f"exchange {exchange!r} exists without the alternate exchange {unrouted_name(exchange)!r} "
                f"(declared before OUTBOX_UNROUTED, or by hand), so unroutable messages are returned and retried "
                f"as before instead of kept: delete it so that it is re-created "
                f"(rabbitmqadmin delete exchange name={exchange}; its bindings are re-declared by the consumers "
                f"when they restart), or set OUTBOX_UNROUTED = False to keep it as it is")
    return (f"exchange {exchange!r} exists with other arguments (an alternate exchange?): set OUTBOX_UNROUTED "
            f"= True, or delete it so that it is re-created")


def unrouted_depth(url: BrokerURL, exchange: str) -> int | None:
    """Messages waiting in ``exchange``'s unrouted queue; None when there is none (OUTBOX_UNROUTED off, or
    nothing declared it yet) or the broker cannot be asked (a passive declare, nothing is created). ``url``
    may name a cluster's nodes: the first that answers is asked."""
    urls = node_urls(url)
    if not exchange_arguments(exchange) or not urls or not urls[0].startswith(("amqp", "pyamqp")):
        return None
    try:
        with BrokerNodes(urls).connect(connect_timeout=2) as connection:
            channel: Any = connection.default_channel
            return int(channel.queue_declare(unrouted_name(exchange), passive=True).message_count)
    except Exception:  # noqa: BLE001 - advisory: a missing queue or an unreachable broker means "unknown"
        return None
