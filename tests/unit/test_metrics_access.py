"""Who may read the metrics view: a bearer of OUTBOX_METRICS_TOKEN or an active staff user; everyone else is
refused (401 with a Bearer challenge when a token is configured, 403 when none is). No database: the metrics
themselves are stubbed."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import RequestFactory, override_settings

from outbox import metrics, views

TOKEN = "s3cret-metrics-token-0123456789"


@pytest.fixture(autouse=True)
def rendered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "render", lambda: (b"outbox_pending_messages 0.0\n", "text/plain"))


def get(user: Any = None, authorization: str | None = None) -> Any:
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    request = RequestFactory().get("/metrics/", **headers)
    request.user = user if user is not None else AnonymousUser()
    return views.metrics(request)


def staff_user(**fields: Any) -> User:
    return User(username="operator", **{"is_staff": True, "is_active": True, **fields})


@pytest.mark.parametrize("authorization", [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"Bearer  {TOKEN} "])
def test_token_configured__right_bearer_token__200(authorization):
    with override_settings(OUTBOX_METRICS_TOKEN=TOKEN):
        response = get(authorization=authorization)
    assert response.status_code == 200
    assert response.content == b"outbox_pending_messages 0.0\n"


@pytest.mark.parametrize("authorization", [
    pytest.param(None, id="no-header"),
    pytest.param(f"Bearer {TOKEN[:-1]}", id="prefix-of-token"),
    pytest.param(f"Bearer {TOKEN}x", id="token-and-more"),
    pytest.param(f"Basic {TOKEN}", id="other-scheme"),
    pytest.param(TOKEN, id="no-scheme"),
    pytest.param("Bearer ", id="empty-credentials"),
    pytest.param("Bearer tökén", id="non-ascii"),
])
def test_token_configured__no_or_wrong_token__401_with_bearer_challenge(authorization):
    with override_settings(OUTBOX_METRICS_TOKEN=TOKEN):
        response = get(authorization=authorization)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"outbox_pending_messages" not in response.content


@pytest.mark.parametrize("token", [None, ""])
def test_no_token_configured__anonymous_or_any_bearer__403(token):
    with override_settings(OUTBOX_METRICS_TOKEN=token):
        assert get().status_code == 403
        assert get(authorization="Bearer ").status_code == 403
        assert get(authorization="Bearer None").status_code == 403
    assert not get().has_header("WWW-Authenticate")


@pytest.mark.parametrize("token", [None, TOKEN])
def test_active_staff_user__200_with_or_without_a_token_configured(token):
    with override_settings(OUTBOX_METRICS_TOKEN=token):
        assert get(staff_user()).status_code == 200


@pytest.mark.parametrize("user", [
    pytest.param(staff_user(is_staff=False), id="not-staff"),
    pytest.param(staff_user(is_active=False), id="inactive-staff"),
    pytest.param(staff_user(is_staff=False, is_superuser=False), id="plain-user"),
])
def test_logged_in_but_not_active_staff__refused(user):
    assert get(user).status_code == 403
    with override_settings(OUTBOX_METRICS_TOKEN=TOKEN):
        assert get(user).status_code == 401


def test_request_without_a_user_attribute__token_still_works():
    request = RequestFactory().get("/metrics/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    with override_settings(OUTBOX_METRICS_TOKEN=TOKEN):
        assert views.metrics(request).status_code == 200
    assert views.metrics(RequestFactory().get("/metrics/")).status_code == 403


def test_token_compared_in_constant_time(monkeypatch):
    compared: list[tuple[bytes, bytes]] = []

    def compare_digest(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(views.hmac, "compare_digest", compare_digest)
    with override_settings(OUTBOX_METRICS_TOKEN=TOKEN):
        assert get(authorization="Bearer guess").status_code == 401
    assert compared == [(b"guess", TOKEN.encode())]
