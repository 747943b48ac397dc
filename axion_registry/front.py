"""The front door: `/` and `/api/v1/` say where everything is, as a page for a browser
and as JSON for an API client (content negotiation on the Accept header, or ?format=)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from rest_framework.permissions import AllowAny
from rest_framework.renderers import TemplateHTMLRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from axion_registry.renderers import ORJSONRenderer

# Resource name -> its URL name, in the order a newcomer reads them.
RESOURCES = {
    "models": "model-list",
    "versions": "version-search-list",
    "transitions": "transition-list",
    "model-changes": "model-change-list",
    "promotion-requests": "promotion-request-list",
    "experiments": "experiment-list",
    "runs": "run-list",
    "abtests": "abtest-list",
    "deployments": "deployments",
    "me": "me",
}


class FrontPageRenderer(TemplateHTMLRenderer):
    template_name = "axion_registry/front.html"


def links(request: Request) -> dict[str, str]:
    """Where a person (or a client) goes next: the API, its docs, the admin, the dashboard."""
    return {
        "api": request.build_absolute_uri(reverse("api-root")),
        "docs": request.build_absolute_uri(reverse("swagger-ui")),
        "schema": request.build_absolute_uri(reverse("schema")),
        "admin": request.build_absolute_uri(reverse("admin:index")),
        "dashboard": settings.DASHBOARD_URL,
        "health": request.build_absolute_uri(reverse("healthz")),
    }


class FrontDoorView(APIView):
    """`/`: the links, open to anyone (no data is shown)."""

    schema = None  # not an API operation
    permission_classes = [AllowAny]
    renderer_classes = [ORJSONRenderer, FrontPageRenderer]

    def get(self, request: Request) -> Response:
        return Response({"name": "Axion Model Registry", "links": links(request)})


class ApiRootView(FrontDoorView):
    """`/api/v1/`: the resources of the API, besides the links."""

    def get(self, request: Request) -> Response:
        resources: dict[str, Any] = {
            name: request.build_absolute_uri(reverse(url_name))
            for name, url_name in RESOURCES.items()
        }
        return Response({"name": "Axion Model Registry API v1", "resources": resources,
                         "links": links(request)})
