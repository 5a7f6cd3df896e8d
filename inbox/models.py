"""The inbox table: one row per (handler, message id), written in the handler's own transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from outbox.routing import write_alias


class Status(models.TextChoices):
    DONE = "done", "done"
    WAITING = "waiting", "waiting for retry"
    BLOCKED = "blocked", "blocked behind an earlier message of its key"
    DEAD = "dead", "dead"
    EXPIRED = "expired", "expired"
    SKIPPED = "skipped", "skipped as stale"
    DISCARDED = "discarded", "discarded"


#: Statuses after which a message is never run again by itself.
FINAL = (Status.DONE, Status.DEAD, Status.EXPIRED, Status.SKIPPED, Status.DISCARDED)


class InboxMessageQuerySet(models.QuerySet["InboxMessage"]):
    def due(self, now: datetime) -> InboxMessageQuerySet:
        """Delayed retries whose time has come."""
        return self.filter(status=Status.WAITING, available_at__lte=now)

    def dead(self) -> InboxMessageQuerySet:
        return self.filter(status=Status.DEAD)

    def waiting(self) -> InboxMessageQuerySet:
        return self.filter(status__in=[Status.WAITING, Status.BLOCKED])

    def older_than(self, cutoff: datetime) -> InboxMessageQuerySet:
        return self.filter(received_at__lt=cutoff)

    def purgeable(self, include_dead: bool) -> InboxMessageQuerySet:
        """Finished messages (dead ones only if asked): never waiting or blocked, which are still to run."""
        statuses = [status for status in FINAL if include_dead or status != Status.DEAD]
        return self.filter(status__in=statuses)

    def stuck(self, now: datetime, after: timedelta) -> InboxMessageQuerySet:
        return self.waiting().filter(received_at__lt=now - after)

    def holding_keys(self, dead_blocks: bool) -> InboxMessageQuerySet:
        """Messages that hold back the later messages of their key: waiting, blocked, and dead if ``dead_blocks``."""
        return self.filter(status__in=[Status.WAITING, Status.BLOCKED] + ([Status.DEAD] if dead_blocks else []))

    def earlier_unfinished(self, handler: str, key: str, sequence: int, dead_blocks: bool) -> InboxMessageQuerySet:
        """Messages of the same handler and key, written before ``sequence``, not yet finished."""
        return self.holding_keys(dead_blocks).filter(handler=handler, key=key, sequence__lt=sequence)

    def releasable(self, dead_blocks: bool) -> InboxMessageQuerySet:
        """Blocked messages with nothing ahead of them in their key: nothing will ever release them but the
        retry poller's self-healing (a head purged or discarded without releasing them, say)."""
        ahead = self.model.objects.using(self.db).holding_keys(dead_blocks).filter(
            handler=OuterRef("handler"), key=OuterRef("key"), sequence__lt=OuterRef("sequence"))
        return self.filter(status=Status.BLOCKED).exclude(Exists(ahead))

    def next_blocked(self, handler: str, key: str) -> InboxMessage | None:
        return self.filter(handler=handler, key=key, status=Status.BLOCKED).order_by("sequence").first()

    def receive(self, row: InboxMessage) -> bool:
        """INSERT the row unless (handler, message_id) exists; True when this call inserted it.

        ``ON CONFLICT DO NOTHING`` waits for a concurrent transaction that inserted the same pair:
        if that one commits, this returns False (a duplicate); if it rolls back, this one inserts.
        That is how a concurrent duplicate "waits and then skips".
        """
        alias = write_alias(self)  # self.db would be the router's read alias: a replica, with a replica router
        connection = connections[alias]
        quote = connection.ops.quote_name
        fields = [f for f in row._meta.concrete_fields if not f.primary_key]
        values = [f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields]
        sql = (f"INSERT INTO {quote(row._meta.db_table)} ({', '.join(quote(str(f.column)) for f in fields)}) "
               f"VALUES ({', '.join(['%s'] * len(fields))}) "
               f"ON CONFLICT ({quote('handler')}, {quote('message_id')}) DO NOTHING RETURNING {quote('id')}")
        with connection.cursor() as cursor:
            cursor.execute(sql, values)
            found: Any = cursor.fetchone()
        if found is None:
            return False
        row.pk = found[0]
        row._state.adding = False
        row._state.db = alias
        return True


class InboxMessage(models.Model):
    """That a handler processed (or is retrying, or gave up on) one message."""

    handler = models.CharField(max_length=200, help_text="Handler name; empty for a message no handler could take.")
    message_id = models.CharField(max_length=255, help_text="The message's id on the wire (AMQP message_id).")
    topic = models.CharField(max_length=255, blank=True, default="", help_text="Routing key the message came with.")
    key = models.CharField(max_length=255, null=True, blank=True, help_text="Ordering key (header 'key').")
    sequence = models.BigIntegerField(null=True, blank=True, help_text="Position within its key (header 'sequence').")
    payload = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder, help_text="Decoded body.")
    headers = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="Message headers.")
    raw_body = models.TextField(blank=True, default="", help_text="Start of a body that could not be decoded.")
    correlation_id = models.CharField(max_length=255, blank=True, default="", help_text="Conversation id.")
    causation_id = models.CharField(max_length=255, blank=True, default="", help_text="Id of the causing message.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DONE,
                              help_text="done once applied; waiting for a delayed retry; dead after the last one.")
    attempts = models.PositiveIntegerField(default=0, help_text="Handler runs so far.")
    received_at = models.DateTimeField(default=timezone.now, help_text="First delivery to this handler.")
    available_at = models.DateTimeField(null=True, blank=True, help_text="Next delayed retry (when waiting).")
    processed_at = models.DateTimeField(null=True, blank=True, help_text="When the message reached its final status.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Not applied after this time.")
    first_failed_at = models.DateTimeField(null=True, blank=True, help_text="First failure.")
    last_failed_at = models.DateTimeField(null=True, blank=True, help_text="Latest failure.")
    error_type = models.CharField(max_length=255, blank=True, default="", help_text="Exception class of the failure.")
    error_message = models.TextField(blank=True, default="", help_text="Exception message, or why it was refused.")
    traceback = models.TextField(blank=True, default="", help_text="Traceback of the latest failure (truncated).")
    error_group = models.CharField(max_length=64, blank=True, default="",
                                   help_text="Same exception type and top frames: identical failures share it.")
    history = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder,
                               help_text="One entry per failed attempt or operator action.")

    objects = InboxMessageQuerySet.as_manager()

    class Meta:
        verbose_name = "inbox message"
        constraints = [models.UniqueConstraint(fields=["handler", "message_id"], name="inbox_handler_message")]
        indexes = [
            models.Index(fields=["available_at"], name="inbox_waiting_due", condition=Q(status="waiting")),
            models.Index(fields=["handler", "key", "sequence"], name="inbox_unfinished_key",
                         condition=Q(status__in=["waiting", "blocked", "dead"])),
            models.Index(fields=["status", "received_at"], name="inbox_status_received"),
            models.Index(fields=["error_group"], name="inbox_dead_group", condition=Q(status="dead")),
            models.Index(fields=["correlation_id"], name="inbox_correlation"),
            # The admin's search by wire message id (the unique constraint leads with the handler) and by key.
            models.Index(fields=["message_id"], name="inbox_message_id"),
            models.Index(fields=["key"], name="inbox_key"),
        ]
        permissions = [
            ("retry_inboxmessage", "Can retry inbox messages"),
            ("discard_inboxmessage", "Can discard inbox messages"),
        ]

    def __str__(self) -> str:
        return f"{self.handler or '(no handler)'} {self.message_id}"


class KeyPosition(models.Model):
    """The highest sequence applied per (handler, key), for handlers that skip stale messages."""

    handler = models.CharField(max_length=200, help_text="Handler name.")
    key = models.CharField(max_length=255, help_text="Ordering key.")
    sequence = models.BigIntegerField(help_text="Highest sequence applied for the key.")
    applied_at = models.DateTimeField(default=timezone.now, help_text="When it was applied.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["handler", "key"], name="inbox_key_position")]

    def __str__(self) -> str:
        return f"{self.handler} {self.key} @ {self.sequence}"
