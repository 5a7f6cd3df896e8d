"""Screenshots of the admin for the docs: the outbox list with its summary, the dead inbox messages, a dead
inbox message's page, an outbox message's page, the dead groups page and an action's confirmation page,
written to docs/screenshots/.

    .venv/bin/python scripts/admin_screenshots.py [--database-url sqlite:////tmp/shots.sqlite3]

It migrates a scratch database (a fresh SQLite file unless told otherwise; never point it at data you
keep: it adds sample messages), fills it with sample messages, starts ``runserver`` on a free port and
drives Chromium (/usr/bin/chromium) through Playwright.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=f"sqlite:///{tempfile.mkdtemp()}/shots.sqlite3")
    args = parser.parse_args()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "demo_project.settings", "DATABASE_URL": args.database_url,
           "BROKER_URL": "memory://"}
    os.environ.update(env)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    ids = seed()
    port = free_port()
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
                              cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}/admin/login/")
        shoot(f"http://127.0.0.1:{port}", ids)
    finally:
        server.terminate()
        server.wait(10)


def seed() -> dict[str, str]:
    """Sample messages in every status, three groups of dead inbox messages with real tracebacks, and the
    links between them (a message, the inbox rows that took it, the fault it caused). Returns ids to visit."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from outbox.models import OutboxMessage

    User.objects.filter(username="admin").delete()
    User.objects.create_superuser("admin", "admin@example.com", "admin")
    now = timezone.now()
    topics = ["orders.placed", "orders.paid", "invoices.issued", "shipments.dispatched", "customers.updated"]
    rows = []
    for n in range(400):
        status = "sent" if n % 23 else "pending"
        status = "dead" if n % 61 == 5 else status
        created = now - timedelta(minutes=7 * n + 3)
        rows.append(OutboxMessage(
            topic=topics[n % len(topics)], key=f"order-{1000 + n // 3}", seq=n % 3 + 1, status=status,
            payload={"order_id": 1000 + n // 3, "total": f"{19 + n % 70}.90", "currency": "EUR",
                     "lines": [{"sku": f"SKU-{n % 17:03}", "qty": 1 + n % 3}]},
            headers={"tenant": "acme", "source-version": "2.14.0"}, created_at=created,
            available_at=created + timedelta(minutes=9) if status != "sent" else created,
            sent_at=created + timedelta(milliseconds=40) if status == "sent" else None,
            attempts={"sent": 0, "pending": 3, "dead": 10}[status],
            last_error={"sent": "", "pending": "unroutable: NO_ROUTE (312) for exchange events, key "
                        f"{topics[n % len(topics)]}", "dead": "broker refused: NOT_FOUND - no exchange 'billing' "
                        "in vhost '/'\nafter 10 attempts"}[status]))
    OutboxMessage.objects.bulk_create(rows)
    for row in rows:
        row.correlation_id = str(row.id)
    OutboxMessage.objects.bulk_update(rows, ["correlation_id"])
    dead = dead_inbox(rows[1:40:2], now)
    fault = OutboxMessage.objects.create(
        topic=f"{dead.topic}.fault", key=dead.key,
        payload={"message_id": dead.message_id, "error_type": dead.error_type},
        correlation_id=dead.correlation_id, causation_id=dead.message_id, status="sent", sent_at=now)
    return {"dead_inbox": str(dead.pk), "outbox": str(rows[1].id), "fault": str(fault.id),
            "dead_outbox": str(next(r.id for r in rows if r.status == "dead"))}


def dead_inbox(sources: list[Any], now: datetime) -> Any:
    """Inbox rows for ``sources``: done for one handler, dead for others (three kinds of failure)."""
    from inbox.failures import describe
    from inbox.models import InboxMessage

    failures = [_failure(kind) for kind in ("declined", "missing", "timeout")]
    handlers = ["billing.charge_order", "shipping.reserve_stock", "crm.sync_customer"]
    last = None
    for n, source in enumerate(sources):
        kind = 0 if n % 3 else (1 if n % 2 else 2)
        failure = describe(failures[kind], 16 * 1024)
        received = now - timedelta(minutes=40 - n)
        common = {"message_id": str(source.id), "topic": source.topic, "key": source.key, "sequence": source.seq,
                  "payload": source.payload, "headers": source.headers, "correlation_id": source.correlation_id}
        InboxMessage.objects.create(handler="notify.email_customer", status="done", attempts=1, received_at=received,
                                    processed_at=received, **common)
        history = [{"at": (received + timedelta(seconds=10 * 2 ** i)).isoformat(), "event": "failed", "attempt": i + 1,
                    "error": f"{failure.error_type}: {failure.error_message}"} for i in range(4)]
        last = InboxMessage.objects.create(
            handler=handlers[kind], status="dead", attempts=9, received_at=received, processed_at=received,
            first_failed_at=received, last_failed_at=received + timedelta(minutes=12), error_type=failure.error_type,
            error_message=failure.error_message, traceback=failure.traceback, error_group=failure.group,
            history=history, **common)
    return last


class PaymentDeclined(Exception):
    """The payment provider refused the charge."""


def _failure(kind: str) -> Exception:
    def charge(order: dict[str, Any]) -> None:
        raise PaymentDeclined(f"card declined for order {order['order_id']}: insufficient_funds")

    def reserve(order: dict[str, Any]) -> Any:
        return order["warehouse"]

    def sync(order: dict[str, Any]) -> None:
        raise TimeoutError("crm.example.com did not answer within 5.0s")

    try:
        {"declined": charge, "missing": reserve, "timeout": sync}[kind]({"order_id": 1042})
    except Exception as exc:  # noqa: BLE001 - we want the exception with its traceback
        return exc
    raise AssertionError("unreachable")


def shoot(base: str, ids: dict[str, str]) -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        # The admin's app list sidebar closed, as the "«" toggle leaves it: more room for the pages themselves.
        page.add_init_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
        page.goto(f"{base}/admin/login/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", "admin")
        page.click("input[type=submit]")
        page.goto(f"{base}/admin/outbox/outboxmessage/")
        page.screenshot(path=OUT / "admin_outbox_changelist.png")
        page.goto(f"{base}/admin/inbox/inboxmessage/?status__exact=dead")
        page.screenshot(path=OUT / "admin_inbox_changelist_dead.png")
        page.goto(f"{base}/admin/inbox/inboxmessage/{ids['dead_inbox']}/change/")
        page.screenshot(path=OUT / "admin_inbox_detail.png", full_page=True)
        page.goto(f"{base}/admin/outbox/outboxmessage/{ids['outbox']}/change/")
        page.screenshot(path=OUT / "admin_outbox_detail.png", full_page=True)
        page.goto(f"{base}/admin/inbox/inboxmessage/dead-groups/")
        page.screenshot(path=OUT / "admin_dead_groups.png", full_page=True)
        page.goto(f"{base}/admin/outbox/outboxmessage/?status__exact=dead")
        page.check("#action-toggle")
        page.select_option("select[name=action]", "discard")
        page.click("button[name=index]")
        page.screenshot(path=OUT / "admin_discard_confirmation.png", full_page=True)
        browser.close()
    print(f"screenshots in {OUT}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


if __name__ == "__main__":
    main()
