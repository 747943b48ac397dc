"""Site-root endpoints for orchestrators and scrapers: /readyz and /metrics (no auth)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from serving_app import metrics
from serving_app.runtime import get_runtime


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """200 once every production version is loaded and warm in this process, else 503
    with the list. Each process preloads production when it starts; a signed-in caller's
    probe also starts loading what is missing, an anonymous one only looks."""
    missing = get_runtime().readiness(load_missing=request.user.is_authenticated)
    if missing:
        return JsonResponse({"status": "not_ready", "not_ready": missing}, status=503)
    return JsonResponse({"status": "ready"})


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    body, content_type = metrics.render()
    return HttpResponse(body, content_type=content_type)
