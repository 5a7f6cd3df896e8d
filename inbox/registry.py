"""Handlers: ``@handler("orders.placed")`` registers a function for the topics it matches.

Handlers live in a ``handlers`` module of any installed app; the inbox app imports those modules
at start-up (like the admin's autodiscovery).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from inbox.exceptions import BusinessError, HandlerConfigurationError, HandlerTypeError
from inbox.message import Message
from outbox import retry

HandlerFunc = Callable[[Message], Any]
PATTERN_RE = re.compile(r"^([A-Za-z0-9_\-]+|\*|#)(\.([A-Za-z0-9_\-]+|\*|#))*$")


@dataclass(frozen=True)
class RetryPolicy:
    """Retry options of one handler; None means "the INBOX_* setting"."""

    immediate: int | None = None
    delayed: int | None = None
    backoff: str | None = None
    base: float | None = None
    cap: float | None = None
    horizon: float | None = None


@dataclass(frozen=True)
class HandlerSpec:
    """A registered handler and its options."""

    name: str
    func: HandlerFunc
    patterns: tuple[str, ...]
    retry: RetryPolicy = RetryPolicy()
    business_errors: tuple[type[BaseException], ...] = (BusinessError,)
    faults: bool | None = None
    fault_topic: str | None = None
    ordered: bool = False
    ttl: float | None = None
    skip_stale: bool = False
    breaker: bool = True

    def matches(self, topic: str) -> bool:
        return any(topic_matches(pattern, topic) for pattern in self.patterns)

    def is_business_error(self, exc: BaseException) -> bool:
        return isinstance(exc, self.business_errors)


def topic_matches(pattern: str, topic: str) -> bool:
    """AMQP topic semantics: ``*`` is exactly one word, ``#`` zero or more words.

    As in RabbitMQ, an empty routing key has no words (``*`` does not match it, ``#`` does), while
    ``"a..b"`` has an empty middle word.
    """
    return _match(_words(pattern), _words(topic))


def _words(key: str) -> tuple[str, ...]:
    return tuple(key.split(".")) if key else ()


@lru_cache(maxsize=4096)
def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])


class Registry:
    """All handlers of this process, by name."""

    def __init__(self) -> None:
        self._handlers: dict[str, HandlerSpec] = {}

    def register(self, spec: HandlerSpec) -> HandlerSpec:
        existing = self._handlers.get(spec.name)
        if existing is not None and _origin(existing.func) != _origin(spec.func):
            raise HandlerConfigurationError(f"two handlers are named {spec.name!r} (a handler's name is its "
                                            "deduplication identity): rename one, or pass name= to one of them")
        self._handlers[spec.name] = spec
        return spec

    def unregister(self, name: str) -> None:
        self._handlers.pop(name, None)

    def get(self, name: str) -> HandlerSpec | None:
        return self._handlers.get(name)

    def all(self) -> list[HandlerSpec]:
        return list(self._handlers.values())

    def for_topic(self, topic: str, *, ordered: bool | None = None) -> list[HandlerSpec]:
        """Handlers taking ``topic`` (only ordered or only unordered ones when ``ordered`` is given)."""
        return [s for s in self._handlers.values()
                if s.matches(topic) and (ordered is None or s.ordered == ordered)]

    def patterns(self, *, ordered: bool) -> list[str]:
        return sorted({p for s in self._handlers.values() if s.ordered == ordered for p in s.patterns})


def _origin(func: HandlerFunc) -> tuple[str, str, str, int]:
    """Where a function was defined. A module run again (a reload) defines its handlers at the same place, so
    they may replace themselves; a second ``def`` of the same name in one module is elsewhere, and refused."""
    code = getattr(inspect.unwrap(func), "__code__", None)  # a decorator's wrapper shares its code with others
    return (getattr(func, "__module__", ""), getattr(func, "__qualname__", repr(func)),
            getattr(code, "co_filename", ""), getattr(code, "co_firstlineno", 0))


registry = Registry()


def handler(*topics: str, name: str | None = None, immediate_retries: int | None = None,
            delayed_retries: int | None = None, backoff: str | None = None, backoff_base: float | None = None,
            backoff_cap: float | None = None, retry_horizon: float | None = None,
            business_errors: Iterable[type[BaseException]] = (), faults: bool | None = None,
            fault_topic: str | None = None, ordered: bool = False, ttl: float | None = None,
            skip_stale: bool = False, breaker: bool = True) -> Callable[[HandlerFunc], HandlerFunc]:
    """Register the decorated function for messages whose topic matches one of ``topics``.

    Each handler is deduplicated on its own: a message is applied once per handler. Options left
    None use the ``INBOX_*`` settings. ``business_errors`` adds exception types that are not
    retried (``inbox.BusinessError`` always counts). ``ordered`` applies a key's messages in the
    order they were written; ``ttl`` (seconds since the message was written) and ``skip_stale``
    drop worthless messages. ``breaker=False`` turns off the handler's circuit breaker.
    Raises :class:`HandlerConfigurationError` for invalid options, and :class:`HandlerTypeError` for an
    ``async def`` function (the consumer calls handlers synchronously: a coroutine would be created,
    never awaited, and the message acknowledged as applied). Returns the function unchanged.
    """
    _check_not_bare(topics)
    _check_topics(topics)
    errors = tuple(business_errors)
    _check_options(errors, backoff, immediate_retries, delayed_retries, ttl)
    retry = RetryPolicy(immediate_retries, delayed_retries, backoff, backoff_base, backoff_cap, retry_horizon)

    def register(func: HandlerFunc) -> HandlerFunc:
        _check_callable(func)
        spec = HandlerSpec(name or f"{func.__module__}.{func.__qualname__}", func, tuple(topics), retry,
                           (BusinessError, *errors), faults, fault_topic, ordered, ttl, skip_stale, breaker)
        registry.register(spec)
        return func

    return register


def _check_not_bare(topics: tuple[Any, ...]) -> None:
    """``@handler`` without parentheses passes the function as the only "topic"."""
    if len(topics) == 1 and callable(topics[0]):
        raise HandlerTypeError(f"use @inbox.handler('topic') with the topic(s) in parentheses: bare @handler "
                               f"was given {_describe(topics[0])}, not a topic")


def _check_callable(func: Any) -> None:
    if not callable(func):
        raise HandlerTypeError(f"handler {func!r} is not callable")
    call = getattr(func, "__call__", None)  # noqa: B004 - an object's async __call__ counts too
    if any(inspect.iscoroutinefunction(f) or inspect.isasyncgenfunction(f) for f in (func, call)):
        raise HandlerTypeError(f"handler {_describe(func)} is an async def function: handlers run "
                               "synchronously, so it would never run; register a plain function (call "
                               "async code with asgiref.sync.async_to_sync)")


def _describe(func: Any) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


def _check_topics(topics: tuple[str, ...]) -> None:
    if not topics:
        raise HandlerConfigurationError("@handler needs at least one topic, e.g. @handler('orders.placed')")
    for topic in topics:
        if not isinstance(topic, str) or not PATTERN_RE.fullmatch(topic):
            raise HandlerConfigurationError(f"invalid topic pattern {topic!r}: dot-separated words, '*' or '#'")


def _check_options(errors: tuple[Any, ...], backoff: str | None, *numbers: float | None) -> None:
    if not all(isinstance(e, type) and issubclass(e, BaseException) for e in errors):
        raise HandlerConfigurationError("business_errors must be exception classes")
    if backoff is not None and backoff not in retry.names():
        raise HandlerConfigurationError(f"unknown backoff {backoff!r}: one of {', '.join(retry.names())}")
    if any(n is not None and not n >= 0 for n in numbers):
        raise HandlerConfigurationError("retry counts and ttl must not be negative")
