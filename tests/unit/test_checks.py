"""The outbox's system checks: each misconfiguration has its own id and a hint; the defaults pass."""

from __future__ import annotations

import pytest
from django.core.checks import Error, run_checks
from django.test import override_settings

from outbox.conf import DEFAULTS


def outbox_errors() -> list[Error]:
    return [m for m in run_checks(tags=["outbox"]) if m.id.startswith("outbox.")]


def test_checks__project_settings__no_outbox_errors():
    assert outbox_errors() == []


def test_checks__every_option_at_its_documented_default__no_outbox_errors():
    defaults = {f"OUTBOX_{name}": value for name, value in DEFAULTS.items() if name != "BROKER_URL"}
    with override_settings(**defaults, OUTBOX_BROKER_URL="amqp://guest:guest@localhost//"):
        assert outbox_errors() == []


@pytest.mark.parametrize(("overrides", "check_id", "mentions"), [
    pytest.param({"OUTBOX_BROKER_URL": None, "CELERY_BROKER_URL": None}, "outbox.E001", "broker URL", id="no-url"),
    pytest.param({"OUTBOX_BROKER_URL": "", "CELERY_BROKER_URL": ""}, "outbox.E001", "broker URL", id="empty-url"),
    pytest.param({"OUTBOX_BROKER_URL": "redis://localhost:6379/0"}, "outbox.E002", "'redis'", id="redis-url"),
    pytest.param({"OUTBOX_BROKER_URL": "sqs://"}, "outbox.E002", "'sqs'", id="sqs-url"),
    pytest.param({"OUTBOX_BATCH_SIZE": 0}, "outbox.E003", "OUTBOX_BATCH_SIZE", id="batch-size-zero"),
    pytest.param({"OUTBOX_CONFIRM_WINDOW": True}, "outbox.E003", "OUTBOX_CONFIRM_WINDOW", id="window-bool"),
    pytest.param({"OUTBOX_MAX_ATTEMPTS": "10"}, "outbox.E003", "OUTBOX_MAX_ATTEMPTS", id="attempts-str"),
    pytest.param({"OUTBOX_BATCH_SIZE": 2.5}, "outbox.E003", "OUTBOX_BATCH_SIZE", id="batch-size-float"),
    pytest.param({"OUTBOX_POLL_INTERVAL": 0}, "outbox.E003", "OUTBOX_POLL_INTERVAL", id="poll-zero"),
    pytest.param({"OUTBOX_RETENTION_DAYS": -1}, "outbox.E003", "OUTBOX_RETENTION_DAYS", id="retention-negative"),
    pytest.param({"OUTBOX_BREAKER_RESET": float("nan")}, "outbox.E003", "OUTBOX_BREAKER_RESET", id="reset-nan"),
    pytest.param({"OUTBOX_BACKOFF_BASE": 10.0, "OUTBOX_BACKOFF_CAP": 5.0}, "outbox.E004", "OUTBOX_BACKOFF_CAP",
                 id="cap-below-base"),
    pytest.param({"OUTBOX_LEASE_SECONDS": 10.0, "OUTBOX_CONFIRM_TIMEOUT": 10.0}, "outbox.E005",
                 "OUTBOX_LEASE_SECONDS", id="lease-equals-confirm-timeout"),
    pytest.param({"OUTBOX_LEASE_SECONDS": 5.0, "OUTBOX_CONFIRM_TIMEOUT": 10.0}, "outbox.E005",
                 "OUTBOX_LEASE_SECONDS", id="lease-below-confirm-timeout"),
])
def test_checks__misconfiguration__its_error_with_a_hint(overrides, check_id, mentions):
    with override_settings(**overrides):
        errors = outbox_errors()
    assert [e.id for e in errors] == [check_id]
    [error] = errors
    assert isinstance(error, Error)
    assert mentions in error.msg
    assert error.hint


def test_checks__broker_url_falls_back_to_celery_broker_url__no_error():
    with override_settings(OUTBOX_BROKER_URL=None, CELERY_BROKER_URL="amqp://guest:guest@localhost//"):
        assert outbox_errors() == []


def test_checks__several_bad_values__one_error_each():
    with override_settings(OUTBOX_BATCH_SIZE=0, OUTBOX_CONFIRM_TIMEOUT=-1, OUTBOX_MAX_ATTEMPTS=None):
        errors = outbox_errors()
    assert sorted(e.msg.split(" ")[0] for e in errors) == [
        "OUTBOX_BATCH_SIZE", "OUTBOX_CONFIRM_TIMEOUT", "OUTBOX_MAX_ATTEMPTS"]
    assert {e.id for e in errors} == {"outbox.E003"}
