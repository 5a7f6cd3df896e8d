"""The inbox in the Django admin: read-only lists and pages, dead messages grouped by error, and the
operator actions of ``inbox/operations.py`` (retry, discard), each behind its own permission."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from inbox import operations, transitions
from inbox.admin.groups import dead_groups, dead_in_group
from inbox.admin.summary import inbox_summary
from inbox.conf import inbox_settings
from inbox.models import InboxMessage, Status
from inbox.registry import registry
from outbox.admin import display
from outbox.admin.actions import CONFIRM, Operation, confirmation_page, log_bulk
from outbox.admin.base import ReadOnlyMessageAdmin
from outbox.admin.counts import cheap_count
from outbox.admin.filters import RecentValuesFilter, StuckFilter, TopicFilter
from outbox.admin.summary import Summary
from outbox.ids import short
from outbox.related import faults, outbox_row, received

RETRY = Operation(
    "retry", "Retry now", "retried",
    "Dead, waiting and blocked messages get a fresh set of retries and run again within seconds (the next retry "
    "poll); a blocked message only once nothing is ahead of it in its key. Messages refused on the wire (no "
    "handler) cannot be retried; other messages (done ones above all) are left as they are.",
    eligible=lambda rows: transitions.eligible(rows, "retry"),
    run=lambda rows, reason, actor: transitions.retry(rows, actor=actor),
    label="Retry now (dead, waiting or blocked: due now)")
DISCARD = Operation(
    "discard", "Discard", "discarded",
    "Dead, waiting and blocked messages are kept but marked discarded, with your reason in their history; "
    "they never run again. The next message of an ordered key is released. Other messages are left as they are.",
    eligible=lambda rows: transitions.eligible(rows, "discard"),
    run=lambda rows, reason, actor: transitions.discard(rows, reason, actor=actor), needs_reason=True,
    label="Discard, with a reason (kept, never run again)")


class InboxStuckFilter(StuckFilter):
    """Waiting or blocked for longer than INBOX_STUCK_AFTER."""

    def stuck(self, queryset: QuerySet[Any], now: datetime) -> QuerySet[Any]:
        return queryset.stuck(now, timedelta(seconds=inbox_settings.STUCK_AFTER))  # type: ignore[attr-defined]


class HandlerFilter(RecentValuesFilter):
    title = "handler"
    parameter_name = "handler"
    field = "handler"
    newest_first = "-id"

    def known_values(self) -> Iterable[str]:
        return [spec.name for spec in registry.all()]


class InboxTopicFilter(TopicFilter):
    newest_first = "-id"


class ErrorGroupFilter(admin.SimpleListFilter):
    """Dead messages that failed the same way; the choices come from the latest dead messages."""

    title = "error group (dead)"
    parameter_name = "error_group"
    sample = 2000

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        recent = InboxMessage.objects.dead().order_by("-received_at").values_list("error_group", "error_type")
        groups = dict(recent[:self.sample])
        if self.value() and self.value() not in groups:
            groups[str(self.value())] = ""
        return [(group, f"{kind.rsplit('.', 1)[-1] or '?'} ({group[:7]})") for group, kind in sorted(
            groups.items(), key=lambda item: (item[1], item[0])) if group]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(status=Status.DEAD, error_group=self.value()) if self.value() else queryset


@admin.register(InboxMessage)
class InboxMessageAdmin(ReadOnlyMessageAdmin):
    list_display = ("short_id", "status_badge", "handler", "topic", "key", "attempts", "age", "next_attempt", "error")
    list_filter = ("status", InboxStuckFilter, HandlerFilter, InboxTopicFilter, ErrorGroupFilter)
    ordering = ("-id",)
    sortable_by = ("age",)  # newest first by the primary key; other columns have no index to sort by
    search_fields = ("=message_id", "=key", "=correlation_id")  # shows the search box; see get_search_results
    search_exact = ("message_id", "key", "correlation_id")
    search_help_text = "Exact message id, ordering key or correlation id."
    operations = (RETRY, DISCARD)
    change_list_template = "admin/inbox/inboxmessage/change_list.html"
    fieldsets = (
        (None, {"fields": ("handler", "message_id", "status", "topic", "key", "sequence", "attempts", "received_at",
                           "available_at", "processed_at", "expires_at")}),
        ("Message", {"fields": ("correlation_id", "causation_id", "payload_pretty", "headers_pretty", "raw_body")}),
        ("Failure", {"fields": ("error_type", "error_message", "error_group_link", "first_failed_at",
                                "last_failed_at", "traceback_pre")}),
        ("Attempt history", {"fields": ("history_table",)}),
        ("Related messages", {"fields": ("caused_by", "sent_as", "other_handlers", "caused_messages",
                                         "fault_message")}),
    )

    def summary(self, request: HttpRequest) -> Summary:
        return inbox_summary(self.get_queryset(request).db)

    def wire_id(self, obj: InboxMessage) -> str:
        return obj.message_id

    # -- dead groups --------------------------------------------------------------------------
    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("dead-groups/", self.admin_site.admin_view(self.dead_groups_view), name=f"{name}_dead_groups"),
            path("dead-groups/<str:error_group>/retry/", self.admin_site.admin_view(self.retry_group_view),
                 name=f"{name}_retry_group"),
            *super().get_urls(),
        ]

    def dead_groups_view(self, request: HttpRequest) -> HttpResponse:
        """Dead messages grouped by error group, largest group first, each with a "retry the group" button."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/inbox/inboxmessage/dead_groups.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "title": "Dead inbox messages by error group",
            "groups": dead_groups(self.get_queryset(request).db), "can_retry": RETRY.allows(self, request)})

    def retry_group_view(self, request: HttpRequest, error_group: str) -> HttpResponse:
        """POST: the confirmation page; POST with ``confirm=yes``: retry every dead message of the group."""
        if not RETRY.allows(self, request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        rows = self.get_queryset(request).filter(status=Status.DEAD, error_group=error_group)
        back = reverse(f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_dead_groups")
        sample = dead_in_group(error_group, rows.db)
        kind = sample.error_type if sample else "no dead message left"
        if request.POST.get(CONFIRM) == "yes":
            changed = operations.retry(rows, actor=request.user.get_username())
            log_bulk(self, request, f"{changed} dead inbox messages of error group {error_group}",
                     f"Retry now from the admin: the whole error group {error_group} ({kind}), {changed} retried")
            self.message_user(request, f"{changed} dead messages of group {error_group} retried.", messages.SUCCESS)
            return HttpResponseRedirect(back)
        count = cheap_count(rows)
        return confirmation_page(request, self, {
            "title": "Retry the whole group: are you sure?", "description": RETRY.description,
            "scope": f"all {count} dead messages of error group {error_group} ({kind})", "count": count,
            "sample": self.links(rows.order_by("-id")[:20]), "hidden": [(CONFIRM, "yes")],
            "submit": "Yes, retry the whole group", "cancel_url": back})

    # -- columns ------------------------------------------------------------------------------
    @admin.display(description="message id")
    def short_id(self, obj: InboxMessage) -> str:
        return short(obj.message_id)

    @admin.display(description="age", ordering="id")
    def age(self, obj: InboxMessage) -> str:
        return display.age_since(obj.received_at)

    @admin.display(description="next attempt")
    def next_attempt(self, obj: InboxMessage) -> SafeString | str:
        return display.next_attempt(obj.available_at) if obj.status == Status.WAITING else "—"

    @admin.display(description="last error")
    def error(self, obj: InboxMessage) -> SafeString | str:
        text = f"{obj.error_type.rsplit('.', 1)[-1]}: {obj.error_message}" if obj.error_type else obj.error_message
        return display.one_line(text)

    # -- detail page --------------------------------------------------------------------------
    @admin.display(description="error group")
    def error_group_link(self, obj: InboxMessage) -> SafeString | str:
        if not obj.error_group:
            return ""
        url = reverse(f"{self.admin_site.name}:inbox_inboxmessage_changelist")
        return format_html('<a href="{}?error_group={}">{}</a>', url, obj.error_group, obj.error_group)

    @admin.display(description="traceback")
    def traceback_pre(self, obj: InboxMessage) -> SafeString | str:
        return display.preformatted(obj.traceback)

    @admin.display(description="attempts and operator actions")
    def history_table(self, obj: InboxMessage) -> SafeString | str:
        return display.history_table(obj.history)

    @admin.display(description="sent by this service's outbox")
    def sent_as(self, obj: InboxMessage) -> SafeString | str:
        return self.links(outbox_row(obj.message_id))

    @admin.display(description="same message, other handlers")
    def other_handlers(self, obj: InboxMessage) -> SafeString | str:
        return self.links([row for row in received(obj.message_id) if row.pk != obj.pk])

    @admin.display(description="fault message")
    def fault_message(self, obj: InboxMessage) -> SafeString | str:
        return self.links(faults(obj.message_id, obj.correlation_id, inbox_settings.FAULT_SUFFIX))
