"""Choices of the A/B test app. Values match the enums of abtest_app.decision."""

from django.db import models

from models_app.choices import Direction  # noqa: F401  (one direction for every metric)


class TestState(models.TextChoices):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    CONCLUDED = "concluded"
    CANCELLED = "cancelled"


class MetricType(models.TextChoices):
    CONTINUOUS = "continuous"
    BINARY = "binary"


class Method(models.TextChoices):
    SEQUENTIAL = "sequential", "mSPRT (safe to look at every evaluation)"
    WELCH = "welch", "Welch's t-test (fixed horizon)"
    ZTEST = "ztest", "two-proportion z-test (fixed horizon, binary metrics)"
    MANN_WHITNEY = "mannwhitney", "Mann-Whitney U (fixed horizon, reads raw outcomes)"


class MinEffectKind(models.TextChoices):
    ABSOLUTE = "absolute"
    RELATIVE = "relative"


class Decision(models.TextChoices):
    CHALLENGER_WINS = "challenger_wins"
    CHAMPION_WINS = "champion_wins"
    NO_DECISION = "no_decision"
    INCONCLUSIVE = "inconclusive"


class Arm(models.TextChoices):
    CHAMPION = "champion"
    CHALLENGER = "challenger"


class PromotionStatus(models.TextChoices):
    NONE = "", "not attempted"
    PROMOTED = "promoted"
    REFUSED = "refused"
    REQUESTED = "requested"  # a four-eyes model: a promotion request awaits a second person


class SnapshotKind(models.TextChoices):
    SCHEDULED = "scheduled"  # the periodic evaluation (Celery beat fan-out)
    MANUAL = "manual"  # the final look taken when a person concludes the test
