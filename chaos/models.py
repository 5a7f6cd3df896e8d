"""What the producers committed and what the handlers applied: the two sides the checker compares."""

from __future__ import annotations

from django.db import models


class LedgerEntry(models.Model):
    """One message a producer wrote, inserted in the same transaction: a row here means "committed"."""

    uid = models.CharField(max_length=32, primary_key=True, help_text="Unique id carried in the payload.")
    message_id = models.UUIDField(help_text="The outbox message id.")
    key = models.CharField(max_length=64, help_text="Ordering key.")
    seq = models.BigIntegerField(help_text="Sequence number the outbox gave the message within its key.")
    producer = models.PositiveSmallIntegerField(help_text="Index of the producer process.")
    written_at = models.DateTimeField(auto_now_add=True, help_text="When the producer wrote it.")

    class Meta:
        verbose_name = "ledger entry"

    def __str__(self) -> str:
        return f"{self.uid} {self.key}#{self.seq}"


class Effect(models.Model):
    """One application of a message by a handler, written in the handler's transaction (duplicates show)."""

    handler = models.CharField(max_length=64, help_text="Handler name.")
    uid = models.CharField(max_length=32, db_index=True, help_text="Unique id from the payload.")
    message_id = models.CharField(max_length=64, help_text="Message id on the wire.")
    key = models.CharField(max_length=64, null=True, help_text="Ordering key header.")
    seq = models.BigIntegerField(null=True, help_text="Sequence header.")
    applied_at = models.DateTimeField(auto_now_add=True, help_text="When the handler ran.")

    class Meta:
        verbose_name = "effect"

    def __str__(self) -> str:
        return f"{self.handler} {self.uid}"
