"""An operator's selection of inbox messages: the outbox's :class:`~outbox.selection.Selection` plus the
inbox's own filters (handler, error group), as a queryset of inbox messages."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS

from inbox.models import InboxMessage, InboxMessageQuerySet
from outbox.selection import Selection


@dataclass(frozen=True)
class InboxSelection(Selection):
    """A :class:`Selection` that may also name handlers and error groups (of dead messages)."""

    handlers: tuple[str, ...] = ()
    error_groups: tuple[str, ...] = ()

    def not_for_outbox(self) -> str:
        """Says that ``--handler`` and ``--error-group`` apply to inbox messages only, when one is set."""
        return "--handler and --error-group apply to inbox messages only" if self.handlers or self.error_groups else ""


def select_inbox(selection: Selection, using: str = DEFAULT_DB_ALIAS) -> InboxMessageQuerySet:
    """The inbox messages that match ``selection`` (every message for an empty one).

    ``ids`` match the wire message id (one message has a row per handler); the time range applies to
    ``received_at``.
    """
    own = selection if isinstance(selection, InboxSelection) else InboxSelection()
    return selection.apply(InboxMessage.objects.using(using).all(), {
        "message_id__in": selection.ids, "topic__in": selection.topics, "key__in": selection.keys,
        "status__in": selection.statuses, "handler__in": own.handlers, "error_group__in": own.error_groups},
        "received_at")
