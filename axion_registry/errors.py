"""Domain errors shared by every app, and the one DRF exception handler that maps them.

Every error answers JSON: {"code": machine-readable, "message": a sentence a person can
act on, "details": optional structure}. Apps subclass these in their own errors module.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class InvalidInput(DomainError):
    status = 400
    code = "invalid"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class PermissionRefused(DomainError):
    status = 403
    code = "permission_denied"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class TooLarge(DomainError):
    status = 413
    code = "too_large"


class Unavailable(DomainError):
    status = 503
    code = "unavailable"


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            message = _first_message(value)
            return message if field == "non_field_errors" else f"{field}: {message}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def error_body(exc: Exception) -> tuple[dict[str, Any], int]:
    """The JSON body and status for any exception we know how to explain, else raise it."""
    if isinstance(exc, DomainError):
        return exc.as_dict(), exc.status
    if isinstance(exc, DjangoValidationError):
        details = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return {"code": "invalid", "message": _first_message(details), "details": details}, 400
    if isinstance(exc, OperationalError | InterfaceError):  # down, restarting, unreachable
        return {"code": "database_unavailable",
                "message": "The database did not answer; try again in a moment."}, 503
    if isinstance(exc, DataError):  # e.g. a NUL byte, which PostgreSQL's text cannot hold
        reason = str(exc).splitlines()[0] if str(exc) else "a value is out of range"
        return {"code": "invalid_input",
                "message": f"The request holds a value the database cannot store: {reason}."}, 400
    if isinstance(exc, Http404):
        return {"code": "not_found", "message": str(exc) or "Not found."}, 404
    if isinstance(exc, DjangoPermissionDenied):
        return {"code": "permission_denied", "message": str(exc) or "Permission denied."}, 403
    if isinstance(exc, drf.ValidationError):
        return {
            "code": "invalid",
            "message": _first_message(exc.detail),
            "details": exc.detail,
        }, 400
    if isinstance(exc, drf.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        return {"code": code, "message": _first_message(exc.detail)}, exc.status_code
    raise exc


def exception_handler(exc: Exception, context: dict) -> Response | None:
    try:
        body, status = error_body(exc)
    except Exception:  # not ours to explain: DRF lets it propagate as a 500
        return None
    view = context.get("view")
    if isinstance(exc, drf.UnsupportedMediaType) and view is not None:
        accepted = " or ".join(parser.media_type for parser in view.get_parsers())
        body["message"] = f"{body['message']} This endpoint takes {accepted}."
    response = Response(body, status=status)
    if isinstance(exc, drf.APIException):
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            response["WWW-Authenticate"] = auth_header
    if status == 401 and view is not None and "WWW-Authenticate" not in response:
        authenticate_header = view.get_authenticate_header(context["request"])
        if authenticate_header:
            response["WWW-Authenticate"] = authenticate_header
    return response


def handler404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"code": "not_found", "message": "No such resource."}, status=404)


def handler500(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {"code": "server_error", "message": "Internal error; it has been logged."}, status=500
    )
