"""The write side of the accounts service."""

from __future__ import annotations

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

import outbox
from demo_project.accounts.models import Account
from outbox.models import OutboxMessage

PASSWORD_CHANGED = "accounts.password_changed"


def change_password(account: Account, new_password: str) -> OutboxMessage:
    """Store the new hash and the PasswordChanged event in one transaction; returns the event.

    The event carries the salted hash (for the history's reuse check), never the password. If the
    caller's transaction rolls back, neither the hash nor the event was ever written.
    """
    with transaction.atomic():
        account.password_hash = make_password(new_password, hasher="scrypt")  # a fast one of Django's hashers
        account.password_changed_at = timezone.now()
        account.save(update_fields=["password_hash", "password_changed_at"])
        return outbox.publish(PASSWORD_CHANGED, {
            "account_id": account.pk, "username": account.username, "email": account.email,
            "password_hash": account.password_hash, "changed_at": account.password_changed_at,
        }, key=f"account:{account.pk}")
