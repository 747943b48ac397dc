"""MLflow 3's webhooks API (WebhookService): /api/2.0/mlflow/webhooks[/<id>[/test]]."""

from __future__ import annotations

from typing import Any

from mlflow_app import shapes
from mlflow_app.api.dispatch import Call, endpoint
from webhooks_app import selectors, services
from webhooks_app.api import shapes as hook_shapes
from webhooks_app.models import Webhook

MAX_RESULTS_DEFAULT = 100


def _one(hook: Webhook) -> dict[str, Any]:
    return hook_shapes.webhook(
        webhook_id=hook.webhook_id.hex, name=hook.name, description=hook.description,
        url=hook.url, events=hook.subscribed, status=hook.status,
        created_at=hook.created_at, updated_at=hook.updated_at)


def _create(call: Call) -> dict[str, Any]:
    events = hook_shapes.events(call.body, required=True)
    assert events is not None
    hook = services.webhook_create(
        actor=call.user, name=shapes.text(call.body, "name", required=True),
        url=shapes.text(call.body, "url", required=True), events=events,
        description=shapes.text(call.body, "description"),
        secret=shapes.text(call.body, "secret"),
        status=hook_shapes.status(call.body) or "ACTIVE")
    return {"webhook": _one(hook)}


def _list(call: Call) -> dict[str, Any]:
    """Webhooks the mlflow client can read (subscribed to at least one MLflow event), or
    every webhook with `include_axion_only=true`."""
    services.require_manage(call.user)
    limit = shapes.max_results(call.body, MAX_RESULTS_DEFAULT)
    offset = shapes.page_offset(shapes.text(call.body, "page_token"))
    every = str(call.body.get("include_axion_only", "")).lower() == "true"
    page, more = selectors.webhooks_page(offset=offset, limit=limit)
    answer: dict[str, Any] = {"webhooks": [
        _one(hook) for hook in page if every or any(e.in_mlflow for e in hook.subscribed)]}
    if more:
        answer["next_page_token"] = shapes.page_token(offset + limit)
    return answer


@endpoint("GET", "POST")
def webhooks(call: Call) -> dict[str, Any]:
    return _create(call) if call.request.method == "POST" else _list(call)


def _update(call: Call, hook: Webhook) -> dict[str, Any]:
    body = call.body
    hook = services.webhook_update(
        actor=call.user, webhook=hook,
        name=shapes.text(body, "name") or None,
        url=shapes.text(body, "url") or None,
        description=shapes.text(body, "description") if "description" in body else None,
        secret=shapes.text(body, "secret") if "secret" in body else None,
        events=hook_shapes.events(body, required=False),
        status=hook_shapes.status(body))
    return {"webhook": _one(hook)}


@endpoint("GET", "PATCH", "DELETE")
def webhook(call: Call) -> dict[str, Any]:
    services.require_manage(call.user)
    hook = selectors.webhook_get(webhook_id=call.kwargs["webhook_id"])
    if call.request.method == "PATCH":
        return _update(call, hook)
    if call.request.method == "DELETE":
        services.webhook_delete(actor=call.user, webhook=hook)
        return {}
    return {"webhook": _one(hook)}


@endpoint("POST")
def webhook_test(call: Call) -> dict[str, Any]:
    services.require_manage(call.user)
    hook = selectors.webhook_get(webhook_id=call.kwargs["webhook_id"])
    outcome = services.webhook_test(actor=call.user, webhook=hook,
                                    event=hook_shapes.event(call.body))
    return hook_shapes.test_result(status=outcome.status, body=outcome.body,
                                   error=outcome.error, delivered=outcome.delivered)
