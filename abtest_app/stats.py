"""Statistics for comparing a challenger arm against a champion arm.

Pure computation: no Django. Every comparison is challenger minus champion, and
every result is a frozen dataclass. Arms are summarised by their sufficient
statistics (``ArmStats``: n, sum, sum of squares), which is what the app stores;
only the Mann-Whitney test needs raw values.

Shares of traffic are percentages (0-100), as in :mod:`abtest_app.assignment`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special
from scipy import stats as sps


@dataclass(frozen=True)
class ArmStats:
    """Sufficient statistics of one arm: count, sum and sum of squares of the metric.

    A binary metric (0/1) has ``total == total_sq == successes``.
    """

    n: int
    total: float
    total_sq: float

    @classmethod
    def from_values(cls, values: ArrayLike) -> ArmStats:
        x = np.asarray(values, dtype=float).ravel()
        return cls(n=int(x.size), total=math.fsum(x), total_sq=math.fsum(x * x))

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n > 0 else math.nan

    @property
    def variance(self) -> float:
        """Sample variance (ddof=1); clipped at 0 against rounding in sum-of-squares form."""
        if self.n < 2:
            return math.nan
        return max((self.total_sq - self.total * self.total / self.n) / (self.n - 1), 0.0)


def _require_units(champion: ArmStats, challenger: ArmStats, minimum: int = 2) -> None:
    if champion.n < minimum or challenger.n < minimum:
        raise ValueError(
            f"need at least {minimum} units per arm, got {champion.n} champion "
            f"and {challenger.n} challenger"
        )


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def _z_critical(alpha: float) -> float:
    return float(special.ndtri(1 - alpha / 2))


# --- Welch's t-test ---------------------------------------------------------


@dataclass(frozen=True)
class WelchResult:
    statistic: float
    df: float  # Welch-Satterthwaite degrees of freedom
    p_value: float  # two-sided
    effect: float  # challenger mean - champion mean
    std_error: float
    ci_low: float
    ci_high: float
    alpha: float


def welch_ttest(champion: ArmStats, challenger: ArmStats, *, alpha: float = 0.05) -> WelchResult:
    """Welch's unequal-variance t-test, with the (1 - alpha) CI of the difference.

    When both arms have zero variance the test is undefined: statistic, p and CI are NaN.
    """
    _require_units(champion, challenger)
    _check_alpha(alpha)
    v_a = champion.variance / champion.n
    v_b = challenger.variance / challenger.n
    se_sq = v_a + v_b
    effect = challenger.mean - champion.mean
    if se_sq <= 0:
        nan = math.nan
        return WelchResult(nan, nan, nan, effect, 0.0, nan, nan, alpha)
    se = math.sqrt(se_sq)
    df = se_sq**2 / (v_a**2 / (champion.n - 1) + v_b**2 / (challenger.n - 1))
    statistic = effect / se
    p_value = float(2 * special.stdtr(df, -abs(statistic)))
    half_width = float(special.stdtrit(df, 1 - alpha / 2)) * se
    return WelchResult(
        statistic=statistic,
        df=df,
        p_value=p_value,
        effect=effect,
        std_error=se,
        ci_low=effect - half_width,
        ci_high=effect + half_width,
        alpha=alpha,
    )


# --- Relative lift ----------------------------------------------------------


@dataclass(frozen=True)
class RelativeLift:
    """challenger mean / champion mean - 1, with a delta-method CI; refused if undefined."""

    available: bool
    reason: str
    estimate: float | None = None
    std_error: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None


def relative_lift(
    champion: ArmStats,
    challenger: ArmStats,
    *,
    alpha: float = 0.05,
    critical_value: float | None = None,
) -> RelativeLift:
    """Relative lift with a normal CI from the delta method.

    ``critical_value`` replaces z(1 - alpha/2), e.g. with the sequential test's
    multiplier to get an always-valid interval. A ratio to a mean that is zero or
    negative has no meaning as a lift, so it is refused rather than computed.
    """
    _check_alpha(alpha)
    if champion.n < 2 or challenger.n < 2:
        return RelativeLift(available=False, reason="needs at least 2 units per arm")
    m_a, m_b = champion.mean, challenger.mean
    if m_a <= 0:
        return RelativeLift(
            available=False,
            reason=f"relative lift is undefined for a champion mean <= 0 (got {m_a:.6g})",
        )
    var_b = challenger.variance / challenger.n
    var_a = champion.variance / champion.n
    variance = var_b / m_a**2 + m_b**2 * var_a / m_a**4
    se = math.sqrt(variance)
    estimate = m_b / m_a - 1
    k = _z_critical(alpha) if critical_value is None else critical_value
    return RelativeLift(
        available=True,
        reason="",
        estimate=estimate,
        std_error=se,
        ci_low=estimate - k * se,
        ci_high=estimate + k * se,
    )


# --- Two-proportion z-test --------------------------------------------------


@dataclass(frozen=True)
class ProportionTest:
    statistic: float  # z with the pooled standard error
    p_value: float  # two-sided
    champion_rate: float
    challenger_rate: float
    effect: float  # challenger rate - champion rate
    std_error: float  # unpooled (Wald), used for the CI
    ci_low: float
    ci_high: float
    alpha: float


def two_proportion_ztest(
    champion_successes: int,
    champion_n: int,
    challenger_successes: int,
    challenger_n: int,
    *,
    alpha: float = 0.05,
) -> ProportionTest:
    """Pooled two-proportion z-test, with the Wald CI of the difference in rates."""
    _check_alpha(alpha)
    for successes, n in ((champion_successes, champion_n), (challenger_successes, challenger_n)):
        if n < 1 or not 0 <= successes <= n:
            raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes}/{n}")
    p_a = champion_successes / champion_n
    p_b = challenger_successes / challenger_n
    effect = p_b - p_a
    pooled = (champion_successes + challenger_successes) / (champion_n + challenger_n)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / champion_n + 1 / challenger_n))
    se = math.sqrt(p_a * (1 - p_a) / champion_n + p_b * (1 - p_b) / challenger_n)
    if se_pooled > 0:
        statistic = effect / se_pooled
        p_value = float(2 * special.ndtr(-abs(statistic)))
    else:
        statistic = p_value = math.nan
    half_width = _z_critical(alpha) * se
    return ProportionTest(
        statistic=statistic,
        p_value=p_value,
        champion_rate=p_a,
        challenger_rate=p_b,
        effect=effect,
        std_error=se,
        ci_low=effect - half_width,
        ci_high=effect + half_width,
        alpha=alpha,
    )


# --- Mann-Whitney U ---------------------------------------------------------


@dataclass(frozen=True)
class MannWhitneyResult:
    statistic: float  # U of the challenger sample
    p_value: float  # two-sided
    prob_challenger_greater: float  # U / (n_a n_b) = P(B > A) + P(B = A) / 2


def mann_whitney_u(champion_values: ArrayLike, challenger_values: ArrayLike) -> MannWhitneyResult:
    """Two-sided Mann-Whitney U test (scipy's default exact/asymptotic choice)."""
    a = np.asarray(champion_values, dtype=float).ravel()
    b = np.asarray(challenger_values, dtype=float).ravel()
    if a.size == 0 or b.size == 0:
        raise ValueError("need at least 1 value per arm")
    result = sps.mannwhitneyu(b, a, alternative="two-sided")
    u = float(result.statistic)
    return MannWhitneyResult(
        statistic=u, p_value=float(result.pvalue), prob_challenger_greater=u / (a.size * b.size)
    )


# --- Sample ratio mismatch --------------------------------------------------


@dataclass(frozen=True)
class SampleRatioResult:
    statistic: float  # chi-square, 1 degree of freedom
    p_value: float
    expected_challenger_share: float  # percent
    observed_challenger_share: float  # percent; NaN with no units


def sample_ratio_mismatch(
    champion_n: int, challenger_n: int, challenger_share: float
) -> SampleRatioResult:
    """Chi-square goodness-of-fit of the observed arm sizes to the configured split."""
    if not 0 < challenger_share < 100:
        raise ValueError(f"challenger_share must be in (0, 100), got {challenger_share!r}")
    total = champion_n + challenger_n
    if total == 0:
        return SampleRatioResult(0.0, 1.0, challenger_share, math.nan)
    expected_b = total * challenger_share / 100
    expected_a = total - expected_b
    statistic = (champion_n - expected_a) ** 2 / expected_a + (
        challenger_n - expected_b
    ) ** 2 / expected_b
    return SampleRatioResult(
        statistic=statistic,
        p_value=float(special.chdtrc(1, statistic)),
        expected_challenger_share=challenger_share,
        observed_challenger_share=100 * challenger_n / total,
    )


# --- Sequential test (mSPRT) ------------------------------------------------


@dataclass(frozen=True)
class SequentialResult:
    effect: float  # challenger mean - champion mean
    variance: float  # V, variance of the effect estimate at this look
    tau_sq: float  # variance of the normal mixing distribution
    log_likelihood_ratio: float  # log of the mixture likelihood ratio
    look_p_value: float  # min(1, 1 / ratio) from this look alone
    p_value: float  # always-valid p: min(prior_p_value, look_p_value)
    critical_value: float  # radius / sqrt(V): the "z" of the confidence sequence
    radius: float  # half-width of the always-valid confidence interval
    ci_low: float
    ci_high: float
    alpha: float


def mixing_variance(planned_variance: float, alpha: float) -> float:
    """tau^2 that makes the confidence sequence tightest when V reaches ``planned_variance``.

    GrowthBook's choice (Howard et al. 2021, eq. 161 in arXiv:1810.08240):
    rho^2 = (-2 log alpha + log(1 - 2 log alpha)) / N for N planned units, and
    tau^2 = rho^2 * sigma^2 = that constant times the variance of the estimate at N.
    """
    return planned_variance * (-2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha)))


def msprt(
    champion: ArmStats,
    challenger: ArmStats,
    *,
    planned_n_per_arm: int,
    alpha: float = 0.05,
    prior_p_value: float = 1.0,
) -> SequentialResult:
    """Mixture SPRT on the difference of means (Johari et al. 2017), safe to look at any time.

    With the estimate d ~ N(theta, V) and the mixing distribution theta ~ N(0, tau^2),
    the likelihood ratio against theta = 0 is

        sqrt(V / (V + tau^2)) * exp(tau^2 d^2 / (2 V (V + tau^2)))

    and the always-valid (1 - alpha) interval is d +/- sqrt(V (V + tau^2) / tau^2 *
    (log((V + tau^2) / V) - 2 log alpha)). tau^2 comes from :func:`mixing_variance`
    with the variance expected at ``planned_n_per_arm`` units per arm (the current V
    scaled by mean arm size / planned size). Evidence carries over between looks:
    pass the previous look's ``p_value`` as ``prior_p_value``.
    """
    _require_units(champion, challenger)
    _check_alpha(alpha)
    if planned_n_per_arm < 2:
        raise ValueError(f"planned_n_per_arm must be >= 2, got {planned_n_per_arm!r}")
    if not 0 <= prior_p_value <= 1:
        raise ValueError(f"prior_p_value must be in [0, 1], got {prior_p_value!r}")
    effect = challenger.mean - champion.mean
    variance = champion.variance / champion.n + challenger.variance / challenger.n
    mean_arm_n = (champion.n + challenger.n) / 2
    tau_sq = mixing_variance(variance * mean_arm_n / planned_n_per_arm, alpha)
    if variance <= 0:
        nan = math.nan
        return SequentialResult(
            effect, variance, tau_sq, nan, nan, prior_p_value, nan, nan, nan, nan, alpha
        )
    ratio = tau_sq / variance  # depends on sample sizes only
    log_lr = -0.5 * math.log1p(ratio) + ratio / (1 + ratio) * effect**2 / (2 * variance)
    look_p = math.exp(-log_lr) if log_lr > 0 else 1.0
    critical_value = math.sqrt((1 + ratio) / ratio * (math.log1p(ratio) - 2 * math.log(alpha)))
    radius = critical_value * math.sqrt(variance)
    return SequentialResult(
        effect=effect,
        variance=variance,
        tau_sq=tau_sq,
        log_likelihood_ratio=log_lr,
        look_p_value=look_p,
        p_value=min(prior_p_value, look_p),
        critical_value=critical_value,
        radius=radius,
        ci_low=effect - radius,
        ci_high=effect + radius,
        alpha=alpha,
    )
