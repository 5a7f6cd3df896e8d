"""Links between messages on the admin's detail pages: the messages one caused, the one that caused it,
the fault it produced, the inbox rows that received it.

Causation is found inside the message's conversation: a message published while handling another
gets its correlation id and its id as causation id (``outbox/context.py``), so every lookup here is
on the indexed ``correlation_id`` (or a primary key / message id) and stays cheap on big tables. A
message published with an explicit, different correlation id is not linked.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from outbox.models import OutboxMessage

LIMIT = 20


def link_list(rows: Iterable[models.Model], site_name: str = "admin") -> SafeString | str:
    """A ``<ul>`` of links to the admin page of each row ("<row> — <status>"); "" when there are none."""
    items = [(_url(row, site_name), f"{row} — {getattr(row, 'status', '')}") for row in rows]
    if not items:
        return ""
    return format_html('<ul class="msg-links">{}</ul>', format_html_join("", '<li><a href="{}">{}</a></li>', items))


def caused(message_id: str, correlation_id: str) -> list[models.Model]:
    """Outbox and inbox rows whose causation id is ``message_id`` (at most ``LIMIT`` of each)."""
    conversation = {"correlation_id": correlation_id, "causation_id": message_id}
    return _outbox(**conversation) + _inbox(**conversation)


def cause(causation_id: str) -> list[models.Model]:
    """The outbox row sent as ``causation_id`` and the inbox rows that received it ([] for none)."""
    if not causation_id:
        return []
    return outbox_row(causation_id) + received(causation_id)


def outbox_row(message_id: str) -> list[models.Model]:
    """The outbox row whose id is ``message_id`` ([] when this service did not publish it)."""
    try:
        return list(OutboxMessage.objects.filter(pk=uuid.UUID(message_id)))
    except ValueError:
        return []


def received(message_id: str) -> list[models.Model]:
    """Inbox rows of ``message_id``: one per handler that took it ([] without the inbox app)."""
    return _inbox(message_id=message_id)


def faults(message_id: str, correlation_id: str, suffix: str) -> list[models.Model]:
    """The fault messages published when the handling of ``message_id`` failed (topic ending ``suffix``)."""
    return _outbox(correlation_id=correlation_id, causation_id=message_id, topic__endswith=suffix)


def _outbox(**filters: Any) -> list[models.Model]:
    return list(OutboxMessage.objects.filter(**filters).order_by("created_at")[:LIMIT])


def _inbox(**filters: Any) -> list[models.Model]:
    if not apps.is_installed("inbox"):
        return []
    return list(apps.get_model("inbox", "InboxMessage").objects.filter(**filters).order_by("id")[:LIMIT])


def _url(row: models.Model, site_name: str) -> str:
    opts = row._meta
    try:
        return reverse(f"{site_name}:{opts.app_label}_{opts.model_name}_change", args=[row.pk])
    except NoReverseMatch:
        return ""
