"""An operator's :class:`~outbox.selection.Selection` as a queryset of inbox messages."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS

from inbox.models import InboxMessage, InboxMessageQuerySet
from outbox.selection import Selection


def select_inbox(selection: Selection, using: str = DEFAULT_DB_ALIAS) -> InboxMessageQuerySet:
    """The inbox messages that match ``selection`` (every message for an empty one).

    ``ids`` match the wire message id (one message has a row per handler); the time range applies to
    ``received_at``.
    """
    queryset = InboxMessage.objects.using(using).all()
    filters = {"message_id__in": selection.ids, "topic__in": selection.topics, "key__in": selection.keys,
               "status__in": selection.statuses, "handler__in": selection.handlers,
               "error_group__in": selection.error_groups}
    queryset = queryset.filter(**{name: values for name, values in filters.items() if values})
    if selection.since is not None:
        queryset = queryset.filter(received_at__gte=selection.since)
    if selection.until is not None:
        queryset = queryset.filter(received_at__lt=selection.until)
    return queryset
