"""Guarding py-amqp's decoding of content headers, so a message it cannot read still reaches the inbox.

py-amqp decodes a delivery's properties while it reads the content-header frame, inside
``drain_events``. A property it cannot decode (a message id or content type that is not UTF-8, a
timestamp header past year 9999, header tables nested past Python's recursion limit) raises there:
the half-read message is lost to the client, the connection is torn down, and the broker delivers
the same message again to the next session, forever, with everything queued behind it.

The guard wraps the connection's frame handler. When a content header fails to decode, the same
frame is fed again with a header py-amqp can read: the original class id and body size (so the
body frames that follow are read as usual), the message id salvaged from the raw bytes, and one
header, :data:`outbox.wire.UNDECODABLE_HEADER`, naming the reason. The delivery tag travels in the
method frame, which was already read, so the message can be recorded dead and acknowledged.
Retrying the frame relies on py-amqp keeping the half-built message when decoding raised (it
stores the properties only once they are decoded); tests/unit/test_inbox_hostile_steps.py and
tests/integration/test_inbox_hostile.py check that on the installed version.

A routing key that is not UTF-8 travels in the basic.deliver method frame, which py-amqp decodes
only once the whole message has arrived, then raises out of ``drain_events`` (RabbitMQ routes such
keys: they are bytes to a topic exchange). So the deliver frame is checked on arrival: an exchange or
routing key that is not UTF-8 is replaced by its escaped text (``orders.\\xff``), and the content
header that follows on that channel by a stand-in naming the reason, as above.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from struct import error as struct_error
from struct import unpack_from
from typing import Any

from amqp.serialization import dumps

from outbox.wire import UNDECODABLE_HEADER

logger = logging.getLogger(__name__)

Frame = tuple[int, int, Any]
METHOD = 1
CONTENT_HEADER = 2
BASIC_DELIVER = (60, 60)
HEADER_PREFIX = 12  # class id, weight, body size: what precedes the property flags
#: Basic properties before the message id, in wire order: (flag, how it is skipped).
_BEFORE_MESSAGE_ID = ((0x8000, "s"), (0x4000, "s"), (0x2000, "F"), (0x1000, "o"), (0x0800, "o"),
                      (0x0400, "s"), (0x0200, "s"), (0x0100, "s"))
MESSAGE_ID_FLAG = 0x0080
MAX_SHORTSTR = 255


def guard_frames(channel: Any) -> None:
    """Guard the content headers of ``channel``'s connection (a py-amqp channel; others are left alone)."""
    connection = getattr(channel, "connection", None)
    if connection is not None and hasattr(connection, "on_inbound_frame"):
        connection.on_inbound_frame = guard_delivery_names(guard_content_headers(connection.on_inbound_frame))


def guard_delivery_names(on_frame: Callable[[Frame], Any]) -> Callable[[Frame], Any]:
    """``on_frame`` that reads a delivery whose exchange or routing key is not UTF-8 with escaped names and a
    stand-in content header naming why (the inbox then records the message dead)."""
    reasons: dict[int, str] = {}  # channel -> why its delivery in progress cannot be read

    def guarded(frame: Frame) -> Any:
        frame_type, channel, buf = frame
        if frame_type == METHOD and tuple(unpack_from(">HH", buf)) == BASIC_DELIVER:
            readable = readable_deliver(bytes(buf))
            if readable is not None:
                buf, reasons[channel] = readable
                logger.warning("%s", reasons[channel], extra={"action": "inbox_undecodable", "message_id": ""})
        elif frame_type == CONTENT_HEADER and channel in reasons:
            buf = stand_in(bytes(buf), reasons.pop(channel))
        return on_frame((frame_type, channel, buf))

    return guarded


def readable_deliver(buf: bytes) -> tuple[bytes, str] | None:
    """basic.deliver's frame ``buf`` with an exchange or routing key that is not UTF-8 escaped (cut to a short
    string's 255 bytes), and the reason; None when both decode (the usual case, left alone)."""
    start = offset = 4 + 1 + buf[4] + 9  # method id, consumer tag, delivery tag (8 bytes), redelivered (1 byte)
    names, reasons = [], []
    for what in ("exchange", "routing key"):
        raw = buf[offset + 1: offset + 1 + buf[offset]]
        offset += 1 + len(raw)
        try:
            raw.decode("utf-8", "surrogatepass")  # as py-amqp decodes short strings
        except UnicodeDecodeError as exc:
            reasons.append(f"{what} is not UTF-8: {type(exc).__name__}: {exc}")
            raw = raw.decode("utf-8", "backslashreplace").encode()[:MAX_SHORTSTR]
        names.append(bytes([len(raw)]) + raw)
    if not reasons:
        return None
    return buf[:start] + b"".join(names) + buf[offset:], "; ".join(reasons)[:1000]


def guard_content_headers(on_frame: Callable[[Frame], Any]) -> Callable[[Frame], Any]:
    """``on_frame`` that, when a content header cannot be decoded, reads a stand-in naming why instead."""

    def guarded(frame: Frame) -> Any:
        try:
            return on_frame(frame)
        except Exception as exc:  # whatever the decoder raises, the message must be recorded
            frame_type, channel, buf = frame
            if frame_type != CONTENT_HEADER:
                raise
            reason = f"content header cannot be decoded: {type(exc).__name__}: {exc}"[:1000]
            logger.warning("%s", reason, exc_info=True, extra={"action": "inbox_undecodable", "message_id": ""})
            return on_frame((frame_type, channel, stand_in(bytes(buf), reason)))

    return guarded


def stand_in(buf: bytes, reason: str) -> bytes:
    """A content header with ``buf``'s class id and body size, its message id if any, and the reason."""
    message_id = salvage_message_id(buf)
    flags = 0x2000 | (MESSAGE_ID_FLAG if message_id else 0)
    values = (flags, {UNDECODABLE_HEADER: reason}) + ((message_id,) if message_id else ())
    return buf[:HEADER_PREFIX] + dumps("BF" + ("s" if message_id else ""), values)


def salvage_message_id(buf: bytes) -> str:
    """The message id of a raw content header, skipping the fields before it without decoding them; invalid
    UTF-8 escaped (``\\xff``), an id too long for a short string replaced by its hash; "" if none or unreadable."""
    try:
        flags, = unpack_from(">H", buf, HEADER_PREFIX)
        offset = HEADER_PREFIX + 2
        for flag, kind in _BEFORE_MESSAGE_ID:
            if flags & flag:
                offset += _field_size(buf, offset, kind)
        if not flags & MESSAGE_ID_FLAG:
            return ""
        length, = unpack_from(">B", buf, offset)
        raw = buf[offset + 1: offset + 1 + length]
    except struct_error:
        return ""
    text = raw.decode("utf-8", "backslashreplace")
    return text if len(text.encode()) <= MAX_SHORTSTR else f"undecodable:{hashlib.sha256(raw).hexdigest()}"


def _field_size(buf: bytes, offset: int, kind: str) -> int:
    if kind == "o":
        return 1
    if kind == "s":
        return 1 + int(unpack_from(">B", buf, offset)[0])
    return 4 + int(unpack_from(">I", buf, offset)[0])
