"""The provider's books: e-mails it accepted (one per idempotency key), every API call, and incidents."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Email(models.Model):
    """An e-mail the provider accepted and sent; the idempotency key makes a repeated request return it."""

    idempotency_key = models.CharField(max_length=255, unique=True,
                                       help_text="The caller's key: the same key never sends a second e-mail.")
    to = models.EmailField(help_text="Recipient.")
    subject = models.CharField(max_length=255, help_text="Subject line.")
    body = models.TextField(help_text="Plain-text body.")
    reference = models.CharField(max_length=255, blank=True, default="",
                                 help_text="The caller's reference (here: the id of the event that asked for it).")
    accepted_at = models.DateTimeField(default=timezone.now, help_text="When the provider accepted it.")

    class Meta:
        verbose_name = "e-mail sent"

    def __str__(self) -> str:
        return f"{self.provider_id} to {self.to}"

    @property
    def provider_id(self) -> str:
        return f"mail_{self.pk:06d}"


class Outcome(models.TextChoices):
    ACCEPTED = "accepted", "202 accepted, e-mail sent"
    RESPONSE_LOST = "response_lost", "accepted and sent, but the response never reached the caller"
    DUPLICATE = "duplicate", "key seen before: the first e-mail is returned, nothing is sent"
    UNAVAILABLE = "unavailable", "503 service unavailable (outage)"
    SERVER_ERROR = "server_error", "500 internal server error (a bug on the provider's side)"


class ApiCall(models.Model):
    """One request to ``send``, as the provider's access log would show it."""

    at = models.DateTimeField(default=timezone.now, help_text="When the request arrived.")
    idempotency_key = models.CharField(max_length=255, help_text="Key sent with the request.")
    to = models.EmailField(help_text="Recipient asked for.")
    outcome = models.CharField(max_length=16, choices=Outcome.choices, help_text="What the provider answered.")
    detail = models.CharField(max_length=255, blank=True, default="", help_text="Error text, or the e-mail's id.")

    class Meta:
        verbose_name = "API call"
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S.%f} {self.outcome} {self.idempotency_key}"


class Kind(models.TextChoices):
    OUTAGE = "outage", "outage: every request gets 503"
    BUG = "bug", "bug: requests for some recipients get 500 until fixed"
    LOSE_RESPONSE = "lose_response", "the next response for a recipient is lost on the way back"


class IncidentQuerySet(models.QuerySet["Incident"]):
    def active(self, now: datetime) -> IncidentQuerySet:
        return self.filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now), starts_at__lte=now, fixed_at__isnull=True)

    def matching(self, kind: str, recipient: str, now: datetime) -> Incident | None:
        """The first active incident of ``kind`` that hits ``recipient`` (target empty = everyone)."""
        domain = recipient.rpartition("@")[2]
        targets = Q(target="") | Q(target__iexact=recipient) | Q(target__iexact=domain)
        return self.active(now).filter(targets, kind=kind).order_by("starts_at").first()


class Incident(models.Model):
    """Something wrong with the provider, for a while or until fixed."""

    kind = models.CharField(max_length=16, choices=Kind.choices, help_text="What goes wrong.")
    target = models.CharField(max_length=255, blank=True, default="",
                              help_text="Recipient address or domain it hits; empty for every request.")
    note = models.CharField(max_length=255, blank=True, default="", help_text="What the status page says.")
    starts_at = models.DateTimeField(default=timezone.now, help_text="Start of the incident.")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="End of an outage window; empty: until fixed.")
    fixed_at = models.DateTimeField(null=True, blank=True, help_text="When a fix was deployed (or it was used up).")

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.target or '(all)'}"
