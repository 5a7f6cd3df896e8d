"""A relay process killed in each crash window: nothing is lost, and a re-send keeps the message id."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

import outbox
from outbox.models import OutboxMessage, Status
from outbox.relay import Relay
from tests.integration.crash_relay import CRASH_EXIT_CODE

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]


def run_crashing_relay(window: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tests.integration.crash_relay", window], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def expire_leases() -> int:
    """Simulate the lease running out (time passing) instead of waiting LEASE_SECONDS."""
    return OutboxMessage.objects.pending().update(lease_until=timezone.now() - timedelta(seconds=1))


def test_relay__killed_after_publish_before_marking_sent__republished_with_same_id(bound_queue, child_env):
    queue = bound_queue()
    message = outbox.publish("orders.placed", {"order": 7}, key="order-7")

    crashed = run_crashing_relay("after-publish", child_env())

    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    [first] = queue.take(1)
    assert first.message_id == str(message.id)
    message.refresh_from_db()
    assert message.status == Status.PENDING and message.attempts == 0
    assert message.lease_until is not None and message.lease_until > timezone.now()
    relay = Relay()
    assert relay.drain().claimed == 0  # the dead relay's lease still holds
    assert expire_leases() == 1
    assert relay.drain().sent == 1
    received = queue.take(2)
    assert queue.settle(0.3) == received
    assert [r.message_id for r in received] == [str(message.id)] * 2
    assert received[0].body == received[1].body and json.loads(received[1].body) == {"order": 7}
    assert received[0].headers["sequence"] == received[1].headers["sequence"] == 1
    message.refresh_from_db()
    assert message.status == Status.SENT and message.attempts == 0


def test_relay__killed_after_claim_before_publish__published_once_after_lease_runs_out(bound_queue, child_env):
    queue = bound_queue()
    messages = [outbox.publish("orders.placed", {"order": n}, key=f"order-{n}") for n in range(3)]

    crashed = run_crashing_relay("after-claim", child_env())

    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr
    assert queue.settle(0.3) == []
    assert OutboxMessage.objects.pending().filter(lease_until__gt=timezone.now()).count() == 3
    relay = Relay()
    assert relay.drain().claimed == 0
    assert expire_leases() == 3
    assert relay.drain().sent == 3
    received = queue.take(3)
    assert queue.settle(0.3) == received
    assert sorted(r.message_id for r in received) == sorted(str(m.id) for m in messages)
    assert set(OutboxMessage.objects.values_list("status", "attempts")) == {(Status.SENT, 0)}
