"""The inbox admin through Django's test client: lists, filters, search, detail page, dead groups,
actions and permissions."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.utils import timezone

from inbox.models import InboxMessage, Status
from tests.admin_support import (
    DEAD_GROUPS,
    INBOX_LIST,
    action_choices,
    breadcrumbs,
    change_url,
    client_for,
    confirm_action,
    dead_inbox,
    inbox_message,
    outbox_message,
    run_action,
    staff,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

VIEW = "inbox.view_inboxmessage"


@pytest.fixture
def operator():
    return client_for(staff(VIEW, "inbox.retry_inboxmessage", "inbox.discard_inboxmessage"))


@pytest.fixture
def viewer():
    return client_for(staff(VIEW))


def shown(client, **params) -> set[InboxMessage]:
    return set(client.get(INBOX_LIST, params).context["cl"].result_list)


# -- the list -------------------------------------------------------------------------------------
def test_changelist__columns_and_summary(operator):
    dead_inbox(KeyError("warehouse"), handler="shipping.reserve", topic="orders.paid", key="order-3")
    inbox_message(status=Status.WAITING, received_at=timezone.now() - timedelta(minutes=30),
                  available_at=timezone.now() + timedelta(minutes=5))
    inbox_message()
    response = operator.get(INBOX_LIST)
    html = response.content.decode()
    assert "shipping.reserve" in html and "orders.paid" in html and "order-3" in html
    assert "KeyError: &#x27;warehouse&#x27;" in html
    assert "in 4m" in html or "in 5m" in html  # next attempt of the waiting one
    summary = response.context["summary"]
    counts = {item.status: item.count.value for item in summary.counts}
    assert counts["dead"] == 1 and counts["waiting"] == 1 and counts["done"] == 1
    assert summary.oldest == "30m" and summary.dead_last_hour.value == 1 and summary.stuck.value == 0
    assert 'id="dead-groups-link"' in html


def test_filters__status_handler_error_group_and_stuck(operator):
    boom = dead_inbox(ValueError("boom"), handler="billing.charge")
    other_error = dead_inbox(KeyError("k"), handler="billing.charge")
    other_handler = inbox_message(handler="crm.sync")
    stuck = inbox_message(status=Status.WAITING, received_at=timezone.now() - timedelta(hours=2))
    assert shown(operator, status__exact="dead") == {boom, other_error}
    assert shown(operator, handler="crm.sync") == {other_handler}
    assert shown(operator, error_group=boom.error_group) == {boom}
    assert shown(operator, stuck="yes") == {stuck}
    cl = operator.get(INBOX_LIST).context["cl"]
    groups = {f.parameter_name: f for f in cl.filter_specs if hasattr(f, "parameter_name")}
    assert {value for value, _ in groups["error_group"].lookup_choices} == {boom.error_group, other_error.error_group}
    assert dict(groups["error_group"].lookup_choices)[boom.error_group].startswith("ValueError (")
    assert {"billing.charge", "crm.sync"} <= {value for value, _ in groups["handler"].lookup_choices}


def test_search__exact_message_id_key_correlation(operator):
    target = inbox_message(key="order-42", correlation_id="conv-1")
    inbox_message(key="order-420")
    assert shown(operator, q=target.message_id) == {target}
    assert shown(operator, q="order-42") == {target}
    assert shown(operator, q="conv-1") == {target}
    assert shown(operator, q=target.message_id[:8]) == set()


# -- the detail page ------------------------------------------------------------------------------
def test_detail__traceback_history_payload_and_headers(operator):
    row = dead_inbox(ValueError("total does not match"), payload={"total": "12.50"}, headers={"tenant": "acme"})
    html = operator.get(change_url(row)).content.decode()
    assert "Traceback (most recent call last)" in html and "in _handler" in html
    assert '<table class="msg-history">' in html and "total does not match" in html
    assert "{\n  &quot;total&quot;: &quot;12.50&quot;\n}" in html
    assert "{\n  &quot;tenant&quot;: &quot;acme&quot;\n}" in html
    assert f"?error_group={row.error_group}" in html


def test_detail__links_to_fault_caused_messages_other_handlers_and_the_outbox_row(operator):
    sent = outbox_message(status="sent")
    row = dead_inbox(ValueError("refused"), message_id=str(sent.id), correlation_id=sent.correlation_id)
    sibling = inbox_message(handler="crm.sync", message_id=row.message_id)
    fault = outbox_message(topic="orders.placed.fault", correlation_id=row.correlation_id,
                           causation_id=row.message_id)
    caused_inbox = inbox_message(correlation_id=row.correlation_id, causation_id=row.message_id)
    unrelated = outbox_message(topic="orders.placed.fault", correlation_id=str(uuid.uuid4()))
    html = operator.get(change_url(row)).content.decode()
    fault_section = html[html.index("Fault message"):]
    assert f"/admin/outbox/outboxmessage/{fault.pk}/change/" in fault_section
    assert f"/admin/inbox/inboxmessage/{caused_inbox.pk}/change/" in html
    assert f"/admin/inbox/inboxmessage/{sibling.pk}/change/" in html
    assert f"/admin/outbox/outboxmessage/{sent.pk}/change/" in html
    assert str(unrelated.pk) not in html


def test_detail__read_only_and_buttons_follow_permissions(operator, viewer):
    row = dead_inbox(ValueError("x"))
    html = operator.get(change_url(row)).content.decode()
    assert 'name="op-retry"' in html and 'name="op-discard"' in html and 'name="_save"' not in html
    assert 'name="op-retry"' not in viewer.get(change_url(row)).content.decode()
    assert operator.post(change_url(row), {"status": "done"}).status_code == 403
    assert operator.post(f"{INBOX_LIST}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert operator.get(f"{INBOX_LIST}add/").status_code == 403


# -- actions and permissions ------------------------------------------------------------------------
def test_view_only__no_actions_and_direct_post_refused(viewer):
    row = dead_inbox(ValueError("x"))
    assert action_choices(viewer.get(INBOX_LIST).content.decode()) == set()
    assert confirm_action(viewer, INBOX_LIST, "retry", [row.pk]).status_code == 403
    assert confirm_action(viewer, INBOX_LIST, "discard", [row.pk], reason="r").status_code == 403
    row.refresh_from_db()
    assert row.status == Status.DEAD and not LogEntry.objects.exists()


def test_retry__confirmation_then_waiting_due_now_with_history_and_log(operator):
    row = dead_inbox(ValueError("x"))
    refused_on_the_wire = dead_inbox(ValueError("undecodable"), handler="")
    assert action_choices(operator.get(INBOX_LIST).content.decode()) == {"retry", "discard"}
    page = run_action(operator, INBOX_LIST, "retry", [row.pk, refused_on_the_wire.pk])
    assert "1 of the 2 selected inbox messages" in page.content.decode()
    confirm_action(operator, INBOX_LIST, "retry", [row.pk, refused_on_the_wire.pk])
    row.refresh_from_db()
    assert row.status == Status.WAITING and row.attempts == 0
    assert row.available_at <= timezone.now()
    assert row.history[-1]["event"] == "retried" and row.history[-1]["by"].startswith("u-")
    assert LogEntry.objects.get().object_id == str(row.pk)
    refused_on_the_wire.refresh_from_db()
    assert refused_on_the_wire.status == Status.DEAD


def test_discard__reason_required_then_kept_and_marked(operator):
    row = dead_inbox(ValueError("x"))
    assert confirm_action(operator, INBOX_LIST, "discard", [row.pk], reason="").status_code == 200
    row.refresh_from_db()
    assert row.status == Status.DEAD
    confirm_action(operator, INBOX_LIST, "discard", [row.pk], reason="duplicate order")
    row.refresh_from_db()
    assert row.status == Status.DISCARDED and row.history[-1]["event"] == "discarded: duplicate order"
    assert "duplicate order" in LogEntry.objects.get().change_message


def test_all_matching_the_filter__retries_every_dead_row_of_the_handler(operator):
    rows = [dead_inbox(ValueError("x"), handler="billing.charge") for _ in range(55)]
    elsewhere = dead_inbox(ValueError("x"), handler="crm.sync")
    url = f"{INBOX_LIST}?status__exact=dead&handler=billing.charge"
    page = operator.post(url, {"action": "retry", "index": "0", "select_across": "1",
                               "_selected_action": [str(r.pk) for r in rows[:50]]})
    assert "all 55 inbox messages matching the current filter" in page.content.decode()
    operator.post(url, {"action": "retry", "select_across": "1", "confirm": "yes",
                        "_selected_action": [str(r.pk) for r in rows[:50]]})
    assert InboxMessage.objects.filter(handler="billing.charge", status=Status.WAITING).count() == 55
    elsewhere.refresh_from_db()
    assert elsewhere.status == Status.DEAD
    assert LogEntry.objects.get().object_id is None


# -- dead groups ----------------------------------------------------------------------------------
def test_dead_groups__count_seen_type_handler_and_sample(operator):
    first = dead_inbox(ValueError("bad total 1"), handler="billing.charge",
                       first_failed_at=timezone.now() - timedelta(days=2))
    latest = dead_inbox(ValueError("bad total 2"), handler="billing.charge")
    dead_inbox(KeyError("warehouse"), handler="shipping.reserve")
    inbox_message()  # done: not in any group
    response = operator.get(DEAD_GROUPS)
    groups = response.context["groups"]
    assert [(g.count, g.short_type, g.handler) for g in groups] == [(2, "ValueError", "billing.charge"),
                                                                   (1, "KeyError", "shipping.reserve")]
    assert groups[0].first_seen == first.first_failed_at and groups[0].last_seen == latest.last_failed_at
    assert groups[0].sample == latest
    html = response.content.decode()
    assert f"/admin/inbox/inboxmessage/{latest.pk}/change/" in html and "bad total 2" in html
    assert f"dead-groups/{first.error_group}/retry/" in html
    assert first.error_group in operator.get(INBOX_LIST).content.decode()  # linked from the changelist filter


def test_dead_groups_and_confirmation__breadcrumbs_lead_back_to_the_list(operator):
    row = dead_inbox(ValueError("x"))
    trail = [("/admin/", "Home"), ("/admin/inbox/", "Inbox"), (INBOX_LIST, "Inbox messages")]
    page = operator.get(DEAD_GROUPS).content.decode()
    assert breadcrumbs(page) == [*trail, ("", "Dead inbox messages by error group")]
    page = operator.post(f"{DEAD_GROUPS}{row.error_group}/retry/").content.decode()
    assert breadcrumbs(page) == [*trail, ("", "Retry the whole group: are you sure?")]
    page = run_action(operator, INBOX_LIST, "retry", [row.pk]).content.decode()
    assert breadcrumbs(page) == [*trail, ("", "Retry now: are you sure?")]


def test_dead_groups__retry_the_whole_group_after_confirmation(operator):
    group = [dead_inbox(ValueError("x")) for _ in range(3)]
    other = dead_inbox(KeyError("y"))
    url = f"{DEAD_GROUPS}{group[0].error_group}/retry/"
    assert operator.get(url).status_code == 405
    page = operator.post(url)
    assert page.status_code == 200 and "all 3 dead messages of error group" in page.content.decode()
    assert InboxMessage.objects.filter(status=Status.DEAD).count() == 4
    response = operator.post(url, {"confirm": "yes"})
    assert response.status_code == 302 and response["Location"] == DEAD_GROUPS
    assert InboxMessage.objects.filter(pk__in=[r.pk for r in group], status=Status.WAITING).count() == 3
    other.refresh_from_db()
    assert other.status == Status.DEAD
    assert group[0].error_group in LogEntry.objects.get().change_message


def test_dead_groups__viewer_sees_groups_but_cannot_retry(viewer):
    row = dead_inbox(ValueError("x"))
    html = viewer.get(DEAD_GROUPS).content.decode()
    assert row.error_group in html and "/retry/" not in html
    assert viewer.post(f"{DEAD_GROUPS}{row.error_group}/retry/", {"confirm": "yes"}).status_code == 403
    row.refresh_from_db()
    assert row.status == Status.DEAD


def test_dead_groups__needs_view_permission():
    client = client_for(staff("outbox.view_outboxmessage"))
    assert client.get(DEAD_GROUPS).status_code == 403
