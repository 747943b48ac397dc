"""Experiment tracking, MLflow-shaped: experiments, runs, params, metric histories, tags.

A metric value is a float; NaN cannot live in SQLite's REAL column (it reads back as NULL),
so every metric row carries `is_nan` and stores 0.0 in `value` when it is set, on both
backends alike (as MLflow's own SQL store does). Infinities are stored as they are.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from experiments_app.choices import RunStatus

KEY_LENGTH = 250


def new_run_id() -> str:
    return uuid.uuid4().hex


class Experiment(models.Model):
    name = models.CharField(max_length=KEY_LENGTH, unique=True)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)
    archived = models.BooleanField(default=False, db_index=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="experiments", help_text="Who created it: may describe, tag, archive it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "model_experiments"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class Run(models.Model):
    run_id = models.CharField(max_length=32, unique=True, default=new_run_id, editable=False)
    experiment = models.ForeignKey(Experiment, on_delete=models.PROTECT, related_name="runs")
    name = models.CharField(max_length=KEY_LENGTH, blank=True)
    status = models.CharField(
        max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING, db_index=True
    )
    start_time = models.DateTimeField(db_index=True)
    end_time = models.DateTimeField(null=True, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    source = models.CharField(max_length=500, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="runs",
    )
    tags = models.JSONField(default=dict, blank=True)
    metrics_compacted_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When its raw metric points were removed, leaving their pyramid.",
    )

    # Attached by experiments_app.selectors (runs_load_data, run_detail_extras), not stored.
    param_values: dict[str, str]
    metric_values: dict[str, Any]
    child_run_ids: list[str]
    produced_versions: list[dict[str, Any]]

    class Meta:
        ordering = ["-start_time", "run_id"]
        indexes = [models.Index(fields=["experiment", "status", "end_time"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(status=RunStatus.RUNNING) | Q(end_time__isnull=False),
                name="ended_run_has_end_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.run_id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status != RunStatus.RUNNING


class Param(models.Model):
    """Write-once: a key keeps its first value for the life of the run."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="params",
                            db_index=False)
    key = models.CharField(max_length=KEY_LENGTH)
    value = models.TextField()

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="unique_param_key")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class MetricValueMixin(models.Model):
    key = models.CharField(max_length=KEY_LENGTH)
    value = models.FloatField()  # 0.0 when is_nan
    is_nan = models.BooleanField(default=False)
    step = models.BigIntegerField(default=0)
    timestamp = models.BigIntegerField()  # milliseconds since the epoch

    class Meta:
        abstract = True

    @property
    def number(self) -> float:
        return math.nan if self.is_nan else self.value


class Metric(MetricValueMixin):
    """One point of a metric's history."""

    # No foreign key constraint in the database: its check, one index probe and row lock of
    # the run per point at commit, was a third of the cost of logging a batch on PostgreSQL.
    # The writer holds the run's row (services.runs.run_for_logging) and deletes cascade
    # through the ORM, so no point is left without its run.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metrics",
                            db_index=False, db_constraint=False)

    class Meta:
        # The history is read in (step, timestamp, logging order) straight from this index,
        # which also covers value and is_nan: no table lookup per point (the index is
        # appended to in order while a run logs, so it costs little on insert).
        indexes = [models.Index(
            fields=["run", "key", "step", "timestamp", "id", "value", "is_nan"],
            name="metric_history",
        )]

    def __str__(self) -> str:
        return f"{self.key}[{self.step}]={self.number}"


class LatestMetric(MetricValueMixin):
    """The latest point per (run, key): highest step, then latest timestamp, then last logged.

    Updated in the same transaction as the history, by one upsert; search, comparison and
    best-run read only this table.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="latest_metrics",
                            db_index=False)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["run", "key"], name="unique_latest_metric"),
        ]
        indexes = [models.Index(fields=["key", "value"], name="latest_metric_key_value")]

    def __str__(self) -> str:
        return f"{self.key}={self.number}"


class MetricBucket(models.Model):
    """One bucket of a metric's pyramid (experiments_app.pyramid): the points whose
    step >> level is `bucket`, summed up by their count and four of them (lowest, highest,
    first, last), each with its step, timestamp and point id (the Metric row's id, which may
    be gone once the run is compacted). Kept up to date by the batch that logs the points,
    in the same transaction; downsampled reads touch O(buckets) of these rows.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metric_buckets",
                            db_index=False)
    key = models.CharField(max_length=KEY_LENGTH)
    level = models.SmallIntegerField()
    bucket = models.BigIntegerField()
    count = models.BigIntegerField()
    low_value = models.FloatField(null=True)  # null when every point is NaN
    low_step = models.BigIntegerField(null=True)
    low_timestamp = models.BigIntegerField(null=True)
    low_point = models.BigIntegerField(null=True)
    high_value = models.FloatField(null=True)
    high_step = models.BigIntegerField(null=True)
    high_timestamp = models.BigIntegerField(null=True)
    high_point = models.BigIntegerField(null=True)
    first_value = models.FloatField()  # 0.0 when first_is_nan
    first_is_nan = models.BooleanField()
    first_step = models.BigIntegerField()
    first_timestamp = models.BigIntegerField()
    first_point = models.BigIntegerField()
    last_value = models.FloatField()
    last_is_nan = models.BooleanField()
    last_step = models.BigIntegerField()
    last_timestamp = models.BigIntegerField()
    last_point = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "key", "level", "bucket"],
                                    name="unique_metric_bucket"),
        ]

    def __str__(self) -> str:
        return f"{self.key}[{self.level}:{self.bucket}] x{self.count}"

