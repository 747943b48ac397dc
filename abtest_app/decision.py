"""The one place that decides an A/B test: champion vs challenger on one metric.

Pure computation: no Django. The caller passes per-arm sufficient statistics and
gets back an :class:`Evaluation` holding every number a snapshot needs.

Rules, in order:
1. A sample ratio mismatch (p < ``srm_alpha``) blocks any winner and is flagged.
2. Each arm needs ``min_samples_per_arm`` units.
3. The evidence: by significance, the chosen method's p-value below ``alpha``; by
   expected loss, shipping one arm risks less than ``loss_threshold`` (and less than
   shipping the other).
4. Challenger wins only if (by significance) its CI clears the minimum effect in the
   metric's better direction and no guardrail is significantly worse. The champion
   wins if the challenger is significantly worse (or keeping it is the safe choice).
   A zero effect never names a winner.
5. Without a winner or loser, the result is ``inconclusive`` once the maximum
   duration is reached, ``no_decision`` before.

The primary metric is analysed as :mod:`abtest_app.adjustment` estimates it (raw,
CUPED, a ratio or a CUPED-adjusted ratio); the unadjusted Welch result is kept beside a
CUPED one. Guardrails
are one-sided tests ("is the challenger worse?") with Holm or Benjamini-Hochberg
adjusted p-values across the guardrails; the correction is stated in the results.

For the sequential method, the CI is the always-valid one (and a relative minimum
effect is checked on the relative lift scaled by the same critical value), so
looking at every snapshot does not inflate false positives. Guardrails use a
fixed-horizon test at every look: that errs toward blocking a winner.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple, Protocol

from numpy.typing import ArrayLike

from . import adjustment
from .bayesian import BayesianResult, GaussianPrior, effect_posterior
from .stats import (
    Alternative,
    ArmStats,
    MannWhitneyResult,
    Moments,
    ProportionTest,
    RelativeLift,
    SampleRatioResult,
    SequentialResult,
    WelchResult,
    adjusted_p_values,
    mann_whitney_u,
    msprt,
    proportion,
    relative_lift,
    sample_ratio_mismatch,
    welch_ttest,
    z_test,
)
from .vocabulary import (
    Analysis,
    Decision,
    DecisionRule,
    Direction,
    GuardrailCorrection,
    Method,
    MinEffectKind,
)

__all__ = [
    "Decision",
    "DecisionConfig",
    "DecisionRule",
    "GaussianPrior",
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
    binary: bool = False  # the primary metric is 0/1
    ratio: bool = False  # the primary metric is sum of values / sum of denominators
    guardrail_correction: GuardrailCorrection = GuardrailCorrection.HOLM
    decision_rule: DecisionRule = DecisionRule.SIGNIFICANCE
    loss_threshold: float = 0.0  # expected loss below which an arm may ship (effect scale)
    prior: GaussianPrior = GaussianPrior()

    def __post_init__(self) -> None:
        # Accept plain strings (e.g. from model fields) and store the enums.
        object.__setattr__(self, "method", Method(self.method))
        object.__setattr__(self, "direction", Direction(self.direction))
        object.__setattr__(self, "min_effect_kind", MinEffectKind(self.min_effect_kind))
        object.__setattr__(self, "guardrail_correction",
                           GuardrailCorrection(self.guardrail_correction))
        object.__setattr__(self, "decision_rule", DecisionRule(self.decision_rule))
        if self.decision_rule == DecisionRule.EXPECTED_LOSS and not self.loss_threshold > 0:
            raise ValueError("deciding by expected loss needs loss_threshold > 0")
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
    p_value: float  # one-sided: H1 "the challenger is worse"
    significantly_worse: bool  # adjusted_p_value < alpha
    adjusted_p_value: float = math.nan  # by the test's guardrail correction
    alternative: str = "two-sided"  # statsmodels' word for H1 on challenger - champion


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
    analysis: Analysis = Analysis.RAW
    cuped: adjustment.Cuped | None = None
    ratio: adjustment.Ratio | None = None
    unadjusted: WelchResult | None = None  # Welch on the raw metric (or ratio), beside CUPED
    bayesian: BayesianResult | None = None
    bayesian_reason: str = ""  # why there is no Bayesian read-out
    decision_rule: DecisionRule = DecisionRule.SIGNIFICANCE
    guardrail_correction: GuardrailCorrection = GuardrailCorrection.HOLM

    def details(self) -> dict[str, Any]:
        """The per-method results behind the headline numbers, JSON-safe, for audits and
        the dashboard (CUPED, ratio and Bayesian read-outs among them)."""
        parts = {
            "welch": self.welch,
            "proportion": self.proportion,
            "mann_whitney": self.mann_whitney,
            "sequential": self.sequential,
            "relative_lift": self.relative_lift,
            "srm": self.srm,
            "cuped": self.cuped,
            "ratio": self.ratio,
            "unadjusted": self.unadjusted,
            "bayesian": self.bayesian,
        }
        found: dict[str, Any] = {
            name: asdict(part) for name, part in parts.items() if part is not None
        }
        found["analysis"] = str(self.analysis)
        found["decision_rule"] = str(self.decision_rule)
        found["guardrail_correction"] = str(self.guardrail_correction)
        if self.bayesian_reason:
            found["bayesian_reason"] = self.bayesian_reason
        return _json_safe(found)

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
                    "adjusted_p_value": _finite(g.adjusted_p_value),
                    "alternative": g.alternative,
                    "correction": str(self.guardrail_correction),
                    "significantly_worse": g.significantly_worse,
                }
                for g in self.guardrails
            ],
        }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _successes(arm: ArmStats) -> int:
    successes = round(arm.total)
    if abs(arm.total - arm.total_sq) > 1e-9 * max(1.0, arm.total) or successes > arm.n:
        raise ValueError("the z-test needs a binary (0/1) metric")
    return successes


def _guardrail_test(guardrail: Guardrail, alpha: float) -> GuardrailOutcome:
    """One-sided: the alternative is the challenger worse in the guardrail's direction."""
    a, b = guardrail.champion, guardrail.challenger
    alternative: Alternative = "smaller" if guardrail.direction == Direction.HIGHER else "larger"
    if min(a.n, b.n) < 2:  # nothing to test yet: cannot be significantly worse
        return GuardrailOutcome(guardrail.name, math.nan, math.nan, False,
                                alternative=alternative)
    if guardrail.binary:
        test = z_test(proportion(_successes(a), a.n), proportion(_successes(b), b.n),
                      alpha=alpha, alternative=alternative)
        effect, p_value = test.effect, test.p_value
    else:
        welch = welch_ttest(a, b, alpha=alpha, alternative=alternative)
        effect, p_value = welch.effect, welch.p_value
    return GuardrailOutcome(guardrail.name, effect, p_value, False, alternative=alternative)


def _guardrail_outcomes(
    guardrails: Sequence[Guardrail], alpha: float, correction: GuardrailCorrection
) -> tuple[GuardrailOutcome, ...]:
    tested = [_guardrail_test(g, alpha) for g in guardrails]
    adjusted = adjusted_p_values([g.p_value for g in tested], str(correction))
    return tuple(
        replace(g, adjusted_p_value=p, significantly_worse=not math.isnan(p) and p < alpha)
        for g, p in zip(tested, adjusted, strict=True)
    )


# One function per method. Welch's test always runs (Mann-Whitney borrows its CI), and
# the sequential test runs whenever it is tuned, to carry its p-value to the next look.


@dataclass(frozen=True)
class _Tests:
    champion: Moments  # the primary estimates (raw, CUPED or ratio)
    challenger: Moments
    normal: tuple[Moments, Moments]  # the same, binary raw arms as proportions p (1 - p)
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
    """Unpooled z: on the proportions, or on the CUPED estimates when covariates came."""
    result = z_test(*tests.normal, alpha=tests.alpha)
    return _MethodResult(
        result.p_value, result.effect, (result.ci_low, result.ci_high), proportion=result
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
    significant: bool  # the evidence is strong enough to name an arm
    improvement: float  # > 0: the evidence favours the challenger
    srm_mismatch: bool
    clears: bool
    worse_guardrails: str  # comma-separated names, "" when none
    # the words of the reasons
    weak: str  # why the evidence is not enough
    worse: str  # why the champion wins
    better: str  # why the challenger wins
    interval: str
    minimum: str
    p: str


class _Rule(NamedTuple):
    applies: Callable[[_Facts], bool]
    decision: Decision | None  # None: no winner at this look
    reason: str  # formatted with the facts; "" when an earlier reason already explains


_RULES: tuple[_Rule, ...] = (
    _Rule(lambda f: not f.significant, None, "{weak}"),
    _Rule(
        lambda f: f.improvement == 0,
        None,
        "no difference in the observed effect: a tie never names a winner",
    ),
    _Rule(lambda f: f.srm_mismatch, None, ""),
    _Rule(lambda f: f.improvement < 0, Decision.CHAMPION_WINS, "{worse}"),
    _Rule(
        lambda f: not f.clears,
        None,
        "significant (p = {p}), but {interval} does not clear {minimum}",
    ),
    _Rule(
        lambda f: bool(f.worse_guardrails),
        None,
        "guardrails significantly worse: {worse_guardrails}",
    ),
    _Rule(lambda f: True, Decision.CHALLENGER_WINS, "{better}"),
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
    bayes: BayesianResult | None,
) -> _Facts:
    clears, interval = _clears_minimum(config, result.ci, lift)
    better = config.direction.value
    p = _fmt(result.p_value)
    minimum = f"the minimum {config.min_effect_kind} effect {config.min_effect:g} ({better} is " \
        "better)"
    facts = _Facts(
        significant=result.p_value < config.alpha,
        improvement=config.direction.sign * result.observed,
        srm_mismatch=srm_mismatch,
        clears=clears,
        worse_guardrails=", ".join(g.name for g in guardrails if g.significantly_worse),
        weak=f"not significant: p = {p} >= alpha {config.alpha:g} ({config.method})",
        worse=f"challenger significantly worse ({better} is better): p = {p}, {interval}",
        better=f"challenger significantly better ({better} is better): p = {p}, {interval} "
        f"clears {minimum}",
        interval=interval,
        minimum=minimum,
        p=p,
    )
    if config.decision_rule == DecisionRule.SIGNIFICANCE:
        return facts
    if bayes is None:
        return replace(facts, significant=False,
                       weak="no Bayesian read-out to decide by expected loss")
    losses = (f"expected loss of shipping the challenger {_fmt(bayes.loss_challenger)}, of "
              f"keeping the champion {_fmt(bayes.loss_champion)} ({bayes.scale}; threshold "
              f"{config.loss_threshold:g}; chance to win {bayes.chance_to_win:.3f})")
    return replace(
        facts,
        significant=min(bayes.loss_challenger, bayes.loss_champion) < config.loss_threshold,
        improvement=bayes.loss_champion - bayes.loss_challenger,
        clears=True,
        weak=f"no arm is safe to ship yet: {losses}",
        worse=f"keeping the champion is the safe choice ({better} is better): {losses}",
        better=f"shipping the challenger is the safe choice ({better} is better): {losses}",
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
        decision_rule=config.decision_rule,
        guardrail_correction=config.guardrail_correction,
    )


def _sequential(
    config: DecisionConfig, champion: Moments, challenger: Moments, prior_p_value: float
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


def _bayesian(
    config: DecisionConfig, normal: tuple[Moments, Moments], lift: RelativeLift
) -> tuple[BayesianResult | None, str]:
    """The posterior on the scale of the test's minimum effect (absolute or relative)."""
    a, b = normal
    if config.min_effect_kind == MinEffectKind.RELATIVE:
        if lift.estimate is None or lift.std_error is None:
            return None, f"no relative lift ({lift.reason})"
        effect, variance, scale = lift.estimate, lift.std_error**2, "relative"
    else:
        effect, variance, scale = b.mean - a.mean, a.variance / a.n + b.variance / b.n, "absolute"
    if not variance > 0 or not math.isfinite(effect):
        return None, "the effect has no variance yet"
    return effect_posterior(
        effect, variance, prior=config.prior, alpha=config.alpha,
        lower_is_better=config.direction == Direction.LOWER, scale=scale,
    ), ""


def _normal_arms(config: DecisionConfig, primary: adjustment.Primary) -> tuple[Moments, Moments]:
    if primary.analysis == Analysis.RAW and (config.binary or config.method == Method.ZTEST):
        a, b = primary.champion, primary.challenger
        assert isinstance(a, ArmStats) and isinstance(b, ArmStats)
        return proportion(_successes(a), a.n), proportion(_successes(b), b.n)
    return primary.champion, primary.challenger


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
    primary = adjustment.primary(champion, challenger, binary=config.binary,
                                 is_ratio=config.ratio)
    a, b = primary.champion, primary.challenger
    normal = _normal_arms(config, primary)
    welch = welch_ttest(a, b, alpha=alpha)
    sequential = _sequential(config, a, b, prior_sequential_p)
    result = _METHODS[config.method](_Tests(a, b, normal, alpha, welch, sequential, raw))
    lift = relative_lift(
        *normal,
        alpha=alpha,
        critical_value=(
            sequential.critical_value
            if sequential is not None and config.method == Method.SEQUENTIAL
            else None
        ),
        baseline=primary.lift_baseline,
        variance=primary.lift_variance,
    )
    bayes, bayes_reason = _bayesian(config, normal, lift)
    outcomes = _guardrail_outcomes(guardrails, alpha, config.guardrail_correction)
    decision, reason = _decide(
        _facts(config, result, lift, summary.srm_mismatch, outcomes, bayes)
    )
    if reason:
        reasons.append(reason)
    if decision is None and max_duration_reached:
        reasons.append(_OUT_OF_TIME)

    return replace(
        summary,
        decision=decision or summary.decision,
        reasons=tuple(reasons),
        champion_mean=a.mean,
        challenger_mean=b.mean,
        effect=b.mean - a.mean,
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
        analysis=primary.analysis,
        cuped=primary.cuped,
        ratio=primary.ratio,
        unadjusted=(None if primary.unadjusted is None
                    else welch_ttest(*primary.unadjusted, alpha=alpha)),
        bayesian=bayes,
        bayesian_reason=bayes_reason,
    )
