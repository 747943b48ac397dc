"""Axion's registry events, as webhook events. Every receiver runs inside the event's
transaction (models_app.signals) and only writes delivery rows."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save

from models_app import signals
from models_app.models import AliasChange
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


def _tags_changed(sender: Any, *, version: Any, old: dict[str, str], new: dict[str, str],
                  **_: Any) -> None:
    """One event per key: set (new or changed value) or deleted, as MLflow sends them."""
    for key, value in new.items():
        if old.get(key) != value:
            services.event_record(event=Event.MODEL_VERSION_TAG_SET,
                                  data=payloads.tag_set(version, key, value))
    for key in old.keys() - new.keys():
        services.event_record(event=Event.MODEL_VERSION_TAG_DELETED,
                              data=payloads.tag_deleted(version, key))


def _alias_changed(sender: Any, *, instance: AliasChange, created: bool, **_: Any) -> None:
    """Every alias set, move and delete writes one AliasChange row, in its transaction."""
    if not created:
        return
    event = (Event.MODEL_VERSION_ALIAS_CREATED if instance.to_version is not None
             else Event.MODEL_VERSION_ALIAS_DELETED)
    services.event_record(event=event, data=payloads.alias_changed(instance))


def connect() -> None:
    uid = "webhooks_app"
    signals.model_created.connect(_model_created, dispatch_uid=f"{uid}.model_created")
    signals.version_created.connect(_version_created, dispatch_uid=f"{uid}.version_created")
    signals.stage_changed.connect(_stage_changed, dispatch_uid=f"{uid}.stage_changed")
    signals.model_rolled_back.connect(_rolled_back, dispatch_uid=f"{uid}.rolled_back")
    signals.move_refused.connect(_move_refused, dispatch_uid=f"{uid}.move_refused")
    signals.version_tags_changed.connect(_tags_changed, dispatch_uid=f"{uid}.tags_changed")
    # models_app.signals.alias_changed comes after commit; the audit row's own save is
    # inside the alias change's transaction, where an outbox row belongs.
    post_save.connect(_alias_changed, sender=AliasChange, dispatch_uid=f"{uid}.alias_changed")
