"""System checks of the inbox's settings and handlers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, register

from inbox.conf import inbox_settings
from inbox.registry import Registry, registry
from outbox import retry
from outbox.broker_nodes import node_urls
from outbox.routing import routing_errors
from outbox.setting_checks import mistyped, range_errors, scheme_errors, type_errors, unknown_name_warnings

QUEUE_TYPES = ("quorum", "classic")
NON_NEGATIVE_INTS = ("IMMEDIATE_RETRIES", "DELAYED_RETRIES", "HEARTBEAT")
POSITIVE_INTS = ("PREFETCH", "MAX_BODY_BYTES", "RAW_BODY_LIMIT", "TRACEBACK_LIMIT", "RETRY_BATCH",
                 "BREAKER_FAILURES")
POSITIVE_FLOATS = ("BACKOFF_BASE", "BACKOFF_CAP", "RETRY_HORIZON", "RETENTION_DAYS", "POLL_INTERVAL",
                   "BREAKER_COOLDOWN", "BREAKER_COOLDOWN_CAP", "STUCK_AFTER")


@register("inbox")
def check_setting_types(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Every INBOX_* setting has its type (inbox.E001); INBOX_* names that are no setting warn (inbox.W001)."""
    return type_errors(inbox_settings, "inbox.E001") + unknown_name_warnings(inbox_settings, "inbox.W001")


@register("inbox")
def check_values(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    errors = range_errors(inbox_settings, "inbox.E001", non_negative_ints=NON_NEGATIVE_INTS,
                          positive_ints=POSITIVE_INTS, positive_floats=POSITIVE_FLOATS)
    wrong_type = mistyped(inbox_settings)  # reported once, by check_setting_types
    for name in ("QUEUE_TYPE", "ORDERED_QUEUE_TYPE"):
        value = getattr(inbox_settings, name)
        if name not in wrong_type and value not in QUEUE_TYPES:
            errors.append(Error(f"INBOX_{name} {value!r} is not a queue type the inbox declares.",
                                hint="'quorum' or 'classic'.", id="inbox.E008"))
    if "BACKOFF" not in wrong_type and inbox_settings.BACKOFF not in retry.names():
        errors.append(Error(f"INBOX_BACKOFF {inbox_settings.BACKOFF!r} is not a back-off strategy.",
                            hint="One of: " + ", ".join(retry.names()), id="inbox.E002"))
    return errors if errors or wrong_type else _check_retention()


def _check_retention() -> list[CheckMessage]:
    from inbox.retry import horizon_seconds

    # The global policy, and every handler's own (a handler may retry longer than the defaults).
    horizons = {"the default retry policy": horizon_seconds()}
    horizons.update({f"handler {spec.name}": horizon_seconds(spec) for spec in registry.all()})
    longest = max(horizons, key=lambda name: horizons[name])
    horizon = horizons[longest]
    if horizon > inbox_settings.RETENTION_DAYS * 86400:
        return [Error(f"INBOX_RETENTION_DAYS ({inbox_settings.RETENTION_DAYS}) is shorter than the longest retry "
                      f"horizon ({horizon / 86400:.2f} days, {longest}).",
                      hint="Processed rows are the deduplication window: a redelivery after they are purged would "
                           "be applied again. Raise INBOX_RETENTION_DAYS or shorten the retries.", id="inbox.E003")]
    return []


@register("inbox")
def check_broker(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """inbox.E004 without a broker URL; inbox.E009 when no transport is registered for a node's scheme."""
    url = inbox_settings.BROKER_URL
    if node_urls(url):  # one node, or a cluster's: URLs joined with ";" or listed
        return scheme_errors(url, "inbox", "inbox.E009")
    return [Error("No broker URL for the inbox consumer.",
                  hint="Set INBOX_BROKER_URL, OUTBOX_BROKER_URL or CELERY_BROKER_URL.", id="inbox.E004")]


@register("inbox")
def check_queue(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    return queue_errors(registry)


def queue_errors(handlers: Registry) -> list[CheckMessage]:
    """inbox.E005 when this service has handlers but names no queue of its own.

    Every service left at the default would consume the one queue ``inbox``: RabbitMQ hands each message
    to one of them, so services would silently take each other's messages.
    """
    if not handlers.all() or "QUEUE" in inbox_settings.explicit():
        return []
    return [Error("INBOX_QUEUE is not set: this service's handlers would consume the shared queue "
                  f"{inbox_settings.QUEUE!r}, splitting its messages with every other service left at the default.",
                  hint="Set INBOX_QUEUE to this service's name, e.g. INBOX_QUEUE = \"billing\".", id="inbox.E005")]


@register("inbox")
def check_routing(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    from inbox.models import InboxMessage

    return routing_errors(InboxMessage, ("inbox.E006", "inbox.E007"))
