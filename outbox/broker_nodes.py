"""A broker given as the nodes of a cluster: the forms of the URL setting, and connecting to a node that answers.

``OUTBOX_BROKER_URL`` and ``INBOX_BROKER_URL`` name one node (``amqp://host//``), several joined with ``;``
(kombu's failover form: ``amqp://a//;amqp://b//``), or a list or tuple of URLs. The relay and the consumer
connect through :class:`BrokerNodes`: to the node they used last, else to the next one that answers.
Both apps use it, so it lives in the outbox, which the inbox builds on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from kombu import Connection

logger = logging.getLogger(__name__)

#: What the URL settings accept: one URL, URLs joined with ``;``, or a sequence of URLs.
BrokerURL = str | Sequence[str]


def node_urls(url: object) -> list[str]:
    """The URL of each node, in the order given; [] when there is none (or ``url`` is of another type, which
    the settings' type check reports)."""
    if not url or not isinstance(url, (str, list, tuple)):
        return []
    items = [url] if isinstance(url, str) else list(url)
    return [part.strip() for item in items if isinstance(item, str) for part in item.split(";") if part.strip()]


class BrokerNodes:
    """The nodes of one broker, tried in turn from the one that answered last.

    Staying on a node that works keeps a process where it was placed (each process may list the nodes starting
    with another one, to spread the connections); when that node is down, the next ones are tried, each once,
    with the connection's ``connect_timeout``, so a round over dead nodes is bounded. The caller's own back-off
    (the relay's circuit breaker, the consumer's reconnect delay) paces the rounds.
    """

    def __init__(self, url: BrokerURL) -> None:
        self.urls = node_urls(url)
        if not self.urls:
            raise ValueError(f"no broker URL in {url!r}")
        self._index = 0

    @property
    def current(self) -> str:
        """The URL of the node connected to last (the first node before any connection)."""
        return self.urls[self._index]

    def describe(self) -> str:
        """The nodes' URLs with their passwords masked, joined with ``;``, for messages."""
        return ";".join(Connection(url).as_uri() for url in self.urls)

    def probe(self) -> Connection:
        """An unconnected connection to the first node: it tells which errors its driver raises."""
        return Connection(self.urls[0])

    def connect(self, **options: Any) -> Connection:
        """A connected kombu ``Connection`` (``options`` as kombu's) to the first node that accepts one, from
        the current node on, each tried once; raises the last node's error when none does (an ``OSError``,
        or one of the driver's connection or channel errors, such as a refused login)."""
        error: BaseException | None = None
        probe = self.probe()
        errors: tuple[type[BaseException], ...] = (OSError, *probe.connection_errors, *probe.channel_errors)
        for step in range(len(self.urls)):
            index = (self._index + step) % len(self.urls)
            connection = Connection(self.urls[index], **options)
            try:
                # One attempt: kombu's connect() retries once after two seconds, which a dead node does not need.
                connection.ensure_connection(max_retries=0, reraise_as_library_errors=False)
            except errors as exc:
                connection.release()
                error = exc
                if len(self.urls) > 1:
                    logger.warning("broker node %s unavailable: %r", connection.as_uri(), exc,
                                   extra={"action": "broker_node_unavailable"})
                continue
            self._index = index
            return connection
        assert error is not None
        raise error
