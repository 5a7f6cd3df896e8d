"""The inbox's system checks: each misconfiguration has its own id and a hint; the defaults pass; the retention
of processed rows (the deduplication window) must outlast the longest retry."""

from __future__ import annotations

import pytest
from django.core.checks import Error, run_checks
from django.test import override_settings

from inbox.conf import DEFAULTS


def inbox_errors() -> list[Error]:
    return [m for m in run_checks(tags=["inbox"]) if m.id.startswith("inbox.")]


def test_inbox_checks__project_settings__no_errors():
    assert inbox_errors() == []


def test_inbox_checks__every_option_at_its_documented_default__no_errors():
    defaults = {f"INBOX_{name}": value for name, value in DEFAULTS.items() if name != "BROKER_URL"}
    with override_settings(**defaults, INBOX_BROKER_URL="amqp://guest:guest@localhost//"):
        assert inbox_errors() == []


@pytest.mark.parametrize(("overrides", "check_id", "mentions"), [
    pytest.param({"INBOX_IMMEDIATE_RETRIES": -1}, "inbox.E001", "INBOX_IMMEDIATE_RETRIES", id="immediate-negative"),
    pytest.param({"INBOX_DELAYED_RETRIES": 2.5}, "inbox.E001", "INBOX_DELAYED_RETRIES", id="delayed-float"),
    pytest.param({"INBOX_DELAYED_RETRIES": True}, "inbox.E001", "INBOX_DELAYED_RETRIES", id="delayed-bool"),
    pytest.param({"INBOX_PREFETCH": 0}, "inbox.E001", "INBOX_PREFETCH", id="prefetch-zero"),
    pytest.param({"INBOX_HEARTBEAT": -5}, "inbox.E001", "INBOX_HEARTBEAT", id="heartbeat-negative"),
    pytest.param({"INBOX_HEARTBEAT": "30"}, "inbox.E001", "INBOX_HEARTBEAT", id="heartbeat-str"),
    pytest.param({"INBOX_MAX_BODY_BYTES": "1MB"}, "inbox.E001", "INBOX_MAX_BODY_BYTES", id="max-body-str"),
    pytest.param({"INBOX_BREAKER_FAILURES": 0}, "inbox.E001", "INBOX_BREAKER_FAILURES", id="breaker-zero"),
    pytest.param({"INBOX_BACKOFF_BASE": 0}, "inbox.E001", "INBOX_BACKOFF_BASE", id="base-zero"),
    pytest.param({"INBOX_RETENTION_DAYS": -7}, "inbox.E001", "INBOX_RETENTION_DAYS", id="retention-negative"),
    pytest.param({"INBOX_POLL_INTERVAL": float("nan")}, "inbox.E001", "INBOX_POLL_INTERVAL", id="poll-nan"),
    pytest.param({"INBOX_BACKOFF": "fibonacci"}, "inbox.E002", "'fibonacci'", id="unknown-backoff"),
    pytest.param({"INBOX_QUEUE_TYPE": "stream"}, "inbox.E008", "'stream'", id="unknown-queue-type"),
    pytest.param({"INBOX_RETENTION_DAYS": 0.001, "INBOX_DELAYED_RETRIES": 5, "INBOX_BACKOFF_BASE": 10.0,
                  "INBOX_BACKOFF_CAP": 3600.0}, "inbox.E003", "INBOX_RETENTION_DAYS", id="retention-below-horizon"),
    pytest.param({"INBOX_BROKER_URL": None, "OUTBOX_BROKER_URL": None, "CELERY_BROKER_URL": None}, "inbox.E004",
                 "broker URL", id="no-broker-url"),
    pytest.param({"INBOX_BROKER_URL": "redis://localhost:6379/0"}, "inbox.E009", "'redis'", id="unregistered-scheme"),
])
def test_inbox_checks__misconfiguration__its_error_with_a_hint(overrides, check_id, mentions):
    with override_settings(**overrides):
        errors = inbox_errors()
    assert [e.id for e in errors] == [check_id]
    [error] = errors
    assert isinstance(error, Error)
    assert mentions in error.msg
    assert error.hint


def test_inbox_checks__retention_just_covers_retry_horizon__no_error():
    # 10 + 20 + 40 s of exponential back-off, plus up to half of it with jitter: 105 s.
    retries = {"INBOX_DELAYED_RETRIES": 3, "INBOX_BACKOFF": "exponential_jitter", "INBOX_BACKOFF_BASE": 10.0,
               "INBOX_BACKOFF_CAP": 3600.0}
    with override_settings(**retries, INBOX_RETENTION_DAYS=105 / 86400):
        assert inbox_errors() == []
    with override_settings(**retries, INBOX_RETENTION_DAYS=104 / 86400):
        assert [e.id for e in inbox_errors()] == ["inbox.E003"]


def test_inbox_checks__retry_horizon_setting_bounds_the_retention_needed():
    with override_settings(INBOX_DELAYED_RETRIES=50, INBOX_BACKOFF_BASE=10.0, INBOX_BACKOFF_CAP=3600.0,
                           INBOX_RETRY_HORIZON=3600.0, INBOX_RETENTION_DAYS=1 / 24):
        assert inbox_errors() == []


def test_inbox_checks__broker_url_falls_back_to_outbox_then_celery__no_error():
    with override_settings(INBOX_BROKER_URL=None, OUTBOX_BROKER_URL=None, CELERY_BROKER_URL="amqp://localhost//"):
        assert inbox_errors() == []


def test_inbox_checks__several_bad_values__one_error_each():
    with override_settings(INBOX_PREFETCH=0, INBOX_BACKOFF_BASE=-1, INBOX_BACKOFF="random"):
        errors = inbox_errors()
    assert sorted(e.id for e in errors) == ["inbox.E001", "inbox.E001", "inbox.E002"]


def test_heartbeat__inbox_unset__the_outbox_one_and_0_turns_it_off():
    from inbox.conf import inbox_settings

    with override_settings(OUTBOX_HEARTBEAT=12):
        assert inbox_settings.HEARTBEAT == 12
    with override_settings(OUTBOX_HEARTBEAT=12, INBOX_HEARTBEAT=0):
        assert inbox_settings.HEARTBEAT == 0
    with override_settings(OUTBOX_HEARTBEAT=0, INBOX_HEARTBEAT=5):
        assert inbox_settings.HEARTBEAT == 5
