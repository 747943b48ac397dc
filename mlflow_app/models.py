"""What MLflow's protocol keeps about runs that Axion's Run has no column for.

A deleted run (MLflow's lifecycle_stage "deleted") has a RunDeletion row; restoring it
removes the row. Datasets logged with `mlflow.log_input` are kept per experiment and linked
to the runs that used them.
"""

from __future__ import annotations

from django.db import models

from experiments_app.models import Experiment, Run


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
