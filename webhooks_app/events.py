"""The events a webhook may subscribe to, and how MLflow's protocol names them. No Django.

An event is `<entity>.<action>`. MLflow's own names are used where MLflow has the event;
Axion's lifecycle events, which MLflow has no name for, use the same form with Axion's
words. The mlflow client checks events against its own list, so it can create and read
webhooks on MLflow's events only; Axion's events are subscribed to through the REST API
(`{"entity": "MODEL_VERSION", "action": "STAGE_CHANGED"}`) or the admin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any


class Event(StrEnum):
    REGISTERED_MODEL_CREATED = "registered_model.created"
    MODEL_VERSION_CREATED = "model_version.created"
    MODEL_VERSION_TAG_SET = "model_version_tag.set"
    MODEL_VERSION_TAG_DELETED = "model_version_tag.deleted"
    MODEL_VERSION_ALIAS_CREATED = "model_version_alias.created"
    MODEL_VERSION_ALIAS_DELETED = "model_version_alias.deleted"
    # Axion's own: every recorded stage move (promotion, archive, rollback, reject, ...),
    # a move a gate refused, a rollback of a model's production version.
    MODEL_VERSION_STAGE_CHANGED = "model_version.stage_changed"
    MODEL_VERSION_PROMOTION_REFUSED = "model_version.promotion_refused"
    REGISTERED_MODEL_ROLLED_BACK = "registered_model.rolled_back"

    @property
    def entity(self) -> str:
        return self.value.split(".")[0]

    @property
    def action(self) -> str:
        return self.value.split(".")[1]

    @property
    def in_mlflow(self) -> bool:
        return self in MLFLOW_EVENTS

    def as_mlflow(self) -> dict[str, str]:
        """The event as the protocol writes it: {"entity": "MODEL_VERSION", "action": ...}."""
        return {"entity": self.entity.upper(), "action": self.action.upper()}


MLFLOW_EVENTS = frozenset({
    Event.REGISTERED_MODEL_CREATED, Event.MODEL_VERSION_CREATED,
    Event.MODEL_VERSION_TAG_SET, Event.MODEL_VERSION_TAG_DELETED,
    Event.MODEL_VERSION_ALIAS_CREATED, Event.MODEL_VERSION_ALIAS_DELETED,
})


class EventError(ValueError):
    """An event this server does not know, with the list of those it does."""


def _known() -> str:
    return ", ".join(event.value for event in Event)


def event_named(name: str) -> Event:
    """An event from its dotted name ("model_version.created"), any case."""
    try:
        return Event(str(name).strip().lower())
    except ValueError:
        raise EventError(f"Unknown webhook event '{name}'; Axion sends {_known()}.") from None


def event_from_mlflow(value: Any) -> Event:
    """An event from the protocol's {"entity", "action"} object (names, any case)."""
    if not isinstance(value, Mapping):
        raise EventError(f"A webhook event must be an object with 'entity' and 'action', "
                         f"not {value!r}.")
    entity, action = value.get("entity"), value.get("action")
    if not isinstance(entity, str) or not isinstance(action, str) or not entity or not action:
        raise EventError(f"A webhook event needs 'entity' and 'action' names, as in "
                         f'{{"entity": "MODEL_VERSION", "action": "CREATED"}}; got {value!r}.')
    if entity.lower().startswith("prompt") or entity.lower() == "budget_policy":
        raise EventError(f"Axion has no {entity.lower()} events (it keeps no prompts or "
                         f"budgets); it sends {_known()}.")
    return event_named(f"{entity}.{action}")


def events_clean(events: Iterable[Event]) -> list[Event]:
    """Distinct events in a stable order; at least one."""
    chosen = sorted(set(events), key=list(Event).index)
    if not chosen:
        raise EventError(f"A webhook needs at least one event; Axion sends {_known()}.")
    return chosen
