"""How the admin shows durations, errors and counts (no database)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from outbox.admin.counts import Count
from outbox.admin.display import history_table, next_attempt, one_line, short_age


@pytest.mark.parametrize(("seconds", "shown"), [
    (None, "—"), (-3, "0s"), (45, "45s"), (60, "1m"), (12 * 60 + 5, "12m"), (3600, "1h"), (3 * 3600 + 5 * 60, "3h 5m"),
    (2 * 86400, "2d"), (2 * 86400 + 4 * 3600 + 59, "2d 4h"),
])
def test_short_age(seconds, shown):
    assert short_age(seconds) == shown


def test_one_line__folds_lines_cuts_and_keeps_the_whole_text_in_the_tooltip():
    text = "broker refused\n  NOT_FOUND - no exchange 'billing' in vhost '/' " + "x" * 100
    html = one_line(text, chars=30)
    assert "broker refused NOT_FOUND - no…" in html
    assert "\n" not in html.split(">", 1)[1]
    assert 'title="broker refused\n  NOT_FOUND' in html
    assert one_line("") == ""


def test_next_attempt__in_the_future_or_due():
    now = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    assert ">in 6m<" in next_attempt(now + timedelta(minutes=6), now)
    assert ">due<" in next_attempt(now - timedelta(seconds=5), now)
    assert next_attempt(None) == "—"


def test_history_table__escapes_and_shortens_times():
    html = history_table([{"at": "2024-05-01T12:00:07.123456+00:00", "event": "failed", "attempt": 2,
                           "error": "<script>"}])
    assert "2024-05-01 12:00:07" in html and "&lt;script&gt;" in html
    assert history_table([]) == ""


def test_count__exact_or_about():
    assert str(Count(1234, exact=True)) == "1,234"
    assert str(Count(1_000_000, exact=False)) == "about 1,000,000"
