"""Axion's registry events, as webhook events. Every receiver runs inside the event's
transaction (models_app.signals) and only writes delivery rows."""

from __future__ import annotations

from typing import Any

from models_app import signals
from models_app.models import ModelVersion
from webhooks_app import payloads, services
from webhooks_app.events import Event


def _model_created(sender: Any, *, model: Any, **_: Any) -> None:
    services.event_record(event=Event.REGISTERED_MODEL_CREATED,
                          data=payloads.model_created(model))


def _version_created(sender: Any, *, version: Any, **_: Any) -> None:
    services.event_record(event=Event.MODEL_VERSION_CREATED,
                          data=payloads.version_created(version))


def _stage_changed(sender: Any, *, transition: Any, **_: Any) -> None:
    services.event_record(event=Event.MODEL_VERSION_STAGE_CHANGED,
                          data=payloads.stage_changed(transition))


def _rolled_back(sender: Any, *, transition: Any, replaced: Any, **_: Any) -> None:
    services.event_record(event=Event.REGISTERED_MODEL_ROLLED_BACK,
                          data=payloads.rolled_back(transition, replaced))


def _move_refused(sender: Any, *, version: Any, to_stage: str, actor: Any, message: str,
                  gate_report: list[Any], **_: Any) -> None:
    # The refused move's transaction is gone: the deliveries get their own.
    services.event_record(event=Event.MODEL_VERSION_PROMOTION_REFUSED,
                          data=payloads.move_refused(version, to_stage=to_stage, actor=actor,
                                                     message=message, gate_report=gate_report))


def _alias_changed(sender: Any, **kwargs: Any) -> None:
    """models_app's alias signal: alias, the model (or model_name), and the version it now
    names (None once the alias is deleted)."""
    version = kwargs.get("version")
    if version is not None and not isinstance(version, ModelVersion):
        version = ModelVersion.objects.select_related("model").filter(pk=version).first()
    model = kwargs.get("model")
    name = kwargs.get("model_name") or getattr(model, "name", "") or (
        version.model.name if version is not None else "")
    event = (Event.MODEL_VERSION_ALIAS_CREATED if version is not None
             else Event.MODEL_VERSION_ALIAS_DELETED)
    services.event_record(event=event,
                          data=payloads.alias_changed(name, str(kwargs.get("alias", "")), version))


def connect() -> None:
    uid = "webhooks_app"
    signals.model_created.connect(_model_created, dispatch_uid=f"{uid}.model_created")
    signals.version_created.connect(_version_created, dispatch_uid=f"{uid}.version_created")
    signals.stage_changed.connect(_stage_changed, dispatch_uid=f"{uid}.stage_changed")
    signals.model_rolled_back.connect(_rolled_back, dispatch_uid=f"{uid}.rolled_back")
    signals.move_refused.connect(_move_refused, dispatch_uid=f"{uid}.move_refused")
    # The alias signal arrives with the aliases feature; subscribed by name until then.
    alias_changed = getattr(signals, "alias_changed", None)
    if alias_changed is not None:
        alias_changed.connect(_alias_changed, dispatch_uid=f"{uid}.alias_changed")
