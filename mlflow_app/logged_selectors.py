"""Reads for MLflow 3's logged models: by id, searched with MLflow's grammar, in MLflow's
shape, and their files' place in Axion's artifact storage.

A logged model's artifact URI is `mlflow-artifacts:/experiments/<id>/models/<model_id>/
artifacts` (under its experiment's artifact location, as on `mlflow server`), and its storage
folder is the same path: `experiments/<id>/models/<model_id>/artifacts`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from mlflow_app import shapes
from mlflow_app.errors import invalid, not_found
from mlflow_app.grammar import (
    Condition,
    SearchRules,
    parse_checked_filter,
    parse_checked_order_by,
)
from mlflow_app.models import LoggedModel, LoggedModelMetric
from mlflow_app.search import numeric_q, string_q
from models_app import artifacts

ARTIFACT_SCHEME = "mlflow-artifacts:/"
STATUS_NAMES = {LoggedModel.Status.PENDING: "LOGGED_MODEL_PENDING",
                LoggedModel.Status.READY: "LOGGED_MODEL_READY",
                LoggedModel.Status.FAILED: "LOGGED_MODEL_UPLOAD_FAILED"}
LOGGED_MODEL_RULES = SearchRules(
    entities=frozenset({"metric", "param", "tag", "attribute"}),
    string_attributes=frozenset({"name", "model_id", "model_type", "status", "source_run_id"}),
    numeric_attributes=frozenset({"creation_timestamp", "last_updated_timestamp"}),
    list_attributes=frozenset({"name", "model_id", "model_type", "status", "source_run_id"}),
    aliases={"creation_time": "creation_timestamp", "last_updated_time":
             "last_updated_timestamp", "run_id": "source_run_id"},
)
COLUMNS = {"name": "name", "model_id": "model_id", "model_type": "model_type",
           "status": "status", "source_run_id": "source_run__run_id",
           "creation_timestamp": "created_at", "last_updated_timestamp": "updated_at"}


def storage_root(experiment_id: int | str, model_id: str) -> str:
    return f"experiments/{experiment_id}/models/{model_id}/artifacts"


def artifact_uri(model: LoggedModel) -> str:
    return ARTIFACT_SCHEME + model.artifact_root


def logged_model_by_id(model_id: str, *, lock: bool = False,
                       allow_deleted: bool = False) -> LoggedModel:
    if not model_id:
        raise invalid("Missing value for required parameter 'model_id'.")
    queryset = LoggedModel.objects.select_related("experiment", "source_run")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    model = queryset.filter(model_id=model_id).first()
    if model is None or (model.deleted_at is not None and not allow_deleted):
        raise not_found(f"No logged model with id '{model_id}'.")
    return model


def logged_model_at(path: str) -> tuple[LoggedModel, str]:
    """The logged model an mlflow-artifacts path (`experiments/<id>/models/<model_id>/
    artifacts/<relative>`) belongs to, and the path inside its files ("" for the root)."""
    from mlflow_app.selectors import clean_relative

    parts = path.strip("/").split("/", 5)
    if len(parts) < 5 or parts[0] != "experiments" or parts[2] != "models" \
            or parts[4] != "artifacts":
        raise not_found(f"No artifacts at '{path}': a logged model's files are under "
                        "experiments/<id>/models/<model_id>/artifacts/.")
    model = logged_model_by_id(parts[3], allow_deleted=True)
    if str(model.experiment_id) != parts[1]:
        raise not_found(f"No logged model {parts[3]} in experiment {parts[1]}.")
    return model, clean_relative(parts[5] if len(parts) > 5 else "")


def folder_listing(root: str, relative: str) -> list[dict[str, Any]]:
    """One folder level under a storage folder (files with sizes, folders), names relative to
    the folder; a file's own path lists the file alone, as MLflow's proxied listing does."""
    storage = artifacts.artifact_storage()
    location = f"{root}/{relative}" if relative else root
    try:
        dirs, files = storage.listdir(location)
        if relative and not dirs and not files:  # a bucket lists a file as an empty folder
            raise NotADirectoryError(location)
    except (FileNotFoundError, NotADirectoryError):
        if relative and storage.exists(location):
            return [{"path": relative.rsplit("/", 1)[-1], "is_dir": False,
                     "file_size": storage.size(location)}]
        return []
    listed = [{"path": name, "is_dir": True} for name in dirs]
    listed += [{"path": name, "is_dir": False, "file_size": storage.size(f"{location}/{name}")}
               for name in files]
    return sorted(listed, key=lambda item: item["path"])


# --- answers ------------------------------------------------------------------------------

def logged_models_answer(models: list[LoggedModel]) -> list[dict[str, Any]]:
    """Logged models in MLflow's shape (info with tags and registrations, data with params
    and linked metrics); three queries for the lot."""
    from mlflow_app.models import VersionSource

    pks = [model.pk for model in models]
    metrics: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in LoggedModelMetric.objects.filter(logged_model_id__in=pks).order_by("key", "step"):
        metric: dict[str, Any] = {
            "key": row.key, "value": shapes.metric_number(row.value, row.is_nan),
            "timestamp": row.timestamp, "step": row.step, "run_id": row.run_id}
        if row.dataset_name:
            metric.update(dataset_name=row.dataset_name, dataset_digest=row.dataset_digest)
        metrics[row.logged_model_id].append(metric)
    registrations: dict[int, list[dict[str, str]]] = defaultdict(list)
    for logged_id, name, version in VersionSource.objects.filter(
            logged_model_id__in=pks).values_list("logged_model_id", "version__model__name",
                                                 "version__version"):
        registrations[logged_id].append({"name": name, "version": version})
    return [_answer(model, metrics[model.pk], registrations[model.pk]) for model in models]


def _answer(model: LoggedModel, metrics: list[dict[str, Any]],
            registrations: list[dict[str, str]]) -> dict[str, Any]:
    info: dict[str, Any] = {
        "model_id": model.model_id,
        "experiment_id": str(model.experiment_id),
        "name": model.name,
        "creation_timestamp_ms": shapes.to_ms(model.created_at),
        "last_updated_timestamp_ms": shapes.to_ms(model.updated_at),
        "artifact_uri": artifact_uri(model),
        "status": STATUS_NAMES[LoggedModel.Status(model.status)],
        "tags": shapes.pairs(model.tags or {}),
        "registrations": registrations,
    }
    if model.creator_id is not None:
        info["creator_id"] = model.creator_id
    if model.model_type:
        info["model_type"] = model.model_type
    if model.source_run_id is not None and model.source_run is not None:
        info["source_run_id"] = model.source_run.run_id
    if model.status_message:
        info["status_message"] = model.status_message
    return {"info": info, "data": {"params": shapes.pairs(model.params or {}),
                                   "metrics": metrics}}


# --- search -------------------------------------------------------------------------------

def _json_text(field: str, key: str) -> Cast:
    return Cast(KeyTextTransform(key, field), TextField())


def _status_value(condition: Condition) -> Any:
    names = {name: status for status, name in STATUS_NAMES.items()}
    def one(value: str) -> str:
        return names.get(value.upper(), value.upper())
    if isinstance(condition.value, tuple):
        return tuple(one(item) for item in condition.value)
    return one(str(condition.value))


def _condition_q(condition: Condition, number: int,
                 queryset: QuerySet[LoggedModel]) -> tuple[Q, QuerySet[LoggedModel]]:
    if condition.kind == "metric":
        rows = LoggedModelMetric.objects.filter(logged_model=OuterRef("pk"), key=condition.key,
                                                is_nan=False)
        return Q(Exists(rows.filter(numeric_q("value", condition.comparator,
                                              condition.value)))), queryset
    if condition.kind in ("param", "tag"):
        field = "params" if condition.kind == "param" else "tags"
        if condition.comparator in ("IS NULL", "IS NOT NULL"):
            present = Q(**{f"{field}__has_key": condition.key})
            return (present if condition.comparator == "IS NOT NULL" else ~present), queryset
        alias = f"_{field}_{number}"
        queryset = queryset.alias(**{alias: _json_text(field, condition.key)})
        return string_q(alias, condition.comparator, condition.value), queryset
    column = COLUMNS[condition.key]
    if condition.key in ("creation_timestamp", "last_updated_timestamp"):
        assert isinstance(condition.value, float)
        return numeric_q(column, condition.comparator,
                         shapes.from_ms(int(condition.value))), queryset
    value = _status_value(condition) if condition.key == "status" else condition.value
    return string_q(column, condition.comparator, value), queryset


def _order_clause(raw: Any) -> Any:
    """One of the client's order_by entries ({field_name, ascending}) as an ORM ordering."""
    if not isinstance(raw, dict) or not isinstance(raw.get("field_name"), str):
        raise invalid("Each order_by entry is an object with a 'field_name'.")
    order = parse_checked_order_by(raw["field_name"], LOGGED_MODEL_RULES)
    ascending = raw.get("ascending", True) is not False
    expression: Any
    if order.kind == "metric":
        expression = Subquery(LoggedModelMetric.objects.filter(
            logged_model=OuterRef("pk"), key=order.key, is_nan=False)
            .order_by("-step", "-timestamp").values("value")[:1])
    elif order.kind in ("param", "tag"):
        expression = _json_text("params" if order.kind == "param" else "tags", order.key)
    else:
        expression = F(COLUMNS[order.key])
    return expression.asc(nulls_last=True) if ascending else expression.desc(nulls_last=True)


def logged_models_search(*, experiment_ids: list[str], filter_string: str,
                         order_by: list[Any], offset: int, limit: int) -> list[LoggedModel]:
    """One page of logged models plus one more (so the caller knows whether another page
    follows), newest first unless ordered otherwise; deleted ones are left out."""
    from mlflow_app.selectors import experiment_by_id

    conditions = parse_checked_filter(filter_string, LOGGED_MODEL_RULES)
    clauses = [_order_clause(raw) for raw in order_by]
    ids = [experiment_by_id(ref).pk for ref in experiment_ids]
    queryset = LoggedModel.objects.filter(experiment_id__in=ids, deleted_at__isnull=True)
    for number, condition in enumerate(conditions):
        q, queryset = _condition_q(condition, number, queryset)
        queryset = queryset.filter(q)
    queryset = queryset.order_by(*clauses, F("created_at").desc(), "model_id")
    return list(queryset.select_related("source_run")[offset:offset + limit + 1])
