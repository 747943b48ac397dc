"""MLflow's tracking REST API (/api/2.0/mlflow/...) on Axion's experiments and runs.

Each view reads the request message, calls one Axion service or selector, and answers in
MLflow's shape (mlflow_app.shapes). Field names are those of MLflow's service.proto.
"""

from __future__ import annotations

from typing import Any

from experiments_app import services as tracking
from experiments_app.services import mlflow_support
from mlflow_app import selectors, services, shapes
from mlflow_app.api.dispatch import Call, endpoint
from mlflow_app.errors import ENDPOINT_NOT_FOUND, MlflowError, invalid

SEARCH_RUNS_DEFAULT = 1000
SEARCH_EXPERIMENTS_DEFAULT = 1000


def _tags(body: dict[str, Any]) -> dict[str, str]:
    return {str(item.get("key")): item.get("value") or ""
            for item in shapes.key_values(body, "tags")}


def _run_id(body: dict[str, Any]) -> str:
    return shapes.text(body, "run_id") or shapes.text(body, "run_uuid", required=True)


def _experiment(body: dict[str, Any]) -> Any:
    return selectors.experiment_by_id(shapes.text(body, "experiment_id", required=True))


def _one_run(run: Any) -> dict[str, Any]:
    return selectors.runs_answer([run])[0]


# --- experiments --------------------------------------------------------------------------

@endpoint("POST")
def experiment_create(call: Call) -> dict[str, Any]:
    tags = _tags(call.body)
    description = tags.pop(shapes.NOTE_TAG, "")
    experiment = tracking.experiment_create(
        name=shapes.text(call.body, "name", required=True), description=description,
        tags=tags, owner=call.user,
    )
    return {"experiment_id": str(experiment.pk)}


@endpoint("GET")
def experiment_get(call: Call) -> dict[str, Any]:
    return {"experiment": shapes.experiment(_experiment(call.body))}


@endpoint("GET")
def experiment_get_by_name(call: Call) -> dict[str, Any]:
    name = shapes.text(call.body, "experiment_name", required=True)
    return {"experiment": shapes.experiment(selectors.experiment_by_name(name))}


@endpoint("POST")
def experiment_search(call: Call) -> dict[str, Any]:
    limit = shapes.max_results(call.body, SEARCH_EXPERIMENTS_DEFAULT)
    offset = shapes.page_offset(shapes.text(call.body, "page_token"))
    found = selectors.experiments_search(
        filter_string=shapes.text(call.body, "filter"),
        order_by=shapes.strings(call.body, "order_by"),
        view=shapes.view_type(call.body.get("view_type")), offset=offset, limit=limit,
    )
    return shapes.page("experiments", found, lambda page: [shapes.experiment(e) for e in page],
                       offset=offset, limit=limit)


def _set_archived(call: Call, archived: bool) -> dict[str, Any]:
    tracking.experiment_update(experiment=_experiment(call.body), archived=archived,
                               actor=call.user)
    return {}


@endpoint("POST")
def experiment_delete(call: Call) -> dict[str, Any]:
    return _set_archived(call, True)


@endpoint("POST")
def experiment_restore(call: Call) -> dict[str, Any]:
    return _set_archived(call, False)


@endpoint("POST")
def experiment_update(call: Call) -> dict[str, Any]:
    new_name = shapes.text(call.body, "new_name")
    experiment = _experiment(call.body)
    if new_name:
        mlflow_support.experiment_rename(experiment=experiment, name=new_name, actor=call.user)
    return {}


@endpoint("POST")
def experiment_set_tag(call: Call) -> dict[str, Any]:
    experiment = _experiment(call.body)
    key = shapes.text(call.body, "key", required=True)
    value = shapes.text(call.body, "value")
    if key == shapes.NOTE_TAG:
        tracking.experiment_update(experiment=experiment, description=value, actor=call.user)
    else:
        mlflow_support.experiment_tag_set(experiment=experiment, key=key, value=value,
                                          actor=call.user)
    return {}


@endpoint("POST")
def experiment_delete_tag(call: Call) -> dict[str, Any]:
    mlflow_support.experiment_tag_delete(
        experiment=_experiment(call.body), key=shapes.text(call.body, "key", required=True),
        actor=call.user,
    )
    return {}


# --- runs -------------------------------------------------------------------------------

@endpoint("POST")
def run_create(call: Call) -> dict[str, Any]:
    run = services.run_start(
        experiment=_experiment(call.body), user=call.user,
        run_name=shapes.text(call.body, "run_name"),
        start_time=shapes.from_ms(shapes.integer(call.body, "start_time")),
        tags=_tags(call.body),
    )
    return {"run": _one_run(selectors.run_by_id(run.run_id))}


@endpoint("GET")
def run_get(call: Call) -> dict[str, Any]:
    return {"run": _one_run(selectors.run_by_id(_run_id(call.body)))}


@endpoint("POST")
def run_update(call: Call) -> dict[str, Any]:
    status = shapes.text(call.body, "status")
    run = services.run_change(
        run=selectors.run_by_id(_run_id(call.body)),
        status=shapes.axion_status(status) if status else None,
        end_time=shapes.from_ms(shapes.integer(call.body, "end_time")),
        run_name=shapes.text(call.body, "run_name") or None, actor=call.user,
    )
    return {"run_info": _one_run(selectors.run_by_id(run.run_id))["info"]}


@endpoint("POST")
def run_delete(call: Call) -> dict[str, Any]:
    services.run_delete(run=selectors.run_by_id(_run_id(call.body)), actor=call.user)
    return {}


@endpoint("POST")
def run_restore(call: Call) -> dict[str, Any]:
    services.run_restore(run=selectors.run_by_id(_run_id(call.body)), actor=call.user)
    return {}


@endpoint("POST")
def run_search(call: Call) -> dict[str, Any]:
    limit = shapes.max_results(call.body, SEARCH_RUNS_DEFAULT)
    offset = shapes.page_offset(shapes.text(call.body, "page_token"))
    experiment_ids = shapes.strings(call.body, "experiment_ids")
    if not experiment_ids:
        raise invalid("Give experiment_ids: the experiments to search.")
    found = selectors.runs_search(
        experiment_ids=experiment_ids, filter_string=shapes.text(call.body, "filter"),
        order_by=shapes.strings(call.body, "order_by"),
        view=shapes.view_type(call.body.get("run_view_type")), offset=offset, limit=limit,
    )
    return shapes.page("runs", found, selectors.runs_answer, offset=offset, limit=limit)


@endpoint("POST")
def run_log_metric(call: Call) -> dict[str, Any]:
    run_id = _run_id(call.body)
    selectors.run_require_active(run_id)
    tracking.metric_log(
        run_id=run_id, key=call.body.get("key"), value=call.body.get("value"),
        step=shapes.integer(call.body, "step", default=0),
        timestamp=shapes.integer(call.body, "timestamp"), actor=call.user,
    )
    return {}


@endpoint("POST")
def run_log_param(call: Call) -> dict[str, Any]:
    run_id = _run_id(call.body)
    selectors.run_require_active(run_id)
    tracking.params_log(
        run_id=run_id, params={shapes.text(call.body, "key", required=True):
                               call.body.get("value")},
        actor=call.user,
    )
    return {}


@endpoint("POST")
def run_log_batch(call: Call) -> dict[str, Any]:
    services.run_batch_log(run_id=_run_id(call.body), body=call.body, actor=call.user)
    return {}


@endpoint("POST")
def run_set_tag(call: Call) -> dict[str, Any]:
    services.run_tags_set(
        run=selectors.run_by_id(_run_id(call.body)),
        tags={shapes.text(call.body, "key", required=True): shapes.text(call.body, "value")},
        actor=call.user,
    )
    return {}


@endpoint("POST")
def run_delete_tag(call: Call) -> dict[str, Any]:
    run = selectors.run_by_id(_run_id(call.body))
    selectors.run_require_active(run.run_id)
    tracking.tag_delete(run=run, key=shapes.text(call.body, "key", required=True),
                        actor=call.user)
    return {}


@endpoint("POST")
def run_log_inputs(call: Call) -> dict[str, Any]:
    services.run_inputs_log(run=selectors.run_by_id(_run_id(call.body)),
                            inputs=shapes.key_values(call.body, "datasets"), actor=call.user)
    return {}


@endpoint("GET")
def metric_history(call: Call) -> dict[str, Any]:
    key = shapes.text(call.body, "metric_key", required=True)
    points = selectors.metric_points(selectors.run_by_id(_run_id(call.body)), key)
    limit = shapes.integer(call.body, "max_results")
    if limit is None:
        return {"metrics": points}
    offset = shapes.page_offset(shapes.text(call.body, "page_token"))
    answer: dict[str, Any] = {"metrics": points[offset:offset + limit]}
    if offset + limit < len(points):
        answer["next_page_token"] = shapes.page_token(offset + limit)
    return answer


@endpoint("GET")
def artifact_list(call: Call) -> dict[str, Any]:
    run = selectors.run_by_id(_run_id(call.body))
    path = shapes.text(call.body, "path").strip("/")
    listing = selectors.artifact_listing(run, selectors.clean_relative(path))
    prefix = f"{path}/" if path else ""
    return {"root_uri": shapes.run_artifact_uri(run.run_id),
            "files": [{**item, "path": prefix + item["path"]} for item in listing]}


@endpoint("GET", anonymous=True, read_body=False)
def server_info(call: Call) -> dict[str, Any]:
    """What the client asks before it uses artifacts and workspaces: no workspaces, no
    multipart (every upload is one streamed PUT)."""
    return {"store_type": "SqlStore", "workspaces_enabled": False,
            "trace_archival_enabled": False, "multipart_uploads_enabled": False,
            "multipart_downloads_enabled": False,
            "presigned_upload_run_id_supported": False,
            "presigned_upload_model_id_supported": False, "features_enabled": {}}


@endpoint("GET", "POST", "PUT", "PATCH", "DELETE", anonymous=True, read_body=False)
def not_supported(call: Call) -> dict[str, Any]:
    raise MlflowError(ENDPOINT_NOT_FOUND, f"{call.request.path} is not part of Axion's MLflow "
                      "API yet (tracking and proxied artifacts are).", 404)
