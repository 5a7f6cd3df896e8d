"""Operator filters: dates and ages as the commands accept them, and which statuses an action takes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.test import override_settings

from inbox.selection import InboxSelection
from outbox.exceptions import InvalidSelection
from outbox.selection import Selection, parse_when, select_outbox

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("text", "ago"), [
    ("90s", timedelta(seconds=90)), ("15m", timedelta(minutes=15)), ("2h", timedelta(hours=2)),
    ("3d", timedelta(days=3)), ("1w", timedelta(weeks=1)), ("1.5d", timedelta(hours=36)), (" 2h ", timedelta(hours=2)),
])
def test_parse_when__age__that_long_before_now(text, ago):
    assert parse_when(text, NOW) == NOW - ago


def test_parse_when__iso_datetime_with_offset__kept():
    assert parse_when("2024-04-30T08:30:00+02:00") == datetime(2024, 4, 30, 6, 30, tzinfo=timezone.utc)


@override_settings(TIME_ZONE="UTC")
def test_parse_when__naive_datetime_and_date__in_current_time_zone():
    assert parse_when("2024-04-30T08:30") == datetime(2024, 4, 30, 8, 30, tzinfo=timezone.utc)
    assert parse_when("2024-04-30") == datetime(2024, 4, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("text", ["yesterday", "2024-02-30", "5x", "", "2h ago", "-2h"])
def test_parse_when__not_a_date__value_error_that_says_what_is_accepted(text):
    with pytest.raises(ValueError, match=r"bad date .*ISO datetime.*2h"):
        parse_when(text, NOW)


def test_selection__no_filter__is_empty_and_any_filter_is_not():
    assert Selection().is_empty
    assert not Selection(topics=("a",)).is_empty
    assert not Selection(since=NOW).is_empty


def test_restrict__no_status_chosen__every_allowed_status():
    assert Selection().restrict(("dead", "pending"), "re-queue") == ("dead", "pending")
    assert Selection(statuses=("dead",)).restrict(("dead", "pending"), "re-queue") == ("dead",)


def test_restrict__status_the_action_does_not_take__invalid_selection_naming_it():
    with pytest.raises(InvalidSelection, match="cannot re-queue messages with status sent"):
        Selection(statuses=("dead", "sent")).restrict(("dead", "pending"), "re-queue")


def test_select_outbox__inbox_only_filter__invalid_selection():
    with pytest.raises(InvalidSelection, match="inbox messages only"):
        select_outbox(InboxSelection(handlers=("h",)))


def test_select_outbox__id_that_is_no_uuid__invalid_selection():
    with pytest.raises(InvalidSelection, match="UUIDs, not 'abc'"):
        select_outbox(Selection(ids=("abc",)))


def test_inbox_selection__empty_and_narrowed_by_its_own_filters():
    assert InboxSelection().is_empty
    assert not InboxSelection(error_groups=("g",)).is_empty
    assert InboxSelection(topics=("a",)).not_for_outbox() == ""
