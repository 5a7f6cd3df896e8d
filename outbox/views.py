"""Django views of the outbox: the Prometheus metrics endpoint.

Add ``path("metrics/", outbox.views.metrics)`` to your URLs. It is not protected: expose it only where
your Prometheus scrapes (an internal network, or behind your own access control).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from outbox import metrics as metrics_module


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format of this process's counters and the database gauges; 501 when
    ``prometheus_client`` is not installed."""
    if not metrics_module.enabled():
        return HttpResponse("prometheus_client is not installed\n", status=501, content_type="text/plain")
    body, content_type = metrics_module.render()
    return HttpResponse(body, content_type=content_type)
