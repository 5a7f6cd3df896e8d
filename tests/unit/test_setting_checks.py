"""Checks both apps' settings share: every OUTBOX_*/INBOX_* value has its setting's type (derived from the
default, so settings added later are checked too), names that are no setting draw a "did you mean" warning,
Celery and the outbox must talk to one broker, and a service with handlers names its own queue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.checks import Error, Warning, run_checks
from django.test import override_settings

from inbox import checks as inbox_checks
from inbox.conf import inbox_settings
from inbox.registry import HandlerSpec, Registry
from outbox.conf import outbox_settings

ROOT = Path(__file__).resolve().parents[2]


def messages(app: str) -> list[Error]:
    return [m for m in run_checks(tags=[app]) if m.id.startswith(f"{app}.")]


@pytest.mark.parametrize(("name", "value", "check_id", "mentions"), [
    pytest.param("INBOX_QUEUE", 42, "inbox.E001", "a non-empty string", id="queue-int"),
    pytest.param("INBOX_QUEUE", "", "inbox.E001", "a non-empty string", id="queue-empty"),
    pytest.param("INBOX_FAULTS", "yes", "inbox.E001", "True or False", id="faults-str"),
    pytest.param("INBOX_BROKER_URL", 5672, "inbox.E001", "a string", id="inbox-broker-url-int"),
    pytest.param("INBOX_BACKOFF_BASE", "10", "inbox.E001", "a number", id="inbox-base-str"),
    pytest.param("OUTBOX_MANDATORY", "false", "outbox.E003", "True or False", id="mandatory-str"),
    pytest.param("OUTBOX_NOTIFY", 1, "outbox.E003", "True or False", id="notify-int"),
    pytest.param("OUTBOX_EXCHANGE", "", "outbox.E003", "a non-empty string", id="exchange-empty"),
    pytest.param("OUTBOX_SOURCE", None, "outbox.E003", "a non-empty string", id="source-none"),
    pytest.param("OUTBOX_NOTIFY_CHANNEL", b"outbox", "outbox.E003", "a non-empty string", id="channel-bytes"),
    pytest.param("OUTBOX_BROKER_URL", {"host": "localhost"}, "outbox.E003", "a string or a list", id="broker-url-dict"),
])
def test_setting_checks__value_of_the_wrong_type__one_error_naming_the_type(name, value, check_id, mentions):
    with override_settings(**{name: value}):
        found = [m for m in messages(check_id.split(".")[0]) if name in m.msg]
    assert [m.id for m in found] == [check_id]
    [error] = found
    assert isinstance(error, Error) and mentions in error.msg and repr(value) in error.msg
    assert "default" in error.hint


def test_setting_checks__int_for_a_float_setting_and_none_for_an_optional_one__no_error():
    with override_settings(OUTBOX_CONFIRM_TIMEOUT=10, INBOX_RETENTION_DAYS=7, OUTBOX_METRICS_TOKEN=None,
                           INBOX_BROKER_URL=None):
        assert messages("outbox") == [] and messages("inbox") == []


@pytest.mark.parametrize("app_settings", [outbox_settings, inbox_settings], ids=["outbox", "inbox"])
def test_setting_types__every_setting_without_a_default__has_its_type_declared(app_settings):
    untyped = [name for name, default in app_settings.defaults.items()
               if default is None and name not in app_settings.types]
    assert untyped == []


@pytest.mark.parametrize(("typo", "check_id", "meant"), [
    pytest.param("OUTBOX_BROKER_ULR", "outbox.W004", "OUTBOX_BROKER_URL", id="outbox-typo"),
    pytest.param("OUTBOX_BATCHSIZE", "outbox.W004", "OUTBOX_BATCH_SIZE", id="outbox-missing-underscore"),
    pytest.param("INBOX_QEUE", "inbox.W001", "INBOX_QUEUE", id="inbox-typo"),
])
def test_setting_checks__unknown_name__warning_with_did_you_mean(typo, check_id, meant):
    with override_settings(**{typo: "x"}):
        found = [m for m in messages(check_id.split(".")[0]) if m.id == check_id]
    [warning] = found
    assert isinstance(warning, Warning) and not isinstance(warning, Error)
    assert typo in warning.msg and f"Did you mean {meant}?" in warning.hint


def test_setting_checks__unknown_name_like_no_setting__warning_pointing_at_the_list():
    with override_settings(OUTBOX_SOMETHING_ELSE_ENTIRELY=1):
        [warning] = [m for m in messages("outbox") if m.id == "outbox.W004"]
    assert "OUTBOX_SOMETHING_ELSE_ENTIRELY" in warning.msg and "README" in warning.hint


@pytest.mark.parametrize("settings_file", ["demo_project/settings.py", "tests/settings.py", "chaos/settings.py"])
def test_setting_checks__names_the_project_sets__are_all_settings(settings_file):
    source = (ROOT / settings_file).read_text()
    names = re.findall(r"^((?:OUTBOX|INBOX)_[A-Z0-9_]+)\s*=", source, flags=re.MULTILINE)
    known = {f"OUTBOX_{n}" for n in outbox_settings.defaults} | {f"INBOX_{n}" for n in inbox_settings.defaults}
    assert set(names) <= known


def test_setting_checks__celery_on_another_broker__warning_that_send_task_goes_elsewhere():
    with override_settings(OUTBOX_BROKER_URL="amqp://guest:guest@rabbit-a//",
                           CELERY_BROKER_URL="redis://localhost:6379/0"):
        [warning] = [m for m in messages("outbox") if m.id == "outbox.W003"]
    assert isinstance(warning, Warning) and not isinstance(warning, Error)
    assert "CELERY_BROKER_URL" in warning.msg and "send_task" in warning.msg and warning.hint


@pytest.mark.parametrize(("outbox_url", "celery_url"), [
    pytest.param("amqp://guest:guest@localhost//", "pyamqp://guest:guest@localhost:5672//", id="same-spelt-otherwise"),
    pytest.param("amqp://guest:guest@localhost//", None, id="no-celery"),
    pytest.param(None, "amqp://guest:guest@localhost//", id="outbox-falls-back-to-celery"),
    pytest.param("amqp://guest:guest@a//;amqp://guest:guest@b//", ["amqp://guest:guest@b//", "amqp://guest:guest@a//"],
                 id="the-same-cluster-listed-in-another-order"),
])
def test_setting_checks__celery_on_the_same_broker_or_none__no_warning(outbox_url, celery_url):
    with override_settings(OUTBOX_BROKER_URL=outbox_url, CELERY_BROKER_URL=celery_url):
        assert [m for m in messages("outbox") if m.id == "outbox.W003"] == []


def test_inbox_checks__handlers_but_no_inbox_queue_set__error_asking_for_the_service_name(settings):
    del settings.INBOX_QUEUE
    [error] = [m for m in messages("inbox") if m.id == "inbox.E005"]
    assert isinstance(error, Error) and "INBOX_QUEUE" in error.msg and "service" in error.hint


def test_inbox_checks__no_handlers_and_no_inbox_queue__no_error(settings):
    del settings.INBOX_QUEUE
    assert inbox_checks.queue_errors(Registry()) == []
    handlers = Registry()
    handlers.register(HandlerSpec("h", lambda message: None, ("a",)))
    assert [e.id for e in inbox_checks.queue_errors(handlers)] == ["inbox.E005"]
