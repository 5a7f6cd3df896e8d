"""The commands a new user runs first, before ``migrate``: they stop with a line that says to run it, instead
of a traceback ending in 'relation "outbox_outboxmessage" does not exist'."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def unmigrated() -> Callable[[str], None]:
    """Hides a table as if ``migrate`` had not made it: renamed inside the test's transaction (PostgreSQL's DDL
    is transactional), so the rollback at the end of the test puts it back."""
    def hide(table: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER TABLE "{table}" RENAME TO "{table}_hidden"')
    return hide


@pytest.mark.parametrize(("table", "args"), [
    pytest.param("outbox_outboxmessage", ["outbox_relay", "--once"], id="relay-once"),
    pytest.param("outbox_outboxmessage", ["outbox_relay"], id="relay"),
    pytest.param("inbox_inboxmessage", ["inbox_consume", "--once"], id="consume-once"),
    pytest.param("outbox_outboxmessage", ["inbox_consume", "--once"], id="consume-without-outbox-for-faults"),
    pytest.param("outbox_outboxmessage", ["messaging_status"], id="status"),
])
def test_command__tables_not_migrated__command_error_says_run_migrate(unmigrated, table, args):
    unmigrated(table)
    with pytest.raises(CommandError, match=rf"table {table} is missing from database 'default'.*manage\.py migrate"):
        call_command(*args, stdout=io.StringIO())
