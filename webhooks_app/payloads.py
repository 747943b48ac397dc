"""What each event says: MLflow's payload fields where MLflow has the event, plus Axion's
(`axion_version`, the semver; stages; who acted). The body of a delivery is MLflow's
envelope: {"entity", "action", "timestamp", "data"}."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models_app.models import AliasChange, ModelVersion, RegisteredModel, StageTransition
from webhooks_app.events import Event


def envelope(event: Event, data: dict[str, Any], moment: datetime) -> dict[str, Any]:
    return {"entity": event.entity, "action": event.action, "timestamp": moment.isoformat(),
            "data": data}


def mlflow_version(version: ModelVersion) -> str:
    """The MLflow API's version number: the version's per-model sequence."""
    return str(version.sequence)


def _version(version: ModelVersion) -> dict[str, Any]:
    return {"name": version.model.name, "version": mlflow_version(version),
            "axion_version": version.version}


def _who(user: Any) -> str | None:
    return getattr(user, "username", None) or None


def model_created(model: RegisteredModel) -> dict[str, Any]:
    return {"name": model.name, "tags": dict(model.tags or {}),
            "description": model.description or None}


def version_created(version: ModelVersion) -> dict[str, Any]:
    return {
        **_version(version),
        "source": f"models:/{version.model.name}/{mlflow_version(version)}",
        "run_id": version.source_run_id or None,
        "tags": dict(version.tags or {}),
        "description": version.description or None,
        "stage": version.stage,
    }


def stage_changed(transition: StageTransition) -> dict[str, Any]:
    return {
        **_version(transition.version),
        "from_stage": transition.from_stage,
        "to_stage": transition.to_stage,
        "kind": transition.kind,
        "actor": _who(transition.actor),
        "reason": transition.reason,
        "source": transition.source,
    }


def move_refused(version: ModelVersion, *, to_stage: str, actor: Any, message: str,
                 gate_report: list[Any]) -> dict[str, Any]:
    return {**_version(version), "stage": version.stage, "to_stage": to_stage,
            "actor": _who(actor), "message": message, "gate_report": gate_report}


def rolled_back(transition: StageTransition, replaced: ModelVersion) -> dict[str, Any]:
    restored = transition.version
    return {
        "name": restored.model.name,
        "version": mlflow_version(restored),
        "axion_version": restored.version,
        "replaced_version": mlflow_version(replaced),
        "replaced_axion_version": replaced.version,
        "actor": _who(transition.actor),
        "reason": transition.reason,
    }


def tag_set(version: ModelVersion, key: str, value: str) -> dict[str, Any]:
    return {**_version(version), "key": key, "value": value}


def tag_deleted(version: ModelVersion, key: str) -> dict[str, Any]:
    return {**_version(version), "key": key}


def alias_changed(change: AliasChange) -> dict[str, Any]:
    data: dict[str, Any] = {"name": change.model.name, "alias": change.alias}
    if change.to_version is not None:
        data.update(version=mlflow_version(change.to_version),
                    axion_version=change.to_version.version)
    if change.from_version is not None:
        data["previous_axion_version"] = change.from_version.version
    data.update(actor=_who(change.actor), source=change.source)
    return data


EXAMPLES: dict[Event, dict[str, Any]] = {
    Event.REGISTERED_MODEL_CREATED: {"name": "example_model", "tags": {"example_key":
                                     "example_value"}, "description": "An example model"},
    Event.MODEL_VERSION_CREATED: {"name": "example_model", "version": "1",
                                  "axion_version": "1.0.0", "source": "models:/example_model/1",
                                  "run_id": "abcd1234abcd5678", "tags": {},
                                  "description": "An example model version", "stage": "draft"},
    Event.MODEL_VERSION_TAG_SET: {"name": "example_model", "version": "1",
                                  "key": "example_key", "value": "example_value"},
    Event.MODEL_VERSION_TAG_DELETED: {"name": "example_model", "version": "1",
                                      "key": "example_key"},
    Event.MODEL_VERSION_ALIAS_CREATED: {"name": "example_model", "alias": "champion",
                                        "version": "1", "axion_version": "1.0.0"},
    Event.MODEL_VERSION_ALIAS_DELETED: {"name": "example_model", "alias": "champion"},
    Event.MODEL_VERSION_STAGE_CHANGED: {"name": "example_model", "version": "1",
                                        "axion_version": "1.0.0", "from_stage": "staging",
                                        "to_stage": "production", "kind": "promote",
                                        "actor": "example_user", "reason": "", "source": ""},
    Event.MODEL_VERSION_PROMOTION_REFUSED: {
        "name": "example_model", "version": "1", "axion_version": "1.0.0", "stage": "staging",
        "to_stage": "production", "actor": "example_user",
        "message": "example_model@1.0.0 may not enter production: auc 0.6 < 0.7",
        "gate_report": [{"gate": "min_metric:auc", "passed": False}]},
    Event.REGISTERED_MODEL_ROLLED_BACK: {
        "name": "example_model", "version": "1", "axion_version": "1.0.0",
        "replaced_version": "2", "replaced_axion_version": "1.1.0", "actor": "example_user",
        "reason": "latency"},
}
