"""Helpers for the admin tests: users with chosen permissions, logged-in clients, message rows."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import Permission, User
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from inbox.failures import describe
from inbox.models import InboxMessage
from outbox.models import OutboxMessage

OUTBOX_LIST = "/admin/outbox/outboxmessage/"
INBOX_LIST = "/admin/inbox/inboxmessage/"
DEAD_GROUPS = "/admin/inbox/inboxmessage/dead-groups/"


def staff(*codenames: str, superuser: bool = False, password: str | None = None) -> User:
    """A staff user holding ``app.codename`` permissions (e.g. ``outbox.view_outboxmessage``); without a
    password unless given (hashing one costs most of a second; ``client_for`` logs in without it)."""
    user = User.objects.create_user(f"u-{uuid.uuid4().hex[:8]}", password=password, is_staff=True,
                                    is_superuser=superuser)
    for name in codenames:
        app_label, codename = name.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_url(row: Model) -> str:
    """The admin page of one row (``/admin/<app>/<model>/<pk>/change/``)."""
    return reverse(f"admin:{row._meta.app_label}_{row._meta.model_name}_change", args=[row.pk])


def breadcrumbs(html: str) -> list[tuple[str, str]]:
    """(href, text) of the links in a page's breadcrumbs, then ("", the page's own title)."""
    match = re.search(r'<div class="breadcrumbs">(.*?)</div>', html, re.S)
    assert match, "the page has no breadcrumbs"
    links = re.findall(r'<a href="([^"]*)">([^<]*)</a>', match.group(1))
    return [*links, ("", match.group(1).rsplit("&rsaquo;", 1)[-1].strip())]


def outbox_message(**fields: Any) -> OutboxMessage:
    """An outbox row; ``age`` (seconds) sets created_at that long ago."""
    age = fields.pop("age", 0)
    created = timezone.now() - timedelta(seconds=age)
    fields = {"topic": "orders.placed", "payload": {"order": 1}, "created_at": created, "available_at": created,
              **fields}
    message = OutboxMessage.objects.create(**fields)
    if not message.correlation_id:
        message.correlation_id = str(message.id)
        message.save(update_fields=["correlation_id"])
    return message


def dead_outbox(**fields: Any) -> OutboxMessage:
    return outbox_message(**{"status": "dead", "attempts": 10, "last_error": "unroutable: NO_ROUTE", **fields})


def inbox_message(**fields: Any) -> InboxMessage:
    fields = {"handler": "billing.charge", "message_id": str(uuid.uuid4()), "topic": "orders.placed",
              "payload": {"order": 1}, "status": "done", **fields}
    fields.setdefault("correlation_id", fields["message_id"])
    return InboxMessage.objects.create(**fields)


def dead_inbox(error: Exception, **fields: Any) -> InboxMessage:
    """A dead inbox row whose failure is ``error`` raised by :func:`raise_in_handler` (a real traceback)."""
    failure = describe(raise_in_handler(error), 16 * 1024)
    now = timezone.now()
    return inbox_message(**{
        "status": "dead", "attempts": 9, "error_type": failure.error_type, "error_message": failure.error_message,
        "traceback": failure.traceback, "error_group": failure.group, "first_failed_at": now - timedelta(minutes=5),
        "last_failed_at": now, "processed_at": now,
        "history": [{"at": now.isoformat(), "event": "failed", "attempt": 1, "error": str(error)}], **fields})


def raise_in_handler(error: Exception) -> Exception:
    try:
        _handler(error)
    except Exception as exc:  # noqa: BLE001 - the exception with its traceback is what we want
        return exc
    raise AssertionError("the handler did not raise")


def _handler(error: Exception) -> None:
    raise error


def action_choices(html: str) -> set[str]:
    """The action names offered in a changelist's action dropdown."""
    select = re.search(r'<select name="action"[^>]*>(.*?)</select>', html, re.S)
    return set(re.findall(r'<option value="([^"]+)"', select.group(1))) if select else set()


def run_action(client: Client, url: str, action: str, ids: list[Any], **extra: Any) -> Any:
    """POST an action from the changelist as the dropdown does (the first step: confirmation page)."""
    data = {"action": action, "index": "0", "select_across": "0", "_selected_action": [str(i) for i in ids], **extra}
    return client.post(url, data)


def confirm_action(client: Client, url: str, action: str, ids: list[Any], **extra: Any) -> Any:
    """POST the confirmation page's form (the second step: run it)."""
    data = {"action": action, "select_across": "0", "confirm": "yes", "_selected_action": [str(i) for i in ids],
            **extra}
    return client.post(url, data)
