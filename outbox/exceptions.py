"""Every error the outbox raises derives from :class:`OutboxError`."""

from __future__ import annotations


class OutboxError(Exception):
    """An outbox operation failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class InvalidMessage(OutboxError, ValueError):
    """The message was rejected before anything was written."""


class InvalidTopic(InvalidMessage):
    """The topic is not a valid AMQP routing key of dot-separated words."""


class InvalidPayload(InvalidMessage):
    """The payload cannot be serialized as strict JSON."""


class InvalidKey(InvalidMessage, TypeError):
    """The key must be a non-empty string of at most 255 characters, or None."""


class InvalidHeaders(InvalidMessage):
    """The headers must be a dict of string names to JSON values, without reserved names."""


class MessageTooLarge(InvalidMessage):
    """The message is larger than the broker takes (OUTBOX_MAX_BODY_BYTES, OUTBOX_MAX_HEADER_BYTES)."""


class InvalidDelay(InvalidMessage):
    """A delay or expiry must be a non-negative number of seconds or a timedelta."""


class InvalidMessageId(InvalidMessage):
    """The message id must be a UUID or a string that parses as one."""


class DuplicateMessageId(InvalidMessage):
    """A message with this id already exists in the outbox."""


class BrokerUnavailable(OutboxError):
    """The broker could not be reached; messages stay pending and no attempt is spent."""


class NotInTransaction(OutboxError):
    """publish() outside transaction.atomic() (OUTBOX_REQUIRE_ATOMIC): wrap it with your change in one block."""


class ConfigurationError(OutboxError):
    """The outbox is misconfigured; run ``manage.py check`` for details."""


class InvalidSelection(OutboxError, ValueError):
    """The filters do not describe messages this action can apply to."""


class TransactionMismatch(OutboxError):
    """publish() would write outside the caller's transaction: the outbox's database alias is not in a
    transaction while another alias is, so the message would commit (or roll back) on its own."""
