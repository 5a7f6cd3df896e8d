"""django-outbox-pattern: ``Published.objects.create`` in the transaction, ``manage.py publish`` relays over
STOMP (RabbitMQ's STOMP plugin), to ``/exchange/<queue>/<queue>``."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from bench.peers.queue import listening
from bench.peers.spec import Peer, Target

STOMP_PORT = 61613


def _settings(target: Target) -> str:
    parts = urlsplit(target.broker_url)
    stomp = {"DEFAULT_STOMP_HOST_AND_PORTS": [(parts.hostname or "127.0.0.1", STOMP_PORT)],
             "DEFAULT_STOMP_USERNAME": unquote(parts.username or "guest"),
             "DEFAULT_STOMP_PASSCODE": unquote(parts.password or "guest"),
             "DEFAULT_STOMP_VHOST": unquote(parts.path[1:]) or "/"}
    return f"DJANGO_OUTBOX_PATTERN = {stomp!r}\n"


def _publish(target: Target) -> str:
    return f'''from django_outbox_pattern.models import Published

DESTINATION = "/exchange/{target.queue}/{target.queue}"


def publish(payload):
    # RabbitMQ's STOMP adapter stores a message as transient unless asked: ours are persistent.
    Published.objects.create(destination=DESTINATION, body=payload, headers={{"persistent": "true"}})
'''


def _precheck(target: Target) -> str | None:
    if listening(target.broker_url, STOMP_PORT):
        return None
    return (f"it speaks STOMP only, and nothing listens on port {STOMP_PORT} of the broker: enable RabbitMQ's "
            "STOMP plugin (`rabbitmq-plugins enable rabbitmq_stomp`)")


PEER = Peer(
    name="django-outbox-pattern",
    key="outbox_pattern",
    requirements=("django-outbox-pattern==3.2.1", "Django==5.2.19", "psycopg[binary]==3.3.9"),
    apps=("django.contrib.contenttypes", "django.contrib.auth", "django_outbox_pattern"),
    files={"peer_settings.py": _settings, "publish.py": _publish},
    relay=("publish",),
    table="published",
    pending_sql="SELECT count(*) FROM published WHERE status <> 2",  # 2: StatusChoice.SUCCEEDED
    confirms="no (STOMP SEND without a receipt; persistent messages)",
    notes="`manage.py publish` takes every due row in one transaction (SELECT ... FOR UPDATE SKIP LOCKED, "
          "read 200 at a time) and sends and UPDATEs them one by one",
    precheck=_precheck,
)
