"""Choices of the A/B test app. The words pure code shares are enums of
abtest_app.vocabulary, re-exported here; the choices only Django uses are TextChoices."""

from __future__ import annotations

from django.db import models

from abtest_app.vocabulary import (
    Arm,
    AssignmentRule,
    Decision,
    DecisionRule,
    Direction,
    GuardrailCorrection,
    Method,
    MetricType,
    MinEffectKind,
    TestState,
)

__all__ = [
    "Arm",
    "AssignmentRule",
    "Decision",
    "DecisionRule",
    "Direction",
    "GuardrailCorrection",
    "Method",
    "MetricType",
    "MinEffectKind",
    "PromotionStatus",
    "SnapshotKind",
    "TestState",
]


class PromotionStatus(models.TextChoices):
    NONE = "", "not attempted"
    PROMOTED = "promoted"
    REFUSED = "refused"
    REQUESTED = "requested"  # a four-eyes model: a promotion request awaits a second person


class SnapshotKind(models.TextChoices):
    SCHEDULED = "scheduled"  # the periodic evaluation (Celery beat fan-out)
    MANUAL = "manual"  # the final look taken when a person concludes the test
