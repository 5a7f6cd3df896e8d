"""How RabbitMQ routes a set of routing keys on a topic exchange, pattern by pattern: the expectation for
``inbox.registry.topic_matches`` (unit tier), checked against the real broker (integration tier)."""

#: pattern → the keys RabbitMQ routes to a queue bound with it, out of KEYS (checked against the real broker
#: in tests/integration/test_inbox_topic_routing.py).
KEYS = ["", "a", "b", "a.b", "b.a", "a.a", "a.b.c", "a.x.b", "a.x.y.b", "a.b.b", ".", "a.", ".a", "a..b", "b.a.c"]
ROUTED = {
    "#": KEYS,
    "*": ["a", "b"],
    "a": ["a"],
    "a.*": ["a.b", "a.a", "a."],
    "a.#": ["a", "a.b", "a.a", "a.b.c", "a.x.b", "a.x.y.b", "a.b.b", "a.", "a..b"],
    "#.a": ["a", "b.a", "a.a", ".a"],
    "*.a": ["b.a", "a.a", ".a"],
    "a.*.b": ["a.x.b", "a.b.b", "a..b"],
    "a.#.b": ["a.b", "a.x.b", "a.x.y.b", "a.b.b", "a..b"],
    "#.#": KEYS,
    "*.#": KEYS[1:],
    "#.*": KEYS[1:],
    "a.b.#": ["a.b", "a.b.c", "a.b.b"],
    "*.*": ["a.b", "b.a", "a.a", ".", "a.", ".a"],
    "#.b.#": ["b", "a.b", "b.a", "a.b.c", "a.x.b", "a.x.y.b", "a.b.b", "a..b", "b.a.c"],
}
