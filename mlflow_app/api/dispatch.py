"""The plumbing every MLflow endpoint shares: authentication, the request message (query
string for GET, a JSON object otherwise), and answers in MLflow's shape, errors included."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from mlflow_app import shapes
from mlflow_app.auth import request_user
from mlflow_app.errors import ENDPOINT_NOT_FOUND, MlflowError, as_mlflow_error, invalid


@dataclass
class Call:
    request: HttpRequest
    user: Any
    body: dict[str, Any]
    kwargs: dict[str, Any]


Handler = Callable[[Call], "dict[str, Any] | HttpResponseBase"]
View = Callable[..., HttpResponseBase]


def error_response(error: MlflowError) -> JsonResponse:
    return JsonResponse(shapes.error(error.code, error.message), status=error.status)


def _query(request: HttpRequest) -> dict[str, Any]:
    return {key: values[0] if len(values) == 1 else values
            for key, values in request.GET.lists()}


def _json(request: HttpRequest) -> dict[str, Any]:
    if not request.body:
        return {}
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        raise invalid(f"The request body is not JSON: {exc}.") from exc
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    return body


def json_answer(data: dict[str, Any]) -> HttpResponse:
    return HttpResponse(orjson.dumps(data), content_type="application/json")


def endpoint(*methods: str, anonymous: bool = False,
             read_body: bool = True) -> Callable[[Handler], View]:
    def wrap(handler: Handler) -> View:
        @csrf_exempt
        @wraps(handler)
        def view(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
            try:
                if request.method not in methods:
                    raise MlflowError(ENDPOINT_NOT_FOUND, f"{request.method} is not allowed "
                                      f"on {request.path}; use {' or '.join(methods)}.", 405)
                user = None if anonymous else request_user(request)
                if not read_body:
                    body: dict[str, Any] = {}
                elif request.method == "GET" or (request.method == "DELETE"
                                                 and not request.body):
                    body = _query(request)
                else:
                    body = _json(request)
                answer = handler(Call(request, user, body, kwargs))
            except Exception as exc:
                error = as_mlflow_error(exc)
                if error is None:
                    raise
                return error_response(error)
            return answer if isinstance(answer, HttpResponseBase) else json_answer(answer)

        return view

    return wrap
