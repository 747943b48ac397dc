from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class ModelGeneration(models.Model):
    """A per-model counter bumped on every deployment; serving processes poll it cheaply."""

    model_name = models.CharField(max_length=100, unique=True)
    generation = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.model_name}#{self.generation}"


class DeploymentEvent(models.Model):
    """What serving saw happen: a deployment (with its warm-up outcome) or fallbacks.

    A promote/rollback row is written when models_app announces the deployment; the warm-up
    task fills in load and predict times or the error. Fallback rows count, per version and
    minute, the requests another version had to answer.
    """

    class Kind(models.TextChoices):
        PROMOTE = "promote"
        ROLLBACK = "rollback"
        FALLBACK = "fallback"

    class WarmUp(models.TextChoices):
        NONE = "", "not applicable"
        PENDING = "pending"
        OK = "ok"
        FAILED = "failed"

    model = models.ForeignKey("models_app.RegisteredModel", on_delete=models.CASCADE,
                              related_name="deployment_events")
    version = models.ForeignKey("models_app.ModelVersion", on_delete=models.CASCADE,
                                related_name="deployment_events")
    previous_version = models.ForeignKey(
        "models_app.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    source = models.CharField(max_length=100, blank=True)
    reason = models.TextField(blank=True)
    warmup_status = models.CharField(max_length=10, choices=WarmUp.choices, blank=True,
                                     default=WarmUp.NONE)
    load_ms = models.FloatField(null=True, blank=True)
    predict_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    rolled_back = models.BooleanField(default=False)
    # The warm-up must happen: how often a worker started it, and when it was last handed
    # to the broker (null: never, e.g. the broker was down). The reconciler uses both.
    attempts = models.PositiveIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    minute = models.DateTimeField(null=True, blank=True)
    count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "minute"], condition=Q(kind="fallback"),
                name="one_fallback_row_per_version_minute",
            ),
        ]
        indexes = [models.Index(fields=["model", "kind", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.version_id} at {self.created_at:%Y-%m-%d %H:%M}"


class ServingHost(models.Model):
    """A machine of the deployment, named by AXION_HOST_NAME; its Celery workers note it
    alive at start and by heartbeat. Deployments are warmed on the hosts seen lately."""

    name = models.CharField(max_length=255, unique=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class HostWarmUp(models.Model):
    """One host's warm-up of one deployment: its artifact fetched into the host's cache,
    loaded and exercised once by one of the host's workers."""

    class Status(models.TextChoices):
        PENDING = "pending"
        OK = "ok"
        FAILED = "failed"
        # The host stopped being seen before it warmed up; it catches up when it returns.
        MISSED = "missed"

    event = models.ForeignKey(DeploymentEvent, on_delete=models.CASCADE,
                              related_name="host_warmups")
    host = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    load_ms = models.FloatField(null=True, blank=True)
    predict_ms = models.FloatField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["event_id", "host"]
        constraints = [
            models.UniqueConstraint(fields=["event", "host"], name="one_warmup_per_event_host"),
        ]
        indexes = [models.Index(fields=["status", "host"])]

    def __str__(self) -> str:
        return f"warm-up of event {self.event_id} on {self.host}: {self.status}"


class LatencyMinute(models.Model):
    """One minute of one version's requests, summed over every serving process."""

    model = models.ForeignKey("models_app.RegisteredModel", on_delete=models.CASCADE,
                              related_name="latency_minutes")
    version = models.ForeignKey("models_app.ModelVersion", on_delete=models.CASCADE,
                                related_name="latency_minutes")
    minute = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    fallbacks = models.PositiveIntegerField(default=0)
    buckets = models.JSONField(default=list)
    p50_ms = models.FloatField(null=True)
    p95_ms = models.FloatField(null=True)
    p99_ms = models.FloatField(null=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["minute", "version_id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "minute"], name="one_row_per_version_minute")
        ]
        indexes = [models.Index(fields=["model", "minute"])]

    def __str__(self) -> str:
        return f"{self.version_id} {self.minute:%H:%M}: {self.count}"


class ServingPolicy(models.Model):
    """Per-model serving knobs; a model without a row uses the SERVING_* settings."""

    model = models.OneToOneField("models_app.RegisteredModel", on_delete=models.CASCADE,
                                 related_name="serving_policy")
    timeout_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Serve the fallback when a prediction takes longer.")
    guardrail_enabled = models.BooleanField(default=True)
    guardrail_window_minutes = models.PositiveIntegerField(null=True, blank=True)
    guardrail_min_requests = models.PositiveIntegerField(null=True, blank=True)
    guardrail_max_failure_rate = models.FloatField(
        null=True, blank=True, help_text="Errors plus fallbacks over requests, 0..1.")

    class Meta:
        verbose_name_plural = "serving policies"

    def __str__(self) -> str:
        return f"serving policy of {self.model_id}"

    @property
    def timeout_seconds(self) -> float | None:
        ms = self.timeout_ms if self.timeout_ms is not None else settings.SERVING_DEFAULT_TIMEOUT_MS
        return ms / 1000 if ms else None
