"""System checks: misconfiguration of the outbox is reported by ``manage.py check`` at start-up."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Warning, register
from django.db import connections, router

from outbox.conf import outbox_settings
from outbox.transport import WAIT_TICK

#: Renewal is checked every WAIT_TICK and happens at half the lease: the lease must exceed twice the tick.
MIN_LEASE = 2 * WAIT_TICK

POSITIVE_INTS = ("BATCH_SIZE", "CONFIRM_WINDOW", "MAX_ATTEMPTS")
POSITIVE_FLOATS = ("CONFIRM_TIMEOUT", "BACKOFF_BASE", "BACKOFF_CAP", "LEASE_SECONDS", "POLL_INTERVAL",
                   "BREAKER_RESET", "BREAKER_RESET_CAP", "STUCK_AFTER", "RETENTION_DAYS")


@register("outbox")
def check_broker_url(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    url = outbox_settings.BROKER_URL
    if not url:
        return [Error("No broker URL for the outbox relay.",
                      hint="Set OUTBOX_BROKER_URL (or CELERY_BROKER_URL), e.g. 'amqp://guest:guest@localhost//' "
                           "or 'memory://' for the in-process broker.", id="outbox.E001")]
    if url.split("://", 1)[0] not in ("amqp", "pyamqp", "amqps", "memory"):
        return [Error(f"Unsupported outbox broker URL scheme in {url.split('://', 1)[0]!r}.",
                      hint="The relay publishes with AMQP 0-9-1 publisher confirms: use amqp:// (RabbitMQ), "
                           "or memory:// for tests and the demo.", id="outbox.E002")]
    return []


@register("outbox")
def check_values(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name in POSITIVE_INTS:
        value = getattr(outbox_settings, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            errors.append(Error(f"OUTBOX_{name} must be a positive integer, not {value!r}.",
                                hint=f"Remove it to use the default ({outbox_settings.defaults[name]}).",
                                id="outbox.E003"))
    for name in POSITIVE_FLOATS:
        value = getattr(outbox_settings, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            errors.append(Error(f"OUTBOX_{name} must be a positive number of seconds, not {value!r}.",
                                hint=f"Remove it to use the default ({outbox_settings.defaults[name]}).",
                                id="outbox.E003"))
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


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


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
    if token is None or token == "":
        return []  # no token: only staff users may read the metrics view
    if not isinstance(token, str):
        return [Error(f"OUTBOX_METRICS_TOKEN must be a string, not {type(token).__name__}.",
                      hint="Set it to a random string (e.g. secrets.token_urlsafe(32)), or to None to let only "
                           "staff users read the metrics view.", id="outbox.E003")]
    if len(token) < MIN_TOKEN_LENGTH:
        return [Warning(f"OUTBOX_METRICS_TOKEN is shorter than {MIN_TOKEN_LENGTH} characters.",
                        hint="A short token can be guessed: use a random one of 32 characters or more, e.g. "
                             "python -c 'import secrets; print(secrets.token_urlsafe(32))'.", id="outbox.W001")]
    return []
