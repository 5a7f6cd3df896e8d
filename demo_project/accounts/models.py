"""The accounts service's table, and the password-history consumer's."""

from __future__ import annotations

from django.db import models


class Account(models.Model):
    """A user account of the accounts service."""

    username = models.CharField(max_length=150, unique=True, help_text="Login name.")
    email = models.EmailField(help_text="Where security notices go.")
    password_hash = models.CharField(max_length=255, help_text="Salted hash of the current password.")
    password_changed_at = models.DateTimeField(null=True, blank=True, help_text="Last password change.")

    def __str__(self) -> str:
        return self.username


class PasswordHistoryEntry(models.Model):
    """One past password of an account, kept by the password-history consumer to refuse reuse.

    Deliberately without a unique constraint on ``message_id``: if an event were applied twice,
    the demo's tally would see two rows for it. The inbox is what keeps it to one.
    """

    account_id = models.BigIntegerField(help_text="The account (an id: this consumer is another service).")
    username = models.CharField(max_length=150, help_text="Login name, for reading the history.")
    password_hash = models.CharField(max_length=255, help_text="The salted hash that became current.")
    changed_at = models.DateTimeField(help_text="When the password was changed.")
    message_id = models.CharField(max_length=255, db_index=True, help_text="The PasswordChanged event applied.")

    class Meta:
        verbose_name_plural = "password history"
        ordering = ["account_id", "changed_at"]

    def __str__(self) -> str:
        return f"{self.username} @ {self.changed_at:%Y-%m-%d %H:%M:%S}"
