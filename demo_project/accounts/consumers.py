"""What the two consumers of PasswordChanged do. Each runs inside the inbox's transaction."""

from __future__ import annotations

from typing import Any

from demo_project.accounts.models import PasswordHistoryEntry
from demo_project.mailprovider import api as mail_api


def record_history(event: dict[str, Any], message_id: str) -> PasswordHistoryEntry:
    """Append the new hash to the account's password history."""
    return PasswordHistoryEntry.objects.create(
        account_id=event["account_id"], username=event["username"], password_hash=event["password_hash"],
        changed_at=event["changed_at"], message_id=message_id)


def send_security_notice(event: dict[str, Any], message_id: str) -> str:
    """E-mail the account owner; returns the provider's e-mail id.

    At least once, never twice: the idempotency key is derived from the event id, so a retry after
    a lost response (or any repeat) gets the first e-mail back from the provider.
    """
    return mail_api.send(
        idempotency_key=f"password-changed:{message_id}", to=event["email"], reference=message_id,
        subject="Your password was changed",
        body=f"Hello {event['username']}, your password was changed at {event['changed_at']}. "
             "If it was not you, reset it now and contact us.")
