"""System checks: misconfiguration of the outbox is reported by ``manage.py check`` at start-up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Warning, register
from django.db import connections, router

from outbox.broker_nodes import node_urls
from outbox.conf import outbox_settings
from outbox.limits import BROKER_HEADER_ROOM, BROKER_MAX_MESSAGE_SIZE
from outbox.routing import routing_errors
from outbox.setting_checks import mistyped, range_errors, scheme_errors, type_errors, unknown_name_warnings
from outbox.transports.base import WAIT_TICK

#: Renewal is checked every WAIT_TICK and happens at half the lease: the lease must exceed twice the tick.
MIN_LEASE = 2 * WAIT_TICK

NON_NEGATIVE_INTS = ("HEARTBEAT",)
POSITIVE_INTS = ("BATCH_SIZE", "CONFIRM_WINDOW", "MAX_ATTEMPTS", "MAX_BODY_BYTES", "MAX_HEADER_BYTES")
POSITIVE_FLOATS = ("CONFIRM_TIMEOUT", "BACKOFF_BASE", "BACKOFF_CAP", "LEASE_SECONDS", "POLL_INTERVAL",
                   "BREAKER_RESET", "BREAKER_RESET_CAP", "STUCK_AFTER", "RETENTION_DAYS")


@register("outbox")
def check_broker_url(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """outbox.E001 without a broker URL; outbox.E002 for a node's URL of another scheme than AMQP's (or memory).
    A cluster's nodes may be joined with ``;`` or given as a list: each is checked."""
    url = outbox_settings.BROKER_URL
    if url and not isinstance(url, (str, list, tuple)):
        return []  # the wrong type: check_setting_types says so
    if not node_urls(url):
        return [Error("No broker URL for the outbox relay.",
                      hint="Set OUTBOX_BROKER_URL (or CELERY_BROKER_URL), e.g. 'amqp://guest:guest@localhost//' "
                           "or 'memory://' for the in-process broker.", id="outbox.E001")]
    return scheme_errors(url, "outbox", "outbox.E002")


@register("outbox")
def check_setting_types(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """Every OUTBOX_* setting has its type (outbox.E003); OUTBOX_* names that are no setting warn (outbox.W004)."""
    return type_errors(outbox_settings, "outbox.E003") + unknown_name_warnings(outbox_settings, "outbox.W004")


@register("outbox")
def check_values(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    errors = range_errors(outbox_settings, "outbox.E003", non_negative_ints=NON_NEGATIVE_INTS,
                          positive_ints=POSITIVE_INTS, positive_floats=POSITIVE_FLOATS)
    return errors + _check_relations()


def _check_relations() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    if _number(outbox_settings.BACKOFF_CAP) < _number(outbox_settings.BACKOFF_BASE):
        errors.append(Error("OUTBOX_BACKOFF_CAP is smaller than OUTBOX_BACKOFF_BASE.",
                            hint="The cap bounds the back-off from above: make it at least the base.",
                            id="outbox.E004"))
    if _number(outbox_settings.LEASE_SECONDS) <= MIN_LEASE:
        errors.append(Error(f"OUTBOX_LEASE_SECONDS must be more than {MIN_LEASE:g} seconds.",
                            hint=f"A relay waiting for confirms renews its leases when half the lease has passed, "
                                 f"checking every {WAIT_TICK:g} s: a shorter lease may run out before it is renewed, "
                                 f"and a second relay publish the batch again.", id="outbox.E005"))
    return errors


@register("outbox")
def check_size_limits(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    warnings: list[CheckMessage] = []
    for name, broker_limit, what in (("MAX_BODY_BYTES", BROKER_MAX_MESSAGE_SIZE, "max_message_size"),
                                     ("MAX_HEADER_BYTES", BROKER_HEADER_ROOM, "frame_max (131,072) less 20")):
        value = getattr(outbox_settings, name)
        if isinstance(value, int) and value > broker_limit:
            warnings.append(Warning(
                f"OUTBOX_{name} ({value:,}) is above RabbitMQ's default {what}: {broker_limit:,} bytes.",
                hint="The broker closes the channel or connection over a larger message (the relay then "
                     "charges that message); lower it unless your broker is configured for more.",
                id="outbox.W002"))
    return warnings


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


@register("outbox")
def check_routing(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    from outbox.models import OutboxMessage

    return routing_errors(OutboxMessage, ("outbox.E007", "outbox.E008"))


@register("outbox")
def check_database(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    from outbox.models import OutboxMessage

    connection = connections[router.db_for_write(OutboxMessage) or "default"]
    if connection.features.has_select_for_update_skip_locked:
        return []
    if connection.vendor == "sqlite":
        return []  # one writer at a time anyway; the README says to run one relay on SQLite
    return [Error(f"The outbox database ({connection.vendor}) has no SELECT ... FOR UPDATE SKIP LOCKED.",
                  hint="Relays would publish the same messages; use PostgreSQL 9.5+ (or MySQL 8+).",
                  id="outbox.E006")]


#: Shorter metrics tokens draw a warning: a token is a password that scrapers send on every request.
MIN_TOKEN_LENGTH = 16


@register("outbox")
def check_metrics_token(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    token = outbox_settings.METRICS_TOKEN
    if not token or not isinstance(token, str):
        return []  # no token: only staff users may read the metrics view; another type is check_setting_types'
    if len(token) < MIN_TOKEN_LENGTH:
        return [Warning(f"OUTBOX_METRICS_TOKEN is shorter than {MIN_TOKEN_LENGTH} characters.",
                        hint="A short token can be guessed: use a random one of 32 characters or more, e.g. "
                             "python -c 'import secrets; print(secrets.token_urlsafe(32))'.", id="outbox.W001")]
    return []


@register("outbox")
def check_celery_broker(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """outbox.W003: Celery's broker is another than the outbox's, so send_task() messages miss Celery's workers."""
    celery_url = outbox_settings.CELERY_BROKER_URL
    outbox_url = outbox_settings.BROKER_URL
    if not isinstance(celery_url, (str, list, tuple)) or not node_urls(celery_url) or check_broker_url(None) \
            or "BROKER_URL" in mistyped(outbox_settings):
        return []  # no Celery broker, or the outbox's URL is wrong already (outbox.E001-E003 say so)
    if {_broker_identity(u) for u in node_urls(celery_url)} == {_broker_identity(u) for u in node_urls(outbox_url)}:
        return []  # the same nodes, in whatever order each process lists them
    return [Warning("CELERY_BROKER_URL names another broker than OUTBOX_BROKER_URL: messages of outbox.send_task() "
                    "are published through OUTBOX_BROKER_URL, where the Celery workers do not read.",
                    hint="Point both settings at the same broker, or leave OUTBOX_BROKER_URL unset to use "
                         "CELERY_BROKER_URL.", id="outbox.W003")]


def _broker_identity(url: str) -> tuple[str, str, int | None, str]:
    """Scheme, host, port and virtual host, as AMQP clients read them: ``pyamqp://`` is ``amqp://``, the port
    defaults to 5672 (5671 with TLS), the virtual host to ``/``. Credentials do not name another broker."""
    parts = urlsplit(url)
    scheme = {"pyamqp": "amqp"}.get(parts.scheme, parts.scheme)
    port = parts.port or {"amqp": 5672, "amqps": 5671}.get(scheme)
    return scheme, parts.hostname or "localhost", port, unquote(parts.path[1:]) or "/"
