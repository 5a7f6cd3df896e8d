"""What the outbox and inbox admins share: read-only pages over tables of millions of rows.

Nothing here counts a whole table: the paginator estimates (``counts.py``), the full result count
is off, facets are off, the search is exact matches on indexed columns, and the filters read bounded
samples. Operators act through actions that need their own permission (``actions.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.safestring import SafeString

from outbox.admin.actions import RETURN_TO, Operation
from outbox.admin.counts import CheapCountPaginator
from outbox.admin.display import link_list, pretty_json, status_badge
from outbox.related import cause, caused


class ReadOnlyAdmin(admin.ModelAdmin):
    """No add, change or delete in the admin: rows are written by the library, changed only through
    explicit, permission-gated operations."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyMessageAdmin(ReadOnlyAdmin):
    """Look, and act through the operator actions; never add, edit or delete a message."""

    paginator = CheapCountPaginator
    change_list_template = "admin/outbox/message_change_list.html"
    change_form_template = "admin/outbox/message_change_form.html"
    show_full_result_count = False
    list_per_page = 50
    list_max_show_all = 200
    empty_value_display = "—"
    if hasattr(admin, "ShowFacets"):  # Django 5.0+: facet counts are a COUNT per filter choice
        show_facets = admin.ShowFacets.NEVER
    #: Columns a search term is compared with (exact match): each must be indexed.
    search_exact: tuple[str, ...] = ()
    #: The operations offered as buttons on a message's page (each also an action of the same name).
    operations: tuple[Operation, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Each of ``operations`` becomes an admin action of its name, behind its ``has_<name>_permission``
        method: declaring the :class:`~outbox.admin.actions.Operation` is all an action takes."""
        super().__init_subclass__(**kwargs)
        for operation in cls.operations:
            setattr(cls, operation.name, operation.action())
            setattr(cls, f"has_{operation.name}_permission", operation.permission_check())
        cls.actions = tuple(operation.name for operation in cls.operations)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = [str(name) for _, options in (self.fieldsets or ()) for name in options["fields"]]
        return fields or [field.name for field in self.opts.concrete_fields]

    # -- search -------------------------------------------------------------------------------
    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
                           ) -> tuple[QuerySet[Any], bool]:
        """Exact matches on indexed columns only: ``icontains`` (Django's default) is a ``LIKE '%...%'``
        that reads every row. Returns no rows for a term that matches nothing."""
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q()
        for field, value in self.search_values(term):
            match |= Q(**{field: value})
        return (queryset.filter(match) if match else queryset.none()), False

    def search_values(self, term: str) -> list[tuple[str, Any]]:
        """(column, value) pairs to match ``term`` against; a subclass drops those the term cannot be."""
        return [(field, term) for field in self.search_exact]

    # -- pages --------------------------------------------------------------------------------
    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """The list, with the summary above it. An operation POSTed by a user who is not offered it is
        refused outright (Django alone would ignore it and show the list)."""
        action = request.POST.get("action", "") if request.method == "POST" else ""
        if not self.has_view_or_change_permission(request) or (
                action in {op.name for op in self.operations} and action not in self.get_actions(request)):
            raise PermissionDenied
        context = {"summary": self.summary(request) if request.method == "GET" else None, **(extra_context or {})}
        return super().changelist_view(request, context)

    def summary(self, request: HttpRequest) -> Any:
        """The counts shown above the list (see ``summary.py``); None for none."""
        return None

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {"operations": self.offered_operations(request, object_id), "return_to_field": RETURN_TO,
                   "return_to": request.get_full_path(), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    def offered_operations(self, request: HttpRequest, object_id: str) -> list[Operation]:
        """The operations this user may run on this message now ([] for a missing message)."""
        obj = self.get_object(request, object_id)
        if obj is None:
            return []
        allowed = self.get_actions(request)
        rows = self.get_queryset(request).filter(pk=obj.pk)
        return [op for op in self.operations if op.name in allowed and op.eligible(rows).exists()]

    # -- columns both tables show -------------------------------------------------------------
    def links(self, rows: Iterable[models.Model]) -> SafeString | str:
        """Links to the admin pages of ``rows`` on this admin site ("" for none)."""
        return link_list(rows, self.admin_site.name)

    def wire_id(self, obj: Any) -> str:
        """The message id on the wire of row ``obj`` (a subclass says which field holds it)."""
        raise NotImplementedError

    @admin.display(description="status")
    def status_badge(self, obj: Any) -> SafeString:
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description="payload")
    def payload_pretty(self, obj: Any) -> SafeString:
        return pretty_json(obj.payload)

    @admin.display(description="headers")
    def headers_pretty(self, obj: Any) -> SafeString:
        return pretty_json(obj.headers)

    @admin.display(description="caused by")
    def caused_by(self, obj: Any) -> SafeString | str:
        return self.links(cause(obj.causation_id))

    @admin.display(description="messages it caused")
    def caused_messages(self, obj: Any) -> SafeString | str:
        return self.links(caused(self.wire_id(obj), obj.correlation_id))
