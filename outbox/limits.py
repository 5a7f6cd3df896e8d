"""How large one message may be, checked where a message is written and again where it is sent.

RabbitMQ closes the whole connection when a message's content header (its properties and header table)
does not fit in one frame (``frame_max``: 131,072 bytes unless configured), and closes the channel when a
body exceeds ``max_message_size`` (RabbitMQ 3.x: 128 MiB; 4.x: 16 MiB). Either way every message in flight
is lost with it, so a message that can never fit must be refused before it reaches the broker:
by :func:`outbox.publish` (``MessageTooLarge``) and, for rows that are already in the table, by the
transport (the message is rejected alone, and the relay marks it dead).
"""

from __future__ import annotations

from dataclasses import dataclass

from outbox.conf import outbox_settings
from outbox.transports import amqp_properties
from outbox.wire import Envelope

#: RabbitMQ's defaults, above which the system check warns: the content-header frame's payload is the
#: properties plus 12 bytes (class, weight, body size), and frame_max counts the frame's own 8 bytes.
BROKER_FRAME_MAX = 131_072
BROKER_HEADER_ROOM = BROKER_FRAME_MAX - 8 - 12
BROKER_MAX_MESSAGE_SIZE = 134_217_728


@dataclass(frozen=True)
class SizeLimits:
    """The largest body and encoded header (AMQP properties and headers) of one message, in bytes."""

    body: int
    header: int

    @classmethod
    def from_settings(cls) -> SizeLimits:
        """``OUTBOX_MAX_BODY_BYTES`` and ``OUTBOX_MAX_HEADER_BYTES``, read now (settings may change in tests)."""
        return cls(outbox_settings.MAX_BODY_BYTES, outbox_settings.MAX_HEADER_BYTES)

    def problem(self, body_bytes: int, header_bytes: int) -> str | None:
        """Why a message of these sizes cannot be sent, naming the limit and the size; None when it fits."""
        if body_bytes > self.body:
            return f"body of {body_bytes:,} bytes exceeds OUTBOX_MAX_BODY_BYTES ({self.body:,} bytes)"
        if header_bytes > self.header:
            return (f"properties and headers of {header_bytes:,} bytes exceed OUTBOX_MAX_HEADER_BYTES "
                    f"({self.header:,} bytes)")
        return None

    def envelope_problem(self, envelope: Envelope) -> str | None:
        """:meth:`problem` for an envelope, its header encoded as the AMQP transport encodes it."""
        return self.problem(len(envelope.body), header_size(envelope))


def header_size(envelope: Envelope) -> int:
    """Bytes of the envelope's AMQP content-header properties and header table, as sent."""
    return len(amqp_properties.encode(envelope.properties, envelope.headers))
