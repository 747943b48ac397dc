"""Writes for MLflow 3's logged models: create, params, tags, finalize, delete, the runs that
output them and the metrics linked to them.

Who may change a logged model: the user who created it (or a superuser), as for runs. Its
files may be written only while it is PENDING: once finalized, what a registered version's
download URI points at no longer changes.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from experiments_app.errors import RunNotPermitted
from experiments_app.models import Experiment, Metric, Run
from experiments_app.ownership import may_change, require_run_owner
from experiments_app.tracking_input import TrackingInputError, clean_params, clean_tags
from mlflow_app.errors import invalid, not_found
from mlflow_app.logged_selectors import logged_model_by_id, storage_root
from mlflow_app.models import LoggedModel, LoggedModelMetric, RunOutput
from mlflow_app.selectors import run_require_active
from models_app.roles import Actor, audited_user

STATUSES = {"LOGGED_MODEL_PENDING": LoggedModel.Status.PENDING,
            "LOGGED_MODEL_READY": LoggedModel.Status.READY,
            "LOGGED_MODEL_UPLOAD_FAILED": LoggedModel.Status.FAILED,
            "1": LoggedModel.Status.PENDING, "2": LoggedModel.Status.READY,
            "3": LoggedModel.Status.FAILED}


def _cleaned(what: str, clean: Any, items: Any) -> dict[str, str]:
    try:
        return clean(items)
    except TrackingInputError as exc:
        raise invalid(f"The logged model's {what}: {exc}") from exc


def require_model_owner(actor: Actor, model: LoggedModel, action: str) -> None:
    if not may_change(actor, model.creator_id):
        raise RunNotPermitted(
            f"You may not {action} logged model {model.model_id}: only the user who logged "
            "it (or a superuser) may."
        )


def logged_model_create(
    *,
    experiment: Experiment,
    name: str,
    model_type: str,
    source_run: Run | None,
    params: Any,
    tags: Any,
    actor: AbstractBaseUser,
) -> LoggedModel:
    """A PENDING logged model. With a source run, only the run's owner logs models from it."""
    if experiment.archived:
        raise invalid(f"The experiment '{experiment.name}' is deleted; restore it first.")
    if source_run is not None:
        require_run_owner(actor, run_id=source_run.run_id, owner_id=source_run.user_id,
                          action="log a model from")
        run_require_active(source_run.run_id)
        if source_run.experiment_id != experiment.pk:
            raise invalid(f"The run {source_run.run_id} is not in experiment {experiment.pk}.")
    model_id = f"m-{secrets.token_hex(16)}"
    if len(name) > 500:
        raise invalid("A logged model's name may have at most 500 characters.")
    return LoggedModel.objects.create(
        model_id=model_id, experiment=experiment, name=name or model_id,
        model_type=model_type[:500], source_run=source_run,
        params=_cleaned("params", clean_params, params),
        tags=_cleaned("tags", clean_tags, tags),
        artifact_root=storage_root(experiment.pk, model_id), creator=audited_user(actor),
    )


@transaction.atomic
def logged_model_params_log(*, model_id: str, params: Any, actor: Actor) -> LoggedModel:
    """Params are write-once, as a run's: the same value again is accepted, another refused."""
    model = logged_model_by_id(model_id, lock=True)
    require_model_owner(actor, model, "log params to")
    new = _cleaned("params", clean_params, params)
    for key, value in new.items():
        if key in model.params and model.params[key] != value:
            raise invalid(f"The logged model's param {key!r} is {model.params[key]!r}; it "
                          f"cannot change to {value!r}.")
    model.params = {**model.params, **new}
    model.save(update_fields=["params", "updated_at"])
    return model


@transaction.atomic
def logged_model_tags_set(*, model_id: str, tags: Any, actor: Actor) -> LoggedModel:
    model = logged_model_by_id(model_id, lock=True)
    require_model_owner(actor, model, "tag")
    model.tags = {**model.tags, **_cleaned("tags", clean_tags, tags)}
    model.save(update_fields=["tags", "updated_at"])
    return model


@transaction.atomic
def logged_model_tag_delete(*, model_id: str, key: str, actor: Actor) -> LoggedModel:
    model = logged_model_by_id(model_id, lock=True)
    require_model_owner(actor, model, "untag")
    if key not in model.tags:
        raise not_found(f"The logged model {model_id} has no tag '{key}'.")
    model.tags = {k: v for k, v in model.tags.items() if k != key}
    model.save(update_fields=["tags", "updated_at"])
    return model


@transaction.atomic
def logged_model_finalize(*, model_id: str, status: Any, actor: Actor) -> LoggedModel:
    """PENDING to READY or FAILED; finalizing again with the status it has is accepted."""
    wanted = STATUSES.get(str(status).upper())
    if wanted is None or wanted == LoggedModel.Status.PENDING:
        raise invalid(f"The status {status!r} is not LOGGED_MODEL_READY or "
                      "LOGGED_MODEL_UPLOAD_FAILED.")
    model = logged_model_by_id(model_id, lock=True)
    require_model_owner(actor, model, "finalize")
    if model.status == wanted:
        return model
    if model.status != LoggedModel.Status.PENDING:
        raise invalid(f"The logged model {model_id} is already {model.status}; a finalized "
                      "model keeps its status.")
    model.status = wanted
    model.save(update_fields=["status", "updated_at"])
    return model


@transaction.atomic
def logged_model_delete(*, model_id: str, actor: Actor) -> None:
    """MLflow's soft delete: searches and gets leave it out; its files and any version
    registered from it stay."""
    model = logged_model_by_id(model_id, lock=True)
    require_model_owner(actor, model, "delete")
    model.deleted_at = timezone.now()
    model.save(update_fields=["deleted_at", "updated_at"])


def require_files_writable(model: LoggedModel, actor: Actor) -> None:
    require_model_owner(actor, model, "upload files to")
    if model.status != LoggedModel.Status.PENDING:
        raise invalid(f"The logged model {model.model_id} is {model.status}: its files are "
                      "fixed once it is finalized. Log a new model.")


@transaction.atomic
def run_outputs_log(*, run: Run, outputs: list[dict[str, Any]], actor: Actor) -> None:
    """The logged models a run produced (MLflow's LogOutputs), each at a step."""
    require_run_owner(actor, run_id=run.run_id, owner_id=run.user_id, action="log outputs of")
    run_require_active(run.run_id)
    for item in outputs:
        model = logged_model_by_id(str(item.get("model_id") or ""))
        step = item.get("step") or 0
        if not isinstance(step, int | str) or not str(step).lstrip("-").isdigit():
            raise invalid(f"An output's step must be an integer, not {step!r}.")
        RunOutput.objects.update_or_create(run=run, logged_model=model,
                                           defaults={"step": int(step)})


def metrics_link(*, run: Run, metrics: list[Any], actor: Actor) -> list[Any]:
    """Link the metrics of a run's log_batch that name a logged model (`model_id`) to that
    model; answer the metrics still to log to the run: those without a model, and those with
    one that the run's history does not hold yet (the client, logging a model, sends the
    run's own points at the model's step again: they are not logged twice)."""
    to_run: list[Any] = []
    for item in metrics:
        if not isinstance(item, dict) or not item.get("model_id"):
            to_run.append(item)
            continue
        point = _linked_point(run, item, actor)
        if not Metric.objects.filter(run=run, key=point.key, step=point.step,
                                     timestamp=point.timestamp).exists():
            to_run.append({k: v for k, v in item.items() if k != "model_id"})
    return to_run


def _linked_point(run: Run, item: dict[str, Any], actor: Actor) -> LoggedModelMetric:
    model = logged_model_by_id(str(item["model_id"]))
    require_model_owner(actor, model, "link metrics to")
    value = item.get("value")
    is_nan = isinstance(value, str) and value.lower() == "nan"
    try:
        number = 0.0 if is_nan else float(value)  # type: ignore[arg-type]
        step, timestamp = int(item.get("step") or 0), int(item.get("timestamp") or 0)
    except (TypeError, ValueError) as exc:
        raise invalid(f"The metric {item.get('key')!r} needs a numeric value, step and "
                      "timestamp.") from exc
    fields = {"logged_model": model, "key": str(item.get("key") or "")[:250], "step": step,
              "timestamp": timestamp, "run_id": run.run_id,
              "dataset_name": str(item.get("dataset_name") or "")[:500],
              "dataset_digest": str(item.get("dataset_digest") or "")[:36]}
    try:
        with transaction.atomic():
            return LoggedModelMetric.objects.get_or_create(
                **fields, defaults={"value": number, "is_nan": is_nan})[0]
    except IntegrityError:  # linked by a concurrent request
        return LoggedModelMetric.objects.get(**fields)
