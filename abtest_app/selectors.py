"""Reads of the A/B test app: the running test of a model (for serving), results, history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.utils import timezone

from abtest_app import decision, stats
from abtest_app.bayesian import GaussianPrior
from abtest_app.choices import (
    Arm,
    AssignmentRule,
    DecisionRule,
    Direction,
    GuardrailCorrection,
    Method,
    MetricType,
    MinEffectKind,
    TestState,
)
from abtest_app.errors import ABTestNotFound
from abtest_app.models import PRIMARY, ABTest, ABTestSnapshot, ArmStats, Outcome


@dataclass(frozen=True)
class RunningTest:
    """What serving needs to route a prediction: assign with (seed, unit, challenger_share,
    assignment_rule)."""

    test_id: int
    seed: str
    champion_version_id: int
    challenger_version_id: int
    challenger_share: float
    assignment_rule: str = AssignmentRule.GROWTHBOOK


def running_test_for_model(model_id: int) -> RunningTest | None:
    """The model's running test, if any. One indexed query (model, state); no joins."""
    rows = list(
        ABTest.objects.filter(model_id=model_id, state=TestState.RUNNING)
        .order_by()
        .values_list("pk", "seed", "champion_id", "challenger_id", "challenger_share",
                     "assignment_rule")[:1]
    )
    return RunningTest(*rows[0]) if rows else None


def running_test_ids() -> list[int]:
    return list(
        ABTest.objects.filter(state=TestState.RUNNING).order_by("pk").values_list("pk", flat=True)
    )


def abtest_get(*, test_id: int | str, related: bool = True) -> ABTest:
    """The test; `related=False` skips the joins (the outcome hot path needs none)."""
    queryset = ABTest.objects.all()
    if related:
        queryset = queryset.select_related(
            "model", "champion", "challenger", "created_by", "ended_by"
        )
    try:
        return queryset.get(pk=int(test_id))
    except (ABTest.DoesNotExist, ValueError, TypeError) as exc:
        raise ABTestNotFound(f"No A/B test with id {test_id!r}.") from exc


def decision_config(test: ABTest) -> decision.DecisionConfig:
    return decision.DecisionConfig(
        method=Method(test.method),
        direction=Direction(test.metric_direction),
        alpha=test.alpha,
        min_effect=test.min_effect,
        min_effect_kind=MinEffectKind(test.min_effect_kind),
        min_samples_per_arm=test.min_samples_per_arm,
        challenger_share=test.challenger_share,
        # Always given, so every snapshot carries the sequential evidence.
        planned_n_per_arm=test.planned_samples_per_arm,
        binary=test.metric_type == MetricType.BINARY,
        ratio=test.ratio_metric,
        guardrail_correction=GuardrailCorrection(test.guardrail_correction),
        decision_rule=DecisionRule(test.decision_rule),
        loss_threshold=test.loss_threshold,
        prior=GaussianPrior(test.prior_mean, test.prior_variance, test.prior_proper),
    )


def arm_stats(test: ABTest) -> dict[tuple[str, str], stats.ArmStats]:
    """(arm, metric) -> running sums; metric "" is the primary metric. O(arms)."""
    found = {
        (arm, metric): stats.ArmStats(*sums)
        for arm, metric, *sums in ArmStats.objects.filter(test=test).values_list(
            "arm", "metric", *ArmStats.SUMS
        )
    }
    empty = stats.ArmStats(0, 0.0, 0.0)
    return {
        (arm, metric): found.get((arm, metric), empty)
        for arm in Arm.values
        for metric in test.metric_names()
    }


def previous_sequential_p(test: ABTest) -> float:
    """The always-valid p of the last look, carried into the next one (1.0 before any)."""
    last = (
        ABTestSnapshot.objects.filter(test=test, sequential_p__isnull=False)
        .order_by("-created_at", "-id")
        .values_list("sequential_p", flat=True)
        .first()
    )
    return 1.0 if last is None else float(last)


def raw_values(test: ABTest) -> tuple[np.ndarray, np.ndarray]:
    """(champion values, challenger values) of the primary metric: O(outcomes)."""
    rows = Outcome.objects.filter(test=test).values_list("arm", "value")
    arms, values = zip(*rows, strict=True) if rows else ((), ())
    values_array = np.asarray(values, dtype=np.float64)
    is_challenger = np.asarray(arms, dtype=object) == Arm.CHALLENGER
    return values_array[~is_challenger], values_array[is_challenger]


def max_duration_reached(test: ABTest, now: datetime) -> bool:
    return test.started_at is not None and test.elapsed(now) >= test.max_duration


def abtest_evaluation(
    *, test: ABTest, now: datetime | None = None, prior_sequential_p: float | None = None
) -> decision.Evaluation:
    """Decide the test as of now, from the sufficient statistics (raw values only for
    Mann-Whitney). Nothing is stored; services.abtest_evaluate stores and acts."""
    now = now or timezone.now()
    sufficient = arm_stats(test)
    guardrails = [
        decision.Guardrail(
            name=g["name"],
            champion=sufficient[(Arm.CHAMPION, g["name"])],
            challenger=sufficient[(Arm.CHALLENGER, g["name"])],
            direction=Direction(g["direction"]),
            binary=g["type"] == MetricType.BINARY,
        )
        for g in test.guardrails
    ]
    # Mann-Whitney reads every raw value of the test (O(outcomes)); the others do not.
    raw = raw_values(test) if test.method == Method.MANN_WHITNEY else None
    return decision.evaluate(
        decision_config(test),
        sufficient[(Arm.CHAMPION, PRIMARY)],
        sufficient[(Arm.CHALLENGER, PRIMARY)],
        prior_sequential_p=(
            previous_sequential_p(test) if prior_sequential_p is None else prior_sequential_p
        ),
        raw=raw,
        guardrails=guardrails,
        max_duration_reached=max_duration_reached(test, now),
    )


def snapshot_history(*, test: ABTest, limit: int = 1000) -> list[ABTestSnapshot]:
    """The most recent `limit` snapshots, oldest first (for charting evidence over time)."""
    newest = ABTestSnapshot.objects.filter(test=test).order_by("-created_at", "-id")[:limit]
    return list(reversed(newest))


def latest_snapshot(*, test: ABTest) -> ABTestSnapshot | None:
    return ABTestSnapshot.objects.filter(test=test).order_by("-created_at", "-id").first()


def _arm_summary(arm: stats.ArmStats) -> dict[str, Any]:
    variance = arm.variance
    return {
        "mean": None if arm.n == 0 else arm.mean,
        "sd": None if arm.n < 2 else float(np.sqrt(variance)),
        **{name: getattr(arm, name) for name in ArmStats.SUMS},
    }


def abtest_results(*, test: ABTest, now: datetime | None = None) -> dict[str, Any]:
    """What the dashboard shows: the evaluation as of now for a test still collecting (not
    stored), else its last snapshot; the arms' statistics; the history of snapshots."""
    now = now or timezone.now()
    history = snapshot_history(test=test)
    if test.state in (TestState.RUNNING, TestState.PAUSED):
        evaluation = abtest_evaluation(test=test, now=now)
        current: dict[str, Any] | None = {
            **evaluation.as_snapshot(),
            "max_duration_reached": max_duration_reached(test, now),
            "created_at": now.isoformat(),
            "details": evaluation.details(),
        }
        source = "computed"
    elif history:
        last = history[-1]
        current = {
            field.name: getattr(last, field.name)
            for field in ABTestSnapshot._meta.concrete_fields
            if field.name not in ("id", "test")
        }
        current["created_at"] = last.created_at.isoformat()
        source = "snapshot"
    else:
        current, source = None, "none"
    sufficient = arm_stats(test)
    arms = {
        metric or "primary": {arm: _arm_summary(sufficient[(arm, metric)]) for arm in Arm.values}
        for metric in test.metric_names()
    }
    return {"test": test, "source": source, "evaluation": current, "arms": arms,
            "history": history}
