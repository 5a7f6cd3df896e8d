"""The outbox's system checks: each misconfiguration has its own id and a hint; the defaults pass."""

from __future__ import annotations

import pytest
from django.core.checks import Error, Warning, run_checks
from django.test import override_settings

from outbox.conf import DEFAULTS


def outbox_errors() -> list[Error]:
    return [m for m in run_checks(tags=["outbox"]) if m.id.startswith("outbox.")]


def test_checks__project_settings__no_outbox_errors():
    assert outbox_errors() == []


def test_checks__every_option_at_its_documented_default__no_outbox_errors():
    defaults = {f"OUTBOX_{name}": value for name, value in DEFAULTS.items() if name != "BROKER_URL"}
    url = "amqp://guest:guest@localhost//"
    with override_settings(**defaults, OUTBOX_BROKER_URL=url, CELERY_BROKER_URL=url):
        assert outbox_errors() == []


@pytest.mark.parametrize(("overrides", "check_id", "mentions"), [
    pytest.param({"OUTBOX_BROKER_URL": None, "CELERY_BROKER_URL": None}, "outbox.E001", "broker URL", id="no-url"),
    pytest.param({"OUTBOX_BROKER_URL": "", "CELERY_BROKER_URL": ""}, "outbox.E001", "broker URL", id="empty-url"),
    pytest.param({"OUTBOX_BROKER_URL": "redis://localhost:6379/0"}, "outbox.E002", "'redis'", id="redis-url"),
    pytest.param({"OUTBOX_BROKER_URL": "sqs://"}, "outbox.E002", "'sqs'", id="sqs-url"),
    pytest.param({"OUTBOX_BROKER_URL": "amqp://a//;redis://b:6379/0"}, "outbox.E002", "'redis'",
                 id="cluster-with-a-redis-node"),
    pytest.param({"OUTBOX_BROKER_URL": ["amqp://a//", "sqs://"]}, "outbox.E002", "'sqs'", id="list-with-an-sqs-node"),
    pytest.param({"OUTBOX_BROKER_URL": [], "CELERY_BROKER_URL": None}, "outbox.E001", "broker URL", id="empty-list"),
    pytest.param({"OUTBOX_BATCH_SIZE": 0}, "outbox.E003", "OUTBOX_BATCH_SIZE", id="batch-size-zero"),
    pytest.param({"OUTBOX_CONFIRM_WINDOW": True}, "outbox.E003", "OUTBOX_CONFIRM_WINDOW", id="window-bool"),
    pytest.param({"OUTBOX_MAX_ATTEMPTS": "10"}, "outbox.E003", "OUTBOX_MAX_ATTEMPTS", id="attempts-str"),
    pytest.param({"OUTBOX_BATCH_SIZE": 2.5}, "outbox.E003", "OUTBOX_BATCH_SIZE", id="batch-size-float"),
    pytest.param({"OUTBOX_HEARTBEAT": -1}, "outbox.E003", "OUTBOX_HEARTBEAT", id="heartbeat-negative"),
    pytest.param({"OUTBOX_HEARTBEAT": 0.5}, "outbox.E003", "OUTBOX_HEARTBEAT", id="heartbeat-fraction"),
    pytest.param({"OUTBOX_HEARTBEAT": None}, "outbox.E003", "OUTBOX_HEARTBEAT", id="heartbeat-none"),
    pytest.param({"OUTBOX_POLL_INTERVAL": 0}, "outbox.E003", "OUTBOX_POLL_INTERVAL", id="poll-zero"),
    pytest.param({"OUTBOX_RETENTION_DAYS": -1}, "outbox.E003", "OUTBOX_RETENTION_DAYS", id="retention-negative"),
    pytest.param({"OUTBOX_BREAKER_RESET": float("nan")}, "outbox.E003", "OUTBOX_BREAKER_RESET", id="reset-nan"),
    pytest.param({"OUTBOX_BACKOFF_BASE": 10.0, "OUTBOX_BACKOFF_CAP": 5.0}, "outbox.E004", "OUTBOX_BACKOFF_CAP",
                 id="cap-below-base"),
    pytest.param({"OUTBOX_LEASE_SECONDS": 1.0}, "outbox.E005", "OUTBOX_LEASE_SECONDS",
                 id="lease-equals-twice-the-renewal-tick"),
    pytest.param({"OUTBOX_LEASE_SECONDS": 0.6}, "outbox.E005", "OUTBOX_LEASE_SECONDS",
                 id="lease-below-twice-the-renewal-tick"),
    pytest.param({"OUTBOX_MAX_BODY_BYTES": 0}, "outbox.E003", "OUTBOX_MAX_BODY_BYTES", id="max-body-zero"),
    pytest.param({"OUTBOX_MAX_HEADER_BYTES": -1}, "outbox.E003", "OUTBOX_MAX_HEADER_BYTES", id="max-header-negative"),
    pytest.param({"OUTBOX_MAX_HEADER_BYTES": "64k"}, "outbox.E003", "OUTBOX_MAX_HEADER_BYTES", id="max-header-str"),
])
def test_checks__misconfiguration__its_error_with_a_hint(overrides, check_id, mentions):
    with override_settings(**overrides):
        errors = outbox_errors()
    assert [e.id for e in errors] == [check_id]
    [error] = errors
    assert isinstance(error, Error)
    assert mentions in error.msg
    assert error.hint


def test_checks__lease_shorter_than_the_confirm_timeout__no_error_since_leases_are_renewed():
    with override_settings(OUTBOX_LEASE_SECONDS=3.0, OUTBOX_CONFIRM_TIMEOUT=10.0):
        assert outbox_errors() == []


@pytest.mark.parametrize("url", [
    pytest.param("amqp://guest:guest@rabbit-1//;amqp://guest:guest@rabbit-2//", id="semicolons"),
    pytest.param(["amqp://guest:guest@rabbit-1//", "amqp://guest:guest@rabbit-2//"], id="list"),
    pytest.param(("amqp://guest:guest@rabbit-1//", "amqps://guest:guest@rabbit-2//"), id="tuple"),
])
def test_checks__broker_url_naming_a_clusters_nodes__no_error(url):
    with override_settings(OUTBOX_BROKER_URL=url, CELERY_BROKER_URL=None, INBOX_BROKER_URL=url):
        assert outbox_errors() == []
        assert [m for m in run_checks(tags=["inbox"]) if m.id.startswith("inbox.E")] == []


def test_checks__broker_url_falls_back_to_celery_broker_url__no_error():
    with override_settings(OUTBOX_BROKER_URL=None, CELERY_BROKER_URL="amqp://guest:guest@localhost//"):
        assert outbox_errors() == []


def test_checks__several_bad_values__one_error_each():
    with override_settings(OUTBOX_BATCH_SIZE=0, OUTBOX_CONFIRM_TIMEOUT=-1, OUTBOX_MAX_ATTEMPTS=None):
        errors = outbox_errors()
    assert sorted(e.msg.split(" ")[0] for e in errors) == [
        "OUTBOX_BATCH_SIZE", "OUTBOX_CONFIRM_TIMEOUT", "OUTBOX_MAX_ATTEMPTS"]
    assert {e.id for e in errors} == {"outbox.E003"}


@pytest.mark.parametrize("token", ["x" * 15, "short", "a"])
def test_checks__metrics_token_shorter_than_16__warning_with_a_hint(token):
    with override_settings(OUTBOX_METRICS_TOKEN=token):
        messages = outbox_errors()
    assert [m.id for m in messages] == ["outbox.W001"]
    [warning] = messages
    assert isinstance(warning, Warning) and not isinstance(warning, Error)
    assert "OUTBOX_METRICS_TOKEN" in warning.msg and "16" in warning.msg
    assert "secrets.token_urlsafe" in warning.hint


@pytest.mark.parametrize("token", [None, "", "x" * 16, "0123456789abcdef0123456789abcdef"])
def test_checks__metrics_token_absent_empty_or_long_enough__no_message(token):
    with override_settings(OUTBOX_METRICS_TOKEN=token):
        assert outbox_errors() == []


def test_checks__metrics_token_not_a_string__error():
    with override_settings(OUTBOX_METRICS_TOKEN=12345678901234567890):
        [error] = outbox_errors()
    assert error.id == "outbox.E003" and isinstance(error, Error)
    assert "OUTBOX_METRICS_TOKEN" in error.msg and error.hint


@pytest.mark.parametrize(("overrides", "mentions"), [
    pytest.param({"OUTBOX_MAX_BODY_BYTES": 134_217_729}, "OUTBOX_MAX_BODY_BYTES", id="body-above-rabbitmq-default"),
    pytest.param({"OUTBOX_MAX_HEADER_BYTES": 131_072}, "OUTBOX_MAX_HEADER_BYTES", id="header-above-frame-max"),
])
def test_checks__size_limit_above_the_brokers_default__warning_with_a_hint(overrides, mentions):
    with override_settings(**overrides):
        messages = outbox_errors()
    assert [m.id for m in messages] == ["outbox.W002"]
    assert isinstance(messages[0], Warning) and mentions in messages[0].msg and messages[0].hint


def test_checks__size_limits_at_the_brokers_defaults__no_message():
    with override_settings(OUTBOX_MAX_BODY_BYTES=134_217_728, OUTBOX_MAX_HEADER_BYTES=131_052):
        assert outbox_errors() == []


@pytest.mark.parametrize("heartbeat", [0, 1, 60])
def test_checks__heartbeat_off_or_whole_seconds__no_error(heartbeat):
    with override_settings(OUTBOX_HEARTBEAT=heartbeat):
        assert outbox_errors() == []


class Routes:
    """A router for the routing checks: writes ``apps`` to ``alias``; migrations of ``apps`` only where
    ``migrate_apps_there`` says (None elsewhere)."""

    def __init__(self, alias: str, apps: tuple[str, ...] | None, *, migrate_apps_there: bool | None = None) -> None:
        self.alias, self.apps, self.migrate_apps_there = alias, apps, migrate_apps_there

    def db_for_write(self, model, **hints):
        return self.alias if self.apps is None or model._meta.app_label in self.apps else None

    def db_for_read(self, model, **hints):
        return None

    def allow_migrate(self, db, app_label, **hints):
        return self.migrate_apps_there if db == self.alias else None


@pytest.mark.parametrize(("app", "model", "ids"), [
    pytest.param("outbox", "OutboxMessage", ("outbox.E007", "outbox.E008"), id="outbox"),
    pytest.param("inbox", "InboxMessage", ("inbox.E006", "inbox.E007"), id="inbox"),
])
def test_checks__router_writes_the_table_where_it_is_not_migrated__error_with_a_hint(app, model, ids):
    with override_settings(DATABASE_ROUTERS=[Routes("mail_provider", None, migrate_apps_there=False)]):
        errors = [m for m in run_checks(tags=[app]) if m.id.startswith(f"{app}.")]
    assert [e.id for e in errors] == [ids[0]]
    assert model in errors[0].msg and "'mail_provider'" in errors[0].msg and "not migrated" in errors[0].msg
    assert "db_for_write" in errors[0].hint


@pytest.mark.parametrize(("app", "model", "ids"), [
    pytest.param("outbox", "OutboxMessage", ("outbox.E007", "outbox.E008"), id="outbox"),
    pytest.param("inbox", "InboxMessage", ("inbox.E006", "inbox.E007"), id="inbox"),
])
def test_checks__router_writes_the_table_apart_from_every_project_model__error_with_a_hint(app, model, ids):
    with override_settings(DATABASE_ROUTERS=[Routes("mail_provider", (app,))]):
        errors = [m for m in run_checks(tags=[app]) if m.id.startswith(f"{app}.")]
    assert [e.id for e in errors] == [ids[1]]
    assert model in errors[0].msg and "'mail_provider'" in errors[0].msg and "'default'" in errors[0].msg
    assert "same transaction" in errors[0].hint


@pytest.mark.parametrize("router", [
    pytest.param(Routes("mail_provider", None), id="everything-on-one-other-alias"),
    pytest.param(Routes("mail_provider", ("outbox", "inbox", "testapp")), id="with-some-project-models"),
])
def test_checks__router_keeps_outbox_and_inbox_with_project_data__no_routing_error(router):
    with override_settings(DATABASE_ROUTERS=[router]):
        messages = [m for m in run_checks(tags=["outbox", "inbox"]) if m.id.split(".")[0] in ("outbox", "inbox")]
    assert messages == []
