"""Seed 001: a password change, and the consumers that must each apply it once."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from demo_project.accounts.models import Account, PasswordHistoryEntry
from demo_project.accounts.passwords import PASSWORD_CHANGED, change_password
from demo_project.demo.driver import Driver
from demo_project.mailprovider import incidents
from demo_project.mailprovider.models import ApiCall, Email, Outcome
from inbox.models import InboxMessage, Status
from outbox import operations
from outbox.models import OutboxMessage

KEY = "passwords"
TITLE = "1. Password change: one event, two consumers, an e-mail that must go out once"
STORY = ("seed 001 · the new hash and PasswordChanged commit together; password history and the security "
         "e-mail apply it once each")
TOPICS = ("accounts.#",)
HANDLERS = ("accounts.password-history", "accounts.security-email")
INITIAL_HASH = "!"  # an unusable password, until the demo sets one


class SimulatedCrash(Exception):
    """The process died between the writes and the commit."""


def run(driver: Driver) -> None:
    alice, bob, carol = (Account.objects.create(username=name, email=f"{name}@example.com", password_hash=INITIAL_HASH)
                         for name in ("alice", "bob", "carol"))
    first = _change(driver, alice, "correct horse battery staple")
    _crash_before_commit(driver, bob)
    with driver.action("incident", "mail provider", "the next response for carol@example.com will be lost"):
        incidents.lose_next_response(carol.email)
    second = _change(driver, carol, "Tr0ub4dor&3")
    driver.until(lambda: _applied([first, second]), "both consumers to apply both password changes")
    _publish_again(driver, first)


def _change(driver: Driver, account: Account, password: str) -> OutboxMessage:
    with driver.action("commit", "accounts", f"{account.username} changes the password: the new hash and "
                       f"{PASSWORD_CHANGED} commit in one transaction"):
        event = change_password(account, password)
        driver.labels.name(event.id, account.username)
    return event


def _crash_before_commit(driver: Driver, account: Account) -> None:
    started = timezone.now()
    try:
        with transaction.atomic():
            change_password(account, "hunter2")
            raise SimulatedCrash
    except SimulatedCrash:
        pass
    account.refresh_from_db()
    unchanged = account.password_hash == INITIAL_HASH
    driver.note("rollback", "accounts", f"{account.username} changes the password, the process dies before the "
                f"commit: hash {'unchanged' if unchanged else 'CHANGED'}, no event, nothing to send", at=started)


def _applied(events: list[OutboxMessage]) -> bool:
    ids = [str(e.id) for e in events]
    done = InboxMessage.objects.filter(message_id__in=ids, handler__in=HANDLERS, status=Status.DONE).count()
    return done == len(ids) * len(HANDLERS)


def _publish_again(driver: Driver, event: OutboxMessage) -> None:
    """The same message again, same id: what a relay crash between publish and confirm produces."""
    sent_at = OutboxMessage.objects.get(pk=event.pk).sent_at
    before = _traces(event)
    with driver.action("redeliver", "demo", "alice's event is sent again with the same message id "
                       "(outbox.operations.replay; a relay crash after publishing does the same)"):
        driver.redelivered[KEY] += operations.replay(OutboxMessage.objects.filter(pk=event.pk))
    driver.until(lambda: OutboxMessage.objects.sent().filter(pk=event.pk).exclude(sent_at=sent_at).exists(),
                 "the relay to publish alice's event again")
    driver.settle()
    after = _traces(event)
    driver.note("checked", "demo", f"after the second delivery alice's event still has {after[0]} history row and "
                f"{after[1]} e-mail, inbox rows {'untouched' if after == before else 'CHANGED'}")


def _traces(event: OutboxMessage) -> tuple[int, int, list[Any]]:
    """What applying the event leaves behind: history rows, e-mails, and its inbox rows as they stand."""
    message_id = str(event.id)
    rows = InboxMessage.objects.filter(message_id=message_id).order_by("handler")
    return (PasswordHistoryEntry.objects.filter(message_id=message_id).count(),
            Email.objects.filter(reference=message_id).count(),
            list(rows.values_list("handler", "status", "attempts", "processed_at")))


def effects() -> list[tuple[str, list[Any]]]:
    history = PasswordHistoryEntry.objects.values_list("message_id", flat=True)
    emails = Email.objects.filter(idempotency_key__startswith="password-changed:").values_list("reference", flat=True)
    return [("password history rows per event", list(history)), ("security e-mails per event", list(emails))]


def facts() -> tuple[dict[str, Any], list[str], list[str]]:
    changed = Account.objects.filter(password_changed_at__isnull=False).count()
    untouched = Account.objects.filter(username="bob", password_hash=INITIAL_HASH).count()
    calls = ApiCall.objects.filter(idempotency_key__startswith="password-changed:")
    numbers = {"password_changes_committed": changed, "password_changes_rolled_back": untouched,
               "history_rows": PasswordHistoryEntry.objects.count(),
               "emails_sent": Email.objects.filter(idempotency_key__startswith="password-changed:").count(),
               "provider_calls": calls.count(),
               "provider_duplicates": calls.filter(outcome=Outcome.DUPLICATE).count()}
    lines = [f"password changes committed {changed}, crashed before commit {untouched} (no hash, no event); "
             f"history rows {numbers['history_rows']}; e-mails sent {numbers['emails_sent']} from "
             f"{numbers['provider_calls']} provider calls ({numbers['provider_duplicates']} answered from the "
             "idempotency key: the lost response was retried, nothing sent twice)"]
    problems = [] if untouched == 1 else ["bob's rolled-back password change left a trace"]
    leaked = OutboxMessage.objects.filter(Q(payload__username="bob")).count()
    if leaked:
        problems.append(f"{leaked} event(s) of bob's rolled-back change exist")
    return numbers, lines, problems
