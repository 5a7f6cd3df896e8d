"""The outbox admin through Django's test client: lists, filters, search, detail page, actions, permissions."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.admin.templatetags.admin_list import result_headers
from django.test import override_settings
from django.utils import timezone

from inbox.models import InboxMessage
from outbox.models import BreakerState, OutboxMessage, Status
from tests.admin_support import (
    OUTBOX_LIST,
    action_choices,
    breadcrumbs,
    change_url,
    client_for,
    confirm_action,
    dead_outbox,
    inbox_message,
    outbox_message,
    run_action,
    staff,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

VIEW = "outbox.view_outboxmessage"



@pytest.fixture
def operator():
    """A staff user who may look at and act on outbox messages (but is no superuser)."""
    return client_for(staff(VIEW, "outbox.retry_outboxmessage", "outbox.discard_outboxmessage",
                            "outbox.replay_outboxmessage"))


@pytest.fixture
def viewer():
    """A staff user who may only look."""
    return client_for(staff(VIEW))


# -- the list -------------------------------------------------------------------------------------
def test_changelist__columns_and_one_line_error(operator):
    dead_outbox(topic="orders.paid", key="order-7", last_error="broker refused\nNOT_FOUND - no exchange 'x'")
    html = operator.get(OUTBOX_LIST).content.decode()
    assert "orders.paid" in html and "order-7" in html
    assert 'class="msg-status msg-status-dead"' in html
    assert "broker refused NOT_FOUND - no exchange" in html  # newlines folded into one line
    for column in ("attempts", "age", "next attempt", "last error"):
        assert column in html.lower()


def test_changelist__summary_counts_oldest_pending_dead_last_hour_and_stuck(operator):
    outbox_message(status=Status.PENDING, age=2 * 3600)
    outbox_message(status=Status.PENDING)
    outbox_message(status=Status.SENT)
    dead_outbox()  # its last attempt was due just now
    dead_outbox(available_at=timezone.now() - timedelta(hours=3))
    response = operator.get(OUTBOX_LIST)
    summary = response.context["summary"]
    counts = {item.status: item.count.value for item in summary.counts}
    assert counts == {"pending": 2, "sent": 1, "dead": 2, "expired": 0, "discarded": 0}
    assert summary.oldest == "2h"
    assert summary.dead_last_hour.value == 1
    assert summary.stuck.value == 1  # pending for two hours, past OUTBOX_STUCK_AFTER (5 minutes)
    assert 'id="msg-summary"' in response.content.decode()


def test_changelist__no_full_count_and_exact_count_when_small(operator):
    for _ in range(3):
        outbox_message()
    response = operator.get(OUTBOX_LIST)
    cl = response.context["cl"]
    assert cl.result_count == 3 and cl.paginator.count_is_exact
    assert cl.full_result_count is None  # show_full_result_count = False


def test_filter__status(operator):
    dead = dead_outbox()
    sent = outbox_message(status=Status.SENT)
    shown = list(operator.get(OUTBOX_LIST, {"status__exact": "dead"}).context["cl"].result_list)
    assert shown == [dead] and sent not in shown


def test_filter__topic_offers_recent_topics_and_filters(operator):
    paid = outbox_message(topic="orders.paid")
    outbox_message(topic="orders.placed")
    response = operator.get(OUTBOX_LIST, {"topic": "orders.paid"})
    assert list(response.context["cl"].result_list) == [paid]
    [topic_filter] = [f for f in response.context["cl"].filter_specs if getattr(f, "parameter_name", "") == "topic"]
    assert {value for value, _ in topic_filter.lookup_choices} == {"orders.paid", "orders.placed"}


def test_filter__stuck_is_old_pending_or_expired_lease(operator):
    old = outbox_message(status=Status.PENDING, age=3600)
    lease_lost = outbox_message(status=Status.PENDING, lease_until=timezone.now() - timedelta(seconds=5),
                                lease_owner="dead-relay")
    outbox_message(status=Status.PENDING)  # fresh: not stuck
    outbox_message(status=Status.SENT, age=3600)  # old but sent: not stuck
    shown = set(operator.get(OUTBOX_LIST, {"stuck": "yes"}).context["cl"].result_list)
    assert shown == {old, lease_lost}
    with override_settings(OUTBOX_STUCK_AFTER=7200):
        assert set(operator.get(OUTBOX_LIST, {"stuck": "yes"}).context["cl"].result_list) == {lease_lost}


def test_search__exact_id_key_and_correlation_id_only(operator):
    target = outbox_message(key="order-42", correlation_id="conv-9")
    outbox_message(key="order-421", correlation_id="conv-99")

    def found(term):
        return list(operator.get(OUTBOX_LIST, {"q": term}).context["cl"].result_list)

    assert found(str(target.id)) == [target]
    assert found("order-42") == [target]
    assert found("conv-9") == [target]
    assert found("order-4") == []  # no LIKE '%...%'
    assert found(str(target.id)[:8]) == []


def test_sorting__only_by_age(operator):
    cl = operator.get(OUTBOX_LIST).context["cl"]
    assert [header["text"] for header in result_headers(cl) if header["sortable"]] == ["age"]


# -- the detail page ------------------------------------------------------------------------------
def test_detail__pretty_payload_headers_and_full_error(operator):
    message = dead_outbox(payload={"order": 7, "lines": [{"sku": "A"}]}, headers={"tenant": "acme"},
                          last_error="first line\nsecond line")
    html = operator.get(change_url(message)).content.decode()
    message.refresh_from_db()  # the key order jsonb keeps
    assert f'<pre class="msg-pre">{json.dumps(message.payload, indent=2)}</pre>'.replace('"', "&quot;").replace(
        "&quot;msg-pre&quot;", '"msg-pre"') in html
    assert '<pre class="msg-pre">{\n  &quot;tenant&quot;: &quot;acme&quot;\n}</pre>' in html
    assert "first line\nsecond line" in html


def test_detail__links_to_caused_messages_cause_and_inbox_rows(operator):
    message = outbox_message(status=Status.SENT)
    received = inbox_message(message_id=str(message.id), correlation_id=message.correlation_id)
    caused = outbox_message(topic="invoices.issued", correlation_id=message.correlation_id,
                            causation_id=str(message.id))
    unrelated = outbox_message(topic="unrelated.topic")
    html = operator.get(change_url(message)).content.decode()
    assert f"/admin/outbox/outboxmessage/{caused.pk}/change/" in html
    assert f"/admin/inbox/inboxmessage/{received.pk}/change/" in html
    assert str(unrelated.pk) not in html
    caused_page = operator.get(change_url(caused)).content.decode()
    assert f"/admin/outbox/outboxmessage/{message.pk}/change/" in caused_page  # caused by


def test_detail__read_only_with_operation_buttons_for_its_status(operator):
    html = operator.get(change_url(dead_outbox())).content.decode()
    assert 'name="op-retry"' in html and 'name="op-discard"' in html and 'name="op-replay"' not in html
    assert 'name="_save"' not in html
    sent_html = operator.get(change_url(outbox_message(status=Status.SENT))).content.decode()
    assert 'name="op-replay"' in sent_html and 'name="op-retry"' not in sent_html


# -- read-only ------------------------------------------------------------------------------------
def test_read_only__no_add_change_or_delete_even_for_a_superuser():
    client = client_for(staff(superuser=True))
    message = dead_outbox(payload={"a": 1})
    assert client.get(f"{OUTBOX_LIST}add/").status_code == 403
    assert client.post(change_url(message), {"topic": "changed", "payload": "{}"}).status_code == 403
    assert client.post(f"{OUTBOX_LIST}{message.pk}/delete/", {"post": "yes"}).status_code == 403
    assert "delete_selected" not in action_choices(client.get(OUTBOX_LIST).content.decode())
    message.refresh_from_db()
    assert message.topic == "orders.placed" and message.payload == {"a": 1}


# -- permissions ----------------------------------------------------------------------------------
def test_view_only__no_actions_offered_and_no_buttons(viewer):
    message = dead_outbox()
    assert viewer.get(OUTBOX_LIST).status_code == 200
    assert action_choices(viewer.get(OUTBOX_LIST).content.decode()) == set()
    assert 'name="op-retry"' not in viewer.get(change_url(message)).content.decode()


@pytest.mark.parametrize("action", ["retry", "discard", "replay"])
def test_view_only__posting_an_action_directly_is_refused(viewer, action):
    message = dead_outbox() if action != "replay" else outbox_message(status=Status.SENT)
    before = (message.status, message.attempts)
    response = confirm_action(viewer, OUTBOX_LIST, action, [message.pk], reason="because")
    assert response.status_code == 403
    message.refresh_from_db()
    assert (message.status, message.attempts) == before
    assert not LogEntry.objects.exists()


def test_permission_is_per_action():
    client = client_for(staff(VIEW, "outbox.retry_outboxmessage"))
    assert action_choices(client.get(OUTBOX_LIST).content.decode()) == {"retry"}
    message = dead_outbox()
    confirm_action(client, OUTBOX_LIST, "discard", [message.pk], reason="no")
    message.refresh_from_db()
    assert message.status == Status.DEAD


# -- actions --------------------------------------------------------------------------------------
def test_retry__asks_first_then_makes_due_now_and_logs(operator):
    message = dead_outbox(available_at=timezone.now() - timedelta(hours=1))
    page = run_action(operator, OUTBOX_LIST, "retry", [message.pk])
    assert page.status_code == 200 and "are you sure" in page.content.decode()
    message.refresh_from_db()
    assert message.status == Status.DEAD  # nothing happens before the confirmation

    response = confirm_action(operator, OUTBOX_LIST, "retry", [message.pk])
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.status == Status.PENDING and message.attempts == 0
    assert message.available_at > timezone.now() - timedelta(seconds=5)
    entry = LogEntry.objects.get()
    assert entry.object_id == str(message.pk) and "Retry now" in entry.change_message


def test_discard__needs_a_reason_then_keeps_and_marks(operator):
    message = dead_outbox()
    page = confirm_action(operator, OUTBOX_LIST, "discard", [message.pk], reason="  ")
    assert page.status_code == 200 and "This field is required" in page.content.decode()
    message.refresh_from_db()
    assert message.status == Status.DEAD

    confirm_action(operator, OUTBOX_LIST, "discard", [message.pk], reason="customer cancelled")
    message.refresh_from_db()
    assert message.status == Status.DISCARDED and "customer cancelled" in message.last_error
    assert OutboxMessage.objects.filter(pk=message.pk).exists()
    assert "customer cancelled" in LogEntry.objects.get(object_id=str(message.pk)).change_message


def test_replay__publishes_a_sent_message_again_with_the_same_id(operator):
    message = outbox_message(status=Status.SENT, sent_at=timezone.now())
    pending = outbox_message(status=Status.PENDING)
    confirm_action(operator, OUTBOX_LIST, "replay", [message.pk, pending.pk])
    message.refresh_from_db()
    assert message.status == Status.PENDING and message.attempts == 0
    assert LogEntry.objects.filter(object_id=str(message.pk)).exists()
    assert not LogEntry.objects.filter(object_id=str(pending.pk)).exists()  # not sent: left alone, not logged


def test_all_matching_the_filter__acts_beyond_the_page_and_logs_once(operator):
    dead = [dead_outbox(topic="orders.paid") for _ in range(60)]  # more than a page (50)
    other_topic = dead_outbox(topic="orders.placed")
    sent = outbox_message(topic="orders.paid", status=Status.SENT)
    url = f"{OUTBOX_LIST}?status__exact=dead&topic=orders.paid"
    page = operator.post(url, {"action": "retry", "index": "0", "select_across": "1",
                               "_selected_action": [str(m.pk) for m in dead[:50]]})
    html = page.content.decode()
    assert "all 60 outbox messages matching the current filter" in html
    assert 'name="select_across" value="1"' in html

    operator.post(url, {"action": "retry", "select_across": "1", "confirm": "yes",
                        "_selected_action": [str(m.pk) for m in dead[:50]]})
    assert OutboxMessage.objects.filter(pk__in=[m.pk for m in dead], status=Status.PENDING).count() == 60
    other_topic.refresh_from_db()
    sent.refresh_from_db()
    assert other_topic.status == Status.DEAD and sent.status == Status.SENT
    entry = LogEntry.objects.get()
    assert entry.object_id is None
    assert "60 outbox messages matching status__exact=dead, topic=orders.paid" in entry.object_repr


def test_confirmation_page__breadcrumbs_lead_back_to_the_list(operator):
    html = run_action(operator, OUTBOX_LIST, "discard", [dead_outbox().pk]).content.decode()
    assert breadcrumbs(html) == [("/admin/", "Home"), ("/admin/outbox/", "Outbox"), (OUTBOX_LIST, "Outbox messages"),
                                 ("", "Discard: are you sure?")]


def test_button_on_the_detail_page__returns_there_after_confirmation(operator):
    message = dead_outbox()
    page = run_action(operator, OUTBOX_LIST, "retry", [message.pk], _return_to=change_url(message))
    assert f'name="_return_to" value="{change_url(message)}"' in page.content.decode()
    response = confirm_action(operator, OUTBOX_LIST, "retry", [message.pk], _return_to=change_url(message))
    assert response.status_code == 302 and response["Location"] == change_url(message)
    offsite = confirm_action(operator, OUTBOX_LIST, "retry", [message.pk], _return_to="https://evil.example/")
    assert offsite["Location"] == OUTBOX_LIST


# -- circuit breakers -----------------------------------------------------------------------------
def test_breaker_states__listed_read_only():
    BreakerState.objects.create(name="outbox-relay", state="open", failures=3, reason="connection refused")
    client = client_for(staff(superuser=True))
    html = client.get("/admin/outbox/breakerstate/").content.decode()
    assert "outbox-relay" in html and "connection refused" in html
    assert client.get("/admin/outbox/breakerstate/add/").status_code == 403
    assert InboxMessage.objects.count() == 0
