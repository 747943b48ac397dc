"""The primary metric's per-arm estimates: raw, CUPED-adjusted or a ratio. No Django.

Everything is computed from the running sums of :class:`~abtest_app.stats.ArmStats`,
so an evaluation costs O(arms) however many outcomes the test holds.

CUPED (Deng et al. 2013), as GrowthBook's gbstats (RegressionAdjustedStatistic) and
Eppo define it: with the pre-period covariate c of each unit,

    theta = cov(x, c) / var(c)              pooled over both arms (one theta per test)
    adjusted mean     = mean(x) - theta mean(c)
    adjusted variance = var(x) + theta^2 var(c) - 2 theta cov(x, c)   per arm, ddof=1

A unit without a covariate counts as c = 0 (GrowthBook's convention for units with
no pre-exposure data). A binary metric's covariate is binary too (its pre-period
value), and both take the binomial variance p (1 - p) and a ddof=0 covariance, as
gbstats' ProportionStatistic.
With no variance in the pooled x or c, theta is 0 and the analysis is the unadjusted
one, as in gbstats.

Ratio metrics (the delta method, gbstats' RatioStatistic): each unit carries a
numerator x and a denominator d, the arm's metric is sum x / sum d, and its per-unit
variance is var(x) / d^2 - 2 cov(x, d) x / d^3 + x^2 var(d) / d^4 at the means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from abtest_app.stats import ArmEstimate, ArmStats, Moments, proportion
from abtest_app.vocabulary import Analysis


@dataclass(frozen=True)
class Cuped:
    theta: float
    champion_unadjusted_mean: float
    challenger_unadjusted_mean: float
    unadjusted_effect: float
    unadjusted_std_error: float
    adjusted_effect: float
    adjusted_std_error: float
    variance_reduction: float  # 1 - Var(adjusted effect) / Var(unadjusted effect)
    relative_variance: float  # of the relative lift, gbstats' CUPED formula


@dataclass(frozen=True)
class Ratio:
    champion_ratio: float
    challenger_ratio: float
    champion_numerator_mean: float
    champion_denominator_mean: float
    challenger_numerator_mean: float
    challenger_denominator_mean: float


@dataclass(frozen=True)
class Primary:
    """The arms as the tests see them, and how they were made."""

    analysis: Analysis
    champion: Moments
    challenger: Moments
    cuped: Cuped | None = None
    ratio: Ratio | None = None
    lift_baseline: float | None = None  # None: the champion mean
    lift_variance: float | None = None  # None: the delta method on the two means


def _variance(n: int, total: float, total_sq: float, binary: bool) -> float:
    if binary:  # gbstats' ProportionStatistic: p (1 - p)
        p = total / n
        return p * (1 - p)
    return (total_sq - total * total / n) / (n - 1)


def _covariance(n: int, cross: float, total_x: float, total_y: float,
                binary: bool = False) -> float:
    if binary:  # gbstats' compute_covariance of two proportions: ddof=0
        return cross / n - total_x * total_y / n**2
    return (cross - total_x * total_y / n) / (n - 1)


def cuped_theta(champion: ArmStats, challenger: ArmStats, *, binary: bool = False) -> float:
    """theta from the pooled sums of both arms; 0 when x or c has no pooled variance."""
    joint = champion + challenger
    var_c = _variance(joint.n, joint.cov_total, joint.cov_total_sq, binary)
    var_x = _variance(joint.n, joint.total, joint.total_sq, binary)
    if var_c <= 0 or var_x <= 0:
        return 0.0
    return _covariance(joint.n, joint.value_cov_total, joint.total, joint.cov_total,
                       binary) / var_c


def _adjusted(arm: ArmStats, theta: float, binary: bool) -> ArmEstimate:
    var_x = _variance(arm.n, arm.total, arm.total_sq, binary)
    var_c = _variance(arm.n, arm.cov_total, arm.cov_total_sq, binary)
    cov = _covariance(arm.n, arm.value_cov_total, arm.total, arm.cov_total, binary)
    return ArmEstimate(
        n=arm.n,
        mean=(arm.total - theta * arm.cov_total) / arm.n,
        variance=max(var_x + theta**2 * var_c - 2 * theta * cov, 0.0),
    )


def _cuped_relative_variance(a: ArmStats, b: ArmStats, theta: float, binary: bool,
                             b_adjusted: ArmEstimate) -> float:
    """gbstats' frequentist_variance_relative_cuped: the delta method for
    (adjusted b - adjusted a) / |unadjusted mean of a|."""
    mean_a, mean_b = a.total / a.n, b.total / b.n
    if mean_a == 0:
        return math.nan
    v_b = b_adjusted.variance / (b.n * mean_a**2)
    var_a = _variance(a.n, a.total, a.total_sq, binary)
    var_c = _variance(a.n, a.cov_total, a.cov_total_sq, binary)
    cov_a = _covariance(a.n, a.value_cov_total, a.total, a.cov_total, binary)
    v_a = (var_a * mean_b**2 / mean_a**2 - 2 * theta * cov_a * mean_b / mean_a
           + theta**2 * var_c) / (a.n * mean_a**2)
    return v_b + v_a


def cuped(champion: ArmStats, challenger: ArmStats, *, binary: bool = False) -> Primary | None:
    """CUPED-adjusted arms, or None when no covariate was given or theta is 0."""
    if champion.cov_n + challenger.cov_n == 0 or min(champion.n, challenger.n) < 2:
        return None
    theta = cuped_theta(champion, challenger, binary=binary)
    if theta == 0:
        return None
    a, b = _adjusted(champion, theta, binary), _adjusted(challenger, theta, binary)
    raw_a, raw_b = _raw(champion, binary), _raw(challenger, binary)
    raw_var = raw_a.variance / raw_a.n + raw_b.variance / raw_b.n
    adjusted_var = a.variance / a.n + b.variance / b.n
    info = Cuped(
        theta=theta,
        champion_unadjusted_mean=raw_a.mean,
        challenger_unadjusted_mean=raw_b.mean,
        unadjusted_effect=raw_b.mean - raw_a.mean,
        unadjusted_std_error=math.sqrt(raw_var),
        adjusted_effect=b.mean - a.mean,
        adjusted_std_error=math.sqrt(adjusted_var),
        variance_reduction=1 - adjusted_var / raw_var if raw_var > 0 else math.nan,
        relative_variance=_cuped_relative_variance(champion, challenger, theta, binary, b),
    )
    return Primary(
        analysis=Analysis.CUPED, champion=a, challenger=b, cuped=info,
        lift_baseline=raw_a.mean, lift_variance=info.relative_variance,
    )


def ratio_estimate(arm: ArmStats) -> ArmEstimate:
    """sum x / sum d with its delta-method per-unit variance (gbstats' RatioStatistic)."""
    if arm.n < 2 or arm.den_total == 0:
        return ArmEstimate(n=arm.n, mean=math.nan, variance=math.nan)
    mean_x, mean_d = arm.total / arm.n, arm.den_total / arm.n
    var_x = _variance(arm.n, arm.total, arm.total_sq, False)
    var_d = _variance(arm.n, arm.den_total, arm.den_total_sq, False)
    cov = _covariance(arm.n, arm.value_den_total, arm.total, arm.den_total)
    variance = (var_x / mean_d**2 - 2 * cov * mean_x / mean_d**3
                + mean_x**2 * var_d / mean_d**4)
    return ArmEstimate(n=arm.n, mean=arm.total / arm.den_total, variance=max(variance, 0.0))


def ratio(champion: ArmStats, challenger: ArmStats) -> Primary:
    a, b = ratio_estimate(champion), ratio_estimate(challenger)
    info = Ratio(
        champion_ratio=a.mean,
        challenger_ratio=b.mean,
        champion_numerator_mean=champion.mean,
        champion_denominator_mean=champion.den_total / champion.n if champion.n else math.nan,
        challenger_numerator_mean=challenger.mean,
        challenger_denominator_mean=(
            challenger.den_total / challenger.n if challenger.n else math.nan
        ),
    )
    return Primary(analysis=Analysis.RATIO, champion=a, challenger=b, ratio=info)


def _raw(arm: ArmStats, binary: bool) -> Moments:
    if binary:
        return proportion(round(arm.total), arm.n)
    return arm


def primary(
    champion: ArmStats, challenger: ArmStats, *, binary: bool, is_ratio: bool
) -> Primary:
    """The estimates the tests run on: a ratio, CUPED when covariates came, else raw.

    CUPED on a binary metric uses the binomial variance p (1 - p), as gbstats does.
    """
    if is_ratio:
        return ratio(champion, challenger)
    adjusted = cuped(champion, challenger, binary=binary)
    if adjusted is not None:
        return adjusted
    return Primary(Analysis.RAW, champion, challenger)
