"""The outbox app's settings: one object, typed defaults, read from Django settings on every access.

Every option is a Django setting named ``OUTBOX_<NAME>``. Nothing else in the library reads
``django.conf.settings`` for outbox options, so ``override_settings`` works in tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings as django_settings

#: Documented defaults. The README's configuration table is generated from the same values.
DEFAULTS: dict[str, Any] = {
    # Broker URL for the relay. Falls back to CELERY_BROKER_URL; ``memory://`` is kombu's in-process broker.
    "BROKER_URL": None,
    # Durable topic exchange that every message is published to; the routing key is the topic.
    "EXCHANGE": "events",
    # Value of the CloudEvents ``source`` attribute (a URI-reference naming this service).
    "SOURCE": "/django-outbox-inbox",
    # AMQP heartbeat in whole seconds, for the relay's and (unless INBOX_HEARTBEAT says otherwise) the consumer's
    # broker connections: a connection that went half-open (no FIN, no RST) is noticed after about two
    # intervals instead of never. 0 turns heartbeats off.
    "HEARTBEAT": 30,
    # Messages claimed per relay round.
    "BATCH_SIZE": 500,
    # Unconfirmed messages allowed in flight on the channel before the relay waits for confirms.
    "CONFIRM_WINDOW": 256,
    # Seconds to wait for the broker's confirms of one batch before counting them as failed.
    "CONFIRM_TIMEOUT": 10.0,
    # Publish with ``mandatory``: an unroutable message is returned and retried, not silently dropped.
    "MANDATORY": True,
    # Largest message the relay sends: the JSON body, and the AMQP properties and headers as encoded (they
    # travel in one frame, and RabbitMQ closes the connection over a frame above its frame_max, 131,072 bytes
    # by default). publish() refuses larger messages; the relay marks rows larger than this dead at once.
    # 1 MiB is the inbox's default limit (INBOX_MAX_BODY_BYTES): a message the outbox accepts by default is
    # one a consumer accepts by default. Raise both together; the broker takes up to 16 MiB (RabbitMQ 4's
    # default max_message_size; 3.x: 128 MiB).
    "MAX_BODY_BYTES": 1024 * 1024,
    "MAX_HEADER_BYTES": 64 * 1024,
    # Declare the exchange with the alternate exchange "<exchange>.unrouted" (fanout, bound to the durable
    # queue of that name): unroutable messages are kept there (confirmed, recorded sent), not returned.
    "UNROUTED": True,
    # Failed publish attempts before a message is marked dead.
    "MAX_ATTEMPTS": 10,
    # Exponential back-off between publish attempts: base * 2**(attempt-1), capped, plus jitter.
    "BACKOFF_BASE": 1.0,
    "BACKOFF_CAP": 300.0,
    # Seconds a relay owns the messages it claimed; a relay that dies is replaced after this. A live relay
    # waiting for confirms renews its leases when half of this has passed (more than 1 s: outbox.E005).
    "LEASE_SECONDS": 3.5,
    # Seconds between polls of the long-running relay (the floor under LISTEN/NOTIFY wake-ups).
    "POLL_INTERVAL": 1.0,
    # On PostgreSQL, NOTIFY the relay after a publishing transaction commits (at most once per throttle).
    "NOTIFY": True,
    "NOTIFY_CHANNEL": "outbox_pending",
    "NOTIFY_THROTTLE": 0.02,
    # After a publishing transaction commits, schedule the Celery relay task (needs a Celery app).
    "CELERY_ON_COMMIT": False,
    # Raise NotInTransaction when publish() is called outside transaction.atomic() (where, in autocommit, the
    # message would commit at once, alone). Off by default; worth turning on in development and tests.
    "REQUIRE_ATOMIC": False,
    # A dead message keeps the later messages of its key from being published until it is retried or
    # discarded (order over liveness). Set False to let later messages of the key go on.
    "DEAD_BLOCKS_KEY": True,
    # Relay circuit breaker: seconds before the first reconnect after the broker went away, and the cap.
    "BREAKER_RESET": 1.0,
    "BREAKER_RESET_CAP": 30.0,
    # Seconds after which a pending message counts as stuck (admin filter, status command).
    "STUCK_AFTER": 300.0,
    # Retention: sent messages older than this many days are purged by outbox_purge.
    "RETENTION_DAYS": 7.0,
    # Bearer token that lets a scraper read the ``outbox.views.metrics`` view (``Authorization: Bearer
    # <token>``); logged-in active staff users may read it too. None: staff users only. Keep it secret,
    # at least 16 characters (a system check warns about shorter ones).
    "METRICS_TOKEN": None,
}


class AppSettings:
    """Reads ``<PREFIX><NAME>`` from Django settings on each access, falling back to ``defaults``.

    Subclasses annotate the names they expose so that type checkers know each option's type.
    """

    prefix: str = ""
    defaults: dict[str, Any] = {}
    #: The types of the settings whose default is None (None is allowed too); every other setting takes
    #: its default's type (see ``outbox.setting_checks``), so a setting added to DEFAULTS is checked as is.
    types: dict[str, tuple[type, ...]] = {}

    def __getattr__(self, name: str) -> Any:
        if name not in self.defaults:
            raise AttributeError(name)
        return getattr(django_settings, self.prefix + name, self.defaults[name])

    def explicit(self) -> dict[str, Any]:
        """The settings the project sets, by name without the prefix; {} when it sets none."""
        return {name: getattr(django_settings, self.prefix + name) for name in self.defaults
                if hasattr(django_settings, self.prefix + name)}

    def unknown(self) -> list[str]:
        """Full names of the project's settings with this prefix that are no setting (typos, say); sorted."""
        return sorted(name for name in dir(django_settings)
                      if name.startswith(self.prefix) and name[len(self.prefix):] not in self.defaults)


class OutboxSettings(AppSettings):
    """Typed view over the ``OUTBOX_*`` Django settings; see ``DEFAULTS`` for meanings."""

    prefix = "OUTBOX_"
    defaults = DEFAULTS
    types = {"BROKER_URL": (str, list, tuple), "METRICS_TOKEN": (str,)}

    EXCHANGE: str
    SOURCE: str
    HEARTBEAT: int
    BATCH_SIZE: int
    CONFIRM_WINDOW: int
    CONFIRM_TIMEOUT: float
    MANDATORY: bool
    MAX_BODY_BYTES: int
    MAX_HEADER_BYTES: int
    UNROUTED: bool
    MAX_ATTEMPTS: int
    BACKOFF_BASE: float
    BACKOFF_CAP: float
    LEASE_SECONDS: float
    POLL_INTERVAL: float
    NOTIFY: bool
    NOTIFY_CHANNEL: str
    NOTIFY_THROTTLE: float
    CELERY_ON_COMMIT: bool
    REQUIRE_ATOMIC: bool
    DEAD_BLOCKS_KEY: bool
    BREAKER_RESET: float
    BREAKER_RESET_CAP: float
    STUCK_AFTER: float
    RETENTION_DAYS: float
    METRICS_TOKEN: str | None

    @property
    def BROKER_URL(self) -> str | Sequence[str] | None:  # noqa: N802 - mirrors the setting's name
        """The relay's broker: ``OUTBOX_BROKER_URL``, else ``CELERY_BROKER_URL``, else None. A URL, URLs joined
        with ``;`` or a list of URLs: a cluster's nodes (see :mod:`outbox.broker_nodes`)."""
        explicit = getattr(django_settings, "OUTBOX_BROKER_URL", None)
        return explicit or getattr(django_settings, "CELERY_BROKER_URL", None)

    @property
    def CELERY_BROKER_URL(self) -> Any:  # noqa: N802 - mirrors the setting's name
        """Celery's broker setting (not an outbox option: the system checks compare it with BROKER_URL)."""
        return getattr(django_settings, "CELERY_BROKER_URL", None)


outbox_settings = OutboxSettings()
