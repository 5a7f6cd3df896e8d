"""What a failure keeps (type, message, truncated traceback) and its group key: the same bug in the same place
groups together across messages and deploys; a different exception or place does not."""

from __future__ import annotations

import pytest

from inbox.failures import GROUP_FRAMES, describe, group_key, rejection


def raised(func, *args):
    try:
        func(*args)
    except Exception as exc:  # noqa: BLE001 - the exception is the value under test
        return exc
    raise AssertionError("did not raise")


def parse(text):
    return int(text)


def convert(text):
    return parse(text)


def lookup(key):
    return {}[key]


def test_group_key__same_bug_different_messages__same_group():
    first, second = describe(raised(parse, "abc"), 10_000), describe(raised(parse, "xyz"), 10_000)
    assert first.error_message != second.error_message
    assert first.group == second.group and len(first.group) == 16


def deployed(blank_lines: int):
    """``parse`` as compiled from handlers.py, with ``blank_lines`` lines above it (another deploy)."""
    namespace: dict[str, object] = {}
    exec(compile("\n" * blank_lines + "def parse(text):\n    return int(text)\n", "handlers.py", "exec"), namespace)
    return namespace["parse"]


def test_group_key__code_moved_to_other_lines__same_group():
    before, after = raised(deployed(0), "abc"), raised(deployed(40), "abc")
    assert describe(before, 10_000).traceback != describe(after, 10_000).traceback  # the line numbers differ
    assert describe(before, 10_000).group == describe(after, 10_000).group


def test_group_key__different_exception_type__different_group():
    assert describe(raised(parse, "abc"), 10_000).group != describe(raised(lookup, "k"), 10_000).group


def test_group_key__same_type_raised_elsewhere__different_group():
    assert describe(raised(parse, "abc"), 10_000).group != describe(raised(convert, "abc"), 10_000).group


def middle(text):
    return convert(text)


def entry_a(text):
    return middle(text)


def entry_b(text):
    return middle(text)


def test_group_key__only_innermost_frames__callers_further_out_ignored():
    assert GROUP_FRAMES == 3  # middle → convert → parse
    via_a, via_b = raised(entry_a, "abc"), raised(entry_b, "abc")
    assert describe(via_a, 10_000).group == describe(via_b, 10_000).group
    assert group_key("builtins.ValueError", via_a) != group_key("builtins.ValueError")


def test_describe__type_message_traceback():
    failure = describe(raised(parse, "abc"), 10_000)
    assert failure.error_type == "builtins.ValueError"
    assert failure.error_message == "invalid literal for int() with base 10: 'abc'"
    assert failure.traceback.startswith("Traceback") and "in parse" in failure.traceback


def test_describe__long_traceback__truncated_keeping_the_end():
    failure = describe(ValueError("x" * 5000 + " the end"), 300)
    assert failure.traceback.startswith("... (truncated)\n")
    assert len(failure.traceback) == len("... (truncated)\n") + 300
    assert failure.traceback.rstrip().endswith("the end")  # the last line, the exception itself, is kept


def test_describe__long_message__cut_at_2000():
    assert len(describe(ValueError("m" * 5000), 10_000).error_message) == 2000


@pytest.mark.parametrize(("first", "second", "same"), [
    pytest.param("body is not UTF-8 JSON: Expecting value", "body is not UTF-8 JSON: Extra data", True,
                 id="same-kind"),
    pytest.param("body is not UTF-8 JSON: x", "no message_id property: x", False, id="other-kind"),
])
def test_rejection__grouped_by_reason_kind(first, second, same):
    assert (rejection(first).group == rejection(second).group) is same
    assert rejection(first).error_type == "inbox.RejectedMessage" and rejection(first).traceback == ""
