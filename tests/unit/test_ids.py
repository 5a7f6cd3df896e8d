import time
import uuid

from outbox.ids import short, uuid7


def test_uuid7__version_variant_and_millisecond_prefix():
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= value.int >> 80 <= after


def test_uuid7__ids_of_one_process_strictly_increase():
    ids = [uuid7() for _ in range(20_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(value.version == 7 and value.variant == uuid.RFC_4122 for value in ids)


def test_uuid7__clock_stepping_back__still_increases(monkeypatch):
    first = uuid7()
    monkeypatch.setattr(time, "time_ns", lambda: 1_000_000_000)  # 1970: far behind the first id
    second = uuid7()
    assert second > first
    assert second.version == 7 and second.variant == uuid.RFC_4122


def test_uuid7__counting_on_past_all_ones_random_bits__carries_into_time_not_version_or_variant(monkeypatch):
    import os

    monkeypatch.setattr(time, "time_ns", lambda: 1_700_000_000_000_000_000)  # a fixed clock
    monkeypatch.setattr(os, "urandom", lambda n: b"\xff" * n)  # every random bit set
    first, second, third = uuid7(), uuid7(), uuid7()
    assert first < second < third
    assert all(value.version == 7 and value.variant == uuid.RFC_4122 for value in (first, second, third))


def test_short__ids_made_in_the_same_minute__told_apart_by_their_random_end():
    ids = [uuid7() for _ in range(1000)]
    assert len({short(value) for value in ids}) == 1000
    assert short(ids[0]) == ids[0].hex[-8:]
    assert short(str(ids[0])) == short(ids[0])


def test_short__id_that_is_no_uuid__first_13_characters():
    assert short("order-2024-000017-retry") == "order-2024-00"
