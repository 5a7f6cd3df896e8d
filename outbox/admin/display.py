"""How the admin shows message fields: status badges, ages, one-line errors, pretty JSON, histories."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator

ERROR_CHARS = 55


def status_badge(value: str, label: str) -> SafeString:
    """The status as a coloured badge (colours in ``admin/outbox/messages_style.html``)."""
    return format_html('<span class="msg-status msg-status-{}" title="{}">{}</span>', value, label, value)


def short_age(seconds: float | None) -> str:
    """A compact duration: ``45s``, ``12m``, ``3h 5m``, ``2d 4h``; an em dash for None."""
    if seconds is None:
        return "—"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if hours < 1:
        return f"{minutes}m"
    if days < 1:
        return f"{hours}h {minutes % 60}m" if minutes % 60 else f"{hours}h"
    return f"{days}d {hours % 24}h" if hours % 24 else f"{days}d"


def age_since(moment: datetime | None, now: datetime | None = None) -> str:
    """:func:`short_age` of the time since ``moment``."""
    if moment is None:
        return "—"
    return short_age(((now or timezone.now()) - moment).total_seconds())


def next_attempt(moment: datetime | None, now: datetime | None = None) -> SafeString | str:
    """When a waiting message runs next: ``in 6m``, or ``due`` once the time has come; the time in the tooltip."""
    if moment is None:
        return "—"
    wait = (moment - (now or timezone.now())).total_seconds()
    return format_html('<span title="{}">{}</span>', moment.isoformat(timespec="seconds"),
                       f"in {short_age(wait)}" if wait >= 1 else "due")


def one_line(text: str, chars: int = ERROR_CHARS) -> SafeString | str:
    """``text`` on one line, cut to ``chars``; the whole text in the tooltip. Empty text stays empty."""
    if not text:
        return ""
    flat = " ".join(text.split())
    return format_html('<span class="msg-error" title="{}">{}</span>', text, Truncator(flat).chars(chars))


def pretty_json(value: Any) -> SafeString:
    """``value`` as indented JSON in a ``<pre>`` (escaped)."""
    text = json.dumps(value, indent=2, ensure_ascii=False, cls=DjangoJSONEncoder)
    return format_html('<pre class="msg-pre">{}</pre>', text)


def preformatted(text: str) -> SafeString | str:
    """Multi-line text (a traceback) in a ``<pre>``; empty text stays empty."""
    return format_html('<pre class="msg-pre">{}</pre>', text) if text else ""


def history_table(entries: list[dict[str, Any]] | None) -> SafeString | str:
    """The attempt history (one dict per failed attempt or operator action) as a table, oldest first."""
    if not entries:
        return ""
    rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
        (_moment(entry.get("at", "")), entry.get("event", ""), entry.get("attempt", ""), entry.get("by", ""),
         entry.get("error", "")) for entry in entries))
    return format_html('<table class="msg-history"><thead><tr><th>at</th><th>event</th><th>attempt</th>'
                       "<th>by</th><th>error</th></tr></thead><tbody>{}</tbody></table>", rows)


def _moment(text: str) -> str:
    """An ISO timestamp of the history shortened to the second, in UTC as stored (``2024-05-01 12:00:07``)."""
    moment = parse_datetime(text) if isinstance(text, str) else None
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else str(text)


def link_list(rows: Iterable[models.Model], site_name: str = "admin") -> SafeString | str:
    """A ``<ul>`` of links to the admin page of each row ("<row> — <status>"); "" when there are none."""
    items = [(_url(row, site_name), f"{row} — {getattr(row, 'status', '')}") for row in rows]
    if not items:
        return ""
    return format_html('<ul class="msg-links">{}</ul>', format_html_join("", '<li><a href="{}">{}</a></li>', items))


def _url(row: models.Model, site_name: str) -> str:
    opts = row._meta
    try:
        return reverse(f"{site_name}:{opts.app_label}_{opts.model_name}_change", args=[row.pk])
    except NoReverseMatch:
        return ""
