from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import ConcurrentTransitionMixin, FSMField, Transition, transition

from models_app.choices import (
    ArtifactFormat,
    Direction,
    Framework,
    LoadCheckStatus,
    PromotionRequestStatus,
    ServingInput,
    Stage,
)
from models_app.validation import METRIC_KEY_LENGTH


class RegisteredModel(models.Model):
    """A model the platform runs (ranking, regime, ...): a name, its gates, its versions.

    `gates` is data, edited in the admin and the API (see models_app.gates for its shape);
    `metric_directions` says per metric whether higher or lower is better (default higher).
    """

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="owned_models",
    )
    co_owners = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="co_owned_models",
        help_text="Teammates the owner shares the model with: they may do what the owner may.",
    )
    require_four_eyes = models.BooleanField(
        default=False,
        help_text="A promotion to production is requested by one release manager and "
        "approved by another (only release managers may change this).",
    )
    tags = models.JSONField(default=dict, blank=True)
    metric_directions = models.JSONField(default=dict, blank=True)
    gates = models.JSONField(default=dict, blank=True)
    # Signed artifacts (models_app.signing): when required, every version's artifact must
    # carry a model-signing bundle by one of `signing_keys` (PEM public keys), at upload
    # and at load. Changed only through services.model_signing_update.
    require_signed_artifacts = models.BooleanField(default=False)
    signing_keys = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def direction(self, metric: str) -> str:
        return self.metric_directions.get(metric, Direction.HIGHER)


class ModelVersion(ConcurrentTransitionMixin, models.Model):
    # No index of its own: version_semver_desc starts with the model and answers every
    # lookup by model. A model-only index let PostgreSQL read a search's first page as
    # "walk the first model's versions, then sort them", all of them for a big model.
    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="versions",
                              db_index=False)
    version = models.CharField(max_length=50)
    # The model's 1, 2, 3 (what the MLflow API calls a version), assigned beside the semver
    # under the registered model's lock; never reused, even after a version is removed.
    sequence = models.PositiveIntegerField()
    major = models.PositiveIntegerField()
    minor = models.PositiveIntegerField()
    patch = models.PositiveIntegerField()
    stage = FSMField(default=Stage.DRAFT, choices=Stage.choices, protected=True, db_index=True)
    framework = models.CharField(max_length=20, choices=Framework.choices)
    artifact_format = models.CharField(max_length=20, choices=ArtifactFormat.choices)
    metrics = models.JSONField(default=dict, blank=True)
    hyperparameters = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    description = models.TextField(blank=True)
    signature = models.JSONField(default=dict, blank=True)
    input_example = models.JSONField(null=True, blank=True)
    artifact_path = models.CharField(max_length=500)
    artifact_sha256 = models.CharField(max_length=64)
    artifact_size = models.BigIntegerField()
    # The model-signing bundle stored beside the artifact ("" when unsigned) and the
    # fingerprint of the trusted key it verified against at registration.
    signature_bundle = models.CharField(max_length=500, blank=True)
    signed_with = models.CharField(max_length=64, blank=True)
    source_run_id = models.CharField(max_length=32, blank=True, db_index=True)
    # How serving hands rows to the model, fixed at registration (see models_app.importing).
    serving_input = models.CharField(max_length=10, choices=ServingInput.choices,
                                     default=ServingInput.NUMPY)
    load_check_status = models.CharField(max_length=10, choices=LoadCheckStatus.choices,
                                         default=LoadCheckStatus.PENDING, db_index=True)
    load_check = models.JSONField(default=dict, blank=True)
    # When the pending check was last handed to the broker (null: never); the reconciler
    # re-enqueues a check the broker never got or a dead worker dropped.
    load_check_enqueued_at = models.DateTimeField(null=True, blank=True)
    verified_metrics = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="registered_versions",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "model_versions"
        # models_app.filtersets.VERSION_KEY: unique, and the semver_desc index's order
        ordering = ["model_id", "-major", "-minor", "-patch"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="unique_version_per_model"),
            models.UniqueConstraint(
                fields=["model", "major", "minor", "patch"], name="unique_semver_per_model"
            ),
            models.UniqueConstraint(fields=["model", "sequence"],
                                    name="unique_sequence_per_model"),
            models.UniqueConstraint(
                fields=["model"],
                condition=Q(stage=Stage.PRODUCTION),
                name="one_production_version_per_model",
            ),
        ]
        indexes = [  # unique_semver_per_model's index serves (model, major, minor, patch)
            models.Index(fields=["model", "-major", "-minor", "-patch"],
                         name="version_semver_desc"),
            # a stage's versions in the list order: the latest staging version, and a stage
            # search's pages, without walking the versions of the other stages
            models.Index(fields=["model", "stage", "-major", "-minor", "-patch"],
                         name="version_stage_semver_desc"),
            # registration's check that no other model's version keeps files in a folder
            models.Index(fields=["artifact_path"], name="version_artifact_path"),
        ]
        permissions = [
            ("promote_modelversion", "Can promote a version to production or roll back"),
            ("publish_modelversion", "Can register versions of any model"),
        ]

    def __str__(self) -> str:
        return f"{self.model.name}@{self.version}"

    if TYPE_CHECKING:  # FSMField adds it for `stage`
        def get_available_stage_transitions(self) -> Iterator[Transition]: ...

    # Transitions: the stage graph only. Gates, roles and four-eyes are decided by
    # models_app.services.lifecycle, the only caller, before it moves the stage.

    @transition(field=stage, source=Stage.DRAFT, target=Stage.STAGING)
    def submit(self) -> None:
        pass

    @transition(field=stage, source=Stage.STAGING, target=Stage.DRAFT)
    def reject(self) -> None:
        pass

    # From archived too: a version rolled back (or replaced) may roll forward again, through
    # the same gates as a first promotion.
    @transition(
        field=stage,
        source=[Stage.DRAFT, Stage.STAGING, Stage.ARCHIVED],
        target=Stage.PRODUCTION,
        permission="models_app.promote_modelversion",
    )
    def promote(self) -> None:
        pass

    @transition(
        field=stage,
        source=Stage.PRODUCTION,
        target=Stage.ARCHIVED,
        permission="models_app.promote_modelversion",
    )
    def archive(self) -> None:
        pass

    @transition(
        field=stage,
        source=Stage.ARCHIVED,
        target=Stage.PRODUCTION,
        permission="models_app.promote_modelversion",
        custom={"rollback_only": True, "admin": False},
    )
    def restore(self) -> None:
        pass

    @transition(
        field=stage, source=[Stage.DRAFT, Stage.STAGING, Stage.ARCHIVED], target=Stage.DEPRECATED
    )
    def deprecate(self) -> None:
        pass


def _stage_moves() -> dict[str, str]:
    field = ModelVersion._meta.get_field("stage")
    assert isinstance(field, FSMField)
    return {
        t.target: t.name for t in field.get_all_transitions(ModelVersion)
        if not t.custom.get("rollback_only")
    }


# Target stage -> the one transition that leads there (rollback's restore left out), read
# from the transitions above: the one copy of the stage graph.
STAGE_MOVES: dict[str, str] = _stage_moves()


def _promotable_stages() -> frozenset[str]:
    sources = ModelVersion.promote._django_fsm.transitions
    return frozenset(str(t.source) for t in sources.values())


# The stages a promotion to production may start from, read from `promote` above.
PROMOTABLE_STAGES: frozenset[str] = _promotable_stages()


class VersionMetric(models.Model):
    """One of a version's metrics as a row, so a threshold search (`metric=auc>=0.99`) is an
    index range scan on (key, value), however rare the matches, where a condition on the
    JSON column reads versions until enough match. Written with the version (its metrics
    never change afterwards); ModelVersion.metrics stays the version's record."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE,
                                related_name="metric_rows", db_index=False)
    key = models.CharField(max_length=METRIC_KEY_LENGTH)
    value = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="unique_version_metric"),
        ]
        indexes = [models.Index(fields=["key", "value", "version"], name="version_metric_value")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class StageTransition(models.Model):
    """The audit trail: one row for every stage move, never edited."""

    class Kind(models.TextChoices):
        SUBMIT = "submit"
        REJECT = "reject"
        PROMOTE = "promote"
        ARCHIVE = "archive"
        DEPRECATE = "deprecate"
        ROLLBACK = "rollback"

    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="transitions")
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="transitions")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    from_stage = models.CharField(max_length=20, choices=Stage.choices)
    to_stage = models.CharField(max_length=20, choices=Stage.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="stage_transitions",
    )
    reason = models.TextField(blank=True)
    source = models.CharField(max_length=100, blank=True)
    gate_report = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["model", "created_at"])]

    def __str__(self) -> str:
        return f"{self.version}: {self.from_stage} -> {self.to_stage}"


class ModelChange(models.Model):
    """The audit trail of a registered model's settings: who changed what, old and new."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="changes")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="model_changes",
    )
    changes = models.JSONField(help_text='{"field": {"old": ..., "new": ...}}')
    source = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["model", "created_at"])]

    def __str__(self) -> str:
        return f"{self.model}: {', '.join(sorted(self.changes))}"


class PromotionRequest(models.Model):
    """A four-eyes promotion: filed by one release manager, decided by another."""

    Status = PromotionRequestStatus

    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT,
                              related_name="promotion_requests")
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT,
                                related_name="promotion_requests")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING,
                              db_index=True)
    reason = models.TextField()
    source = models.CharField(max_length=100, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+",
    )
    requested_at = models.DateTimeField(auto_now_add=True, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    gate_report = models.JSONField(default=list, blank=True)
    transition = models.ForeignKey(StageTransition, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["model"], condition=Q(status=PromotionRequestStatus.PENDING),
                name="one_pending_promotion_request_per_model",
            ),
        ]

    def __str__(self) -> str:
        return f"promotion request {self.pk}: {self.version} ({self.status})"


class ModelAlias(models.Model):
    """A named pointer at one version of a model ("champion"), unique per model; serving
    resolves `<model>@<alias>`. Written only by models_app.services.aliases."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="aliases")
    name = models.CharField(max_length=255)
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="aliases")
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    set_at = models.DateTimeField()

    class Meta:
        ordering = ["model__name", "name"]
        constraints = [models.UniqueConstraint(fields=["model", "name"],
                                               name="unique_alias_per_model")]

    def __str__(self) -> str:
        return f"{self.model.name}@{self.name}"


class AliasChange(models.Model):
    """The audit trail of aliases: one row for every set, move and delete, never edited.

    `from_version` is null when the alias was new, `to_version` when it was deleted."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT,
                              related_name="alias_changes")
    alias = models.CharField(max_length=255)
    from_version = models.ForeignKey(ModelVersion, null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+")
    to_version = models.ForeignKey(ModelVersion, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="alias_changes",
    )
    source = models.CharField(max_length=100, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["model", "alias", "created_at"])]

    def __str__(self) -> str:
        def name(version: ModelVersion | None) -> str:
            return version.version if version is not None else "-"

        return f"{self.model}@{self.alias}: {name(self.from_version)} -> {name(self.to_version)}"


class EvaluationDataset(models.Model):
    """A registered file of features and labels that the load check scores versions on."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE,
                              related_name="evaluation_datasets")
    name = models.SlugField(max_length=100)
    label_column = models.CharField(max_length=250)
    path = models.CharField(max_length=500)
    file_format = models.CharField(max_length=10)  # csv or parquet
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    rows = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="evaluation_datasets",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model__name", "name"]
        constraints = [models.UniqueConstraint(fields=["model", "name"],
                                               name="unique_dataset_per_model")]

    def __str__(self) -> str:
        return f"{self.model.name}/{self.name}"
