"""The A/B test's words: one enum per concept. No Django here.

The decision rule, assignment and outcome parsing compare with these enums, and
``abtest_app.choices`` hands the same classes to Django fields and serializers.
A metric's direction is the registry's one :class:`~models_app.vocabulary.Direction`.
"""

from __future__ import annotations

from models_app.vocabulary import Direction, Vocabulary

__all__ = [
    "Analysis",
    "Arm",
    "AssignmentRule",
    "Decision",
    "DecisionRule",
    "Direction",
    "GuardrailCorrection",
    "Method",
    "MetricType",
    "MinEffectKind",
    "TestState",
]


class TestState(Vocabulary):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    CONCLUDED = "concluded"
    CANCELLED = "cancelled"


class MetricType(Vocabulary):
    CONTINUOUS = "continuous"
    BINARY = "binary"


class Method(Vocabulary):
    SEQUENTIAL = "sequential", "mSPRT (safe to look at every evaluation)"
    WELCH = "welch", "Welch's t-test (fixed horizon)"
    ZTEST = "ztest", "two-proportion z-test (fixed horizon, binary metrics)"
    MANN_WHITNEY = "mannwhitney", "Mann-Whitney U (fixed horizon, reads raw outcomes)"


class MinEffectKind(Vocabulary):
    ABSOLUTE = "absolute"  # in metric units
    RELATIVE = "relative"  # fraction of the champion mean, e.g. 0.02 for 2%


class Decision(Vocabulary):
    CHALLENGER_WINS = "challenger_wins"
    CHAMPION_WINS = "champion_wins"
    NO_DECISION = "no_decision"
    INCONCLUSIVE = "inconclusive"


class Arm(Vocabulary):
    CHAMPION = "champion"
    CHALLENGER = "challenger"


class AssignmentRule(Vocabulary):
    """Which bucket range goes to which arm; stored per test so no running test reshuffles."""

    AXION_V1 = "axion-v1", "challenger below its share (tests created before GrowthBook order)"
    GROWTHBOOK = "growthbook", "GrowthBook: champion is variation 0, the low range"


class DecisionRule(Vocabulary):
    SIGNIFICANCE = "significance", "frequentist: the method's p-value below alpha"
    EXPECTED_LOSS = "expected_loss", "Bayesian: shipping an arm risks less than the threshold"


class GuardrailCorrection(Vocabulary):
    HOLM = "holm", "Holm step-down (family-wise error rate)"
    BENJAMINI_HOCHBERG = "bh", "Benjamini-Hochberg (false discovery rate)"


class Analysis(Vocabulary):
    """How the primary metric's arms were estimated."""

    RAW = "raw", "the mean of the metric"
    CUPED = "cuped", "CUPED: adjusted by the pre-period covariate"
    RATIO = "ratio", "a ratio of sums with the delta method"
    RATIO_CUPED = "ratio_cuped", "CUPED on a ratio: adjusted by the pre-period ratio"
