"""The outbox admin on a million rows: every page issues a fixed, small number of queries, none of them a
COUNT(*) over the table, and none whose plan costs anything near reading the table.

Plans, not timings: the planner's cost of each captured query is compared with its cost for reading the
whole table once. Rows go in with one INSERT ... SELECT generate_series, then ANALYZE (as autovacuum
would), and the table is emptied and analyzed again afterwards so that later tests see small estimates.
The secondary indexes are dropped for the load and built again from their own definitions after it (a
bulk build is several times faster than a million inserts into each index).
"""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from outbox.models import OutboxMessage
from tests.admin_support import OUTBOX_LIST, client_for, staff

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROWS = 1_000_000
TABLE = OutboxMessage._meta.db_table
#: No query may cost more than this fraction of one pass over the table. A plan that reads the table
#: (a sequential scan, a sort of every row) costs at least one pass; a bounded count that reads its
#: 10,001 rows at random places may cost about a quarter of one.
MAX_SHARE = 0.5

INSERT = f"""
INSERT INTO {TABLE} (id, topic, exchange, routing_key, key, seq, payload, headers, correlation_id, causation_id,
                     status, attempts, created_at, available_at, expires_at, sent_at, lease_until, lease_owner,
                     last_error)
SELECT lpad(to_hex(g), 32, '0')::uuid,
       (ARRAY['orders.placed', 'orders.paid', 'invoices.issued', 'shipments.dispatched'])[g % 4 + 1],
       NULL, '', 'key-' || (g % 100000), g / 100000 + 1, jsonb_build_object('n', g), '{{}}'::jsonb,
       lpad(to_hex(g), 32, '0')::uuid::text, '',
       CASE WHEN g % 1000 = 0 THEN 'dead' WHEN g % 500 = 1 THEN 'pending' ELSE 'sent' END,
       CASE WHEN g % 1000 = 0 THEN 10 ELSE 0 END,
       now() - g * interval '1 second', now() - g * interval '1 second' + interval '1 minute', NULL,
       CASE WHEN g % 1000 = 0 OR g % 500 = 1 THEN NULL ELSE now() - g * interval '1 second' END, NULL, '',
       CASE WHEN g % 1000 = 0 THEN 'unroutable: NO_ROUTE' ELSE '' END
FROM generate_series(1, {ROWS}) AS g
"""


SECONDARY_INDEXES = """
SELECT indexname, indexdef FROM pg_indexes
WHERE tablename = %s AND indexname NOT IN (SELECT conname FROM pg_constraint)
"""


@pytest.fixture
def million_rows():
    with connection.cursor() as cursor:
        cursor.execute(SECONDARY_INDEXES, [TABLE])
        indexes = cursor.fetchall()
        assert len(indexes) >= 6, "the outbox's indexes, as the migrations made them"
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(INSERT)
        for _, definition in indexes:
            cursor.execute(definition)
        cursor.execute(f"ANALYZE {TABLE}")
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {TABLE}")
        cursor.execute(f"ANALYZE {TABLE}")


def cost(sql: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return float(plan[0]["Plan"]["Total Cost"])


def on_table(queries: list[dict[str, str]]) -> list[str]:
    """The captured statements that read the outbox table (the EXPLAINs of the estimates excepted)."""
    return [q["sql"] for q in queries if TABLE in q["sql"] and not q["sql"].startswith("EXPLAIN")]


def unbounded_counts(statements: list[str]) -> list[str]:
    """COUNT(*) statements without a LIMIT (a bounded count is ``COUNT(*) FROM (... LIMIT n)``)."""
    return [sql for sql in statements if re.search(r"COUNT\(", sql, re.I) and not re.search(r"\bLIMIT\b", sql)]


#: Page -> queries it issues: session and user (2), the summary (bounded counts in one statement, an
#: estimate for the one status above the bound, the oldest pending), the topic filter's sample, the
#: paginator (an estimate; an exact bounded count only when that is small) and the page of rows.
PAGES = {
    "": 8,
    "?status__exact=dead": 9,
    "?stuck=yes": 9,
    "?topic=orders.paid": 8,
    "?q=key-7": 9,
    "?q=3c59dc04-8e95-5cd9-b9f5-6f8f3d76c2a1": 9,  # not an id: nothing found
    "?p=150": 8,
}


def test_admin__million_rows__few_index_friendly_queries_and_no_full_count(million_rows):
    client = client_for(staff(superuser=True))
    full_scan = cost(f"SELECT COUNT(*) FROM {TABLE}")
    target = OutboxMessage.objects.filter(key="key-7").order_by("seq").first()
    dead = OutboxMessage.objects.filter(status="dead").first()
    assert target is not None and dead is not None
    pages = {**PAGES, f"?q={target.id}": 9, f"?q={target.correlation_id}": 9, f"{dead.pk}/change/": None}
    for page, expected in pages.items():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"{OUTBOX_LIST}{page}")
        assert response.status_code == 200, page
        statements = on_table(captured.captured_queries)
        assert unbounded_counts(statements) == [], page
        if expected is not None:
            assert len(captured.captured_queries) == expected, (page, [q["sql"][:160] for q in captured])
        for sql in statements:
            assert cost(sql) < full_scan * MAX_SHARE, (page, sql)

    cl = client.get(OUTBOX_LIST).context["cl"]
    assert cl.paginator.count_is_exact is False and 0.5 * ROWS < cl.result_count < 2 * ROWS
    assert cl.paginator.num_pages == 200  # deeper pages are an OFFSET over everything before them
