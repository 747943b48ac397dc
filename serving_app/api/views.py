"""Serving's endpoints: predict, status, latency, deployments.

A prediction, from URL to model, in eight files:

1. serving_app/api/urls.py        serve/<model>/predict/ -> PredictView
                                  (serve/<model>@<alias>/predict/ -> AliasPredictView)
2. serving_app/api/views.py       PredictView: DRF authentication, the body, access, predict()
3. axion_registry/authentication.py  the token (cached per process), a copy of its user
4. serving_app/runtime.py         ServingRuntime.predict: route -> version -> answer, fallback
5. serving_app/route.py           the Route, read from the registry and the running A/B test
                                  (serving_plan), the arm (choose_arm), the RouteTable that
                                  builds routes and swaps them on a deployment
6. serving_app/loaded.py          LoadedVersion.answer/call, Prediction, the one warm-up
7. serving_app/inputs.py          rows -> the model's input (InputSpec), answers -> JSON
8. serving_app/loader.py          the artifact -> a callable (verified, restricted loading)
"""

from __future__ import annotations

from typing import Any, NoReturn

import orjson
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics
from rest_framework.exceptions import MethodNotAllowed, NotAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from axion_registry.errors import InvalidInput
from models_app import selectors as registry
from serving_app import selectors
from serving_app.access import require_alias_access, require_version_access
from serving_app.api import serializers as s
from serving_app.filtersets import DeploymentEventFilterSet, LatencyMinuteFilterSet
from serving_app.runtime import get_runtime, predict

JSON = "application/json"
MINUTES_HELP = str(LatencyMinuteFilterSet.base_filters["minutes"].extra["help_text"])
_UNAUTHENTICATED = ("Authentication credentials were not provided: send 'Authorization: "
                    "Token <key>'.")


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


def _user(request: Request) -> AbstractBaseUser | None:
    user = request.user
    return user if isinstance(user, AbstractBaseUser) else None


class _PredictEndpoint(APIView):
    """What both predict endpoints share: a 401 that says how to sign in, POST only."""

    def permission_denied(self, request: Request, message: str | None = None,
                          code: str | None = None) -> NoReturn:
        if request.authenticators and not request.successful_authenticator:
            raise NotAuthenticated(_UNAUTHENTICATED)
        super().permission_denied(request, message, code)

    def http_method_not_allowed(self, request: HttpRequest, *args: Any,
                                **kwargs: Any) -> Response:
        raise MethodNotAllowed(request.method or "", detail="Use POST.")


class PredictView(_PredictEndpoint):
    """Predictions from a model's production version (or the A/B arm of `unit_id`).

    A DRF view with the project's authentication, permission and error handling like every
    other endpoint; the body is read and the answer written with orjson directly (this is
    the hot path: no parser or renderer negotiation per request).
    """

    @extend_schema(
        request=s.PredictRequestSerializer,
        parameters=[OpenApiParameter("version", str, description="Ask this version instead.")],
        responses={200: s.PredictResponseSerializer, 400: OpenApiTypes.OBJECT,
                   401: OpenApiTypes.OBJECT, 403: OpenApiTypes.OBJECT,
                   404: OpenApiTypes.OBJECT,
                   503: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request, model: str) -> HttpResponse:
        rows, unit_id, version = _payload(request.body)
        version = version or request.query_params.get("version") or None
        if version is not None:
            require_version_access(_user(request), model_name=model, version=version)
        result = predict(model, rows, version=version, unit_id=unit_id)
        return HttpResponse(orjson.dumps(result.as_dict(), option=orjson.OPT_SERIALIZE_NUMPY),
                            content_type=JSON)


class AliasPredictView(_PredictEndpoint):
    """Predictions from the version an alias names (`ranking@champion`): served only once
    its load check passed, and to callers who may be served that version by number. The
    answer names the version (and the alias); no A/B arm is chosen."""

    @extend_schema(
        request=s.PredictRequestSerializer,
        responses={200: s.AliasPredictResponseSerializer, 400: OpenApiTypes.OBJECT,
                   401: OpenApiTypes.OBJECT, 403: OpenApiTypes.OBJECT,
                   404: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT,
                   503: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request, model: str, alias: str) -> HttpResponse:
        rows, _, asked = _payload(request.body)
        if asked is not None or "version" in request.query_params:
            raise InvalidInput(f"{model}@{alias} names its version itself; drop 'version', or "
                               f"ask serve/{model}/predict/ for a version by number.",
                               code="invalid_input")
        version = get_runtime().alias_version(model, alias)
        require_alias_access(_user(request), model_name=model, alias=alias, version=version)
        answer = predict(model, rows, version=version).as_dict()
        answer["alias"] = alias
        return HttpResponse(orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY),
                            content_type=JSON)


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
        parameters=[OpenApiParameter("minutes", int, description=MINUTES_HELP)],
        responses=s.LatencyMinuteSerializer(many=True),
    )
    def get(self, request: Request, model: str) -> Response:
        rows = selectors.latency_minutes(model=registry.model_get(name=model),
                                         filters=request.query_params)
        return Response(s.LatencyMinuteSerializer(rows, many=True).data)


class DeploymentEventListView(generics.ListAPIView):
    """Deployments with their warm-up outcome, rollbacks (with their source) and fallbacks."""

    serializer_class = s.DeploymentEventSerializer
    filterset_class = DeploymentEventFilterSet

    def get_queryset(self):
        return selectors.deployment_events()
