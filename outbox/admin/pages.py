"""The outbox in the Django admin: read-only lists and pages, and the operator actions of
``outbox/operations.py`` (retry, discard, replay), each behind its own permission."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.safestring import SafeString

from outbox import operations
from outbox.admin import display
from outbox.admin.actions import Operation
from outbox.admin.base import ReadOnlyAdmin, ReadOnlyMessageAdmin
from outbox.admin.filters import OutboxStuckFilter, TopicFilter
from outbox.admin.summary import Summary, outbox_summary
from outbox.ids import short
from outbox.models import BreakerState, OutboxMessage, Status
from outbox.related import received
from outbox.transitions import LEGAL, Changed

RETRY = Operation(
    "retry", "Retry now", "retried",
    "Dead and pending messages become due now, with their attempts reset; the relay publishes them on its "
    "next round. Other messages are left as they are.",
    eligible=lambda rows: rows.filter(status__in=LEGAL["retry"]),
    run=lambda rows, reason, actor: Changed(operations.retry(rows)), label="Retry now (dead or pending: due now)")
DISCARD = Operation(
    "discard", "Discard", "discarded",
    "Pending and dead messages are kept but marked discarded, with your reason: they are never published. "
    "A dead message no longer holds back the later messages of its key. Other messages are left as they are.",
    eligible=lambda rows: rows.filter(status__in=LEGAL["discard"]),
    run=lambda rows, reason, actor: Changed(operations.discard(rows, reason)), needs_reason=True,
    label="Discard, with a reason (kept, never published)")
REPLAY = Operation(
    "replay", "Replay", "replayed",
    "Sent messages are published again with the same message id. Consumers' inboxes drop them as duplicates "
    "unless their deduplication window has passed. Messages not sent are left as they are.",
    eligible=lambda rows: rows.filter(status__in=LEGAL["replay"]),
    run=lambda rows, reason, actor: Changed(operations.replay(rows)),
    label="Replay (publish a sent message again, same id)")


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyMessageAdmin):
    list_display = ("short_id", "status_badge", "topic", "key", "attempts", "age", "next_attempt", "error")
    list_filter = ("status", OutboxStuckFilter, TopicFilter)
    ordering = ("-created_at",)
    sortable_by = ("age",)  # the only column with an index to sort by
    search_fields = ("=id", "=key", "=correlation_id")  # shows the search box; the search is get_search_results
    search_exact = ("id", "key", "correlation_id")
    search_help_text = "Exact message id, ordering key or correlation id."
    operations = (RETRY, DISCARD, REPLAY)
    fieldsets = (
        (None, {"fields": ("id", "status", "topic", "key", "seq", "attempts", "created_at", "available_at",
                           "sent_at", "expires_at", "lease_until", "lease_owner")}),
        ("Message", {"fields": ("exchange", "routing_key", "correlation_id", "causation_id", "payload_pretty",
                                "headers_pretty")}),
        ("Last error", {"fields": ("last_error_full",)}),
        ("Related messages", {"fields": ("caused_by", "caused_messages", "received_by")}),
    )

    def search_values(self, term: str) -> list[tuple[str, Any]]:
        try:
            return [("id", uuid.UUID(term)), ("key", term), ("correlation_id", term)]
        except ValueError:
            return [("key", term), ("correlation_id", term)]

    def summary(self, request: HttpRequest) -> Summary:
        return outbox_summary(self.get_queryset(request).db)

    def wire_id(self, obj: OutboxMessage) -> str:
        return str(obj.id)

    # -- columns ------------------------------------------------------------------------------
    @admin.display(description="id", ordering="id")
    def short_id(self, obj: OutboxMessage) -> str:
        return short(obj.id)

    @admin.display(description="age", ordering="created_at")
    def age(self, obj: OutboxMessage) -> str:
        return display.age_since(obj.created_at)

    @admin.display(description="next attempt", ordering="available_at")
    def next_attempt(self, obj: OutboxMessage) -> SafeString | str:
        return display.next_attempt(obj.available_at) if obj.status == Status.PENDING else "—"

    @admin.display(description="last error")
    def error(self, obj: OutboxMessage) -> SafeString | str:
        return display.one_line(obj.last_error)

    # -- detail page --------------------------------------------------------------------------
    @admin.display(description="last error")
    def last_error_full(self, obj: OutboxMessage) -> SafeString | str:
        return display.preformatted(obj.last_error)

    @admin.display(description="received by (this service's inbox)")
    def received_by(self, obj: OutboxMessage) -> SafeString | str:
        return self.links(received(self.wire_id(obj)))


@admin.register(BreakerState)
class BreakerStateAdmin(ReadOnlyAdmin):
    """Circuit breakers as the relay and the inbox handlers last stored them (read-only)."""

    list_display = ("name", "state", "failures", "changed_at", "updated_at", "short_reason")
    list_filter = ("state",)
    ordering = ("name",)

    @admin.display(description="reason")
    def short_reason(self, obj: BreakerState) -> SafeString | str:
        return display.one_line(obj.reason)
