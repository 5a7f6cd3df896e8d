"""django-celery-outbox: ``OutboxCelery.send_task`` in the transaction stores the task;
``manage.py celery_outbox_relay`` sends it with Celery (kombu, py-amqp) to the app's default queue."""

from __future__ import annotations

from collections.abc import Callable

from bench.peers import queue
from bench.peers.spec import Peer, Target

#: What the relay declares at start (kombu's native delayed delivery: 28 levels and a delivery exchange).
DELAYED_LEVELS = [f"celery_delayed_{level}" for level in range(28)]
DELAYED_DELIVERY = "celery_delayed_delivery"


def _celery_app(target: Target) -> str:
    return f'''from django_celery_outbox import OutboxCelery

app = OutboxCelery("bench_peers")
app.conf.update(
    broker_url={target.broker_url!r},
    # Publisher confirms: Celery waits for the broker's confirm of each message (off by default).
    broker_transport_options={{"confirm_publish": True}},
    task_default_queue={target.queue!r},
    task_default_exchange={target.queue!r},
    task_default_routing_key={target.queue!r},
)
'''


def _settings(target: Target) -> str:
    return 'CELERY_OUTBOX_APP = "celery_app.app"\n'


def _publish(target: Target) -> str:
    return '''from celery_app import app


def publish(payload):
    app.send_task("bench.event", kwargs={"payload": payload})
'''


def _before_runs(broker_url: str) -> Callable[[], None]:
    """Remove the delayed-delivery queues and exchanges after the runs, unless they were there before."""
    if queue.exists(broker_url, DELAYED_DELIVERY):
        return lambda: None
    return lambda: queue.delete_all(broker_url, DELAYED_LEVELS, [*DELAYED_LEVELS, DELAYED_DELIVERY])


PEER = Peer(
    name="django-celery-outbox",
    key="celery_outbox",
    requirements=("django-celery-outbox==0.4.3", "Django==5.2.19", "psycopg[binary]==3.3.9", "celery==5.7.0",
                  "kombu==5.7.0", "amqp==5.4.2"),
    apps=("django.contrib.contenttypes", "django.contrib.auth", "django_celery_outbox"),
    files={"celery_app.py": _celery_app, "peer_settings.py": _settings, "publish.py": _publish},
    relay=("celery_outbox_relay",),
    table="celery_outbox",
    pending_sql="SELECT count(*) FROM celery_outbox",  # a sent row is deleted
    confirms="yes (`confirm_publish`: one confirm awaited per message)",
    notes="`celery_outbox_relay` with its defaults (batch 100, publish concurrency 1): claims a batch "
          "(FOR UPDATE SKIP LOCKED, marks it in flight), sends each task, then deletes the sent rows",
    before_runs=_before_runs,
)
