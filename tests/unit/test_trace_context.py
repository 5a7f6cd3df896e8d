"""W3C Trace Context: which ``traceparent`` and ``tracestate`` values the outbox passes on."""

from __future__ import annotations

import pytest

from outbox.validation import is_traceparent, is_tracestate

VALID_PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize("value", [VALID_PARENT, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
                                   "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"])
def test_traceparent__w3c_form__valid(value):
    assert is_traceparent(value)


@pytest.mark.parametrize("value", [
    pytest.param("", id="empty"),
    pytest.param("00-own", id="short"),
    pytest.param(VALID_PARENT + "\n", id="trailing-newline"),
    pytest.param(VALID_PARENT + "-extra", id="extra-field-on-version-00"),
    pytest.param(VALID_PARENT.upper(), id="uppercase"),
    pytest.param("ff" + VALID_PARENT[2:], id="version-ff"),
    pytest.param("00-" + "0" * 32 + VALID_PARENT[35:], id="zero-trace-id"),
    pytest.param(VALID_PARENT[:36] + "0" * 16 + "-01", id="zero-parent-id"),
    pytest.param("00-" + "a" * 130_000, id="130kb"),
    pytest.param(7, id="not-a-string"),
])
def test_traceparent__anything_else__invalid(value):
    assert not is_traceparent(value)


@pytest.mark.parametrize("value", [
    "rojo=00f067aa0ba902b7", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", "a=1 , b=2", "tenant@vendor=x", "",
    ",".join(f"k{n}=v" for n in range(32)), "k=" + "v" * 255,
])
def test_tracestate__w3c_list__valid(value):
    assert is_tracestate(value)


@pytest.mark.parametrize("value", [
    pytest.param("Rojo=1", id="uppercase-key"),
    pytest.param("rojo", id="no-value"),
    pytest.param("rojo=a=b", id="equals-in-value"),
    pytest.param("rojo=1\x01", id="control-character-in-value"),
    pytest.param("rojo=é", id="non-ascii-value"),
    pytest.param(",".join(f"k{n}=v" for n in range(33)), id="33-members"),
    pytest.param(",".join(f"k{n}=" + "v" * 40 for n in range(12)), id="over-512-characters"),
    pytest.param(None, id="not-a-string"),
])
def test_tracestate__anything_else__invalid(value):
    assert not is_tracestate(value)
