"""Answers for views outside DRF (health, serving's fast path, admin) when a dependency fails."""

from __future__ import annotations

from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from axion_registry.errors import error_body


class DependencyErrorsMiddleware:
    """A database that is down is a 503 with a code, not a 500 page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OperationalError | InterfaceError):
            body, status = error_body(exception)
            return JsonResponse(body, status=status)
        return None
