"""The inbox app's settings: ``INBOX_<NAME>`` Django settings read on every access, with these defaults."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from outbox.conf import AppSettings

DEFAULTS: dict[str, Any] = {
    # This service's durable queue; ordered handlers use "<QUEUE>.ordered" (a single-active-consumer queue).
    "QUEUE": "inbox",
    # RabbitMQ queue type of both queues: "quorum" (replicated, survives the loss of a node) or "classic" (as
    # declared before quorum queues were the default: keeps existing classic queues working).
    "QUEUE_TYPE": "quorum",
    # RabbitMQ queue type of the ordered queue ("<QUEUE>.ordered"). "classic" by default: on RabbitMQ 3.10 a
    # quorum queue puts back the messages of a consumer that died (or of a broker restart) behind later ones,
    # and a key's messages were then applied out of order (make chaos-small: 16 keys in 2,000 messages). "quorum"
    # replicates it across a cluster's nodes, at that risk.
    "ORDERED_QUEUE_TYPE": "classic",
    # Broker URL for the consumer; falls back to the outbox's (OUTBOX_BROKER_URL, then CELERY_BROKER_URL).
    "BROKER_URL": None,
    # AMQP heartbeat of the consumer's connection in whole seconds (0: off); None uses OUTBOX_HEARTBEAT. A handler
    # that runs longer than about two intervals makes the broker drop the connection (its message is redelivered).
    "HEARTBEAT": None,
    # Unacknowledged messages a worker may hold.
    "PREFETCH": 32,
    # Retries in the same delivery, right after a failure, before delayed retries take over.
    "IMMEDIATE_RETRIES": 3,
    # Delayed retries (kept in the database) after the immediate ones, then the message is dead.
    "DELAYED_RETRIES": 5,
    # Back-off between delayed retries: constant, linear, exponential or exponential_jitter.
    "BACKOFF": "exponential_jitter",
    "BACKOFF_BASE": 10.0,
    "BACKOFF_CAP": 3600.0,
    # No retry is scheduled later than this many seconds after the first failure: dead instead.
    "RETRY_HORIZON": 86400.0,
    # Publish "<topic><FAULT_SUFFIX>" through the outbox when a handler raises a business error.
    "FAULTS": True,
    # ... and when a message is dead after its retries (the fault's "kind" tells which: "business_error" or
    # "retries_exhausted"). Needs FAULTS (or the handler's faults=True).
    "FAULT_ON_DEAD": True,
    "FAULT_SUFFIX": ".fault",
    # Bodies larger than this are refused before decoding.
    "MAX_BODY_BYTES": 1024 * 1024,
    # How much of a refused body, and of a traceback, is kept on the dead record.
    "RAW_BODY_LIMIT": 64 * 1024,
    "TRACEBACK_LIMIT": 16 * 1024,
    # Processed rows are the deduplication window: kept this many days (inbox_purge).
    "RETENTION_DAYS": 7.0,
    # Delayed retries processed per consumer round, after the new messages in hand (so new ones go first).
    "RETRY_BATCH": 20,
    # Seconds between checks for due delayed retries when the queue is idle.
    "POLL_INTERVAL": 1.0,
    # A dead message of an ordered handler keeps the later messages of its key waiting (order over liveness).
    "DEAD_BLOCKS_KEY": True,
    # Circuit breaker per handler: opens after this many consecutive failures, or a failure rate over the window.
    "BREAKER_FAILURES": 5,
    "BREAKER_RATE": 0.5,
    "BREAKER_WINDOW": 20,
    "BREAKER_COOLDOWN": 5.0,
    "BREAKER_COOLDOWN_CAP": 300.0,
    # Seconds after which a waiting message counts as stuck (admin filter, status command).
    "STUCK_AFTER": 3600.0,
}


class InboxSettings(AppSettings):
    """Typed view over the ``INBOX_*`` Django settings; see ``DEFAULTS`` for meanings."""

    prefix = "INBOX_"
    defaults = DEFAULTS
    types = {"BROKER_URL": (str, list, tuple), "HEARTBEAT": (int,)}

    QUEUE: str
    QUEUE_TYPE: str
    ORDERED_QUEUE_TYPE: str
    PREFETCH: int
    IMMEDIATE_RETRIES: int
    DELAYED_RETRIES: int
    BACKOFF: str
    BACKOFF_BASE: float
    BACKOFF_CAP: float
    RETRY_HORIZON: float
    FAULTS: bool
    FAULT_ON_DEAD: bool
    FAULT_SUFFIX: str
    MAX_BODY_BYTES: int
    RAW_BODY_LIMIT: int
    TRACEBACK_LIMIT: int
    RETENTION_DAYS: float
    RETRY_BATCH: int
    POLL_INTERVAL: float
    DEAD_BLOCKS_KEY: bool
    BREAKER_FAILURES: int
    BREAKER_RATE: float
    BREAKER_WINDOW: int
    BREAKER_COOLDOWN: float
    BREAKER_COOLDOWN_CAP: float
    STUCK_AFTER: float

    @property
    def BROKER_URL(self) -> str | Sequence[str] | None:  # noqa: N802 - mirrors the setting's name
        from django.conf import settings

        from outbox.conf import outbox_settings

        return getattr(settings, "INBOX_BROKER_URL", None) or outbox_settings.BROKER_URL

    @property
    def HEARTBEAT(self) -> int:  # noqa: N802 - mirrors the setting's name
        """The consumer's AMQP heartbeat: ``INBOX_HEARTBEAT``, else ``OUTBOX_HEARTBEAT`` (0: off)."""
        from django.conf import settings

        from outbox.conf import outbox_settings

        own = getattr(settings, "INBOX_HEARTBEAT", None)
        return own if own is not None else outbox_settings.HEARTBEAT


inbox_settings = InboxSettings()
