"""Webhooks as MLflow's protocol writes them (webhooks.proto). No Django.

A webhook's `events` hold the events MLflow has names for; Axion's own events (stage
changes, refused promotions, rollbacks) are in `axion_events`, a field the mlflow client
ignores, because its own event list would refuse them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from mlflow_app.shapes import ShapeError, to_ms
from webhooks_app.events import Event, EventError, event_from_mlflow

STATUSES = {"ACTIVE": "ACTIVE", "DISABLED": "DISABLED", "1": "ACTIVE", "2": "DISABLED"}


def webhook(*, webhook_id: str, name: str, description: str, url: str,
            events: Iterable[Event], status: str, created_at: datetime,
            updated_at: datetime) -> dict[str, Any]:
    chosen = list(events)
    answer: dict[str, Any] = {
        "webhook_id": webhook_id,
        "name": name,
        "url": url,
        "events": [event.as_mlflow() for event in chosen if event.in_mlflow],
        "status": status,
        "creation_timestamp": to_ms(created_at),
        "last_updated_timestamp": to_ms(updated_at),
    }
    if description:
        answer["description"] = description
    axion = [event.as_mlflow() for event in chosen if not event.in_mlflow]
    if axion:
        answer["axion_events"] = axion
    return answer


def events(body: Mapping[str, Any], *, required: bool) -> list[Event] | None:
    value = body.get("events")
    if value is None or value == []:
        if required:
            raise ShapeError("Missing value for required parameter 'events': give a list such "
                             'as [{"entity": "MODEL_VERSION", "action": "CREATED"}].')
        return None
    if not isinstance(value, list):
        raise ShapeError("Parameter 'events' must be a list of {entity, action} objects.")
    try:
        return [event_from_mlflow(item) for item in value]
    except EventError as exc:
        raise ShapeError(str(exc)) from exc


def event(body: Mapping[str, Any]) -> Event | None:
    value = body.get("event")
    if value in (None, {}):
        return None
    try:
        return event_from_mlflow(value)
    except EventError as exc:
        raise ShapeError(str(exc)) from exc


def status(body: Mapping[str, Any]) -> str | None:
    value = body.get("status")
    if value in (None, ""):
        return None
    chosen = STATUSES.get(str(value).upper())
    if chosen is None:
        raise ShapeError(f"Parameter 'status' is {value!r}; use ACTIVE or DISABLED.")
    return chosen


def test_result(*, status: int | None, body: str, error: str, delivered: bool
                ) -> dict[str, Any]:
    result: dict[str, Any] = {"success": delivered}
    if status is not None:
        result["response_status"] = status
        result["response_body"] = body
    if error:
        result["error_message"] = error
    return {"result": result}
