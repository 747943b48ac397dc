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

CUPED on a ratio metric (gbstats' RegressionAdjustedRatioStatistic): each unit also
carries the pre-period numerator c (its ``covariate``) and denominator e; the arm's
estimate is sum x / sum d - theta sum c / sum e. With the per-arm means of (x, d, c, e)
and their 4 x 4 covariance matrix L (ddof=1), the gradient
g(theta) = (1/d, -x/d^2, -theta/e, theta c/e^2) gives the per-unit variance g' L g.
theta = cov(post ratio, pre ratio) / var(pre ratio), each the delta-method quantity
summed over the two arms (gbstats' compute_theta_regression_adjusted_ratio); |theta| <
1e-8 reverts to the plain ratio, as gbstats does. A unit without pre-period values
counts as c = 0 and e = 0; an arm whose pre-period denominators sum to 0 cannot be
adjusted, and the analysis is then the plain ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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
    unadjusted: tuple[Moments, Moments] | None = None  # CUPED: the arms before adjusting


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


def _cuped_info(theta: float, raw: tuple[Moments, Moments],
                adjusted: tuple[Moments, Moments], relative_variance: float) -> Cuped:
    """What CUPED did: both effects with their standard errors, and the variance it saved."""
    (raw_a, raw_b), (a, b) = raw, adjusted
    raw_var = raw_a.variance / raw_a.n + raw_b.variance / raw_b.n
    adjusted_var = a.variance / a.n + b.variance / b.n
    return Cuped(
        theta=theta,
        champion_unadjusted_mean=raw_a.mean,
        challenger_unadjusted_mean=raw_b.mean,
        unadjusted_effect=raw_b.mean - raw_a.mean,
        unadjusted_std_error=math.sqrt(raw_var),
        adjusted_effect=b.mean - a.mean,
        adjusted_std_error=math.sqrt(adjusted_var),
        variance_reduction=1 - adjusted_var / raw_var if raw_var > 0 else math.nan,
        relative_variance=relative_variance,
    )


def cuped(champion: ArmStats, challenger: ArmStats, *, binary: bool = False) -> Primary | None:
    """CUPED-adjusted arms, or None when no covariate was given or theta is 0."""
    if champion.cov_n + challenger.cov_n == 0 or min(champion.n, challenger.n) < 2:
        return None
    theta = cuped_theta(champion, challenger, binary=binary)
    if theta == 0:
        return None
    a, b = _adjusted(champion, theta, binary), _adjusted(challenger, theta, binary)
    raw_a, raw_b = _raw(champion, binary), _raw(challenger, binary)
    info = _cuped_info(theta, (raw_a, raw_b), (a, b),
                       _cuped_relative_variance(champion, challenger, theta, binary, b))
    return Primary(
        analysis=Analysis.CUPED, champion=a, challenger=b, cuped=info,
        lift_baseline=raw_a.mean, lift_variance=info.relative_variance,
        unadjusted=(champion, challenger),
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


def _ratio_info(champion: ArmStats, challenger: ArmStats, a: ArmEstimate,
                b: ArmEstimate) -> Ratio:
    return Ratio(
        champion_ratio=a.mean,
        challenger_ratio=b.mean,
        champion_numerator_mean=champion.mean,
        champion_denominator_mean=champion.den_total / champion.n if champion.n else math.nan,
        challenger_numerator_mean=challenger.mean,
        challenger_denominator_mean=(
            challenger.den_total / challenger.n if challenger.n else math.nan
        ),
    )


def ratio(champion: ArmStats, challenger: ArmStats) -> Primary:
    a, b = ratio_estimate(champion), ratio_estimate(challenger)
    return Primary(analysis=Analysis.RATIO, champion=a, challenger=b,
                   ratio=_ratio_info(champion, challenger, a, b))


@dataclass(frozen=True)
class _RatioMoments:
    """One arm of a ratio metric with pre-period data: the means of (x, d, c, e) and
    their covariance matrix (ddof=1), in that order."""

    n: int
    means: np.ndarray
    covariance: np.ndarray

    @classmethod
    def of(cls, arm: ArmStats) -> _RatioMoments:
        n = arm.n
        sums = np.array([arm.total, arm.den_total, arm.cov_total, arm.cov_den_total])
        products = np.array([
            [arm.total_sq, arm.value_den_total, arm.value_cov_total, arm.value_cov_den_total],
            [arm.value_den_total, arm.den_total_sq, arm.den_cov_total, arm.den_cov_den_total],
            [arm.value_cov_total, arm.den_cov_total, arm.cov_total_sq, arm.cov_cov_den_total],
            [arm.value_cov_den_total, arm.den_cov_den_total, arm.cov_cov_den_total,
             arm.cov_den_total_sq],
        ])
        return cls(n, sums / n, (products - np.outer(sums, sums) / n) / (n - 1))

    def gradient(self, theta: float) -> np.ndarray:
        """Of sum x / sum d - theta sum c / sum e with respect to the four means."""
        x, d, c, e = self.means
        return np.array([1 / d, -x / d**2, -theta / e, theta * c / e**2])

    def mean(self, theta: float) -> float:
        x, d, c, e = self.means
        return float(x / d - theta * c / e)

    def variance(self, theta: float) -> float:
        g = self.gradient(theta)
        return float(g @ self.covariance @ g)

    def pre_terms(self) -> tuple[float, float, float]:
        """(var of the pre-period ratio, its covariance with the post-period ratio, the
        scale of the variance's terms, to tell a zero from rounding)."""
        g = self.gradient(1.0)  # the pre-period part of the gradient at theta = 1 is -g_pre
        pre, post = g[2:], g[:2]
        block = self.covariance[2:, 2:]
        return (float(pre @ block @ pre), -float(pre @ self.covariance[2:, :2] @ post),
                float(np.abs(pre) @ np.abs(block) @ np.abs(pre)))


def ratio_cuped_theta(champion: ArmStats, challenger: ArmStats) -> float:
    """theta of CUPED on a ratio metric (gbstats' compute_theta_regression_adjusted_ratio):
    the two arms' covariances of the post- and pre-period ratios over their variances.

    0 when the pre-period ratio has no variance. Unlike gbstats (which compares with 0
    exactly), a variance below 1e-12 of the size of its terms counts as none: a
    pre-period numerator proportional to its denominator leaves only rounding there."""
    return _ratio_theta(_RatioMoments.of(champion), _RatioMoments.of(challenger))


def _ratio_theta(a: _RatioMoments, b: _RatioMoments) -> float:
    (var_a, cov_a, scale_a), (var_b, cov_b, scale_b) = a.pre_terms(), b.pre_terms()
    if var_a + var_b <= 1e-12 * (scale_a + scale_b):
        return 0.0
    return (cov_a + cov_b) / (var_a + var_b)


def _ratio_cuped_relative_variance(a: _RatioMoments, b: _RatioMoments, theta: float) -> float:
    """gbstats' frequentist_variance_relative_cuped_ratio: the delta method for
    (adjusted b - adjusted a) / |unadjusted ratio of a|."""
    x, d = a.means[0], a.means[1]
    baseline = x / d
    if baseline == 0:
        return math.nan
    base = abs(baseline)
    shift = (b.mean(theta) - a.mean(theta)) * math.copysign(1.0, baseline)
    g_a = a.gradient(theta)
    grad_a = np.array([-(base + shift) / d / base**2, x * (base + shift) / d**2 / base**2,
                       -g_a[2] / base, -g_a[3] / base])
    grad_b = b.gradient(theta) / base
    return float(grad_a @ a.covariance @ grad_a / a.n + grad_b @ b.covariance @ grad_b / b.n)


def ratio_cuped(champion: ArmStats, challenger: ArmStats) -> Primary | None:
    """CUPED-adjusted ratio arms, or None when no pre-period denominator was given, an arm
    has none to divide by (or no post-period denominator), or theta is (near) 0."""
    if champion.cov_den_n + challenger.cov_den_n == 0 or min(champion.n, challenger.n) < 2:
        return None
    if 0 in (champion.den_total, challenger.den_total, champion.cov_den_total,
             challenger.cov_den_total):
        return None
    moments_a, moments_b = _RatioMoments.of(champion), _RatioMoments.of(challenger)
    theta = _ratio_theta(moments_a, moments_b)
    if abs(theta) < 1e-8:
        return None
    a = ArmEstimate(champion.n, moments_a.mean(theta), max(moments_a.variance(theta), 0.0))
    b = ArmEstimate(challenger.n, moments_b.mean(theta), max(moments_b.variance(theta), 0.0))
    raw_a, raw_b = ratio_estimate(champion), ratio_estimate(challenger)
    info = _cuped_info(theta, (raw_a, raw_b), (a, b),
                       _ratio_cuped_relative_variance(moments_a, moments_b, theta))
    return Primary(
        analysis=Analysis.RATIO_CUPED, champion=a, challenger=b, cuped=info,
        ratio=_ratio_info(champion, challenger, raw_a, raw_b),
        lift_baseline=raw_a.mean, lift_variance=info.relative_variance,
        unadjusted=(raw_a, raw_b),
    )


def _raw(arm: ArmStats, binary: bool) -> Moments:
    if binary:
        return proportion(round(arm.total), arm.n)
    return arm


def primary(
    champion: ArmStats, challenger: ArmStats, *, binary: bool, is_ratio: bool
) -> Primary:
    """The estimates the tests run on: a ratio (CUPED-adjusted when pre-period
    denominators came), CUPED when covariates came, else raw.

    CUPED on a binary metric uses the binomial variance p (1 - p), as gbstats does.
    """
    if is_ratio:
        return ratio_cuped(champion, challenger) or ratio(champion, challenger)
    adjusted = cuped(champion, challenger, binary=binary)
    if adjusted is not None:
        return adjusted
    return Primary(Analysis.RAW, champion, challenger)
