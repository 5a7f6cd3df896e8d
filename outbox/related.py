"""Links between messages, for the admin's detail pages: the messages one caused, the one that caused it,
the fault it produced, the rows of other apps that received it (the inbox's, registered with
:func:`register_related_lookup` from its ``AppConfig.ready()``: this base never imports the inbox).

Causation is found inside the message's conversation: a message published while handling another
gets its correlation id and its id as causation id (``outbox/context.py``), so every lookup here is
on the indexed ``correlation_id`` (or a primary key / message id) and stays cheap on big tables. A
message published with an explicit, different correlation id is not linked.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.db import models

from outbox.models import OutboxMessage

LIMIT = 20

#: Rows of one app matching field filters (``correlation_id``, ``causation_id``, ``message_id``): at most
#: ``LIMIT``, oldest first.
RelatedLookup = Callable[..., list[models.Model]]
_lookups: dict[str, RelatedLookup] = {}


def register_related_lookup(app: str, lookup: RelatedLookup) -> None:
    """Add the rows ``lookup`` finds to :func:`caused`, :func:`cause` and :func:`received` while ``app`` is
    installed; registering an app again replaces its lookup."""
    _lookups[app] = lookup


def caused(message_id: str, correlation_id: str) -> list[models.Model]:
    """Outbox rows and other apps' rows whose causation id is ``message_id`` (at most ``LIMIT`` of each)."""
    conversation = {"correlation_id": correlation_id, "causation_id": message_id}
    return _outbox(**conversation) + _elsewhere(**conversation)


def cause(causation_id: str) -> list[models.Model]:
    """The outbox row sent as ``causation_id`` and the rows that received it ([] for none)."""
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
    """Rows of other apps that received ``message_id`` (the inbox's: one per handler that took it); [] when
    none, or no such app is installed."""
    return _elsewhere(message_id=message_id)


def faults(message_id: str, correlation_id: str, suffix: str) -> list[models.Model]:
    """The fault messages published when the handling of ``message_id`` failed (topic ending ``suffix``)."""
    return _outbox(correlation_id=correlation_id, causation_id=message_id, topic__endswith=suffix)


def _outbox(**filters: Any) -> list[models.Model]:
    return list(OutboxMessage.objects.filter(**filters).order_by("created_at")[:LIMIT])


def _elsewhere(**filters: Any) -> list[models.Model]:
    return [row for app, lookup in _lookups.items() if apps.is_installed(app) for row in lookup(**filters)]
