"""Every error the inbox raises derives from :class:`InboxError`; handlers raise :class:`BusinessError`."""

from __future__ import annotations


class InboxError(Exception):
    """An inbox operation failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class BusinessError(Exception):
    """The message was understood and refused: it is not retried, and a fault message tells the producer.

    Raise it (or a subclass, e.g. ``class HotelSoldOut(BusinessError)``) from a handler when
    retrying cannot help: the card is invalid, the hotel is sold out.
    """


class HandlerConfigurationError(InboxError, ValueError):
    """A handler was declared with invalid options."""


class HandlerTypeError(HandlerConfigurationError, TypeError):
    """The decorated object cannot be a handler: handlers are plain (not ``async def``) callables."""


class RejectedMessage(InboxError):
    """The message on the wire cannot be processed (bad content type, not JSON, no id, too large...)."""


class DatabaseUnavailable(InboxError):
    """The database failed while a message was being processed; the worker gives back what it holds."""


class NoSuchMessage(InboxError, LookupError):
    """No inbox message matches."""


class BrokerRefused(InboxError):
    """The broker refused the consumer (wrong credentials, a vhost it may not use, a queue declared otherwise)."""
