"""The one place that decides an A/B test: champion vs challenger on one metric.

Pure computation: no Django. The caller passes per-arm sufficient statistics and
gets back an :class:`Evaluation` holding every number a snapshot needs.

Rules, in order:
1. A sample ratio mismatch (p < ``srm_alpha``) blocks any winner and is flagged.
2. Each arm needs ``min_samples_per_arm`` units.
3. The chosen method's p-value must be below ``alpha``.
4. Challenger wins only if its CI clears the minimum effect in the metric's better
   direction and no guardrail is significantly worse. The champion wins if the
   challenger is significantly worse. A zero effect never names a winner.
5. Without a winner or loser, the result is ``inconclusive`` once the maximum
   duration is reached, ``no_decision`` before.

For the sequential method, the CI is the always-valid one (and a relative minimum
effect is checked on the relative lift scaled by the same critical value), so
looking at every snapshot does not inflate false positives. Guardrails use a
fixed-horizon test at every look: that errs toward blocking a winner.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, Protocol

from numpy.typing import ArrayLike

from .stats import (
    ArmStats,
    MannWhitneyResult,
    ProportionTest,
    RelativeLift,
    SampleRatioResult,
    SequentialResult,
    WelchResult,
    mann_whitney_u,
    msprt,
    relative_lift,
    sample_ratio_mismatch,
    two_proportion_ztest,
    welch_ttest,
)
from .vocabulary import Decision, Direction, Method, MinEffectKind

__all__ = [
    "Decision",
    "DecisionConfig",
    "Direction",
    "Evaluation",
    "Guardrail",
    "GuardrailOutcome",
    "Method",
    "MinEffectKind",
    "evaluate",
]


@dataclass(frozen=True)
class DecisionConfig:
    method: Method = Method.WELCH
    direction: Direction = Direction.HIGHER
    alpha: float = 0.05
    min_effect: float = 0.0  # >= 0, an improvement in the better direction
    min_effect_kind: MinEffectKind = MinEffectKind.ABSOLUTE
    min_samples_per_arm: int = 100
    challenger_share: float = 50.0  # percent, as configured for assignment
    srm_alpha: float = 0.001
    planned_n_per_arm: int | None = None  # tunes the sequential test; required by it

    def __post_init__(self) -> None:
        # Accept plain strings (e.g. from model fields) and store the enums.
        object.__setattr__(self, "method", Method(self.method))
        object.__setattr__(self, "direction", Direction(self.direction))
        object.__setattr__(self, "min_effect_kind", MinEffectKind(self.min_effect_kind))
        if not 0 < self.alpha < 1 or not 0 < self.srm_alpha < 1:
            raise ValueError("alpha and srm_alpha must be in (0, 1)")
        if self.min_effect < 0:
            raise ValueError("min_effect must be >= 0 (it is measured in the better direction)")
        if self.min_samples_per_arm < 2:
            raise ValueError("min_samples_per_arm must be >= 2")
        if not 0 < self.challenger_share < 100:
            raise ValueError("challenger_share must be in (0, 100)")
        if self.method == Method.SEQUENTIAL and self.planned_n_per_arm is None:
            raise ValueError("the sequential method needs planned_n_per_arm")


@dataclass(frozen=True)
class Guardrail:
    """A secondary metric the challenger must not make significantly worse."""

    name: str
    champion: ArmStats
    challenger: ArmStats
    direction: Direction = Direction.HIGHER
    binary: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "direction", Direction(self.direction))


@dataclass(frozen=True)
class GuardrailOutcome:
    name: str
    effect: float  # challenger - champion
    p_value: float
    significantly_worse: bool


@dataclass(frozen=True)
class Evaluation:
    decision: Decision
    reasons: tuple[str, ...]
    method: Method
    champion_n: int
    challenger_n: int
    champion_mean: float
    challenger_mean: float
    effect: float  # challenger mean - champion mean
    p_value: float  # of the deciding method; NaN when not computed
    ci_low: float  # CI of the effect by the deciding method
    ci_high: float
    srm: SampleRatioResult
    srm_mismatch: bool
    sequential_p: float | None  # always-valid p to carry to the next look; None if not run
    relative_lift: RelativeLift | None = None
    welch: WelchResult | None = None
    proportion: ProportionTest | None = None
    mann_whitney: MannWhitneyResult | None = None
    sequential: SequentialResult | None = None
    guardrails: tuple[GuardrailOutcome, ...] = ()

    def as_snapshot(self) -> dict[str, Any]:
        """Flat, JSON-safe numbers (NaN and infinities become None)."""
        lift = self.relative_lift
        return {
            "decision": str(self.decision),
            "reasons": list(self.reasons),
            "method": str(self.method),
            "champion_n": self.champion_n,
            "challenger_n": self.challenger_n,
            "champion_mean": _finite(self.champion_mean),
            "challenger_mean": _finite(self.challenger_mean),
            "effect": _finite(self.effect),
            "p_value": _finite(self.p_value),
            "ci_low": _finite(self.ci_low),
            "ci_high": _finite(self.ci_high),
            "relative_lift": _finite(lift.estimate) if lift else None,
            "relative_ci_low": _finite(lift.ci_low) if lift else None,
            "relative_ci_high": _finite(lift.ci_high) if lift else None,
            "relative_lift_reason": lift.reason if lift else "",
            "sequential_p": _finite(self.sequential_p),
            "srm_p": _finite(self.srm.p_value),
            "srm_mismatch": self.srm_mismatch,
            "guardrails": [
                {
                    "name": g.name,
                    "effect": _finite(g.effect),
                    "p_value": _finite(g.p_value),
                    "significantly_worse": g.significantly_worse,
                }
                for g in self.guardrails
            ],
        }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _successes(arm: ArmStats) -> int:
    successes = round(arm.total)
    if abs(arm.total - arm.total_sq) > 1e-9 * max(1.0, arm.total) or successes > arm.n:
        raise ValueError("the z-test needs a binary (0/1) metric")
    return successes


def _guardrail_outcome(guardrail: Guardrail, alpha: float) -> GuardrailOutcome:
    a, b = guardrail.champion, guardrail.challenger
    if min(a.n, b.n) < 2:  # nothing to test yet: cannot be significantly worse
        return GuardrailOutcome(guardrail.name, math.nan, math.nan, False)
    if guardrail.binary:
        test = two_proportion_ztest(_successes(a), a.n, _successes(b), b.n, alpha=alpha)
        effect, p_value = test.effect, test.p_value
    else:
        welch = welch_ttest(a, b, alpha=alpha)
        effect, p_value = welch.effect, welch.p_value
    worse = p_value < alpha and guardrail.direction.sign * effect < 0
    return GuardrailOutcome(guardrail.name, effect, p_value, worse)


# One function per method. Welch's test always runs (Mann-Whitney borrows its CI), and
# the sequential test runs whenever it is tuned, to carry its p-value to the next look.


@dataclass(frozen=True)
class _Tests:
    champion: ArmStats
    challenger: ArmStats
    alpha: float
    welch: WelchResult
    sequential: SequentialResult | None
    raw: tuple[ArrayLike, ArrayLike] | None


@dataclass(frozen=True)
class _MethodResult:
    """What the deciding method says: a p-value, an effect CI, the observed effect's sign."""

    p_value: float
    observed: float
    ci: tuple[float, float]
    proportion: ProportionTest | None = None
    mann_whitney: MannWhitneyResult | None = None


class _MethodTest(Protocol):
    def __call__(self, tests: _Tests, /) -> _MethodResult: ...


def _by_welch(tests: _Tests) -> _MethodResult:
    welch = tests.welch
    return _MethodResult(welch.p_value, welch.effect, (welch.ci_low, welch.ci_high))


def _by_ztest(tests: _Tests) -> _MethodResult:
    a, b = tests.champion, tests.challenger
    proportion = two_proportion_ztest(_successes(a), a.n, _successes(b), b.n, alpha=tests.alpha)
    return _MethodResult(
        proportion.p_value,
        proportion.effect,
        (proportion.ci_low, proportion.ci_high),
        proportion=proportion,
    )


def _by_mann_whitney(tests: _Tests) -> _MethodResult:
    assert tests.raw is not None
    mann_whitney = mann_whitney_u(tests.raw[0], tests.raw[1])
    # U has no effect scale: the CI for the minimum effect is Welch's.
    return _MethodResult(
        mann_whitney.p_value,
        mann_whitney.prob_challenger_greater - 0.5,
        (tests.welch.ci_low, tests.welch.ci_high),
        mann_whitney=mann_whitney,
    )


def _by_sequential(tests: _Tests) -> _MethodResult:
    sequential = tests.sequential
    if sequential is None:  # DecisionConfig requires planned_n_per_arm: not reached
        return _by_welch(tests)
    return _MethodResult(
        sequential.p_value, sequential.effect, (sequential.ci_low, sequential.ci_high)
    )


_METHODS: dict[Method, _MethodTest] = {
    Method.WELCH: _by_welch,
    Method.ZTEST: _by_ztest,
    Method.MANN_WHITNEY: _by_mann_whitney,
    Method.SEQUENTIAL: _by_sequential,
}


# The decision: facts measured as an improvement (positive means the challenger is
# better), then the first rule whose condition holds names the decision and the reason.


@dataclass(frozen=True)
class _Facts:
    significant: bool
    improvement: float
    srm_mismatch: bool
    clears: bool
    worse_guardrails: str  # comma-separated names, "" when none
    # the words of the reasons
    p: str
    alpha: float
    method: Method
    better: str
    interval: str
    minimum: str


class _Rule(NamedTuple):
    applies: Callable[[_Facts], bool]
    decision: Decision | None  # None: no winner at this look
    reason: str  # formatted with the facts; "" when an earlier reason already explains


_RULES: tuple[_Rule, ...] = (
    _Rule(
        lambda f: not f.significant,
        None,
        "not significant: p = {p} >= alpha {alpha:g} ({method})",
    ),
    _Rule(
        lambda f: f.improvement == 0,
        None,
        "no difference in the observed effect: a tie never names a winner",
    ),
    _Rule(lambda f: f.srm_mismatch, None, ""),
    _Rule(
        lambda f: f.improvement < 0,
        Decision.CHAMPION_WINS,
        "challenger significantly worse ({better} is better): p = {p}, {interval}",
    ),
    _Rule(
        lambda f: not f.clears,
        None,
        "significant (p = {p}), but {interval} does not clear {minimum} ({better} is better)",
    ),
    _Rule(
        lambda f: bool(f.worse_guardrails),
        None,
        "guardrails significantly worse: {worse_guardrails}",
    ),
    _Rule(
        lambda f: True,
        Decision.CHALLENGER_WINS,
        "challenger significantly better ({better} is better): p = {p}, {interval} clears "
        "{minimum}",
    ),
)


def _decide(facts: _Facts) -> tuple[Decision | None, str]:
    rule = next(rule for rule in _RULES if rule.applies(facts))
    return rule.decision, rule.reason.format_map(vars(facts))


def _clears_minimum(
    config: DecisionConfig, ci: tuple[float, float], lift: RelativeLift
) -> tuple[bool, str]:
    """Whether the CI clears the minimum effect in the better direction, and that CI in words."""
    sign = config.direction.sign
    if config.min_effect_kind == MinEffectKind.ABSOLUTE:
        clears = min(sign * ci[0], sign * ci[1]) > config.min_effect
        return clears, f"effect CI [{_fmt(ci[0])}, {_fmt(ci[1])}]"
    if lift.ci_low is not None and lift.ci_high is not None:
        clears = min(sign * lift.ci_low, sign * lift.ci_high) > config.min_effect
        return clears, f"relative lift CI [{_fmt(lift.ci_low)}, {_fmt(lift.ci_high)}]"
    return False, f"no relative lift ({lift.reason})"


def _facts(
    config: DecisionConfig,
    result: _MethodResult,
    lift: RelativeLift,
    srm_mismatch: bool,
    guardrails: Sequence[GuardrailOutcome],
) -> _Facts:
    clears, interval = _clears_minimum(config, result.ci, lift)
    return _Facts(
        significant=result.p_value < config.alpha,
        improvement=config.direction.sign * result.observed,
        srm_mismatch=srm_mismatch,
        clears=clears,
        worse_guardrails=", ".join(g.name for g in guardrails if g.significantly_worse),
        p=_fmt(result.p_value),
        alpha=config.alpha,
        method=config.method,
        better=config.direction.value,
        interval=interval,
        minimum=f"the minimum {config.min_effect_kind} effect {config.min_effect:g}",
    )


_OUT_OF_TIME = "maximum duration reached without a decision"


def _srm_reason(srm: SampleRatioResult) -> str:
    return (
        f"sample ratio mismatch: {srm.observed_challenger_share:.2f}% challenger units "
        f"vs {srm.expected_challenger_share:g}% configured (p = {srm.p_value:.3g}); "
        "no winner until assignment is fixed"
    )


def _summary(
    config: DecisionConfig,
    champion: ArmStats,
    challenger: ArmStats,
    srm: SampleRatioResult,
    *,
    prior_sequential_p: float,
    max_duration_reached: bool,
) -> Evaluation:
    """What is known before any test runs; a look below the minimum sample ends here."""
    return Evaluation(
        decision=Decision.INCONCLUSIVE if max_duration_reached else Decision.NO_DECISION,
        reasons=(),
        method=config.method,
        champion_n=champion.n,
        challenger_n=challenger.n,
        champion_mean=champion.mean,
        challenger_mean=challenger.mean,
        effect=challenger.mean - champion.mean,
        p_value=math.nan,
        ci_low=math.nan,
        ci_high=math.nan,
        srm=srm,
        srm_mismatch=srm.p_value < config.srm_alpha,
        sequential_p=prior_sequential_p if config.planned_n_per_arm is not None else None,
    )


def _sequential(
    config: DecisionConfig, champion: ArmStats, challenger: ArmStats, prior_p_value: float
) -> SequentialResult | None:
    if config.planned_n_per_arm is None:
        return None
    return msprt(
        champion,
        challenger,
        planned_n_per_arm=config.planned_n_per_arm,
        alpha=config.alpha,
        prior_p_value=prior_p_value,
    )


def evaluate(
    config: DecisionConfig,
    champion: ArmStats,
    challenger: ArmStats,
    *,
    prior_sequential_p: float = 1.0,
    raw: tuple[ArrayLike, ArrayLike] | None = None,
    guardrails: Sequence[Guardrail] = (),
    max_duration_reached: bool = False,
) -> Evaluation:
    """Decide the test at this look. ``raw`` is (champion values, challenger values)."""
    if config.method == Method.MANN_WHITNEY and raw is None:
        raise ValueError("the Mann-Whitney method needs raw values")
    srm = sample_ratio_mismatch(champion.n, challenger.n, config.challenger_share)
    summary = _summary(
        config,
        champion,
        challenger,
        srm,
        prior_sequential_p=prior_sequential_p,
        max_duration_reached=max_duration_reached,
    )
    reasons = [_srm_reason(srm)] if summary.srm_mismatch else []
    if min(champion.n, challenger.n) < config.min_samples_per_arm:
        reasons.append(
            f"minimum sample not reached: {champion.n} champion and {challenger.n} challenger "
            f"units, {config.min_samples_per_arm} needed per arm"
        )
        if max_duration_reached:
            reasons.append(_OUT_OF_TIME)
        return replace(summary, reasons=tuple(reasons))

    alpha = config.alpha
    welch = welch_ttest(champion, challenger, alpha=alpha)
    sequential = _sequential(config, champion, challenger, prior_sequential_p)
    result = _METHODS[config.method](
        _Tests(champion, challenger, alpha, welch, sequential, raw)
    )
    lift = relative_lift(
        champion,
        challenger,
        alpha=alpha,
        critical_value=(
            sequential.critical_value
            if sequential is not None and config.method == Method.SEQUENTIAL
            else None
        ),
    )
    outcomes = tuple(_guardrail_outcome(g, alpha) for g in guardrails)
    decision, reason = _decide(_facts(config, result, lift, summary.srm_mismatch, outcomes))
    if reason:
        reasons.append(reason)
    if decision is None and max_duration_reached:
        reasons.append(_OUT_OF_TIME)

    return replace(
        summary,
        decision=decision or summary.decision,
        reasons=tuple(reasons),
        p_value=result.p_value,
        ci_low=result.ci[0],
        ci_high=result.ci[1],
        sequential_p=sequential.p_value if sequential else None,
        relative_lift=lift,
        welch=welch,
        proportion=result.proportion,
        mann_whitney=result.mann_whitney,
        sequential=sequential,
        guardrails=outcomes,
    )
