"""Bad input on the wire: each bad message is recorded dead with its reason and acknowledged, nothing in it is
decoded other than by json.loads (no unpickling, no decompression), and the worker goes on to apply the good
message published after them all."""

from __future__ import annotations

import json
import pickle
import zlib
from pathlib import Path
from typing import Any

import pytest

from inbox.models import InboxMessage, Status
from tests.integration.consuming import consume, declare_inbox_queues
from tests.raw_amqp import bind, publish_json, publish_raw, queue_state
from tests.testapp.models import Effect

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MAX_BODY = 1024
#: 10 MB of zeros, about 10 kB compressed: what a decompression bomb looks like, small.
BOMB = zlib.compress(b"0" * 10_000_000, 9)
JSON = "application/json"


class FileTrap:
    """Unpickling it opens (creates) a file: proof that a body was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return open, (self.path, "w")


def bad_inputs(trap: Path) -> dict[str, tuple[bytes, dict[str, Any], str]]:
    """message id → (body, AMQP properties, what the recorded reason says)."""
    return {
        "not-json": (b"order=1&total=2", {"content_type": JSON}, "body is not UTF-8 JSON"),
        "not-utf8": (b"\xff\xfe{}", {"content_type": JSON}, "body is not UTF-8 JSON"),
        "nested-past-recursion-limit": (b"[" * 1000, {"content_type": JSON}, "body is not UTF-8 JSON"),
        "nested-too-deep-to-store": (b"[" * 150 + b"]" * 150, {"content_type": JSON}, "nested deeper than 100"),
        "nan": (b'{"total": NaN}', {"content_type": JSON}, "NaN is not a JSON value"),
        "nul-in-payload": (b'{"note": "a\\u0000b"}', {"content_type": JSON}, "NUL character"),
        "nul-in-header": (b"{}", {"content_type": JSON, "headers": {"note": "a\x00b"}}, "NUL character"),
        "pickle": (pickle.dumps(FileTrap(trap)), {"content_type": "application/x-python-serialize"},
                   "content type 'application/x-python-serialize' refused"),
        "yaml": (b"!!python/object/apply:os.system ['exit 3']", {"content_type": "application/x-yaml"},
                 "content type 'application/x-yaml' refused"),
        "msgpack": (b"\x81\xa5order\x01", {"content_type": "application/x-msgpack"},
                    "content type 'application/x-msgpack' refused"),
        "content-encoding-gzip": (b"{}", {"content_type": JSON, "content_encoding": "gzip"},
                                  "compressed or encoded body refused ('gzip')"),
        # kombu does not know "application/zlib" (its Message used to raise out of the worker) and would
        # expand "application/x-gzip" and "zlib" in memory before any check.
        **{f"bomb-{name}": (BOMB, {"content_type": JSON, "headers": {"compression": name}},
                            f"compressed or encoded body refused ({name!r})")
           for name in ("application/zlib", "application/x-gzip", "zlib")},
        "body-over-limit": (json.dumps({"pad": "x" * MAX_BODY}).encode(), {"content_type": JSON},
                            f"body of {MAX_BODY + 11} bytes exceeds the limit of {MAX_BODY}"),
    }


def test_bad_inputs__each_recorded_dead_with_its_reason__acked__next_good_message_applied(
        handlers, inbox_queue, broker_url, exchange, settings, tmp_path):
    settings.INBOX_MAX_BODY_BYTES = MAX_BODY

    @handlers("orders.*", name="record-orders")
    def record(message):
        Effect.objects.create(handler="record-orders", message_id=message.id, value=message.payload)

    declare_inbox_queues()
    bind(broker_url, inbox_queue, exchange, "audit.logged")  # a topic no handler takes
    armed, trap = tmp_path / "armed", tmp_path / "unpickled"
    pickle.loads(pickle.dumps(FileTrap(armed))).close()
    assert armed.exists()  # the trap works: unpickling such a body creates a file
    bad = bad_inputs(trap)
    for message_id, (body, properties, _) in bad.items():
        publish_raw(broker_url, exchange, "orders.placed", body, message_id=message_id, **properties)
    publish_raw(broker_url, exchange, "orders.placed", b'{"order": 1}', content_type=JSON)  # no message id
    publish_json(broker_url, exchange, "audit.logged", {"audit": 1}, message_id="no-handler")
    good_id = publish_json(broker_url, exchange, "orders.placed", {"good": True})

    stats = consume()

    assert stats.outcomes == {"rejected": len(bad) + 1, "parked": 1, "applied": 1}
    parked = InboxMessage.objects.get(message_id="no-handler")  # kept for a worker that has a handler
    assert (parked.handler, parked.status, parked.topic, parked.payload) == ("", Status.WAITING, "audit.logged",
                                                                           {"audit": 1})
    dead = {row.message_id: row for row in InboxMessage.objects.filter(handler="").exclude(pk=parked.pk)}
    assert all(row.status == Status.DEAD and row.error_type == "inbox.RejectedMessage" for row in dead.values())
    assert all(row.first_failed_at and row.error_group and row.history[-1]["event"] == "rejected"
               for row in dead.values())
    wrong_reasons = {message_id: dead[message_id].error_message for message_id, (_, _, reason) in bad.items()
                     if reason not in dead[message_id].error_message}
    assert wrong_reasons == {}
    [missing] = [row for message_id, row in dead.items() if message_id.startswith("missing-id:")]
    assert "no message_id property" in missing.error_message and missing.raw_body == '{"order": 1}'
    assert not trap.exists()
    for name in ("application/zlib", "application/x-gzip", "zlib"):
        bomb = dead[f"bomb-{name}"]
        assert bomb.headers["compression"] == name
        # The start of the bytes as sent (NUL kept as U+FFFD), not 10 MB of expanded zeros.
        assert bomb.raw_body == BOMB.decode("utf-8", "replace").replace("\x00", "\ufffd")
    assert list(Effect.objects.values_list("message_id", flat=True)) == [good_id]
    assert queue_state(broker_url, inbox_queue) == (0, 0)  # every message acked, none left unacked


def test_refused_message_redelivered__recorded_once__acked(handlers, inbox_queue, broker_url, exchange):
    handlers("orders.*", name="record-orders")(lambda message: None)
    declare_inbox_queues()
    publish_raw(broker_url, exchange, "orders.placed", b"not json", message_id="bad", content_type=JSON, count=2)

    stats = consume()

    assert stats.outcomes == {"rejected": 1, "duplicate": 1}
    assert InboxMessage.objects.get().message_id == "bad"
    assert queue_state(broker_url, inbox_queue) == (0, 0)
