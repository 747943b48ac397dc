"""Statistics for comparing a challenger arm against a champion arm.

Pure computation: no Django. Every comparison is challenger minus champion, and
every result is a frozen dataclass. Arms are summarised by their sufficient
statistics (``ArmStats``: n, sum, sum of squares), which is what the app stores;
only the Mann-Whitney test needs raw values.

Tests take any arm summary with ``n``, ``mean`` and ``variance`` (per unit, ddof=1):
the raw sums, or an adjusted estimate (CUPED, a ratio metric; :mod:`abtest_app.adjustment`).
``alternative`` is statsmodels' word for the challenger-minus-champion hypothesis:
"two-sided", "larger" or "smaller"; a one-sided interval is open on the other side.

Every interval inverts its own test: the same standard error and the same critical
value, so p < alpha exactly when the interval excludes 0.

Shares of traffic are percentages (0-100), as in :mod:`abtest_app.assignment`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import astuple, dataclass, replace
from typing import Literal, Protocol

import numpy as np
from numpy.typing import ArrayLike
from scipy import special
from scipy import stats as sps


@dataclass(frozen=True)
class ArmStats:
    """Running sums of one arm: what every analysis reads, updated with each outcome batch.

    ``total`` and ``total_sq`` are the sum and sum of squares of the metric x; a binary
    metric (0/1) has ``total == total_sq == successes``. The rest are zero unless
    outcomes carry them: a pre-period covariate c (CUPED: ``cov_n`` outcomes gave one,
    the others count as c = 0, as in GrowthBook), a denominator d (ratio metrics) and,
    for CUPED on a ratio metric, the pre-period denominator e (``cov_den_n`` outcomes
    gave one, the others count as e = 0). A name ``<a>_<b>_total`` is the sum of the
    products of a and b (value x, cov c, den d, cov_den e).
    """

    n: int
    total: float
    total_sq: float
    cov_n: int = 0
    cov_total: float = 0.0  # sum c
    cov_total_sq: float = 0.0  # sum c^2
    value_cov_total: float = 0.0  # sum x c
    den_n: int = 0
    den_total: float = 0.0  # sum d
    den_total_sq: float = 0.0  # sum d^2
    value_den_total: float = 0.0  # sum x d
    cov_den_n: int = 0
    cov_den_total: float = 0.0  # sum e
    cov_den_total_sq: float = 0.0  # sum e^2
    value_cov_den_total: float = 0.0  # sum x e
    den_cov_total: float = 0.0  # sum d c
    den_cov_den_total: float = 0.0  # sum d e
    cov_cov_den_total: float = 0.0  # sum c e

    @classmethod
    def from_values(
        cls,
        values: ArrayLike,
        covariates: ArrayLike | None = None,
        denominators: ArrayLike | None = None,
        covariate_denominators: ArrayLike | None = None,
    ) -> ArmStats:
        """The sums of whole columns (None: not given); for CUPED on a ratio metric give
        ``covariates``, ``denominators`` and ``covariate_denominators``."""
        x = np.asarray(values, dtype=float).ravel()
        zeros = np.zeros_like(x)
        c, d, e = (zeros if column is None else np.asarray(column, dtype=float).ravel()
                   for column in (covariates, denominators, covariate_denominators))
        arm = cls(n=int(x.size), total=math.fsum(x), total_sq=math.fsum(x * x),
                  den_cov_total=math.fsum(d * c), den_cov_den_total=math.fsum(d * e),
                  cov_cov_den_total=math.fsum(c * e))
        if covariates is not None:
            arm = replace(arm, cov_n=int(c.size), cov_total=math.fsum(c),
                          cov_total_sq=math.fsum(c * c), value_cov_total=math.fsum(x * c))
        if denominators is not None:
            arm = replace(arm, den_n=int(d.size), den_total=math.fsum(d),
                          den_total_sq=math.fsum(d * d), value_den_total=math.fsum(x * d))
        if covariate_denominators is not None:
            arm = replace(arm, cov_den_n=int(e.size), cov_den_total=math.fsum(e),
                          cov_den_total_sq=math.fsum(e * e),
                          value_cov_den_total=math.fsum(x * e))
        return arm

    def __add__(self, other: ArmStats) -> ArmStats:
        return ArmStats(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n > 0 else math.nan

    @property
    def variance(self) -> float:
        """Sample variance (ddof=1); clipped at 0 against rounding in sum-of-squares form."""
        if self.n < 2:
            return math.nan
        return max((self.total_sq - self.total * self.total / self.n) / (self.n - 1), 0.0)


class Moments(Protocol):
    """What a two-sample test needs of an arm."""

    @property
    def n(self) -> int: ...

    @property
    def mean(self) -> float: ...

    @property
    def variance(self) -> float: ...


@dataclass(frozen=True)
class ArmEstimate:
    """An arm's metric as an estimate: n units, a mean and a per-unit variance (ddof=1)."""

    n: int
    mean: float
    variance: float


Alternative = Literal["two-sided", "larger", "smaller"]
ALTERNATIVES: tuple[Alternative, ...] = ("two-sided", "larger", "smaller")


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}, "
                         f"got {alternative!r}")


def _interval(effect: float, se: float, alternative: Alternative,
              critical: float) -> tuple[float, float]:
    if alternative == "larger":
        return effect - critical * se, math.inf
    if alternative == "smaller":
        return -math.inf, effect + critical * se
    return effect - critical * se, effect + critical * se


def _require_units(champion: Moments, challenger: Moments, minimum: int = 2) -> None:
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


def welch_ttest(
    champion: Moments,
    challenger: Moments,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
) -> WelchResult:
    """Welch's unequal-variance t-test, with the (1 - alpha) CI of the difference.

    As statsmodels' ``ttest_ind(challenger, champion, usevar="unequal", alternative=...)``.
    When both arms have zero variance the test is undefined: statistic, p and CI are NaN.
    """
    _require_units(champion, challenger)
    _check_alpha(alpha)
    _check_alternative(alternative)
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
    if alternative == "two-sided":
        p_value = float(2 * special.stdtr(df, -abs(statistic)))
        critical = float(special.stdtrit(df, 1 - alpha / 2))
    else:
        toward = statistic if alternative == "larger" else -statistic
        p_value = float(special.stdtr(df, -toward))
        critical = float(special.stdtrit(df, 1 - alpha))
    ci_low, ci_high = _interval(effect, se, alternative, critical)
    return WelchResult(
        statistic=statistic,
        df=df,
        p_value=p_value,
        effect=effect,
        std_error=se,
        ci_low=ci_low,
        ci_high=ci_high,
        alpha=alpha,
    )


# --- Relative lift ----------------------------------------------------------


@dataclass(frozen=True)
class RelativeLift:
    """(challenger mean - champion mean) / |champion mean|, with a delta-method CI."""

    available: bool
    reason: str
    estimate: float | None = None
    std_error: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None


def relative_lift(
    champion: Moments,
    challenger: Moments,
    *,
    alpha: float = 0.05,
    critical_value: float | None = None,
    baseline: float | None = None,
    variance: float | None = None,
) -> RelativeLift:
    """Relative lift with a normal CI from the delta method (GrowthBook's definition).

    The denominator is the absolute champion mean, so the lift keeps its sign meaning
    ("positive: the challenger is higher") for a negative baseline; only a zero
    baseline is refused. The variance is var_b / (m_a^2 n_b) + m_b^2 var_a / (m_a^4 n_a)
    (gbstats' frequentist_variance). ``baseline`` replaces the champion mean in the
    denominator and ``variance`` the variance of the estimate (CUPED passes both:
    the unadjusted mean and gbstats' CUPED variance). ``critical_value`` replaces
    z(1 - alpha/2), e.g. with the sequential test's multiplier.
    """
    _check_alpha(alpha)
    if champion.n < 2 or challenger.n < 2:
        return RelativeLift(available=False, reason="needs at least 2 units per arm")
    m_a, m_b = champion.mean, challenger.mean
    base = m_a if baseline is None else baseline
    if base == 0 or not math.isfinite(base):
        return RelativeLift(
            available=False,
            reason=f"relative lift is undefined for a champion mean of {base:.6g}",
        )
    if variance is None:
        var_b = challenger.variance / challenger.n
        var_a = champion.variance / champion.n
        variance = var_b / base**2 + m_b**2 * var_a / base**4
    se = math.sqrt(max(variance, 0.0))
    estimate = (m_b - m_a) / abs(base)
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
    statistic: float  # z with the unpooled (Wald) standard error
    p_value: float
    champion_rate: float
    challenger_rate: float
    effect: float  # challenger rate - champion rate
    std_error: float  # unpooled (Wald): the test's and the CI's
    ci_low: float
    ci_high: float
    alpha: float


def z_test(
    champion: Moments,
    challenger: Moments,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
) -> ProportionTest:
    """The normal test of the difference of means with the unpooled standard error."""
    _check_alpha(alpha)
    _check_alternative(alternative)
    effect = challenger.mean - champion.mean
    se = math.sqrt(max(champion.variance / champion.n + challenger.variance / challenger.n,
                       0.0))
    if se > 0:
        statistic = effect / se
        if alternative == "two-sided":
            p_value = float(2 * special.ndtr(-abs(statistic)))
        else:
            p_value = float(special.ndtr(-statistic if alternative == "larger" else statistic))
        ci_low, ci_high = _interval(
            effect, se, alternative,
            _z_critical(alpha) if alternative == "two-sided" else _z_critical(2 * alpha),
        )
    else:
        statistic = p_value = ci_low = ci_high = math.nan
    return ProportionTest(
        statistic=statistic,
        p_value=p_value,
        champion_rate=champion.mean,
        challenger_rate=challenger.mean,
        effect=effect,
        std_error=se,
        ci_low=ci_low,
        ci_high=ci_high,
        alpha=alpha,
    )


def proportion(successes: int, n: int) -> ArmEstimate:
    """A binary arm as an estimate with the binomial variance p (1 - p)."""
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes}/{n}")
    p = successes / n
    return ArmEstimate(n=n, mean=p, variance=p * (1 - p))


def two_proportion_ztest(
    champion_successes: int,
    champion_n: int,
    challenger_successes: int,
    challenger_n: int,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
) -> ProportionTest:
    """Two-proportion z-test and its Wald CI, both with the unpooled standard error.

    The pooled z-test's p-value and the Wald interval come from different standard
    errors and can disagree (p < alpha with 0 inside the interval). Using the unpooled
    error for both makes the interval the inversion of the test, as GrowthBook does;
    it is statsmodels' ``test_proportions_2indep(method="wald")`` with
    ``confint_proportions_2indep(method="wald")``.
    """
    return z_test(
        proportion(champion_successes, champion_n),
        proportion(challenger_successes, challenger_n),
        alpha=alpha,
        alternative=alternative,
    )


# --- Multiple testing -------------------------------------------------------


def adjusted_p_values(p_values: Sequence[float], method: str) -> list[float]:
    """Holm ("holm") or Benjamini-Hochberg ("bh") adjusted p-values, as statsmodels'
    ``multipletests(p, method="holm" | "fdr_bh")[1]``. NaN p-values are left out of
    the family and stay NaN."""
    if method not in ("holm", "bh"):
        raise ValueError(f"method must be holm or bh, got {method!r}")
    indexed = [(p, i) for i, p in enumerate(p_values) if not math.isnan(p)]
    adjusted = [math.nan] * len(p_values)
    m = len(indexed)
    if method == "holm":
        running = 0.0
        for rank, (p, i) in enumerate(sorted(indexed)):
            running = max(running, min(1.0, (m - rank) * p))
            adjusted[i] = running
    else:
        running = 1.0
        for rank, (p, i) in reversed(list(enumerate(sorted(indexed)))):
            running = min(running, m * p / (rank + 1))
            adjusted[i] = min(running, 1.0)
    return adjusted


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
    champion: Moments,
    challenger: Moments,
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
