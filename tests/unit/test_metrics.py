"""Metrics without a database: counters by topic with a bounded label set, no-ops without prometheus_client,
and a registry that does not query the database until scraped."""

from __future__ import annotations

import uuid

import pytest
from django.test import RequestFactory, override_settings
from prometheus_client import REGISTRY

from inbox import metrics as inbox_metrics
from outbox import metrics, views


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_outbox_event__counts_each_topic_by_name():
    topic = f"unit.{uuid.uuid4().hex[:8]}"
    metrics.outbox_event("relayed", [topic, topic, "unit.other-topic"])
    assert sample("outbox_relayed_total", topic=topic) == 2.0


def test_outbox_event__more_topics_than_the_limit__the_rest_counted_as_other(monkeypatch):
    monkeypatch.setattr(metrics, "_topics", set())
    monkeypatch.setattr(metrics, "MAX_TOPICS", 2)
    before = sample("outbox_dead_total", topic="other")
    names = [f"unit.{uuid.uuid4().hex[:8]}" for _ in range(4)]
    metrics.outbox_event("dead", names)
    assert sample("outbox_dead_total", topic=names[0]) == 1.0
    assert sample("outbox_dead_total", topic=names[1]) == 1.0
    assert sample("outbox_dead_total", topic=names[2]) == 0.0
    assert sample("outbox_dead_total", topic="other") == before + 2


def test_without_prometheus_client__every_call_is_a_no_op_and_the_view_says_so(monkeypatch):
    monkeypatch.setattr(metrics, "prometheus_client", None)
    topic = f"unit.{uuid.uuid4().hex[:8]}"
    metrics.outbox_event("published", [topic])
    metrics.outbox_event_on_commit("published", [topic])
    inbox_metrics.inbox_event("applied", "some-handler")
    assert not metrics.enabled()
    assert sample("outbox_published_total", topic=topic) == 0.0
    with pytest.raises(ImportError, match="pip install"):
        metrics.registry()
    request = RequestFactory().get("/metrics/", HTTP_AUTHORIZATION="Bearer a-token-of-twenty-chars")
    with override_settings(OUTBOX_METRICS_TOKEN="a-token-of-twenty-chars"):
        response = views.metrics(request)
    assert response.status_code == 501


def test_registry__built_once_without_reading_the_database_and_default_registry_stays_query_free():
    # No django_db mark: any query here would raise.
    exposed = metrics.registry()
    assert metrics.registry() is exposed and exposed is not REGISTRY
    assert REGISTRY.get_sample_value("outbox_pending_messages") is None
