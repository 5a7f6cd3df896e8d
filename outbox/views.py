"""Django views of the outbox: the Prometheus metrics endpoint.

Add ``path("metrics/", outbox.views.metrics)`` to your URLs. Who may read it:

- a request with ``Authorization: Bearer <token>`` where the token equals ``OUTBOX_METRICS_TOKEN``
  (how Prometheus scrapes: ``authorization: {credentials: <token>}`` in the scrape config);
- a logged-in, active staff user (an operator looking from the browser).

Anyone else is refused: with a token configured, 401 and ``WWW-Authenticate: Bearer`` (the client may
authenticate with the token); with none configured, 403 (only staff users may read it at all).
"""

from __future__ import annotations

import hmac

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from outbox import metrics as metrics_module
from outbox.conf import outbox_settings


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format of this process's counters and the database gauges, to a bearer of
    ``OUTBOX_METRICS_TOKEN`` or a staff user (401 or 403 to anyone else, see the module's docstring);
    501 when ``prometheus_client`` is not installed."""
    token = outbox_settings.METRICS_TOKEN or None
    if not (_is_staff(request) or (token is not None and _bears(request, token))):
        return _refused(token_configured=token is not None)
    if not metrics_module.enabled():
        return HttpResponse("prometheus_client is not installed\n", status=501, content_type="text/plain")
    body, content_type = metrics_module.render()
    return HttpResponse(body, content_type=content_type)


def _is_staff(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)  # absent without Django's AuthenticationMiddleware
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


def _bears(request: HttpRequest, token: str) -> bool:
    """True when the request's ``Authorization: Bearer`` credentials equal ``token`` (compared in constant
    time, so response times do not reveal how much of a guess was right)."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode(), token.encode())


def _refused(*, token_configured: bool) -> HttpResponse:
    if not token_configured:
        return HttpResponse("metrics are for staff users only\n", status=403, content_type="text/plain")
    response = HttpResponse("send Authorization: Bearer <OUTBOX_METRICS_TOKEN>\n", status=401,
                            content_type="text/plain")
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response
