"""Every hostile message handled here and there at once, through RabbitMQ into a real ``manage.py inbox_consume
--once`` process: the good messages interleaved with them are applied once each, every bad one is recorded dead
with its reason (a message for a topic no handler takes is parked, not dead), the process exits 0 and the queue
is empty. Handlers: tests/hostile/handlers.py."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from struct import pack

import pytest

from inbox.models import InboxMessage, Status
from outbox.models import OutboxMessage
from tests.raw_amqp import (
    basic_properties,
    bind,
    nested_table,
    publish_json,
    publish_raw,
    publish_raw_properties,
    queue_state,
    shortstr,
    table,
    timestamp_entry,
)
from tests.testapp.models import Effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]
JSON = b"application/json"
BODY = b'{"hostile": true}'
#: message id -> content header py-amqp cannot decode (the id as recorded: invalid UTF-8 escaped).
UNDECODABLE = {
    "id-\\xff": basic_properties(content_type=JSON, message_id=b"id-\xff"),
    "content-type": basic_properties(content_type=b"application/\xffjson", message_id=b"content-type"),
    "timestamp": basic_properties(content_type=JSON, headers=table(timestamp_entry(b"t", 2**64 - 1)),
                                  message_id=b"timestamp"),
    "nested-1000": basic_properties(content_type=JSON, headers=nested_table(1000), message_id=b"nested-1000"),
}
#: Routing keys that are not outbox topics; the refusing handler takes them (one word each, pattern "*").
NOT_TOPICS = ["orders placed", "orders:placed", "orders/placed", "passée", "o" * 250]


def inbox_consume(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", "inbox_consume", "--once", "--idle-timeout", "1"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_hostile_corpus__interleaved_with_good_messages__good_applied_bad_dead_worker_exits_0(
        child_env, broker_url, exchange):
    queue = f"test-hostile-{uuid.uuid4().hex[:10]}"
    env = child_env(DJANGO_SETTINGS_MODULE="tests.hostile_settings", TEST_INBOX_QUEUE=queue)
    try:
        declared = inbox_consume(env)  # declares and binds the queue, then finds it empty
        assert declared.returncode == 0, declared.stderr
        bind(broker_url, queue, exchange, "hostile.unknown")  # as a newer version would: no handler here
        good = [publish_json(broker_url, exchange, "hostile.good", {"good": 0})]
        dead: dict[str, str] = {}
        for message_id, properties in UNDECODABLE.items():
            publish_raw_properties(broker_url, exchange, "hostile.good", BODY, properties)
            dead[message_id] = "content header cannot be decoded"
            good.append(publish_json(broker_url, exchange, "hostile.good", {"good": len(good)}))
        publish_raw_properties(broker_url, exchange, "hostile.good", BODY,
                               basic_properties(content_type=JSON, headers=nested_table(600), message_id=b"deep"))
        dead["deep"] = "nested deeper than 100 levels"
        publish_raw(broker_url, exchange, "hostile.good", b"{not json", message_id="not-json", content_type="text/json")
        dead["not-json"] = "body is not UTF-8 JSON"
        publish_raw(broker_url, exchange, b"\xff\xfe", BODY, message_id="routing-key", content_type="application/json")
        dead["routing-key"] = "routing key is not UTF-8"
        for topic in NOT_TOPICS:
            dead[publish_json(broker_url, exchange, topic, {"topic": topic})] = "refused"
            good.append(publish_json(broker_url, exchange, "hostile.good", {"good": len(good)}))
        good.append(publish_json(broker_url, exchange, "hostile.timed", {"timed": True},
                                 application_headers={"cloudEvents:time": "9999-12-31T23:59:59-01:00"}))
        binary = shortstr(b"trace") + b"x" + pack(">I", 4) + b"\x00\x01\xff\x00"  # an AMQP byte array header
        publish_raw_properties(broker_url, exchange, "hostile.good", BODY,
                               basic_properties(content_type=JSON, headers=table(binary), message_id=b"binary"))
        good.append("binary")
        parked_id = publish_json(broker_url, exchange, "hostile.unknown", {"later": True})

        done = inbox_consume(env)

        assert done.returncode == 0, done.stderr
        assert "faulted 5, parked 1, rejected 7" in done.stdout, done.stdout
        assert queue_state(broker_url, queue) == (0, 0)
    finally:
        _delete_queue(broker_url, queue)
    assert sorted(Effect.objects.values_list("message_id", flat=True)) == sorted(good)
    rows = {row.message_id: row for row in InboxMessage.objects.exclude(status=Status.DONE)}
    assert {message_id: rows[message_id].status for message_id in dead} == dict.fromkeys(dead, Status.DEAD)
    wrong = {message_id: rows[message_id].error_message for message_id, reason in dead.items()
             if reason not in rows[message_id].error_message}
    assert wrong == {}
    assert (rows[parked_id].status, rows[parked_id].handler) == (Status.WAITING, "")
    assert set(rows) == {*dead, parked_id}
    assert OutboxMessage.objects.filter(topic="hostile_refuse.fault").count() == len(NOT_TOPICS)


def _delete_queue(broker_url: str, queue: str) -> None:
    from kombu import Connection

    with Connection(broker_url) as connection:
        for name in (queue, f"{queue}.ordered"):
            connection.default_channel.queue_delete(name)
