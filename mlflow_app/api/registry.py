"""MLflow's model-registry REST API (/api/2.0/mlflow/registered-models/..., model-versions/...)
on Axion's registered models, versions, aliases and lifecycle.

Each view reads the request message, calls one service or selector, and answers in MLflow's
shape (mlflow_app.registry_shapes). Field names are those of MLflow's model_registry.proto.
"""

from __future__ import annotations

from typing import Any

from mlflow_app import logged, shapes
from mlflow_app import registry_selectors as selectors
from mlflow_app import registry_services as services
from mlflow_app import registry_shapes as rshapes
from mlflow_app.api.dispatch import Call, endpoint
from mlflow_app.errors import INVALID_STATE, MlflowError, invalid
from models_app import services as registry
from models_app.errors import GateRefused
from models_app.models import ModelVersion, RegisteredModel

MODELS_DEFAULT, MODELS_LIMIT = 100, 1000
VERSIONS_DEFAULT, VERSIONS_LIMIT = 10_000, 200_000


def _model(body: dict[str, Any]) -> RegisteredModel:
    return selectors.model_by_name(shapes.text(body, "name", required=True))


def _version(body: dict[str, Any]) -> ModelVersion:
    return selectors.version_named(shapes.text(body, "name", required=True),
                                   shapes.text(body, "version", required=True))


def _limit(body: dict[str, Any], default: int, limit: int) -> int:
    count = shapes.integer(body, "max_results", default=default)
    assert count is not None
    if not 1 <= count <= limit:
        raise invalid(f"max_results is {count}; give a number from 1 to {limit}.")
    return count


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value in (None, "", False, "false", "False"):
        return False
    if value in (True, "true", "True"):
        return True
    raise invalid(f"Parameter '{name}' must be true or false, not {value!r}.")


# --- registered models --------------------------------------------------------------------

@endpoint("POST")
def model_create(call: Call) -> dict[str, Any]:
    tags = rshapes.tag_dict(shapes.key_values(call.body, "tags"))
    selectors.require_not_prompt(tags)
    model = services.model_create(
        name=shapes.text(call.body, "name", required=True),
        description=shapes.text(call.body, "description"), tags=tags, actor=call.user,
    )
    return {"registered_model": selectors.model_answer(model)}


@endpoint("GET")
def model_get(call: Call) -> dict[str, Any]:
    return {"registered_model": selectors.model_answer_by_name(
        shapes.text(call.body, "name", required=True))}


@endpoint("PATCH")
def model_update(call: Call) -> dict[str, Any]:
    model = _model(call.body)
    if "description" in call.body:
        model = registry.model_update(model=model, actor=call.user,
                                      description=shapes.text(call.body, "description"),
                                      source=services.SOURCE)
    return {"registered_model": selectors.model_answer(model)}


@endpoint("POST")
def model_rename(call: Call) -> dict[str, Any]:
    model = services.model_rename(model=_model(call.body),
                                  new_name=shapes.text(call.body, "new_name", required=True),
                                  actor=call.user)
    return {"registered_model": selectors.model_answer(model)}


@endpoint("DELETE")
def model_delete(call: Call) -> dict[str, Any]:
    services.model_delete(model=_model(call.body), actor=call.user)
    return {}


@endpoint("GET")
def model_search(call: Call) -> dict[str, Any]:
    limit = _limit(call.body, MODELS_DEFAULT, MODELS_LIMIT)
    offset = shapes.page_offset(shapes.text(call.body, "page_token"))
    found = selectors.models_search(
        filter_string=shapes.text(call.body, "filter"),
        order_by=shapes.strings(call.body, "order_by"), offset=offset, limit=limit,
    )
    return shapes.page("registered_models", found, selectors.models_answer,
                       offset=offset, limit=limit)


@endpoint("GET", "POST")
def latest_versions(call: Call) -> dict[str, Any]:
    model = _model(call.body)
    stages = [rshapes.canonical_stage(s) for s in shapes.strings(call.body, "stages")]
    found = selectors.latest_versions([model], stages or None).get(model.pk, [])
    return {"model_versions": selectors.versions_answer(found)}


@endpoint("POST")
def model_tag_set(call: Call) -> dict[str, Any]:
    services.model_tag_set(model=_model(call.body),
                           key=shapes.text(call.body, "key", required=True),
                           value=shapes.text(call.body, "value"), actor=call.user)
    return {}


@endpoint("DELETE")
def model_tag_delete(call: Call) -> dict[str, Any]:
    services.model_tag_delete(model=_model(call.body),
                              key=shapes.text(call.body, "key", required=True),
                              actor=call.user)
    return {}


@endpoint("GET", "POST", "DELETE")
def alias(call: Call) -> dict[str, Any]:
    """GET: the version an alias names; POST: set it; DELETE: remove it."""
    if call.request.method == "GET":
        return {"model_version": selectors.version_answer_by_alias(
            shapes.text(call.body, "name", required=True),
            shapes.text(call.body, "alias", required=True))}
    model = _model(call.body)
    name = shapes.text(call.body, "alias", required=True)
    if call.request.method == "POST":
        version = selectors.version_by_number(model, shapes.text(call.body, "version",
                                                                 required=True))
        registry.alias_set(model=model, alias=name, version=version, actor=call.user,
                           source=services.SOURCE)
    else:
        registry.alias_delete(model=model, alias=name, actor=call.user,
                              source=services.SOURCE)
    return {}


# --- model versions -----------------------------------------------------------------------

@endpoint("POST")
def version_create(call: Call) -> dict[str, Any]:
    model = _model(call.body)
    tags = rshapes.tag_dict(shapes.key_values(call.body, "tags"))
    source = shapes.text(call.body, "source", required=True)
    version = logged.version_from_source(
        model=model, source=source, run_id=shapes.text(call.body, "run_id"), user=call.user,
        description=shapes.text(call.body, "description"), tags=tags,
    )
    return {"model_version": selectors.version_answer(version)}


@endpoint("GET")
def version_get(call: Call) -> dict[str, Any]:
    return {"model_version": selectors.version_answer(_version(call.body))}


@endpoint("PATCH")
def version_update(call: Call) -> dict[str, Any]:
    version = _version(call.body)
    if "description" in call.body:
        version = registry.version_update(
            version=version, actor=call.user,
            description=shapes.text(call.body, "description"), source=services.SOURCE,
        )
    return {"model_version": selectors.version_answer(version)}


@endpoint("DELETE")
def version_delete(call: Call) -> dict[str, Any]:
    services.version_delete(version=_version(call.body), actor=call.user)
    return {}


@endpoint("GET")
def version_search(call: Call) -> dict[str, Any]:
    limit = _limit(call.body, VERSIONS_DEFAULT, VERSIONS_LIMIT)
    offset = shapes.page_offset(shapes.text(call.body, "page_token"))
    found = selectors.versions_search(
        filter_string=shapes.text(call.body, "filter"),
        order_by=shapes.strings(call.body, "order_by"), offset=offset, limit=limit,
    )
    return shapes.page("model_versions", found, selectors.versions_answer,
                       offset=offset, limit=limit)


@endpoint("POST")
def version_transition(call: Call) -> dict[str, Any]:
    version = _version(call.body)
    try:
        services.version_stage_move(
            version=version, stage=shapes.text(call.body, "stage", required=True),
            archive_existing=_flag(call.body, "archive_existing_versions"), actor=call.user,
        )
    except GateRefused as exc:
        report = (exc.details or {}).get("gate_report", [])
        raise MlflowError(INVALID_STATE, rshapes.gate_message(exc.message, report),
                          409) from exc
    return {"model_version": selectors.version_answer(version)}


@endpoint("GET")
def version_download_uri(call: Call) -> dict[str, Any]:
    return {"artifact_uri": logged.version_download_uri(_version(call.body))}


@endpoint("POST")
def version_tag_set(call: Call) -> dict[str, Any]:
    services.version_tag_set(version=_version(call.body),
                             key=shapes.text(call.body, "key", required=True),
                             value=shapes.text(call.body, "value"), actor=call.user)
    return {}


@endpoint("DELETE")
def version_tag_delete(call: Call) -> dict[str, Any]:
    services.version_tag_delete(version=_version(call.body),
                                key=shapes.text(call.body, "key", required=True),
                                actor=call.user)
    return {}
