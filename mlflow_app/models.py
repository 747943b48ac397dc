"""What MLflow's protocol keeps about runs that Axion's Run has no column for.

A deleted run (MLflow's lifecycle_stage "deleted") has a RunDeletion row; restoring it
removes the row. Datasets logged with `mlflow.log_input` are kept per experiment and linked
to the runs that used them. Logged models (MLflow 3) are kept with their tags, params,
linked metrics and the runs that output them; a version registered from one keeps its source.
The registry half marks the versions and models MLflow deleted (Axion keeps them and their
audit trail).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from experiments_app.models import Experiment, Run
from models_app.models import ModelVersion, RegisteredModel


class RunDeletion(models.Model):
    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="mlflow_deletion")
    deleted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "mlflow_run_deletions"

    def __str__(self) -> str:
        return f"{self.run.run_id} deleted at {self.deleted_at:%Y-%m-%d %H:%M}"


class Dataset(models.Model):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE,
                                   related_name="mlflow_datasets")
    name = models.CharField(max_length=500)
    digest = models.CharField(max_length=36)
    source_type = models.CharField(max_length=36, blank=True)
    source = models.TextField(blank=True)
    schema = models.TextField(blank=True)
    profile = models.TextField(blank=True)

    class Meta:
        db_table = "mlflow_datasets"
        constraints = [models.UniqueConstraint(fields=["experiment", "name", "digest"],
                                               name="unique_mlflow_dataset")]

    def __str__(self) -> str:
        return f"{self.name} ({self.digest})"


class RunInput(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="mlflow_inputs")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="run_inputs")
    tags = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "mlflow_run_inputs"
        constraints = [models.UniqueConstraint(fields=["run", "dataset"],
                                               name="unique_mlflow_run_input")]

    def __str__(self) -> str:
        return f"{self.run_id} <- {self.dataset_id}"


class LoggedModel(models.Model):
    """An MLflow 3 logged model (mlflow.<flavor>.log_model): its files live in Axion's
    artifact storage under `artifact_root`, in MLflow's model format (an MLmodel file and
    what it names). Deleting is MLflow's soft delete: `deleted_at` set, the files kept."""

    class Status(models.TextChoices):
        PENDING = "PENDING"
        READY = "READY"
        FAILED = "FAILED"

    model_id = models.CharField(max_length=34, unique=True)  # "m-" and 32 hex digits
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE,
                                   related_name="mlflow_logged_models")
    name = models.CharField(max_length=500)
    model_type = models.CharField(max_length=500, blank=True)
    source_run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="mlflow_logged_models")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    status_message = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)
    params = models.JSONField(default=dict, blank=True)
    artifact_root = models.CharField(max_length=500)
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="mlflow_logged_models")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "mlflow_logged_models"
        indexes = [models.Index(fields=["experiment", "name"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.model_id})"


class LoggedModelMetric(models.Model):
    """A metric linked to a logged model (log_batch's metrics that carry a model_id)."""

    logged_model = models.ForeignKey(LoggedModel, on_delete=models.CASCADE,
                                     related_name="metrics")
    key = models.CharField(max_length=250)
    value = models.FloatField()
    is_nan = models.BooleanField(default=False)
    step = models.BigIntegerField(default=0)
    timestamp = models.BigIntegerField()
    run_id = models.CharField(max_length=32, blank=True)
    dataset_name = models.CharField(max_length=500, blank=True)
    dataset_digest = models.CharField(max_length=36, blank=True)

    class Meta:
        db_table = "mlflow_logged_model_metrics"
        constraints = [models.UniqueConstraint(
            fields=["logged_model", "key", "step", "timestamp", "run_id", "dataset_name",
                    "dataset_digest"], name="unique_mlflow_logged_model_metric")]

    def __str__(self) -> str:
        return f"{self.logged_model_id}: {self.key}={self.value} @ {self.step}"


class RunOutput(models.Model):
    """A logged model a run produced (MLflow's LogOutputs), at a step."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="mlflow_outputs")
    logged_model = models.ForeignKey(LoggedModel, on_delete=models.CASCADE,
                                     related_name="run_outputs")
    step = models.BigIntegerField(default=0)

    class Meta:
        db_table = "mlflow_run_outputs"
        constraints = [models.UniqueConstraint(fields=["run", "logged_model"],
                                               name="unique_mlflow_run_output")]

    def __str__(self) -> str:
        return f"{self.run_id} -> {self.logged_model_id} @ {self.step}"


class VersionSource(models.Model):
    """Where an Axion version registered through MLflow came from: the MLflow model
    directory (`artifact_uri`, an mlflow-artifacts URI; its storage folder `storage_root`)
    that mlflow's pyfunc downloads whole, and the logged model when there is one."""

    version = models.OneToOneField(ModelVersion, on_delete=models.CASCADE,
                                   related_name="mlflow_source")
    logged_model = models.ForeignKey(LoggedModel, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="versions")
    source = models.TextField()
    artifact_uri = models.CharField(max_length=600)
    storage_root = models.CharField(max_length=500)

    class Meta:
        db_table = "mlflow_version_sources"

    def __str__(self) -> str:
        return f"{self.version_id} <- {self.artifact_uri}"


class VersionDeletion(models.Model):
    """A version deleted through MLflow: deprecated in Axion (its audit trail kept), hidden
    from the MLflow API. Its number is never handed out again."""

    version = models.OneToOneField(ModelVersion, on_delete=models.PROTECT,
                                   related_name="mlflow_deletion")
    deleted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    deleted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "mlflow_version_deletions"

    def __str__(self) -> str:
        return f"{self.version} deleted at {self.deleted_at:%Y-%m-%d %H:%M}"


class ModelDeletion(models.Model):
    """A registered model deleted through MLflow: kept in Axion, renamed
    `<name>-deleted-<id>` with its versions deprecated, so that the name is free for a new
    model, as on `mlflow server`."""

    model = models.OneToOneField(RegisteredModel, on_delete=models.PROTECT,
                                 related_name="mlflow_deletion")
    name = models.CharField(max_length=100, help_text="The name it had when deleted.")
    deleted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    deleted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "mlflow_model_deletions"

    def __str__(self) -> str:
        return f"{self.name} deleted at {self.deleted_at:%Y-%m-%d %H:%M}"
