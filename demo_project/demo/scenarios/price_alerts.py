"""Seed 003: price alerts over a flaky mail service.

Three acts: an outage (the handler's breaker opens, probes, closes; a flash alert expires while
it waits), a bug that hits some recipients (retries with back-off, then dead), and the fix (an
operator retries the dead message, which now succeeds).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils import timezone

from demo_project.alerts.models import Alert, Subscription
from demo_project.alerts.pricing import record_price_move
from demo_project.demo.driver import Driver
from demo_project.mailprovider import incidents
from demo_project.mailprovider.models import ApiCall, Email, Outcome
from inbox import operations
from inbox.models import InboxMessage, Status
from outbox.models import BreakerState, OutboxMessage

KEY = "alerts"
TITLE = "3. Price alerts over a flaky mail service: back-off, circuit breaker, dead letters, expiry"
STORY = ("seed 003 · retries with exponential back-off and jitter, a breaker through an outage, dead messages "
         "replayed after the provider's fix, alerts worthless after their time to live")
TOPICS = ("alerts.#",)
HANDLER = "alerts.send-price-alert"
FLASH_SECONDS = 0.5
LEGACY_DOMAIN = "legacy.example"


def run(driver: Driver) -> None:
    _subscribe()
    _outage(driver)
    _bug(driver)
    _fix_and_replay(driver)


def _subscribe() -> None:
    for name in ("dan", "eve", "fay", "gus", "hal", "ivy"):
        Subscription.objects.create(email=f"{name}@example.com", symbol="GLOBEX")
    Subscription.objects.create(email="jo@example.com", symbol="INITECH", threshold_pct=Decimal(2))
    Subscription.objects.create(email="kim@example.com", symbol="ACME")
    Subscription.objects.create(email=f"lou@{LEGACY_DOMAIN}", symbol="ACME")


def _outage(driver: Driver) -> None:
    """The outage lasts until the breaker has opened, one probe has failed (the breaker opens again, for
    twice as long) and the flash alert is worthless; then the provider recovers, the next probe
    succeeds and the held alerts go out. Ending it on those conditions, not after a fixed time, keeps
    the story the same however fast the machine or the worker processes are."""
    with driver.action("incident", "mail provider", "outage: every request gets 503 until it ends"):
        incidents.start_outage("upstream SMTP relay down")
    _move(driver, "GLOBEX", "50.00", "46.00")
    flash = _move(driver, "INITECH", "20.00", "20.90", worthless_after=FLASH_SECONDS)
    driver.until(_breaker_open, "the breaker of the price-alert handler to open")
    refused, worthless_at = _outage_calls(), max(m.expires_at or timezone.now() for m in flash)
    driver.until(lambda: _outage_calls() > refused and timezone.now() >= worthless_at,
                 "a probe to fail while the outage lasts, and the flash alert to become worthless")
    with driver.action("recovered", "mail provider", "the outage ends"):
        incidents.end_outage()
    driver.until(lambda: _finished(6, "GLOBEX") and _expired(flash), "the GLOBEX alerts to go out after the outage")


def _bug(driver: Driver) -> None:
    with driver.action("incident", "mail provider", f"a bug: requests for {LEGACY_DOMAIN} get 500 until fixed"):
        incidents.open_bug(LEGACY_DOMAIN, f"template crash for {LEGACY_DOMAIN} accounts")
    _move(driver, "ACME", "100.00", "107.00")
    driver.until(lambda: _finished(2, "ACME"), "the ACME alerts to be sent or dead")


def _fix_and_replay(driver: Driver) -> None:
    with driver.action("fix", "mail provider", f"fix deployed for {LEGACY_DOMAIN}"):
        incidents.deploy_fix(LEGACY_DOMAIN)
    with driver.action("replay", "operator", f"retries the dead messages of {HANDLER} (inbox.operations.retry, "
                       "as the admin action does)"):
        operations.retry(InboxMessage.objects.dead().filter(handler=HANDLER), actor="demo operator")
    driver.until(lambda: not InboxMessage.objects.dead().filter(handler=HANDLER).exists()
                 and _finished(2, "ACME"), "the replayed alert to be sent")
    driver.settle()


def _move(driver: Driver, symbol: str, old: str, new: str, *, worthless_after: float | None = None
          ) -> list[OutboxMessage]:
    flash = f" (flash alerts: worthless after {worthless_after} s)" if worthless_after else ""
    with driver.action("commit", "alerts", f"{symbol} {old} → {new}: the move and its alerts commit together{flash}"):
        messages = record_price_move(symbol, Decimal(old), Decimal(new), worthless_after=worthless_after)
        for message in messages:
            driver.labels.name(message.id, str(message.payload["email"]).partition("@")[0])
    return messages


def _breaker_open() -> bool:
    return BreakerState.objects.filter(name=HANDLER, state="open").exists()


def _outage_calls() -> int:
    return ApiCall.objects.filter(outcome=Outcome.UNAVAILABLE).count()


def _finished(count: int, symbol: str) -> bool:
    """All ``count`` alerts of the symbol are sent or dead (final) for the handler."""
    ids = list(Alert.objects.filter(price_move__symbol=symbol).values_list("message_id", flat=True))
    final = InboxMessage.objects.filter(handler=HANDLER, message_id__in=ids, status__in=[Status.DONE, Status.DEAD])
    return len(ids) == count and final.count() == count


def _expired(messages: list[OutboxMessage]) -> bool:
    ids = [str(m.id) for m in messages]
    in_outbox = OutboxMessage.objects.filter(id__in=ids, status="expired").count()
    in_inbox = InboxMessage.objects.filter(message_id__in=ids, status=Status.EXPIRED).count()
    return in_outbox + in_inbox == len(ids)


def effects() -> list[tuple[str, list[Any]]]:
    emails = Email.objects.filter(idempotency_key__startswith="price-alert:")
    return [("alert e-mails per alert", list(emails.values_list("reference", flat=True)))]


def facts() -> tuple[dict[str, Any], list[str], list[str]]:
    calls = ApiCall.objects.filter(idempotency_key__startswith="price-alert:")
    breaker = BreakerState.objects.filter(name=HANDLER).first()
    numbers = {
        "alerts_raised": Alert.objects.count(),
        "emails_sent": Email.objects.filter(idempotency_key__startswith="price-alert:").count(),
        "provider_calls": calls.count(),
        "provider_503": calls.filter(outcome=Outcome.UNAVAILABLE).count(),
        "provider_500": calls.filter(outcome=Outcome.SERVER_ERROR).count(),
        "breaker_now": breaker.state if breaker else "closed",
    }
    lines = [f"alerts raised {numbers['alerts_raised']}, e-mailed {numbers['emails_sent']}; provider calls "
             f"{numbers['provider_calls']} (503 outage {numbers['provider_503']}, 500 bug {numbers['provider_500']}); "
             f"breaker of {HANDLER} now {numbers['breaker_now']}"]
    problems = [] if numbers["breaker_now"] == "closed" else [f"the breaker of {HANDLER} is still {breaker}"]
    return numbers, lines, problems
