"""Operator actions in the admin: a confirmation page first, then the operation of ``operations.py``,
recorded in the admin's history (``LogEntry``).

One action serves both scopes. For ticked rows the admin hands it those rows; for "select all N"
(Django's select-across, offered once the whole page is ticked) it hands it the changelist's filtered
queryset, which goes to the operation unchanged: the operations walk it in bounded batches.
The confirmation page posts the same fields back (action, select_across, ticked ids) plus ``confirm``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_permission_codename
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.http import url_has_allowed_host_and_scheme

from outbox.admin.counts import Count, cheap_count
from outbox.admin.display import link_list
from outbox.transitions import Changed

CONFIRM = "confirm"
RETURN_TO = "_return_to"
#: Above this many messages the confirmation page warns that the work happens within the request.
LARGE = 50_000
#: Rows listed on the confirmation page.
SAMPLE = 20
#: Query parameters of the changelist that are not filters.
NOT_FILTERS = {"o", "p", "q", "all", "e", "_changelist_filters"}


@dataclass(frozen=True)
class Operation:
    """An operator action, declared once: a message admin lists it in ``operations`` and the rest follows
    (see ``outbox/admin/base.py``): the admin action ``name`` with ``label`` in the actions menu, the
    ``has_<name>_permission`` method, the button on a message's page, and the confirmation page.

    ``name`` is also the permission: ``<app>.<name>_<model>`` (the migrations create it). ``title`` heads the
    confirmation page, ``past`` reports the result ("3 messages retried"), ``description`` says what happens.
    ``eligible`` narrows the chosen rows to those it may change; ``run(rows, reason, actor)`` changes them.
    """

    name: str
    title: str
    past: str
    description: str
    eligible: Callable[[QuerySet[Any]], QuerySet[Any]]
    run: Callable[[QuerySet[Any], str, str], Changed]  # (rows, reason, actor) -> rows changed, notes
    needs_reason: bool = False
    label: str = ""

    def action(self) -> Callable[[Any, HttpRequest, QuerySet[Any]], HttpResponse | None]:
        """The admin action: needs this operation's permission, shows ``label`` (or ``title``) in the menu."""
        def run_action(model_admin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
            return confirm_then_run(model_admin, request, queryset, self)

        run_action.__name__ = self.name
        return admin.action(permissions=[self.name], description=self.label or self.title)(run_action)

    def allows(self, model_admin: Any, request: HttpRequest) -> bool:
        """Whether the user of ``request`` holds this operation's permission on ``model_admin``'s model."""
        return has_permission(model_admin, request, self.name)

    def permission_check(self) -> Callable[[Any, HttpRequest], bool]:
        """The ``has_<name>_permission(request)`` method Django's admin asks before offering the action."""
        def has_operation_permission(model_admin: Any, request: HttpRequest) -> bool:
            return self.allows(model_admin, request)

        has_operation_permission.__name__ = f"has_{self.name}_permission"
        return has_operation_permission


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 3, "cols": 70}),
                             help_text="Kept with each message and in the admin history.")


def has_permission(model_admin: Any, request: HttpRequest, name: str) -> bool:
    """Whether the user holds ``<app>.<name>_<model>`` (e.g. ``outbox.retry_outboxmessage``)."""
    opts = model_admin.opts
    return bool(request.user.has_perm(f"{opts.app_label}.{get_permission_codename(name, opts)}"))


def confirm_then_run(model_admin: Any, request: HttpRequest, queryset: QuerySet[Any], operation: Operation
                     ) -> HttpResponse | None:
    """The admin action's body: the confirmation page, or (when confirmed) run, log and report.

    Returns None after running, so that the admin redirects back to the changelist (or to the detail
    page the action was started from).
    """
    if not operation.allows(model_admin, request):
        raise PermissionDenied
    across = request.POST.get("select_across") == "1"
    form = ReasonForm(request.POST if CONFIRM in request.POST else None) if operation.needs_reason else None
    if request.POST.get(CONFIRM) == "yes" and (form is None or form.is_valid()):
        reason = form.cleaned_data["reason"] if form is not None else ""
        changed = execute(model_admin, request, queryset, operation, reason, across)
        notes = "".join(f" {note}." for note in changed.notes)
        model_admin.message_user(request, f"{changed.count} {_noun(model_admin, changed.count)} {operation.past}."
                                 f"{notes}", messages.WARNING if notes else messages.SUCCESS)
        return_to = request.POST.get(RETURN_TO, "")
        if url_has_allowed_host_and_scheme(return_to, {request.get_host()}, request.is_secure()):
            return HttpResponseRedirect(return_to)
        return None
    return _confirmation(model_admin, request, queryset, operation, form, across)


def execute(model_admin: Any, request: HttpRequest, queryset: QuerySet[Any], operation: Operation, reason: str,
            across: bool) -> Changed:
    """Run ``operation`` on the eligible rows of ``queryset`` and record it; returns how many changed, with
    the operation's notes on rows it left as they were.

    Ticked rows get one history entry each; "all matching the filter" gets one entry for the model
    (it may be millions of rows), naming the filter.
    """
    targets = operation.eligible(queryset)
    actor = request.user.get_username()
    note = f"{operation.title} from the admin" + (f": {reason}" if reason else "")
    if across:
        changed = operation.run(targets, reason, actor)
        log_bulk(model_admin, request,
                 f"{changed.count} {_noun(model_admin, changed.count)} matching {describe_filters(request)}",
                 f"{note} ({changed.count} changed)")
        return changed
    rows = list(targets)
    changed = operation.run(targets, reason, actor)
    for row in rows:
        model_admin.log_change(request, row, note)
    return changed


def log_bulk(model_admin: Any, request: HttpRequest, what: str, message: str) -> LogEntry:
    """One admin history entry for an action on many rows of the model (no single object)."""
    content_type = ContentType.objects.get_for_model(model_admin.model, for_concrete_model=False)
    return LogEntry.objects.create(user_id=cast(Any, request.user).pk, content_type=content_type, object_id=None,
                                   object_repr=what[:200], action_flag=CHANGE, change_message=message)


def describe_filters(request: HttpRequest) -> str:
    """The changelist filters of ``request`` as ``name=value, ...`` ("no filter" when none)."""
    pairs = [f"{name}={value}" for name, value in request.GET.items() if name not in NOT_FILTERS]
    search = request.GET.get("q")
    if search:
        pairs.append(f"search={search}")
    return ", ".join(pairs) or "no filter"


def confirmation_page(request: HttpRequest, model_admin: Any, context: dict[str, Any]) -> TemplateResponse:
    """Render ``admin/outbox/operation_confirmation.html`` with the admin's context and ``context``
    (title, description, scope, count, sample, hidden, form, submit, cancel_url, large)."""
    base = {**model_admin.admin_site.each_context(request), "opts": model_admin.opts, "form": None,
            "sample": "", "large": False, "form_action": "", "sample_size": SAMPLE}
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/outbox/operation_confirmation.html", {**base, **context})


def _confirmation(model_admin: Any, request: HttpRequest, queryset: QuerySet[Any], operation: Operation,
                  form: ReasonForm | None, across: bool) -> TemplateResponse:
    eligible = operation.eligible(queryset)
    selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
    count = cheap_count(eligible) if across else Count(eligible.count(), exact=True)
    hidden = [("action", operation.name), ("select_across", "1" if across else "0"), (CONFIRM, "yes"),
              *[(helpers.ACTION_CHECKBOX_NAME, pk) for pk in selected]]
    return_to = request.POST.get(RETURN_TO, "")
    if return_to:
        hidden.append((RETURN_TO, return_to))
    noun = _noun(model_admin, count.value)
    scope = (f"all {count} {noun} matching the current filter ({describe_filters(request)})" if across
             else f"{count} of the {len(selected)} selected {_noun(model_admin, len(selected))}")
    return confirmation_page(request, model_admin, {
        "title": f"{operation.title}: are you sure?", "description": operation.description, "scope": scope,
        "count": count, "sample": link_list(eligible[:SAMPLE], model_admin.admin_site.name), "hidden": hidden,
        "form": form if form is not None else None, "submit": f"Yes, {operation.title.lower()}",
        "cancel_url": return_to or request.get_full_path(), "large": count.value > LARGE})


def _noun(model_admin: Any, n: int) -> str:
    opts = model_admin.opts
    return str(opts.verbose_name if n == 1 else opts.verbose_name_plural)
