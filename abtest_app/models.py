from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django_fsm import ConcurrentTransitionMixin, FSMField, Transition, transition

from abtest_app.choices import (
    Arm,
    AssignmentRule,
    Decision,
    DecisionRule,
    Direction,
    GuardrailCorrection,
    Method,
    MetricType,
    MinEffectKind,
    PromotionStatus,
    SnapshotKind,
    TestState,
)
from abtest_app.stats import ArmStats as SufficientStats
from models_app.models import ModelVersion, RegisteredModel

PRIMARY = ""  # ArmStats.metric of the primary metric; guardrails use their own name


def new_seed() -> str:
    return secrets.token_hex(8)


class ABTest(ConcurrentTransitionMixin, models.Model):
    """A champion/challenger test of two versions of one registered model on live traffic.

    `guardrails` is a list of {"name", "type": continuous|binary, "direction": higher|lower}.
    Time counts only while running: `run_time` holds the running time before `resumed_at`.
    """

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="abtests")
    champion = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    challenger = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    challenger_share = models.FloatField(default=50.0, help_text="Percent of units, 0 < p < 100.")
    assignment_unit = models.SlugField(max_length=50, default="user")
    seed = models.CharField(max_length=32, default=new_seed, editable=False)
    assignment_rule = models.CharField(
        max_length=20, choices=AssignmentRule.choices, default=AssignmentRule.GROWTHBOOK,
        editable=False, help_text="Fixed when the test is made: units never change arms.",
    )

    metric_name = models.CharField(max_length=100)
    metric_type = models.CharField(max_length=20, choices=MetricType.choices)
    metric_direction = models.CharField(
        max_length=10, choices=Direction.choices, default=Direction.HIGHER
    )
    guardrails = models.JSONField(default=list, blank=True)
    guardrail_correction = models.CharField(
        max_length=10, choices=GuardrailCorrection.choices, default=GuardrailCorrection.HOLM,
        help_text="Multiple-testing correction of the guardrails' one-sided p-values.",
    )
    ratio_metric = models.BooleanField(
        default=False, help_text="The primary metric is sum of values / sum of denominators: "
        "every outcome carries a denominator (delta method).",
    )

    method = models.CharField(max_length=20, choices=Method.choices, default=Method.SEQUENTIAL)
    alpha = models.FloatField(default=0.05)
    min_samples_per_arm = models.PositiveIntegerField(default=100)
    planned_samples_per_arm = models.PositiveIntegerField(
        default=5000, help_text="Units per arm you expect; tunes the sequential test."
    )
    min_effect = models.FloatField(default=0.0)
    min_effect_kind = models.CharField(
        max_length=10, choices=MinEffectKind.choices, default=MinEffectKind.ABSOLUTE
    )
    max_duration = models.DurationField(default=timedelta(days=30))
    decision_rule = models.CharField(
        max_length=20, choices=DecisionRule.choices, default=DecisionRule.SIGNIFICANCE
    )
    loss_threshold = models.FloatField(
        default=0.0, help_text="Expected loss below which an arm may ship (decision_rule "
        "expected_loss), on the min_effect_kind scale.",
    )
    prior_mean = models.FloatField(default=0.0, help_text="Gaussian prior on the effect.")
    prior_variance = models.FloatField(default=1.0)
    prior_proper = models.BooleanField(
        default=False, help_text="False: a flat prior (gbstats' default).")
    auto_promote = models.BooleanField(default=False)

    state = FSMField(default=TestState.DRAFT, choices=TestState.choices, protected=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="abtests",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    resumed_at = models.DateTimeField(null=True, blank=True)
    run_time = models.DurationField(default=timedelta(0))
    ended_at = models.DateTimeField(null=True, blank=True)

    decision = models.CharField(max_length=20, choices=Decision.choices, blank=True)
    conclusion_reason = models.TextField(blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    srm_flagged = models.BooleanField(default=False)
    promotion_status = models.CharField(
        max_length=10, choices=PromotionStatus.choices, blank=True, default=PromotionStatus.NONE
    )
    promotion_message = models.TextField(blank=True)
    promotion_details = models.JSONField(default=dict, blank=True)

    if TYPE_CHECKING:  # added by FSMField for the field named "state"

        def get_available_state_transitions(self) -> Iterator[Transition]: ...

    class Meta:
        db_table = "abtests"
        ordering = ["-created_at", "-id"]
        verbose_name = "A/B test"
        constraints = [
            models.UniqueConstraint(
                fields=["model"],
                condition=Q(state=TestState.RUNNING),
                name="one_running_abtest_per_model",
            ),
            models.CheckConstraint(
                condition=Q(challenger_share__gt=0) & Q(challenger_share__lt=100),
                name="abtest_challenger_share_in_range",
            ),
            models.CheckConstraint(
                condition=~Q(champion=F("challenger")), name="abtest_champion_is_not_challenger"
            ),
        ]
        indexes = [models.Index(fields=["model", "state"], name="abtest_model_state")]

    def __str__(self) -> str:
        return f"A/B test {self.pk} '{self.name}'"

    # Transitions: the services lock the row and check permission, then call these.

    def _stop_clock(self, now: datetime) -> None:
        if self.resumed_at is not None:
            self.run_time += max(now - self.resumed_at, timedelta(0))
            self.resumed_at = None

    @transition(field=state, source=[TestState.DRAFT, TestState.PAUSED], target=TestState.RUNNING)
    def start(self, now: datetime) -> None:
        self.started_at = self.started_at or now
        self.resumed_at = now

    @transition(field=state, source=TestState.RUNNING, target=TestState.PAUSED)
    def pause(self, now: datetime) -> None:
        self._stop_clock(now)

    @transition(
        field=state, source=[TestState.RUNNING, TestState.PAUSED], target=TestState.CONCLUDED
    )
    def conclude(self, now: datetime) -> None:
        self._stop_clock(now)
        self.ended_at = now

    @transition(
        field=state,
        source=[TestState.DRAFT, TestState.RUNNING, TestState.PAUSED],
        target=TestState.CANCELLED,
    )
    def cancel(self, now: datetime) -> None:
        self._stop_clock(now)
        self.ended_at = now

    def elapsed(self, now: datetime) -> timedelta:
        """Time spent running (pauses do not count toward the maximum duration)."""
        running = now - self.resumed_at if self.resumed_at is not None else timedelta(0)
        return self.run_time + max(running, timedelta(0))

    def metric_names(self) -> list[str]:
        return [PRIMARY, *(g["name"] for g in self.guardrails)]


class ArmStats(models.Model):
    """Sufficient statistics of one arm on one metric, updated with each outcome batch.

    `metric` is "" for the primary metric, else a guardrail's name. For a binary metric
    `total` is the number of successes. Evaluation reads these rows, never the outcomes.
    """

    test = models.ForeignKey(ABTest, on_delete=models.CASCADE, related_name="arm_stats")
    arm = models.CharField(max_length=10, choices=Arm.choices)
    metric = models.CharField(max_length=100, blank=True)
    n = models.BigIntegerField(default=0)
    total = models.FloatField(default=0.0)
    total_sq = models.FloatField(default=0.0)
    # CUPED: sums of the pre-period covariate c (cov_n outcomes carried one) and of x c
    cov_n = models.BigIntegerField(default=0)
    cov_total = models.FloatField(default=0.0)
    cov_total_sq = models.FloatField(default=0.0)
    value_cov_total = models.FloatField(default=0.0)
    # ratio metrics: sums of the denominator d and of x d
    den_n = models.BigIntegerField(default=0)
    den_total = models.FloatField(default=0.0)
    den_total_sq = models.FloatField(default=0.0)
    value_den_total = models.FloatField(default=0.0)
    # CUPED on a ratio metric: sums of the pre-period denominator e and the cross products
    # the delta method needs (x e, d c, d e, c e). A database default too, so that a
    # process still running the code before these columns can make a row.
    cov_den_n = models.BigIntegerField(default=0, db_default=0)
    cov_den_total = models.FloatField(default=0.0, db_default=0.0)
    cov_den_total_sq = models.FloatField(default=0.0, db_default=0.0)
    value_cov_den_total = models.FloatField(default=0.0, db_default=0.0)
    den_cov_total = models.FloatField(default=0.0, db_default=0.0)
    den_cov_den_total = models.FloatField(default=0.0, db_default=0.0)
    cov_cov_den_total = models.FloatField(default=0.0, db_default=0.0)

    SUMS = ("n", "total", "total_sq", "cov_n", "cov_total", "cov_total_sq", "value_cov_total",
            "den_n", "den_total", "den_total_sq", "value_den_total", "cov_den_n",
            "cov_den_total", "cov_den_total_sq", "value_cov_den_total", "den_cov_total",
            "den_cov_den_total", "cov_cov_den_total")

    class Meta:
        db_table = "abtest_arm_stats"
        verbose_name_plural = "arm stats"
        constraints = [
            models.UniqueConstraint(fields=["test", "arm", "metric"], name="one_stats_row_per_arm")
        ]

    def __str__(self) -> str:
        return f"{self.test_id}/{self.arm}/{self.metric or 'primary'}: n={self.n}"

    def as_stats(self) -> SufficientStats:
        return SufficientStats(*(getattr(self, name) for name in self.SUMS))


class Outcome(models.Model):
    """One observed metric value of one unit, kept for Mann-Whitney and audits.

    `outcome_id` (optional, unique per test) makes a post idempotent. The arm is derived
    from the unit id by the test's assignment, never trusted from the caller.
    """

    # No database constraint: its per-row check was a third of a batch's insert time. The
    # ingestion service locks the test row once per batch instead (services.outcomes).
    test = models.ForeignKey(
        ABTest, on_delete=models.CASCADE, related_name="outcomes", db_index=False,
        db_constraint=False,
    )
    arm = models.CharField(max_length=10, choices=Arm.choices)
    unit_id = models.CharField(max_length=200)
    value = models.FloatField()
    covariate = models.FloatField(null=True, blank=True, help_text="Pre-period value (CUPED).")
    denominator = models.FloatField(null=True, blank=True, help_text="Of a ratio metric.")
    covariate_denominator = models.FloatField(
        null=True, blank=True, help_text="Pre-period denominator (CUPED on a ratio metric).")
    outcome_id = models.CharField(max_length=100, null=True, blank=True)
    metrics = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "abtest_outcomes"
        constraints = [
            # Also the index for "outcomes of test X" (its leading column).
            models.UniqueConstraint(
                fields=["test", "outcome_id"], name="unique_outcome_id_per_test"
            )
        ]

    def __str__(self) -> str:
        return f"{self.test_id}/{self.unit_id}: {self.value}"


class ABTestSnapshot(models.Model):
    """One evaluation of a test: the evidence at that look, never edited."""

    test = models.ForeignKey(ABTest, on_delete=models.CASCADE, related_name="snapshots")
    created_at = models.DateTimeField()
    kind = models.CharField(max_length=10, choices=SnapshotKind.choices)
    method = models.CharField(max_length=20, choices=Method.choices)
    decision = models.CharField(max_length=20, choices=Decision.choices)
    reasons = models.JSONField(default=list)
    champion_n = models.BigIntegerField()
    challenger_n = models.BigIntegerField()
    champion_mean = models.FloatField(null=True)
    challenger_mean = models.FloatField(null=True)
    effect = models.FloatField(null=True)
    p_value = models.FloatField(null=True)
    ci_low = models.FloatField(null=True)
    ci_high = models.FloatField(null=True)
    relative_lift = models.FloatField(null=True)
    relative_ci_low = models.FloatField(null=True)
    relative_ci_high = models.FloatField(null=True)
    sequential_p = models.FloatField(null=True)
    srm_p = models.FloatField(null=True)
    srm_mismatch = models.BooleanField(default=False)
    guardrails = models.JSONField(default=list)
    max_duration_reached = models.BooleanField(default=False)
    concluded = models.BooleanField(default=False)
    promotion_status = models.CharField(
        max_length=10, choices=PromotionStatus.choices, blank=True, default=PromotionStatus.NONE
    )
    promotion_message = models.TextField(blank=True)
    details = models.JSONField(default=dict)

    class Meta:
        db_table = "abtest_snapshots"
        ordering = ["test", "created_at", "id"]
        indexes = [models.Index(fields=["test", "created_at"], name="abtest_snapshot_test_time")]

    def __str__(self) -> str:
        return f"{self.test_id} @ {self.created_at:%Y-%m-%d %H:%M}: {self.decision}"


class OutcomeToken(models.Model):
    """A credential that posts outcomes to one test, for a service without a user account.

    Only the sha256 of the key is kept; the key is shown once, when the token is made.
    """

    test = models.ForeignKey(ABTest, on_delete=models.CASCADE, related_name="outcome_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="The key's first characters, to tell "
                              "tokens apart.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        db_table = "abtest_outcome_tokens"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...) for test {self.test_id}"

    @property
    def active(self) -> bool:
        return self.revoked_at is None
