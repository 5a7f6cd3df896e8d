"""The admin in a real browser (Chromium through Playwright) against a live server, PostgreSQL and RabbitMQ:
an operator finds a dead outbox message, retries it, and sees the relay send it; a viewer cannot retry."""

from __future__ import annotations

import pytest
from django.db import connections
from playwright.sync_api import Browser, Page, expect, sync_playwright

from outbox.ids import short
from outbox.relay import Relay
from scripts.check_services import CHROMIUM
from tests.admin_support import OUTBOX_LIST, dead_outbox, outbox_message, staff

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(autouse=True)
def sync_orm_beside_playwright(monkeypatch):
    """Playwright's sync API runs an event loop in this thread; Django then refuses ORM calls here unless told."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        # ORM calls made inside Playwright's sync context get a connection of their own that pytest-django's
        # teardown does not see (Django keeps connections per execution context): close it here, or the test
        # database cannot be dropped at the end of the session.
        connections.close_all()


def logged_in(browser: Browser, base_url: str, username: str) -> Page:
    page = browser.new_page()
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(username)
    return page


def test_operator__filters_dead_opens_one_retries_it_and_sees_it_sent(browser, live_server, bound_queue):
    queue = bound_queue("orders.#")
    dead = dead_outbox(topic="orders.placed", payload={"order": 7}, key="order-7")
    outbox_message(status="sent", topic="orders.paid")
    page = logged_in(browser, live_server.url, staff(superuser=True, password="pw").username)

    page.goto(f"{live_server.url}{OUTBOX_LIST}")
    expect(page.locator("#msg-summary")).to_contain_text("dead in the last hour")
    page.locator("#changelist-filter").get_by_role("link", name="dead", exact=True).click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    assert "Retry now (dead or pending: due now)" in page.locator("select[name=action] option").all_text_contents()

    page.get_by_role("link", name=short(dead.id)).click()
    expect(page.locator("pre.msg-pre").first).to_contain_text('"order": 7')
    expect(page.locator(".field-status .readonly")).to_have_text("dead")
    page.click("button[name=op-retry]")
    expect(page.locator("h1")).to_have_text("Retry now: are you sure?")
    expect(page.locator("#msg-scope")).to_contain_text("1 of the 1 selected outbox message")
    page.get_by_role("button", name="Yes, retry now").click()

    expect(page.locator(".messagelist")).to_contain_text("1 outbox message retried.")
    expect(page.locator(".field-status .readonly")).to_have_text("pending")
    assert Relay().drain().sent == 1
    page.reload()
    expect(page.locator(".field-status .readonly")).to_have_text("sent")
    [received] = queue.take(1)
    assert received.message_id == str(dead.id)


def test_viewer__sees_dead_messages_but_has_no_retry(browser, live_server):
    dead = dead_outbox()
    page = logged_in(browser, live_server.url, staff("outbox.view_outboxmessage", password="pw").username)

    page.goto(f"{live_server.url}{OUTBOX_LIST}?status__exact=dead")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    options = page.locator("select[name=action] option").all_text_contents()  # no actions: no dropdown at all
    assert not any("Retry" in option for option in options)
    page.get_by_role("link", name=short(dead.id)).click()
    expect(page.locator("pre.msg-pre").first).to_be_visible()
    expect(page.locator("button[name=op-retry]")).to_have_count(0)
