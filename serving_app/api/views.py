from __future__ import annotations

from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from axion_registry.authentication import header_user
from axion_registry.errors import DomainError, InvalidInput
from models_app import selectors as registry
from serving_app import selectors
from serving_app.access import require_version_access
from serving_app.api import serializers as s
from serving_app.filtersets import DeploymentEventFilterSet
from serving_app.runtime import get_runtime, predict

JSON = "application/json"
_UNAUTHENTICATED = orjson.dumps(
    {"code": "not_authenticated", "message": "Authentication credentials were not provided: "
     "send 'Authorization: Token <key>'."}
)


def _answer(body: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), status=status,
                        content_type=JSON)


def _payload(raw: bytes) -> tuple[Any, str | None, str | None]:
    """The rows, unit id and version of a predict request body."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"The body is not valid JSON: {exc}.", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise InvalidInput('Send a JSON object: {"records": [...]} or {"dataframe_split": '
                           '{"columns": [...], "data": [[...]]}}.', code="invalid_input")
    unit_id = body.get("unit_id")
    version = body.get("version")
    if unit_id is not None and not isinstance(unit_id, (str, int)):
        raise InvalidInput("unit_id must be a string.", code="invalid_input")
    if version is not None and not isinstance(version, str):
        raise InvalidInput("version must be a string such as '1.2.0'.", code="invalid_input")
    return body, None if unit_id is None else str(unit_id), version


class PredictView(APIView):
    """Predictions from a model's production version (or the A/B arm of `unit_id`).

    The class is DRF's for the schema and the shared error shape; requests skip DRF's
    per-request machinery (this is the hot path): a cached token check, orjson in and out.
    """


    @extend_schema(
        request=s.PredictRequestSerializer,
        parameters=[OpenApiParameter("version", str, description="Ask this version instead.")],
        responses={200: s.PredictResponseSerializer, 400: OpenApiTypes.OBJECT,
                   401: OpenApiTypes.OBJECT, 403: OpenApiTypes.OBJECT,
                   404: OpenApiTypes.OBJECT,
                   503: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request, model: str) -> Response:  # pragma: no cover - schema only
        raise NotImplementedError

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "POST":
            return _answer({"code": "method_not_allowed", "message": "Use POST."}, 405)
        user = header_user(request.META.get("HTTP_AUTHORIZATION", ""))
        if user is None:
            response = HttpResponse(_UNAUTHENTICATED, status=401, content_type=JSON)
            response["WWW-Authenticate"] = "Token"
            return response
        try:
            rows, unit_id, version = _payload(request.body)
            version = version or request.GET.get("version") or None
            if version is not None:
                require_version_access(user, model_name=kwargs["model"], version=version)
            result = predict(kwargs["model"], rows, version=version, unit_id=unit_id)
        except DomainError as exc:
            return _answer(exc.as_dict(), exc.status)
        return _answer(result.as_dict())


class ServingStatusView(APIView):
    """What this process serves for the model, and the latest warm-up in the database."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, model: str) -> Response:
        row = registry.model_get(name=model)
        production = registry.version_in_production(model=row)
        fallback = registry.rollback_target(model=row, current=production)
        warmup = selectors.latest_warmup(version_id=production.pk) if production else None
        policy = selectors.policy_get(model=row)
        guardrail = selectors.guardrail_policy(model=row)
        return Response({
            "model": row.name,
            "production_version": production.version if production else None,
            "fallback_version": fallback.version if fallback else None,
            "warmup": s.DeploymentEventSerializer(warmup).data if warmup else None,
            "policy": {
                "timeout_ms": None if policy.timeout_seconds is None
                else policy.timeout_seconds * 1000,
                "guardrail": guardrail.__dict__,
            },
            "this_process": get_runtime().describe(row.name),
        })


class LatencyView(APIView):
    """Per-minute latency and outcome counts of the model's versions, all processes summed."""

    @extend_schema(
        parameters=[OpenApiParameter("minutes", int, description="How far back (default 60).")],
        responses=s.LatencyMinuteSerializer(many=True),
    )
    def get(self, request: Request, model: str) -> Response:
        try:
            minutes = int(request.query_params.get("minutes", 60))
        except ValueError as exc:
            raise InvalidInput("minutes must be a whole number, e.g. ?minutes=60.") from exc
        if not 1 <= minutes <= 60 * 24 * 31:
            raise InvalidInput("minutes must be between 1 and 44640 (31 days).")
        rows = selectors.latency_minutes(model=registry.model_get(name=model), minutes=minutes)
        return Response(s.LatencyMinuteSerializer(rows, many=True).data)


class DeploymentEventListView(generics.ListAPIView):
    """Deployments with their warm-up outcome, rollbacks (with their source) and fallbacks."""

    serializer_class = s.DeploymentEventSerializer
    filterset_class = DeploymentEventFilterSet

    def get_queryset(self):
        return selectors.deployment_events()
