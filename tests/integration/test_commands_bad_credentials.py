"""A broker URL with a wrong password: both workers stop with one clean CommandError that says the broker
refused the login (and never print the password), instead of a raw AccessRefused traceback."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings

import outbox

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WRONG_PASSWORD = "certainly-not-the-password"


@pytest.fixture
def refused_url(broker_url: str) -> str:
    parts = urlsplit(broker_url)
    netloc = f"{parts.username or 'guest'}:{WRONG_PASSWORD}@{parts.hostname}:{parts.port or 5672}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def test_inbox_consume__wrong_password__command_error_naming_the_refusal(refused_url, exchange):
    with override_settings(INBOX_BROKER_URL=refused_url), pytest.raises(CommandError) as raised:
        call_command("inbox_consume", "--once", "--idle-timeout", "0.1")
    assert "ACCESS_REFUSED" in str(raised.value)
    assert WRONG_PASSWORD not in str(raised.value)


def test_outbox_relay__wrong_password__command_error_naming_the_refusal(refused_url, exchange):
    with transaction.atomic():
        outbox.publish("orders.placed", {"order_id": 1})
    with override_settings(OUTBOX_BROKER_URL=refused_url), pytest.raises(CommandError) as raised:
        call_command("outbox_relay", "--once")
    assert "ACCESS_REFUSED" in str(raised.value)
    assert WRONG_PASSWORD not in str(raised.value)
