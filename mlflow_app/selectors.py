"""Reads for the MLflow protocol: experiments and runs by MLflow id, searches with MLflow's
filter grammar, runs in MLflow's shape, one level of a run's artifact folder."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from experiments_app import errors as tracking_errors
from experiments_app import selectors as tracking
from experiments_app.errors import InvalidArtifactPath, RunNotFound
from experiments_app.models import Experiment, Run
from experiments_app.selectors.artifacts import run_artifact_name, run_artifact_root
from experiments_app.selectors.mlflow_support import runs_latest_points, runs_params
from experiments_app.services import experiment_resolve
from experiments_app.tracking_input import TrackingInputError, clean_artifact_path
from mlflow_app import shapes
from mlflow_app.errors import invalid, not_found
from mlflow_app.grammar import (
    EXPERIMENT_RULES,
    RUN_RULES,
    parse_checked_filter,
    parse_checked_order_by,
)
from mlflow_app.models import RunDeletion, RunInput, RunOutput
from mlflow_app.search import experiments_filter, experiments_order, runs_filter, runs_order
from models_app import artifacts


def experiment_by_id(experiment_id: str) -> Experiment:
    """An experiment by MLflow id; "0", MLflow's default experiment, is the one named
    "Default" (made on first use)."""
    if experiment_id == shapes.DEFAULT_EXPERIMENT_ID:
        return experiment_resolve(reference=shapes.DEFAULT_EXPERIMENT_NAME, create=True)
    if not (experiment_id.isascii() and experiment_id.isdigit()):
        raise not_found(f"No experiment with id '{experiment_id}'.")
    return tracking.experiment_get(experiment_id=experiment_id)


def experiment_by_name(name: str) -> Experiment:
    found = Experiment.objects.filter(name=name).first()
    if found is None:
        raise not_found(f"Could not find experiment with name '{name}'.")
    return found


def run_by_id(run_id: str) -> Run:
    if not run_id:
        raise invalid("Missing value for required parameter 'run_id'.")
    return tracking.run_get(run_id=run_id)


def run_is_deleted(run: Run) -> bool:
    return RunDeletion.objects.filter(run=run).exists()


def run_require_active(run_id: str) -> None:
    """Writes to a deleted run are refused, as on `mlflow server`. Every logging call asks,
    so the question is one plain statement, not a query built per call."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT r.id, d.id FROM {quote(Run._meta.db_table)} r "
            f"LEFT JOIN {quote(RunDeletion._meta.db_table)} d ON d.run_id = r.id "
            "WHERE r.run_id = %s", [run_id])
        row = cursor.fetchone()
    if row is None:
        raise RunNotFound(f"No run with id '{run_id}'.")
    if row[1] is not None:
        raise invalid(f"The run {run_id} is deleted; restore it before writing to it.")


def _view_filter(queryset: QuerySet, view: int, deleted_lookup: str) -> QuerySet:
    if view == 1:
        return queryset.filter(**{deleted_lookup: True})
    if view == 2:
        return queryset.filter(**{deleted_lookup: False})
    return queryset


def experiments_search(*, filter_string: str, order_by: list[str], view: int,
                       offset: int, limit: int) -> list[Experiment]:
    conditions = parse_checked_filter(filter_string, EXPERIMENT_RULES)
    orders = [parse_checked_order_by(clause, EXPERIMENT_RULES) for clause in order_by]
    queryset = Experiment.objects.all()
    if view != 3:
        queryset = queryset.filter(archived=view == 2)
    queryset = experiments_order(experiments_filter(queryset, conditions), orders)
    return list(queryset[offset:offset + limit + 1])


def runs_search(*, experiment_ids: list[str], filter_string: str, order_by: list[str],
                view: int, offset: int, limit: int) -> list[Run]:
    """One page of runs plus one more (so the caller knows whether another page follows)."""
    conditions = parse_checked_filter(filter_string, RUN_RULES)
    orders = [parse_checked_order_by(clause, RUN_RULES) for clause in order_by]
    ids = [int(ref) for ref in experiment_ids if ref.isascii() and ref.isdigit() and ref != "0"]
    queryset = Run.objects.filter(experiment_id__in=ids)
    if shapes.DEFAULT_EXPERIMENT_ID in experiment_ids:
        queryset = Run.objects.filter(experiment_id__in=ids) | Run.objects.filter(
            experiment__name=shapes.DEFAULT_EXPERIMENT_NAME)
    queryset = _view_filter(queryset, view, "mlflow_deletion__isnull")
    queryset = runs_order(runs_filter(queryset, conditions), orders)
    return list(queryset.select_related("user", "parent")[offset:offset + limit + 1])


def runs_answer(runs: list[Run]) -> list[dict[str, Any]]:
    """Runs in MLflow's shape: info, params, latest metrics, tags, dataset inputs, model
    outputs; six queries for the lot."""
    pks = [run.pk for run in runs]
    params = runs_params(pks)
    points = runs_latest_points(pks)
    deleted = set(RunDeletion.objects.filter(run_id__in=pks).values_list("run_id", flat=True))
    inputs = _dataset_inputs(pks)
    outputs = _model_outputs(pks)
    answers = []
    for run in runs:
        parent_id = run.parent.run_id if run.parent_id and run.parent else None
        info = shapes.run_info(
            run_id=run.run_id, name=run.name, experiment_id=run.experiment_id,
            username=run.user.get_username() if run.user else "", status=run.status,
            start_time=run.start_time, end_time=run.end_time, deleted=run.pk in deleted,
        )
        answers.append(shapes.run(
            info,
            metrics=[shapes.metric(*point) for point in points.get(run.pk, [])],
            params=params.get(run.pk, {}),
            tags=shapes.run_tags(run.tags or {}, name=run.name, parent_run_id=parent_id),
            dataset_inputs=inputs.get(run.pk), model_outputs=outputs.get(run.pk),
        ))
    return answers


def _dataset_inputs(run_pks: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item in RunInput.objects.filter(run_id__in=run_pks).select_related("dataset").order_by(
            "pk"):
        dataset = item.dataset
        found[item.run_id].append({
            "tags": shapes.pairs(item.tags or {}),
            "dataset": {"name": dataset.name, "digest": dataset.digest,
                        "source_type": dataset.source_type, "source": dataset.source,
                        "schema": dataset.schema, "profile": dataset.profile},
        })
    return found


def _model_outputs(run_pks: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for run_pk, model_id, step in RunOutput.objects.filter(run_id__in=run_pks).order_by(
            "pk").values_list("run_id", "logged_model__model_id", "step"):
        found[run_pk].append({"model_id": model_id, "step": step})
    return found


def metric_points(run: Run, key: str) -> list[dict[str, Any]]:
    """Every point of a metric in MLflow's shape (none when never logged, as MLflow)."""
    try:
        series = tracking.metric_history(run=run, key=key)
    except tracking_errors.MetricNotFound:
        return []
    return [
        {"key": key, "value": value, "timestamp": stamp, "step": step}
        for step, stamp, value in zip(series["steps"], series["timestamps"], series["values"],
                                      strict=True)
    ]


# --- artifacts ----------------------------------------------------------------------------

def clean_relative(path: str) -> str:
    """A path inside a run's artifacts ("" for its root); one that could escape is refused."""
    try:
        return clean_artifact_path(path, allow_empty=True)
    except TrackingInputError as exc:
        raise InvalidArtifactPath(str(exc)) from exc


def artifact_run(path: str) -> tuple[Run, str]:
    """The run an mlflow-artifacts path (`runs/<run_id>/<relative>`) belongs to, and the
    path inside the run's artifacts ("" for the run's root)."""
    head, _, rest = path.strip("/").partition("/")
    run_id, _, relative = rest.partition("/")
    if head != "runs" or not run_id:
        raise not_found(f"No artifacts at '{path}': artifact paths look like runs/<run_id>/...")
    return run_by_id(run_id), clean_relative(relative)


def artifact_listing(run: Run, relative: str) -> list[dict[str, Any]]:
    """One folder level (files with sizes, folders), names relative to the folder; a file's
    own path lists the file alone, as MLflow's proxied listing does."""
    storage = artifacts.artifact_storage()
    location = (run_artifact_name(run.run_id, relative) if relative
                else run_artifact_root(run.run_id))
    try:
        dirs, files = storage.listdir(location)
        if relative and not dirs and not files:  # a bucket lists a file as an empty folder
            raise NotADirectoryError(location)
    except (FileNotFoundError, NotADirectoryError):
        if relative and storage.exists(location):
            name = relative.rsplit("/", 1)[-1]
            return [{"path": name, "is_dir": False, "file_size": storage.size(location)}]
        return []
    listed = [{"path": name, "is_dir": True} for name in dirs]
    listed += [{"path": name, "is_dir": False, "file_size": storage.size(f"{location}/{name}")}
               for name in files]
    return sorted(listed, key=lambda item: item["path"])

