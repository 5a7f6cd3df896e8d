"""The provider's API as its client library would offer it: ``send(...)`` returns the e-mail's id.

``send`` is idempotent on ``idempotency_key``: a second request with the same key returns the
first e-mail's id and sends nothing. That is what makes "at least once" safe for the caller: a
consumer whose transaction rolled back after the e-mail went out calls again with the same key.
"""

from __future__ import annotations

from django.db import IntegrityError
from django.utils import timezone

from demo_project.mailprovider.models import ApiCall, Email, Incident, Kind, Outcome


class MailProviderError(Exception):
    """The mail provider did not confirm the e-mail."""


class ServiceUnavailable(MailProviderError):
    """503 Service Unavailable: the provider is down; try again later."""


class ServerError(MailProviderError):
    """500 Internal Server Error: a bug on the provider's side; it repeats until they fix it."""


class ResponseTimeout(MailProviderError):
    """No response before the timeout: the e-mail may or may not have gone out."""


def send(*, idempotency_key: str, to: str, subject: str, body: str, reference: str = "") -> str:
    """Send one e-mail; returns its provider id (the first e-mail's id when the key was used before).

    Raises :class:`ServiceUnavailable` during an outage, :class:`ServerError` for recipients an
    open bug hits, and :class:`ResponseTimeout` when the response is lost (the e-mail was sent).
    """
    now = timezone.now()
    if Incident.objects.matching(Kind.OUTAGE, to, now):
        _log(idempotency_key, to, Outcome.UNAVAILABLE)
        raise ServiceUnavailable("503 Service Unavailable")
    bug = Incident.objects.matching(Kind.BUG, to, now)
    if bug is not None:
        _log(idempotency_key, to, Outcome.SERVER_ERROR, bug.note)
        raise ServerError(f"500 Internal Server Error: {bug.note}")
    email, created = _accept(idempotency_key, to, subject, body, reference)
    if not created:
        _log(idempotency_key, to, Outcome.DUPLICATE, email.provider_id)
        return email.provider_id
    lost = Incident.objects.matching(Kind.LOSE_RESPONSE, to, now)
    if lost is not None:
        Incident.objects.filter(pk=lost.pk).update(fixed_at=now)  # loses one response, not all of them
        _log(idempotency_key, to, Outcome.RESPONSE_LOST, email.provider_id)
        raise ResponseTimeout("read timed out after 10 s")
    _log(idempotency_key, to, Outcome.ACCEPTED, email.provider_id)
    return email.provider_id


def _accept(key: str, to: str, subject: str, body: str, reference: str) -> tuple[Email, bool]:
    try:
        return Email.objects.get_or_create(idempotency_key=key, defaults={
            "to": to, "subject": subject, "body": body, "reference": reference})
    except IntegrityError:  # two requests with one key at the same moment: the other one won
        return Email.objects.get(idempotency_key=key), False


def _log(key: str, to: str, outcome: Outcome, detail: str = "") -> None:
    ApiCall.objects.create(idempotency_key=key, to=to, outcome=outcome, detail=detail[:255])
