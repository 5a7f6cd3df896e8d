"""What the demo does to the provider: outages, bugs, fixes and lost responses."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from demo_project.mailprovider.models import Incident, Kind


def start_outage(note: str = "", seconds: float | None = None) -> Incident:
    """Every request fails with 503 for the next ``seconds``, or until :func:`end_outage`."""
    now = timezone.now()
    ends_at = now + timedelta(seconds=seconds) if seconds is not None else None
    return Incident.objects.create(kind=Kind.OUTAGE, note=note, starts_at=now, ends_at=ends_at)


def end_outage() -> int:
    """The provider is back; returns how many outages ended."""
    now = timezone.now()
    return Incident.objects.active(now).filter(kind=Kind.OUTAGE).update(ends_at=now)


def open_bug(target: str, note: str) -> Incident:
    """Requests for ``target`` (an address or a domain) fail with 500 until :func:`deploy_fix`."""
    return Incident.objects.create(kind=Kind.BUG, target=target, note=note)


def deploy_fix(target: str) -> int:
    """The provider fixes the bugs that hit ``target``; returns how many were open."""
    return Incident.objects.filter(kind=Kind.BUG, target=target, fixed_at__isnull=True).update(fixed_at=timezone.now())


def lose_next_response(recipient: str) -> Incident:
    """The next e-mail accepted for ``recipient`` is sent, but the caller never hears so."""
    return Incident.objects.create(kind=Kind.LOSE_RESPONSE, target=recipient, note="response lost in transit")
