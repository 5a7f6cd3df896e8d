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


@pytest.mark.parametrize("args", [pytest.param(["outbox_relay"], id="relay"),
                                  pytest.param(["inbox_consume"], id="consume")])
def test_require_tables__database_down_at_a_workers_start__goes_on_with_a_warning(monkeypatch, args, caplog):
    # A worker restarted while PostgreSQL restarts (chaos does this) used to exit at the table check.
    # The check cannot tell then; the worker's own loop rides out the outage.
    from django.db import OperationalError, connections

    from outbox.management import cli

    checked = []

    def down() -> list[str]:
        checked.append(True)
        raise OperationalError("the database system is shutting down")

    monkeypatch.setattr(connections["default"].introspection, "table_names", down)
    with caplog.at_level("WARNING"):
        cli.require_tables(*_models(args[0]))
    assert checked
    assert any(getattr(r, "action", "") == "require_tables_skipped" for r in caplog.records)


def _models(command: str) -> list:
    from inbox.models import InboxMessage
    from outbox.models import OutboxMessage

    return [OutboxMessage] if command == "outbox_relay" else [InboxMessage, OutboxMessage]
