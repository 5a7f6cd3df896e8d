"""``messaging_status``'s report as text, for people: one block per app, then the circuit breakers.

The helpers here (counts, ages, moments, titled lists) are also used by the sections other apps contribute
(``inbox/status.py``), so that every block reads the same.
"""

from __future__ import annotations

from datetime import datetime

from outbox import topology
from outbox.conf import outbox_settings
from outbox.status import Breaker, MessagingStatus, installed_sections


def report_lines(report: MessagingStatus) -> list[str]:
    """The lines of the text report: the outbox, each installed app's section, the breakers."""
    out = report.outbox
    lines = [f"outbox: {counts_text(out.counts)}",
             f"  oldest pending: {age_text(out.oldest_pending_age)}; dead in the last hour: {out.dead_last_hour}; "
             f"stuck: {out.stuck} (pending over {outbox_settings.STUCK_AFTER:g}s or lease expired)"]
    if report.unrouted is not None:
        lines.append(f"  unrouted: {report.unrouted} message(s) kept in queue "
                     f"{topology.unrouted_name(outbox_settings.EXCHANGE)!r} (no binding matched them when "
                     f"published; docs/operations.md says how to replay them)")
    for section in installed_sections():
        lines += section.lines(report)
    return lines + section_lines("breakers", [_breaker(b) for b in report.breakers])


def stuck_text(report: MessagingStatus) -> str:
    """``outbox 2, inbox 1``: stuck messages of each app (an app not installed counts 0)."""
    parts = {"outbox": report.outbox.stuck, **report.stuck_by_section()}
    return ", ".join(f"{app} {count}" for app, count in parts.items())


def section_lines(title: str, rows: list[str]) -> list[str]:
    """``title:`` followed by ``rows``, or ``title: none`` when there are none."""
    return [f"{title}:", *rows] if rows else [f"{title}: none"]


def counts_text(counts: dict[str, int]) -> str:
    """``dead 2, pending 3`` (by status name), or ``empty``."""
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "empty"


def age_text(seconds: float | None) -> str:
    """``2h00m05s``, ``3m07s``, ``9s``; ``none`` for None."""
    if seconds is None:
        return "none"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def when_text(moment: datetime | None) -> str:
    """An ISO moment to the second; ``-`` for None."""
    return moment.isoformat(timespec="seconds") if moment is not None else "-"


def _breaker(breaker: Breaker) -> str:
    reason = f" - {breaker.reason[:100]}" if breaker.reason else ""
    if breaker.stale:
        return (f"  {breaker.name}: unknown (last seen {breaker.state} at {when_text(breaker.updated_at)}, not "
                f"refreshed since: its process stopped or went idle){reason}")
    return (f"  {breaker.name}: {breaker.state} ({breaker.failures} failures) since {when_text(breaker.changed_at)}"
            f"{reason}")
