"""MLflow 3's logged-model REST API (/api/2.0/mlflow/logged-models/...) and run outputs.

Field names are those of MLflow's service.proto (CreateLoggedModel, GetLoggedModel,
FinalizeLoggedModel, DeleteLoggedModel, SetLoggedModelTags, DeleteLoggedModelTag,
LogLoggedModelParamsRequest, SearchLoggedModels, ListLoggedModelArtifacts, LogOutputs).
"""

from __future__ import annotations

from typing import Any

from mlflow_app import logged_selectors, logged_services, selectors, shapes
from mlflow_app.api.dispatch import Call, endpoint
from mlflow_app.errors import invalid

SEARCH_DEFAULT = 100


def _one(model: Any) -> dict[str, Any]:
    return {"model": logged_selectors.logged_models_answer([model])[0]}


@endpoint("POST")
def logged_model_create(call: Call) -> dict[str, Any]:
    run_id = shapes.text(call.body, "source_run_id")
    model = logged_services.logged_model_create(
        experiment=selectors.experiment_by_id(
            shapes.text(call.body, "experiment_id", required=True)),
        name=shapes.text(call.body, "name"), model_type=shapes.text(call.body, "model_type"),
        source_run=selectors.run_by_id(run_id) if run_id else None,
        params=shapes.key_values(call.body, "params"), tags=shapes.key_values(call.body, "tags"),
        actor=call.user,
    )
    return _one(model)


@endpoint("GET", "PATCH", "DELETE")
def logged_model(call: Call) -> dict[str, Any]:
    """GET reads it, PATCH finalizes it (status READY or UPLOAD_FAILED), DELETE deletes it."""
    model_id = call.kwargs["model_id"]
    if call.request.method == "PATCH":
        status = call.body.get("status")
        if status in (None, ""):
            raise invalid("Missing value for required parameter 'status'.")
        return _one(logged_services.logged_model_finalize(model_id=model_id, status=status,
                                                          actor=call.user))
    if call.request.method == "DELETE":
        logged_services.logged_model_delete(model_id=model_id, actor=call.user)
        return {}
    allow_deleted = str(call.body.get("allow_deleted", "")).lower() == "true"
    return _one(logged_selectors.logged_model_by_id(model_id, allow_deleted=allow_deleted))


@endpoint("PATCH")
def logged_model_set_tags(call: Call) -> dict[str, Any]:
    logged_services.logged_model_tags_set(model_id=call.kwargs["model_id"],
                                          tags=shapes.key_values(call.body, "tags"),
                                          actor=call.user)
    return {}


@endpoint("DELETE")
def logged_model_delete_tag(call: Call) -> dict[str, Any]:
    logged_services.logged_model_tag_delete(model_id=call.kwargs["model_id"],
                                            key=call.kwargs["tag_key"], actor=call.user)
    return {}


@endpoint("POST")
def logged_model_log_params(call: Call) -> dict[str, Any]:
    logged_services.logged_model_params_log(model_id=call.kwargs["model_id"],
                                            params=shapes.key_values(call.body, "params"),
                                            actor=call.user)
    return {}


@endpoint("POST")
def logged_model_search(call: Call) -> dict[str, Any]:
    experiment_ids = shapes.strings(call.body, "experiment_ids")
    if not experiment_ids:
        raise invalid("Give experiment_ids: the experiments to search.")
    if call.body.get("datasets"):
        raise invalid("Searching logged models by dataset is not supported; filter on "
                      "metrics, params, tags or attributes.")
    order_by = call.body.get("order_by") or []
    if not isinstance(order_by, list):
        raise invalid("order_by must be a list of {field_name, ascending} objects.")
    limit = shapes.max_results(call.body, SEARCH_DEFAULT)
    offset = shapes.page_offset(shapes.text(call.body, "page_token"))
    found = logged_selectors.logged_models_search(
        experiment_ids=experiment_ids, filter_string=shapes.text(call.body, "filter"),
        order_by=order_by, offset=offset, limit=limit,
    )
    return shapes.page("models", found, logged_selectors.logged_models_answer,
                       offset=offset, limit=limit)


@endpoint("GET")
def logged_model_artifacts(call: Call) -> dict[str, Any]:
    model = logged_selectors.logged_model_by_id(call.kwargs["model_id"])
    path = shapes.text(call.body, "artifact_directory_path").strip("/")
    listing = logged_selectors.folder_listing(model.artifact_root,
                                              selectors.clean_relative(path))
    prefix = f"{path}/" if path else ""
    return {"root_uri": logged_selectors.artifact_uri(model),
            "files": [{**item, "path": prefix + item["path"]} for item in listing]}


@endpoint("POST")
def run_log_outputs(call: Call) -> dict[str, Any]:
    run_id = shapes.text(call.body, "run_id", required=True)
    logged_services.run_outputs_log(run=selectors.run_by_id(run_id),
                                    outputs=shapes.key_values(call.body, "models"),
                                    actor=call.user)
    return {}
