"""Writes for the MLflow protocol. Axion's own tables are written by experiments_app's
services (the same validation, ownership and locking as Axion's REST API); only what Axion's
Run has no column for (deletion, dataset inputs) is written here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from experiments_app import services as tracking
from experiments_app.models import Experiment, Run
from experiments_app.ownership import require_run_owner
from experiments_app.tracking_input import MLFLOW_MAX_BATCH_METRICS, TrackingInputError, clean_tags
from mlflow_app import shapes
from mlflow_app.errors import invalid
from mlflow_app.logged_services import metrics_link
from mlflow_app.models import Dataset, RunDeletion, RunInput
from mlflow_app.selectors import run_require_active

RUN_FIELDS = ("name", "digest", "source_type", "source", "schema", "profile")
FIELD_LIMITS = {"name": 500, "digest": 36, "source_type": 36}


def run_start(
    *,
    experiment: Experiment,
    user: AbstractBaseUser,
    run_name: str,
    start_time: datetime | None,
    tags: dict[str, str],
) -> Run:
    """A run from MLflow's CreateRun: the parent, source and name tags fill Axion's columns."""
    name = run_name or tags.get(shapes.RUN_NAME_TAG, "")
    return tracking.run_create(
        experiment=experiment, name=name, user=user,
        parent_run_id=tags.get(shapes.PARENT_TAG) or None,
        source=tags.get(shapes.SOURCE_NAME_TAG, "")[:500],
        tags={key: value for key, value in tags.items()
              if key not in (shapes.RUN_NAME_TAG, shapes.PARENT_TAG)},
        start_time=start_time,
    )


def run_change(
    *,
    run: Run,
    status: str | None,
    end_time: datetime | None,
    run_name: str | None,
    actor: AbstractBaseUser,
) -> Run:
    """MLflow's UpdateRun: rename, and end a running run. Ending an ended run again with the
    status it has is accepted (the client may end a run twice); another status is refused."""
    run_require_active(run.run_id)
    if run_name:
        run = tracking.run_update(run=run, name=run_name, actor=actor)
    if status is None or status == "running":
        return run
    if run.status == status:
        require_run_owner(actor, run_id=run.run_id, owner_id=run.user_id, action="end")
        return run
    return tracking.run_end(run=run, status=status, end_time=end_time, actor=actor)


def run_tags_set(*, run: Run, tags: dict[str, str], actor: AbstractBaseUser) -> None:
    """Tags as MLflow sets them; `mlflow.runName` renames the run (Axion keeps the name in a
    column, not a tag)."""
    run_require_active(run.run_id)
    name = tags.pop(shapes.RUN_NAME_TAG, None)
    if tags:
        tracking.tags_set(run=run, tags=tags, actor=actor)
    if name is not None:
        tracking.run_update(run=run, name=name, actor=actor)


def run_batch_log(*, run_id: str, body: dict[str, Any], actor: AbstractBaseUser) -> None:
    run_require_active(run_id)
    metrics = body.get("metrics") or []
    if any(isinstance(item, dict) and item.get("model_id") for item in metrics):
        metrics = metrics_link(run=tracking_run(run_id), metrics=metrics, actor=actor)
    tags = {item.get("key"): item.get("value") for item in body.get("tags") or []}
    name = tags.pop(shapes.RUN_NAME_TAG, None)
    tracking.batch_log(
        run_id=run_id, actor=actor, max_metrics=MLFLOW_MAX_BATCH_METRICS,
        body={"metrics": metrics, "params": body.get("params") or [],
              "tags": [{"key": key, "value": value} for key, value in tags.items()]},
    )
    if name is not None:
        tracking.run_update(run=tracking_run(run_id), name=name, actor=actor)


def tracking_run(run_id: str) -> Run:
    return Run.objects.get(run_id=run_id)


@transaction.atomic
def run_delete(*, run: Run, actor: AbstractBaseUser) -> None:
    """MLflow's soft delete: the run stays (its metrics, params, lineage) but searches leave
    it out until it is restored. Only its owner (or a superuser) deletes it."""
    require_run_owner(actor, run_id=run.run_id, owner_id=run.user_id, action="delete")
    RunDeletion.objects.get_or_create(run=run)


@transaction.atomic
def run_restore(*, run: Run, actor: AbstractBaseUser) -> None:
    require_run_owner(actor, run_id=run.run_id, owner_id=run.user_id, action="restore")
    RunDeletion.objects.filter(run=run).delete()


def _dataset_fields(dataset: Any) -> dict[str, str]:
    if not isinstance(dataset, dict):
        raise invalid("Each dataset input holds a 'dataset' object.")
    fields: dict[str, str] = {}
    for name in RUN_FIELDS:
        value = dataset.get(name) or ""
        if not isinstance(value, str):
            raise invalid(f"The dataset's {name} must be a string.")
        if name in FIELD_LIMITS and len(value) > FIELD_LIMITS[name]:
            raise invalid(f"The dataset's {name} has more than {FIELD_LIMITS[name]} characters.")
        fields[name] = value
    if not fields["name"] or not fields["digest"]:
        raise invalid("A dataset needs a name and a digest.")
    return fields


@transaction.atomic
def run_inputs_log(*, run: Run, inputs: list[dict[str, Any]], actor: AbstractBaseUser) -> None:
    """Datasets used by the run (mlflow.log_input): kept once per experiment, by name and
    digest, and linked to the run with the input's tags (such as its context)."""
    require_run_owner(actor, run_id=run.run_id, owner_id=run.user_id, action="log to")
    run_require_active(run.run_id)
    for item in inputs:
        fields = _dataset_fields(item.get("dataset"))
        try:
            tags = clean_tags(item.get("tags") or [])
        except TrackingInputError as exc:
            raise invalid(str(exc)) from exc
        try:
            with transaction.atomic():
                dataset, _ = Dataset.objects.get_or_create(
                    experiment_id=run.experiment_id, name=fields["name"],
                    digest=fields["digest"], defaults=fields,
                )
        except IntegrityError:  # made by a concurrent request: use it
            dataset = Dataset.objects.get(experiment_id=run.experiment_id,
                                          name=fields["name"], digest=fields["digest"])
        RunInput.objects.update_or_create(run=run, dataset=dataset, defaults={"tags": tags})
