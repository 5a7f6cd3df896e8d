"""The outbox table and the per-key sequence that orders it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, transaction
from django.db.models import Exists, ExpressionWrapper, OuterRef, Q
from django.db.models.functions import Now
from django.utils import timezone

from outbox.ids import uuid7
from outbox.relay import claimed
from outbox.relay.claimed import Claimed


class Status(models.TextChoices):
    PENDING = "pending", "pending"
    SENT = "sent", "sent"
    DEAD = "dead", "dead"
    EXPIRED = "expired", "expired"
    DISCARDED = "discarded", "discarded"


class OutboxMessageQuerySet(models.QuerySet["OutboxMessage"]):
    """Intent-named queries; the relay's claim lives here so its SQL matches the indexes below."""

    def pending(self) -> OutboxMessageQuerySet:
        return self.filter(status=Status.PENDING)

    def dead(self) -> OutboxMessageQuerySet:
        return self.filter(status=Status.DEAD)

    def sent(self) -> OutboxMessageQuerySet:
        return self.filter(status=Status.SENT)

    def due(self, now: datetime | None = None) -> OutboxMessageQuerySet:
        """Pending, available, and not leased by a live relay, at ``now`` (None: the database's clock).

        Relays pass None: leases and due times are compared on one clock, the database's, so relays on
        machines whose clocks disagree neither take a live lease nor wait out an expired one.
        """
        moment = Now() if now is None else now
        unleased = Q(lease_until__isnull=True) | Q(lease_until__lt=moment)
        return self.pending().filter(unleased, available_at__lte=moment)

    def blocking(self, dead_blocks_key: bool) -> OutboxMessageQuerySet:
        """Messages that hold back the later messages of their key."""
        statuses = [Status.PENDING, Status.DEAD] if dead_blocks_key else [Status.PENDING]
        return self.filter(status__in=statuses)

    def claimable(self, now: datetime | None, dead_blocks_key: bool) -> OutboxMessageQuerySet:
        """Due messages that are the head of their key (no earlier message of the key is unsent).

        Only one message per key is ever in flight, so a key's messages reach the broker in the
        order they were written even with several relays and while an earlier one waits for a retry.
        """
        return self.due(now).filter(Q(key__isnull=True) | self._heads_of_keys(dead_blocks_key))

    def _heads_of_keys(self, dead_blocks_key: bool) -> Q:
        """Keyed messages with no earlier blocking message of their key.

        On PostgreSQL: the first blocking message of every key, found once per claim with ``DISTINCT ON``
        over the ``outbox_unsent_key`` index and probed as a hash. The portable ``NOT EXISTS`` form costs
        an index probe for every due row it passes on the way to a batch of heads: with a backlog of
        200 messages on each of 100 keys, 20,000 probes to find 100 heads, per batch.
        """
        blocking = self.model.objects.using(self.db).blocking(dead_blocks_key).filter(key__isnull=False)
        if connections[self.db].features.can_distinct_on_fields:
            return Q(id__in=blocking.order_by("key", "seq").distinct("key").values("id"))
        return ~Q(Exists(blocking.filter(key=OuterRef("key"), seq__lt=OuterRef("seq"))))

    def claim(self, batch_size: int, owner: str, lease: timedelta, dead_blocks_key: bool) -> list[Claimed]:
        """Lease up to ``batch_size`` due messages to ``owner``; returns them in due order ([] when none is due).

        One ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n) RETURNING ...`` in a
        transaction that commits before anything is published: no transaction is held open while
        waiting on the broker. ``SKIP LOCKED`` lets concurrent relays claim disjoint batches; the lease
        lets another relay take over a dead relay's batch. Due times and the lease are read and written
        on the database's clock, never the caller's (see :meth:`due`).
        """
        connection = connections[self.db]
        quote = connection.ops.quote_name
        with transaction.atomic(using=self.db):
            _relaxed_commit(self.db)
            candidates = (self.claimable(None, dead_blocks_key).order_by("available_at", "created_at")
                          .select_for_update(skip_locked=True, of=("self",)).values("id")[:batch_size])
            compiler = candidates.query.get_compiler(using=self.db)
            select, select_params = compiler.as_sql()
            until, until_params = compiler.compile(_from_now(lease).resolve_expression(candidates.query))
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {quote(self.model._meta.db_table)} SET {quote('lease_until')} = {until}, "
                    f"{quote('lease_owner')} = %s WHERE {quote('id')} IN ({select}) "
                    f"RETURNING {', '.join(quote(column) for column in claimed.COLUMNS)}",
                    [*until_params, owner, *select_params])
                rows = [claimed.Claimed.from_row(row) for row in cursor.fetchall()]
        return sorted(rows, key=lambda message: (message.available_at, message.created_at))

    def leased_to(self, owner: str) -> OutboxMessageQuerySet:
        """Messages leased to ``owner``: the relay's writes go through this (fencing), so a relay whose lease
        ran out and was taken over cannot record a result over the new owner's (mark dead what it
        delivered, or clear its lease). An expired lease nobody took yet still counts as its owner's."""
        return self.filter(lease_owner=owner)

    def renew(self, ids: list[uuid.UUID], lease: timedelta) -> int:
        """Extend the leases of those of ``ids`` still pending to ``lease`` from the database's now; returns
        how many (call it on :meth:`leased_to`: a relay renews only its own leases)."""
        return self.filter(id__in=ids, status=Status.PENDING).update(lease_until=_from_now(lease))

    def release(self, ids: list[uuid.UUID]) -> int:
        """Give claimed messages back without spending an attempt; returns how many."""
        return self.filter(id__in=ids, status=Status.PENDING).update(lease_until=None, lease_owner="")

    def mark_sent(self, ids: list[uuid.UUID], now: datetime | None = None) -> int:
        """Record the broker's confirm at ``now`` (None: the database's clock); returns how many rows changed."""
        with transaction.atomic(using=self.db):
            _relaxed_commit(self.db)
            return self.filter(id__in=ids, status=Status.PENDING).update(
                status=Status.SENT, sent_at=Now() if now is None else now, lease_until=None, lease_owner="",
                last_error="")

    def record_failures(self, failures: list[Failure]) -> list[Failure]:
        """Record failed publish attempts (back-off or dead) and end their leases; returns the failures
        recorded (those of pending messages in this queryset). One UPDATE per message (failures are rare:
        a nack, an unroutable message, a missing confirm). The back-off runs from the database's clock."""
        recorded = []
        with transaction.atomic(using=self.db):
            for failure in failures:
                retry_at = {} if failure.wait is None else {"available_at": _from_now(failure.wait)}
                if self.filter(id=failure.id, status=Status.PENDING).update(
                        status=failure.status, attempts=failure.attempts, last_error=failure.error,
                        lease_until=None, lease_owner="", **retry_at):
                    recorded.append(failure)
        return recorded

    def mark_expired(self, ids: list[uuid.UUID]) -> int:
        return self.filter(id__in=ids, status=Status.PENDING).update(
            status=Status.EXPIRED, lease_until=None, lease_owner="")

    def expire(self, ids: list[uuid.UUID]) -> list[uuid.UUID]:
        """Mark those of ``ids`` whose ``expires_at`` has passed on the database's clock expired; returns
        their ids ([] when none has)."""
        expired = list(self.filter(id__in=ids, status=Status.PENDING, expires_at__lte=Now())
                       .values_list("id", flat=True))
        if expired:
            self.mark_expired(expired)
        return expired

    def older_than(self, cutoff: datetime) -> OutboxMessageQuerySet:
        return self.filter(created_at__lt=cutoff)

    def purgeable(self, include_dead: bool) -> OutboxMessageQuerySet:
        """Messages the relay is done with (sent, expired, discarded; dead too if asked): never pending."""
        statuses = [Status.SENT, Status.EXPIRED, Status.DISCARDED] + ([Status.DEAD] if include_dead else [])
        return self.filter(status__in=statuses)

    def stuck(self, now: datetime, after: timedelta) -> OutboxMessageQuerySet:
        """Pending for longer than ``after``, or leased past the lease (its relay died)."""
        return self.pending().filter(Q(created_at__lt=now - after) | Q(lease_until__lt=now))


@dataclass(frozen=True)
class Failure:
    """A publish attempt the broker refused: the message's new attempt count, status, and the back-off
    before the next attempt (None: its due time stays, as for a message gone dead)."""

    id: uuid.UUID
    topic: str
    attempts: int
    error: str
    status: str
    wait: timedelta | None


def _from_now(delta: timedelta) -> ExpressionWrapper:
    """``delta`` after the database's now (``STATEMENT_TIMESTAMP()`` on PostgreSQL)."""
    return ExpressionWrapper(Now() + delta, output_field=models.DateTimeField())


def _relaxed_commit(alias: str) -> None:
    """Let this transaction commit without waiting for its WAL flush (PostgreSQL only).

    Safe for the relay's own bookkeeping: losing a lease on a crash only makes it run out sooner
    (the batch is claimed again), and losing a "sent" mark re-sends the message with the same id,
    which the consumers' inboxes drop. It never applies to the producers' transactions.
    """
    connection = connections[alias]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


class OutboxMessage(models.Model):
    """One outgoing message, written in the same transaction as the domain change it announces."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False,
                          help_text="Message id on the wire (AMQP message_id); stable across re-sends. "
                                    "Generated ids are time-ordered UUIDv7.")
    topic = models.CharField(max_length=255, help_text="Routing key on the outbox exchange, e.g. orders.placed.")
    exchange = models.CharField(max_length=255, null=True, blank=True,
                                help_text="Exchange to publish to; empty means OUTBOX_EXCHANGE ('' is AMQP's default).")
    routing_key = models.CharField(max_length=255, blank=True, default="",
                                   help_text="Routing key when it differs from the topic (Celery tasks: the queue).")
    key = models.CharField(max_length=255, null=True, blank=True,
                           help_text="Ordering key: messages with the same key are published in write order.")
    seq = models.BigIntegerField(null=True, blank=True,
                                 help_text="Position of this message within its key (1, 2, ...); empty without key.")
    payload = models.JSONField(encoder=DjangoJSONEncoder, help_text="Message body, sent as JSON.")
    headers = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder,
                               help_text="Application headers sent with the message.")
    correlation_id = models.CharField(max_length=255, blank=True, default="",
                                      help_text="Conversation this message belongs to (AMQP correlation_id).")
    causation_id = models.CharField(max_length=255, blank=True, default="",
                                    help_text="Id of the message whose handling caused this one.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING,
                              help_text="pending until the broker confirmed it; dead after the last attempt.")
    attempts = models.PositiveIntegerField(default=0, help_text="Failed publish attempts so far.")
    created_at = models.DateTimeField(default=timezone.now, help_text="When the message was written.")
    available_at = models.DateTimeField(default=timezone.now,
                                        help_text="Not published before this time (delay and back-off).")
    expires_at = models.DateTimeField(null=True, blank=True,
                                      help_text="Not published, and not applied by consumers, after this time.")
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When the broker confirmed the message.")
    lease_until = models.DateTimeField(null=True, blank=True,
                                       help_text="A relay owns this message until then (claimed, in flight).")
    lease_owner = models.CharField(max_length=64, blank=True, default="", help_text="Token of the claiming relay.")
    last_error = models.TextField(blank=True, default="", help_text="Why the last publish attempt failed.")

    objects = OutboxMessageQuerySet.as_manager()

    class Meta:
        verbose_name = "outbox message"
        indexes = [
            # The relay's scan: only pending rows, in due order (stays small however many rows are kept).
            models.Index(fields=["available_at", "created_at"], name="outbox_pending_due",
                         condition=Q(status="pending")),
            # The head-of-key check in claimable(): earlier unsent messages of the same key. Rows without a
            # key are left out of both key indexes: most messages have none, and every index costs each insert.
            models.Index(fields=["key", "seq"], name="outbox_unsent_key",
                         condition=Q(status__in=["pending", "dead"], key__isnull=False)),
            models.Index(fields=["status", "created_at"], name="outbox_status_created"),
            models.Index(fields=["correlation_id"], name="outbox_correlation"),
            # The admin: its list, newest first, and its search by ordering key, on tables of millions of rows.
            models.Index(fields=["created_at"], name="outbox_created"),
            models.Index(fields=["key"], name="outbox_key", condition=Q(key__isnull=False)),
        ]
        permissions = [
            ("retry_outboxmessage", "Can retry outbox messages"),
            ("discard_outboxmessage", "Can discard outbox messages"),
            ("replay_outboxmessage", "Can replay sent outbox messages"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.id}"


class OutboxKey(models.Model):
    """The last sequence number handed out per ordering key.

    Writers of the same key serialize on this row until they commit, so a key's sequence numbers
    follow commit order: that is what makes "the order they were written" well defined.
    """

    key = models.CharField(max_length=255, primary_key=True, help_text="Ordering key.")
    last_seq = models.BigIntegerField(default=0, help_text="Highest sequence number given out for the key.")

    class Meta:
        verbose_name = "outbox ordering key"

    def __str__(self) -> str:
        return f"{self.key} @ {self.last_seq}"


class BreakerState(models.Model):
    """Last known state of a circuit breaker (the relay's, or an inbox handler's), written on each change
    so that other processes (admin, ``messaging_status``) can show it."""

    name = models.CharField(max_length=200, primary_key=True, help_text="'outbox-relay' or the handler's name.")
    state = models.CharField(max_length=16, help_text="closed, open or half_open.")
    failures = models.PositiveIntegerField(default=0, help_text="Consecutive failures when it changed.")
    reason = models.TextField(blank=True, default="", help_text="Last failure.")
    changed_at = models.DateTimeField(default=timezone.now, help_text="When the state changed.")
    updated_at = models.DateTimeField(default=timezone.now, help_text="When its process last stored it.")
    stale_at = models.DateTimeField(null=True, blank=True, help_text=(
        "After this an open or half-open state is no longer vouched for (its process would have stored a probe "
        "by then): shown as unknown. Empty when closed."))

    class Meta:
        verbose_name = "circuit breaker"

    def __str__(self) -> str:
        return f"{self.name}: {self.state}"
