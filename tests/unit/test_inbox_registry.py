"""Handlers: which topics a pattern takes (AMQP topic semantics, as RabbitMQ routes), and the options @handler
refuses at declaration time."""

from __future__ import annotations

import pytest

import inbox
from inbox.exceptions import HandlerConfigurationError, InboxError
from inbox.registry import HandlerSpec, Registry, RetryPolicy, handler, registry, topic_matches
from tests.amqp_topics import KEYS, ROUTED


@pytest.mark.parametrize("pattern", list(ROUTED))
def test_topic_matches__same_keys_as_rabbitmq_routes(pattern):
    assert [key for key in KEYS if topic_matches(pattern, key)] == ROUTED[pattern]


@pytest.mark.parametrize(("pattern", "topic", "expected"), [
    pytest.param("#", "", True, id="hash-matches-empty-key"),
    pytest.param("*", "", False, id="star-needs-one-word"),
    pytest.param("a.#", "a", True, id="hash-matches-zero-words"),
    pytest.param("a.#.#.b", "a.b", True, id="consecutive-hashes"),
    pytest.param("orders.*", "orders.placed.fault", False, id="star-is-exactly-one-word"),
    pytest.param("orders.*", "orders", False, id="star-not-zero-words"),
    pytest.param("orders.placed", "orders.placedx", False, id="whole-words-only"),
    pytest.param("Orders.placed", "orders.placed", False, id="case-sensitive"),
])
def test_topic_matches__edge_cases(pattern, topic, expected):
    assert topic_matches(pattern, topic) is expected


def test_for_topic__every_matching_handler__ordered_ones_apart():
    handlers = Registry()
    for name, patterns, ordered in (("all", ("#",), False), ("placed", ("orders.placed",), False),
                                    ("keyed", ("orders.*",), True), ("other", ("hotel.*",), False)):
        handlers.register(HandlerSpec(name, print, patterns, ordered=ordered))

    assert [s.name for s in handlers.for_topic("orders.placed")] == ["all", "placed", "keyed"]
    assert [s.name for s in handlers.for_topic("orders.placed", ordered=False)] == ["all", "placed"]
    assert [s.name for s in handlers.for_topic("orders.placed", ordered=True)] == ["keyed"]
    assert handlers.patterns(ordered=False) == ["#", "hotel.*", "orders.placed"]
    assert handlers.for_topic("audit.logged", ordered=True) == []


def test_handler__valid_options__registered_with_its_policy(handlers):
    def book(message):
        return None

    assert handlers("hotel.booked", "hotel.*.cancelled", name="book", immediate_retries=0, delayed_retries=2,
                    backoff="linear", backoff_base=1.5, business_errors=[LookupError], faults=False)(book) is book
    spec = registry.get("book")
    assert spec.patterns == ("hotel.booked", "hotel.*.cancelled")
    assert spec.retry == RetryPolicy(immediate=0, delayed=2, backoff="linear", base=1.5)
    assert spec.business_errors == (inbox.BusinessError, LookupError) and spec.faults is False
    assert spec.is_business_error(KeyError("x")) and not spec.is_business_error(ValueError("x"))


def test_handler__no_name__named_by_module_and_qualified_name():
    def book(message):
        return None

    name = f"{__name__}.test_handler__no_name__named_by_module_and_qualified_name.<locals>.book"
    handler("hotel.booked")(book)
    try:
        assert registry.get(name).func is book
    finally:
        registry.unregister(name)


@pytest.mark.parametrize(("topics", "options", "mentions"), [
    pytest.param((), {}, "at least one topic", id="no-topic"),
    pytest.param(("",), {}, "invalid topic pattern ''", id="empty-pattern"),
    pytest.param(("orders..placed",), {}, "invalid topic pattern", id="empty-word"),
    pytest.param(("orders.placed*",), {}, "invalid topic pattern", id="star-inside-word"),
    pytest.param(("orders.#x",), {}, "invalid topic pattern", id="hash-inside-word"),
    pytest.param(("orders placed",), {}, "invalid topic pattern", id="space"),
    pytest.param(("orders.placed.",), {}, "invalid topic pattern", id="trailing-dot"),
    pytest.param((42,), {}, "invalid topic pattern 42", id="not-a-string"),
    pytest.param(("orders.placed\n",), {}, "invalid topic pattern", id="trailing-newline"),
    pytest.param(("a",), {"backoff": "fibonacci"}, "unknown backoff 'fibonacci'", id="unknown-backoff"),
    pytest.param(("a",), {"immediate_retries": -1}, "must not be negative", id="negative-immediate"),
    pytest.param(("a",), {"delayed_retries": -1}, "must not be negative", id="negative-delayed"),
    pytest.param(("a",), {"ttl": -0.5}, "must not be negative", id="negative-ttl"),
    pytest.param(("a",), {"delayed_retries": float("nan")}, "must not be negative", id="nan-retries"),
    pytest.param(("a",), {"business_errors": ["ValueError"]}, "exception classes", id="error-by-name"),
    pytest.param(("a",), {"business_errors": [ValueError("x")]}, "exception classes", id="error-instance"),
    pytest.param(("a",), {"business_errors": [dict]}, "exception classes", id="not-an-exception"),
])
def test_handler__invalid_option__configuration_error_before_registering(topics, options, mentions):
    before = registry.all()

    with pytest.raises(HandlerConfigurationError, match=mentions.replace("*", r"\*")) as raised:
        handler(*topics, name="invalid", **options)

    assert isinstance(raised.value, InboxError) and isinstance(raised.value, ValueError)
    assert registry.all() == before and registry.get("invalid") is None


def test_registry__two_functions_one_name__configuration_error():
    handlers = Registry()

    def first(message):
        return None

    def second(message):
        return None

    handlers.register(HandlerSpec("book", first, ("a",)))
    handlers.register(HandlerSpec("book", first, ("a", "b")))  # the same function again (a module reload)
    with pytest.raises(HandlerConfigurationError, match="two handlers are named 'book'"):
        handlers.register(HandlerSpec("book", second, ("a",)))
    assert handlers.get("book").patterns == ("a", "b")


def test_registry__same_function_name_defined_twice_in_one_module__configuration_error():
    handlers = Registry()

    def charge(message):
        return "first"

    first = charge

    def charge(message):  # the mistake under test: a second handler of the same name
        return "second"

    handlers.register(HandlerSpec(f"{__name__}.charge", first, ("orders.placed",)))
    with pytest.raises(HandlerConfigurationError, match="two handlers are named"):
        handlers.register(HandlerSpec(f"{__name__}.charge", charge, ("orders.placed",)))
    assert handlers.get(f"{__name__}.charge").func is first


def test_registry__module_executed_again__its_handlers_register_again_without_error():
    # What importlib.reload (or a test runner importing a module twice) does: the same source, run again,
    # makes new function objects of the same module, name, file and line. The newer one replaces the older.
    source = "def charge(message):\n    return 'charged'\n"
    handlers = Registry()
    functions = []
    for _ in range(2):
        namespace: dict = {"__name__": "billing.handlers"}
        exec(compile(source, "billing/handlers.py", "exec"), namespace)
        functions.append(namespace["charge"])
        handlers.register(HandlerSpec("billing.handlers.charge", namespace["charge"], ("orders.placed",)))
    assert functions[0] is not functions[1]
    assert handlers.get("billing.handlers.charge").func is functions[1]


def test_handler__async_function__refused_naming_it():
    async def book(message):
        return None

    before = registry.all()
    with pytest.raises(HandlerConfigurationError, match=r"book.*async def.*plain function") as raised:
        handler("hotel.booked", name="async-book")(book)

    assert isinstance(raised.value, TypeError) and isinstance(raised.value, InboxError)
    assert registry.all() == before and registry.get("async-book") is None


def test_handler__async_callable_object__refused():
    class Book:
        async def __call__(self, message):
            return None

    with pytest.raises(HandlerConfigurationError, match="async def"):
        handler("hotel.booked", name="async-callable")(Book())
    assert registry.get("async-callable") is None


def test_handler__async_generator__refused():
    async def book(message):
        yield message

    with pytest.raises(HandlerConfigurationError, match="async def"):
        handler("hotel.booked", name="async-gen")(book)


def test_handler__not_callable__refused():
    with pytest.raises(HandlerConfigurationError, match="not callable"):
        handler("hotel.booked", name="not-callable")("book")


def test_handler__bare_decorator_without_topic__tells_to_pass_the_topic():
    before = registry.all()

    def book(message):
        return None

    with pytest.raises(HandlerConfigurationError, match=r"use @inbox\.handler\('topic'\)") as raised:
        inbox.handler(book)

    assert "book" in str(raised.value)
    assert registry.all() == before
