"""Fault messages: what a handler's business error tells the producer, published through the outbox.

A fault goes to the handler's ``fault_topic`` when it sets one, else to ``<topic><INBOX_FAULT_SUFFIX>``.
A routing key RabbitMQ routes need not be an outbox topic (a space, ``:``, ``/``, accented letters, or
so long that the suffix makes it longer than 255 bytes); the fault of such a message goes to the
handler's name made a topic plus the suffix: each dot-separated word of the name with runs of other
characters than letters, digits, ``_`` and ``-`` turned into ``_`` (handler ``billing.charge card`` ->
``billing.charge_card.fault``), or ``inbox<suffix>`` when nothing is left. The fault's payload keeps
the original routing key under ``topic``.
"""

from __future__ import annotations

import re

import outbox
from inbox.conf import inbox_settings
from inbox.message import Message
from inbox.registry import HandlerSpec
from outbox.context import Cause, caused_by
from outbox.exceptions import InvalidTopic
from outbox.validation import MAX_NAME, check_topic

OTHER_CHARS = re.compile(r"[^A-Za-z0-9_\-]+")
FALLBACK = "inbox"


def faults_on(spec: HandlerSpec) -> bool:
    """Whether ``spec``'s business errors publish a fault (its option, else ``INBOX_FAULTS``)."""
    return inbox_settings.FAULTS if spec.faults is None else spec.faults


def fault_topic(message: Message, spec: HandlerSpec, suffix: str) -> str:
    """The topic of ``message``'s fault for ``spec``: always one the outbox accepts (see the module doc)."""
    if spec.fault_topic:
        return spec.fault_topic
    try:
        return check_topic(f"{message.topic}{suffix}")
    except InvalidTopic:
        pass
    words = (OTHER_CHARS.sub("_", word).strip("_") for word in spec.name.split("."))
    name = ".".join(word for word in words if word)[: MAX_NAME - len(suffix.encode())].strip(".")
    return f"{name or FALLBACK}{suffix}"


def publish_fault(message: Message, spec: HandlerSpec, error_type: str, error_message: str, kind: str) -> None:
    """The producer's failure notification, committed with the failure record (via the outbox).
    ``kind``: "business_error" (refused at once) or "retries_exhausted" (dead after its retries)."""
    payload = {"message_id": message.id, "topic": message.topic, "payload": message.payload,
               "handler": spec.name, "kind": kind, "error_type": error_type, "error_message": error_message}
    with caused_by(Cause(message.id, message.correlation_id or message.id, message.traceparent)):
        outbox.publish(fault_topic(message, spec, inbox_settings.FAULT_SUFFIX), payload, key=message.key)
