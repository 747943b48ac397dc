"""The load check's outcome on a version, and the evaluation datasets it scores."""

from __future__ import annotations

import hashlib
import io
from typing import IO, Any

import pandas as pd
from django.db import IntegrityError, transaction
from django.utils import timezone

from models_app import artifacts
from models_app.choices import LoadCheckStatus
from models_app.errors import DuplicateDataset, InvalidMetadata
from models_app.models import EvaluationDataset, ModelVersion, RegisteredModel
from models_app.roles import Actor, audited_user
from models_app.signals import load_check_requested

DATASET_FORMATS = {"csv": "csv", "parquet": "parquet", "pq": "parquet"}


@transaction.atomic
def version_load_check_record(*, version_id: int, result: dict[str, Any]) -> ModelVersion | None:
    """Store a load check's result on the version; verified metrics come with it.

    A result for an artifact other than the version's (it cannot change, but a stale
    message could arrive) is ignored.
    """
    version = ModelVersion.objects.select_for_update().filter(pk=version_id).first()
    if version is None:
        return None
    if result.get("artifact_sha256", version.artifact_sha256) != version.artifact_sha256:
        return version
    passed = result.get("status") == LoadCheckStatus.PASSED
    version.load_check_status = LoadCheckStatus.PASSED if passed else LoadCheckStatus.FAILED
    version.load_check = {**result, "checked_at": timezone.now().isoformat()}
    evaluation = result.get("evaluation") or {}
    version.verified_metrics = dict(evaluation.get("metrics") or {}) if passed else {}
    version.save(update_fields=["load_check_status", "load_check", "verified_metrics"])
    return version


def version_load_check_enqueued(*, version_id: int) -> None:
    """Note that the version's check was handed to the broker (the reconciler reads it)."""
    ModelVersion.objects.filter(pk=version_id).update(load_check_enqueued_at=timezone.now())


@transaction.atomic
def version_load_check_request(*, version: ModelVersion) -> ModelVersion:
    """Check the version again (its model's evaluation datasets changed, say): pending until
    a worker has; a version past staging keeps its stage, the gate applies to its next move."""
    version = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
    version.load_check_status = LoadCheckStatus.PENDING
    version.load_check_enqueued_at = None
    version.save(update_fields=["load_check_status", "load_check_enqueued_at"])
    payload = {"version_id": version.pk, "model_name": version.model.name,
               "version": version.version}
    transaction.on_commit(lambda: load_check_requested.send(sender=ModelVersion, **payload))
    return version


def evaluation_dataset_register(
    *,
    model: RegisteredModel,
    name: str,
    file: IO[bytes],
    filename: str,
    label_column: str,
    created_by: Actor = None,
) -> EvaluationDataset:
    """Store a file of features and labels (CSV or Parquet) for the load check to score
    the model's versions on; its sha256 is checked every time it is read."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    file_format = DATASET_FORMATS.get(extension)
    if file_format is None:
        raise InvalidMetadata(f"{filename}: an evaluation dataset is a .csv or .parquet file.")
    data = file.read()
    try:
        frame = (pd.read_parquet(io.BytesIO(data)) if file_format == "parquet"
                 else pd.read_csv(io.BytesIO(data)))
    except (ValueError, OSError, ImportError) as exc:
        raise InvalidMetadata(f"{filename} cannot be read as {file_format}: {exc}") from exc
    if label_column not in frame.columns:
        raise InvalidMetadata(
            f"{filename} has no label column {label_column!r} (columns: "
            f"{', '.join(map(str, frame.columns))})."
        )
    if frame.empty:
        raise InvalidMetadata(f"{filename} has no rows.")
    path = f"{model.name}/datasets/{name}.{file_format}"
    try:
        with transaction.atomic():
            dataset = EvaluationDataset.objects.create(
                model=model, name=name, label_column=label_column, path=path,
                file_format=file_format, sha256=hashlib.sha256(data).hexdigest(),
                size=len(data), rows=len(frame),
                created_by=audited_user(created_by),
            )
            artifacts.artifact_save(path, io.BytesIO(data))
    except IntegrityError as exc:
        raise DuplicateDataset(f"{model.name} already has an evaluation dataset named "
                               f"{name!r}; pick another name.") from exc
    return dataset
