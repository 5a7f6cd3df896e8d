"""Every operator command: its --help lists its options, and bad arguments stop it with a clear message
before anything is read or changed (no database in this tier: a query would fail the test)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command, load_command_class

COMMANDS = {
    ("outbox", "outbox_replay"): ["--sent", "--id", "--topic", "--key", "--status", "--since", "--until", "--all",
                                  "--dry-run", "--batch-size", "--rate", "--database"],
    ("inbox", "inbox_replay"): ["--id", "--topic", "--key", "--status", "--handler", "--error-group", "--since",
                                "--until", "--all", "--dry-run", "--batch-size", "--rate"],
    ("outbox", "outbox_purge"): ["--older-than", "--include-dead", "--topic", "--dry-run", "--batch-size",
                                 "OUTBOX_RETENTION_DAYS"],
    ("inbox", "inbox_purge"): ["--older-than", "--include-dead", "--topic", "--handler", "--dry-run",
                               "--batch-size", "INBOX_RETENTION_DAYS"],
    ("outbox", "messaging_status"): ["--json", "--fail-if-stuck", "--database"],
    ("outbox", "outbox_relay"): ["--metrics-port", "--metrics-host", "127.0.0.1"],
    ("inbox", "inbox_consume"): ["--metrics-port", "--metrics-host", "127.0.0.1"],
}


@pytest.mark.parametrize(("app", "name"), list(COMMANDS))
def test_help__lists_every_option(app, name):
    text = load_command_class(app, name).create_parser("manage.py", name).format_help()
    for option in COMMANDS[(app, name)]:
        assert option in text


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["outbox_replay"], "no filter given.*--all", id="outbox-no-filter"),
    pytest.param(["inbox_replay"], "no filter given.*--all", id="inbox-no-filter"),
    pytest.param(["inbox_replay"], "no filter given.*--handler, --error-group", id="inbox-no-filter-names-its-own"),
    pytest.param(["outbox_replay"], r"no filter given: pass --id, --topic, --key, --status, --since or --until \(",
                 id="outbox-no-filter-names-only-its-own"),
    pytest.param(["outbox_replay", "--all", "--topic", "t"], "--all cannot be combined", id="all-and-filter"),
    pytest.param(["outbox_replay", "--status", "lost"], "unknown status 'lost'.*pending", id="unknown-status"),
    pytest.param(["inbox_replay", "--status", "pending"], "unknown status 'pending'.*waiting",
                 id="outbox-status-on-inbox"),
    pytest.param(["outbox_replay", "--since", "last tuesday"], "bad date 'last tuesday'", id="bad-since"),
    pytest.param(["inbox_replay", "--until", "2024-13-01"], "bad date", id="bad-until"),
    pytest.param(["outbox_replay", "--all", "--batch-size", "0"], "at least 1, not '0'", id="batch-size-0"),
    pytest.param(["outbox_replay", "--all", "--rate", "-5"], "above 0", id="negative-rate"),
    pytest.param(["outbox_replay", "--all", "--rate", "0"], "above 0", id="zero-rate"),
    pytest.param(["outbox_replay", "--all", "--rate", "nan"], "above 0.*not 'nan'", id="nan-rate"),
    pytest.param(["inbox_replay", "--all", "--rate=-inf"], "above 0.*not '-inf'", id="minus-inf-rate"),
    pytest.param(["inbox_replay", "--all", "--rate", "fast"], "above 0.*not 'fast'", id="rate-not-a-number"),
    pytest.param(["outbox_replay", "--handler", "h"], "unrecognized arguments: --handler", id="inbox-only-option"),
    pytest.param(["outbox_purge", "--older-than", "-1"], "0 or more", id="negative-age"),
    pytest.param(["inbox_purge", "--older-than", "soon"], "0 or more, not 'soon'", id="age-not-a-number"),
    pytest.param(["outbox_relay", "--once", "--metrics-port", "0"], "at least 1", id="relay-metrics-port"),
    pytest.param(["outbox_relay", "--once", "--batch-size", "0"], "at least 1, not '0'", id="relay-batch-size-0"),
    pytest.param(["outbox_relay", "--interval", "-1"], "above 0, not '-1'", id="relay-negative-interval"),
    pytest.param(["inbox_consume", "--once", "--metrics-port", "x"], "at least 1", id="consume-metrics-port"),
    pytest.param(["outbox_relay", "--once", "--metrics-host", "0.0.0.0"], "--metrics-host needs --metrics-port",
                 id="relay-metrics-host-without-port"),
])
def test_bad_arguments__command_error_with_message(args, message):
    with pytest.raises(CommandError, match=message):
        call_command(*args)
