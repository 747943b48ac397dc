"""What MLflow's protocol keeps about runs that Axion's Run has no column for.

A deleted run (MLflow's lifecycle_stage "deleted") has a RunDeletion row; restoring it
removes the row. Datasets logged with `mlflow.log_input` are kept per experiment and linked
to the runs that used them. The registry half marks the versions and models MLflow deleted
(Axion keeps them and their audit trail).
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
