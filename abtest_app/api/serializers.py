from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework import serializers

from abtest_app.choices import (
    Arm,
    Decision,
    DecisionRule,
    Direction,
    GuardrailCorrection,
    Method,
    MetricType,
    MinEffectKind,
)
from abtest_app.models import ABTest, ABTestSnapshot, OutcomeToken
from abtest_app.services import can_manage, may_start
from models_app.models import ModelVersion, RegisteredModel


class DecisionField(serializers.ChoiceField):
    """A test's decision, null until it has one (the row stores "")."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Decision.choices, allow_null=True, read_only=True, **kwargs)

    def to_representation(self, value: str) -> str | None:  # type: ignore[override]
        return value or None


class GuardrailSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    type = serializers.ChoiceField(choices=MetricType.choices, default=MetricType.CONTINUOUS)
    direction = serializers.ChoiceField(choices=Direction.choices, default=Direction.HIGHER)


class ABTestInputSerializer(serializers.Serializer):
    """A new test. Ranges (split, alpha, minimums) are checked by the service."""

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    model = serializers.SlugField(max_length=100, help_text="The registered model's name.")
    champion = serializers.CharField(max_length=50, help_text="Version, e.g. 1.2.0.")
    challenger = serializers.CharField(max_length=50, help_text="Version, e.g. 1.3.0.")
    challenger_share = serializers.FloatField(
        default=50.0, help_text="The challenger's percent of units, strictly between 0 and 100."
    )
    assignment_unit = serializers.SlugField(max_length=50, default="user",
                                            help_text="user, symbol, request, ...")
    metric_name = serializers.CharField(max_length=100)
    metric_type = serializers.ChoiceField(choices=MetricType.choices)
    metric_direction = serializers.ChoiceField(choices=Direction.choices,
                                               default=Direction.HIGHER)
    method = serializers.ChoiceField(choices=Method.choices, default=Method.SEQUENTIAL)
    alpha = serializers.FloatField(default=0.05)
    min_samples_per_arm = serializers.IntegerField(default=100, min_value=1,
                                                   max_value=1_000_000_000)
    planned_samples_per_arm = serializers.IntegerField(default=5000, min_value=1,
                                                       max_value=1_000_000_000)
    min_effect = serializers.FloatField(default=0.0)
    min_effect_kind = serializers.ChoiceField(choices=MinEffectKind.choices,
                                              default=MinEffectKind.ABSOLUTE)
    max_duration = serializers.DurationField(
        default=timedelta(days=30), help_text='e.g. "14 00:00:00" or "P14D" (running time).'
    )
    auto_promote = serializers.BooleanField(default=False)
    guardrails = GuardrailSerializer(many=True, required=False, default=list)
    guardrail_correction = serializers.ChoiceField(
        choices=GuardrailCorrection.choices, default=GuardrailCorrection.HOLM,
        help_text="holm or bh, across the guardrails' one-sided tests.")
    ratio_metric = serializers.BooleanField(
        default=False, help_text="Each outcome carries a denominator; the metric is "
        "sum(value) / sum(denominator) per arm (delta method).")
    decision_rule = serializers.ChoiceField(choices=DecisionRule.choices,
                                            default=DecisionRule.SIGNIFICANCE)
    loss_threshold = serializers.FloatField(
        default=0.0, help_text="decision_rule expected_loss: the loss accepted from shipping "
        "an arm, on the min_effect_kind scale.")
    prior_mean = serializers.FloatField(default=0.0, help_text="Gaussian prior on the effect.")
    prior_variance = serializers.FloatField(default=1.0)
    prior_proper = serializers.BooleanField(default=False,
                                            help_text="False: flat prior (gbstats' default).")


class ABTestSerializer(serializers.ModelSerializer):
    model: serializers.SlugRelatedField[RegisteredModel] = serializers.SlugRelatedField(
        slug_field="name", read_only=True
    )
    champion: serializers.SlugRelatedField[ModelVersion] = serializers.SlugRelatedField(
        slug_field="version", read_only=True
    )
    challenger: serializers.SlugRelatedField[ModelVersion] = serializers.SlugRelatedField(
        slug_field="version", read_only=True
    )
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    ended_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    run_seconds = serializers.SerializerMethodField()
    decision = DecisionField()
    available_actions = serializers.SerializerMethodField()

    class Meta:
        model = ABTest
        fields = [
            "id", "name", "description", "model", "champion", "challenger", "champion_id",
            "challenger_id", "challenger_share", "assignment_unit", "seed", "assignment_rule",
            "metric_name",
            "metric_type", "metric_direction", "guardrails", "guardrail_correction",
            "ratio_metric", "method", "decision_rule", "loss_threshold", "prior_mean",
            "prior_variance", "prior_proper", "alpha",
            "min_samples_per_arm", "planned_samples_per_arm", "min_effect", "min_effect_kind",
            "max_duration", "auto_promote", "state", "created_by", "created_at", "started_at",
            "ended_at", "run_seconds", "decision", "conclusion_reason", "ended_by",
            "srm_flagged", "promotion_status", "promotion_message", "promotion_details",
            "available_actions",
        ]
        read_only_fields = fields

    def get_run_seconds(self, obj: ABTest) -> float:
        return obj.elapsed(timezone.now()).total_seconds()

    def get_available_actions(self, obj: ABTest) -> list[str]:
        request = self.context.get("request")
        if request is None or not can_manage(obj, request.user):
            return []
        actions = {t.name for t in obj.get_available_state_transitions()}
        if "start" in actions and not may_start(obj, request.user):
            actions.remove("start")
        return sorted(actions)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class AssignmentSerializer(serializers.Serializer):
    test_id = serializers.IntegerField()
    unit_id = serializers.CharField()
    arm = serializers.ChoiceField(choices=Arm.choices)
    version = serializers.CharField()
    version_id = serializers.IntegerField()
    bucket = serializers.FloatField(help_text="The unit's position in [0, 1).")
    state = serializers.CharField(help_text="The test's state; serving routes only running.")


class OutcomeInputSerializer(serializers.Serializer):
    """Documentation of one outcome; the endpoint validates batches without DRF fields."""

    unit_id = serializers.CharField(max_length=200)
    value = serializers.FloatField(help_text="The primary metric; 0 or 1 if binary.")
    outcome_id = serializers.CharField(max_length=100, required=False,
                                       help_text="Unique per test: a repeat is ignored.")
    metrics = serializers.DictField(child=serializers.FloatField(), required=False,
                                    help_text="Guardrail name -> value.")
    covariate = serializers.FloatField(required=False, help_text="The unit's pre-period "
                                       "value of the metric (CUPED); missing counts as 0.")
    denominator = serializers.FloatField(required=False, help_text="Required by a ratio "
                                         "metric: the unit's denominator (>= 0).")
    covariate_denominator = serializers.FloatField(
        required=False, help_text="Ratio metric only: the unit's pre-period denominator "
        "(>= 0), the pre-period covariate's denominator (CUPED on a ratio); missing counts "
        "as 0.")
    arm = serializers.ChoiceField(choices=Arm.choices, required=False,
                                  help_text="Optional check: must match the assignment.")


class OutcomeBatchSerializer(serializers.Serializer):
    outcomes = OutcomeInputSerializer(many=True, help_text="1 to 10,000 outcomes.")


class OutcomeReceiptSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    recorded = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    champion = serializers.IntegerField()
    challenger = serializers.IntegerField()


class SnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = ABTestSnapshot
        exclude = ["test"]


class ArmSummarySerializer(serializers.Serializer):
    n = serializers.IntegerField()
    mean = serializers.FloatField(allow_null=True)
    sd = serializers.FloatField(allow_null=True)
    total = serializers.FloatField()
    total_sq = serializers.FloatField()
    cov_n = serializers.IntegerField(help_text="Outcomes that carried a covariate (CUPED).")
    cov_total = serializers.FloatField()
    cov_total_sq = serializers.FloatField()
    value_cov_total = serializers.FloatField()
    den_n = serializers.IntegerField(help_text="Outcomes that carried a denominator.")
    den_total = serializers.FloatField()
    den_total_sq = serializers.FloatField()
    value_den_total = serializers.FloatField()
    cov_den_n = serializers.IntegerField(
        help_text="Outcomes that carried a covariate_denominator (CUPED on a ratio).")
    cov_den_total = serializers.FloatField()
    cov_den_total_sq = serializers.FloatField()
    value_cov_den_total = serializers.FloatField()
    den_cov_total = serializers.FloatField()
    den_cov_den_total = serializers.FloatField()
    cov_cov_den_total = serializers.FloatField()


class ResultsSerializer(serializers.Serializer):
    test = ABTestSerializer()
    # The metaclass moves declared fields off the class: this does not shadow Field.source.
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=["computed", "snapshot", "none"],
        help_text="computed: evaluated now (running or paused test), not stored; snapshot: "
        "the last stored evaluation (a finished test).",
    )
    evaluation = serializers.JSONField(allow_null=True)
    arms = serializers.DictField(
        child=serializers.DictField(child=ArmSummarySerializer()),
        help_text="metric ('primary' or a guardrail) -> arm -> sufficient statistics.",
    )
    history = SnapshotSerializer(many=True)


class SampleSizeQuerySerializer(serializers.Serializer):
    mde = serializers.FloatField(help_text="Absolute minimum detectable difference.")
    sd = serializers.FloatField(required=False, help_text="Continuous metric: its sd.")
    baseline_rate = serializers.FloatField(required=False, help_text="Binary metric: p0.")
    alpha = serializers.FloatField(default=0.05)
    power = serializers.FloatField(default=0.8)
    challenger_share = serializers.FloatField(
        default=50.0, help_text="Percent of units to the challenger (unequal splits need more)."
    )


class SampleSizeSerializer(serializers.Serializer):
    n_per_arm = serializers.IntegerField(help_text="Per arm at an equal split.")
    n_total = serializers.IntegerField(help_text="Units in all at challenger_share.")
    n_champion = serializers.IntegerField(help_text="Solved at the split (statsmodels ratio).")
    n_challenger = serializers.IntegerField()
    n_champion_exact = serializers.FloatField(help_text="statsmodels' nobs1 before rounding.")
    effect_size = serializers.FloatField(
        help_text="|mde| / sd (Cohen's d), or Cohen's h for a binary metric.")
    alpha = serializers.FloatField()
    power = serializers.FloatField()
    challenger_share = serializers.FloatField()


class DetectableEffectQuerySerializer(serializers.Serializer):
    n_champion = serializers.IntegerField(min_value=2, max_value=10**12)
    n_challenger = serializers.IntegerField(min_value=2, max_value=10**12)
    sd = serializers.FloatField(required=False, help_text="Continuous metric: its sd.")
    baseline_rate = serializers.FloatField(required=False, help_text="Binary metric: p0.")
    baseline_mean = serializers.FloatField(
        required=False, help_text="Continuous metric: the champion mean, for the relative mde.")
    alpha = serializers.FloatField(default=0.05)
    power = serializers.FloatField(default=0.8)


class DetectableEffectSerializer(serializers.Serializer):
    mde = serializers.FloatField(help_text="Smallest detectable increase, in metric units.")
    relative_mde = serializers.FloatField(allow_null=True, help_text="mde / |baseline|.")
    effect_size = serializers.FloatField(help_text="d (continuous) or Cohen's h (binary).")
    n_champion = serializers.IntegerField()
    n_challenger = serializers.IntegerField()
    alpha = serializers.FloatField()
    power = serializers.FloatField()


class OutcomeTokenInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="Who uses it, e.g. 'label-service'.")


class OutcomeTokenSerializer(serializers.ModelSerializer):
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True)
    revoked_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = OutcomeToken
        fields = ["id", "test", "name", "prefix", "created_by", "created_at", "revoked_at",
                  "revoked_by", "active"]


class IssuedOutcomeTokenSerializer(OutcomeTokenSerializer):
    token = serializers.CharField(help_text="Send it as `Authorization: OutcomeToken <key>`; "
                                  "shown only now.")

    class Meta(OutcomeTokenSerializer.Meta):
        fields = [*OutcomeTokenSerializer.Meta.fields, "token"]
