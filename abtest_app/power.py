"""Power and sample size for champion/challenger tests. Pure computation: no Django.

Continuous metrics use the t-test formula (as statsmodels' TTestIndPower); binary metrics
the normal approximation (as NormalIndPower). Shares of traffic are percentages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import optimize, special

from abtest_app.stats import _check_alpha, _z_critical


@dataclass(frozen=True)
class SampleSizePlan:
    n_per_arm: int  # rounded up
    n_exact: float
    effect_size: float  # standardised: |mde| / sd
    alpha: float
    power: float


@dataclass(frozen=True)
class PowerResult:
    power: float
    effect_size: float


def _effect_size(mde: float, sd: float | None, baseline_rate: float | None) -> float:
    """|mde| in standard deviations, for a continuous (sd) or binary (baseline_rate) metric.

    Binary: the challenger rate is baseline_rate + mde and the standard deviation is
    sqrt((p1 q1 + p2 q2) / 2), the per-arm average under the Wald z-test.
    """
    if (sd is None) == (baseline_rate is None):
        raise ValueError("give exactly one of sd (continuous) or baseline_rate (binary)")
    if mde == 0:
        raise ValueError("mde must be non-zero")
    if sd is not None:
        if sd <= 0:
            raise ValueError(f"sd must be > 0, got {sd!r}")
        return abs(mde) / sd
    assert baseline_rate is not None  # exactly one of the two is given, checked above
    p1 = baseline_rate
    p2 = p1 + mde
    if not (0 < p1 < 1 and 0 < p2 < 1):
        raise ValueError(f"rates must be in (0, 1), got {p1!r} and {p2!r}")
    return abs(mde) / math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2)


def _power(n_per_arm: float, effect_size: float, alpha: float, binary: bool) -> float:
    """Two-sided power at ``n_per_arm`` per arm (both tails counted).

    Continuous: the two-sample t-test (noncentral t, df = 2n - 2), as statsmodels'
    TTestIndPower. Binary: the normal approximation, as NormalIndPower.
    """
    shift = effect_size * math.sqrt(n_per_arm / 2)
    if binary:
        crit = _z_critical(alpha)
        return float(special.ndtr(shift - crit) + special.ndtr(-shift - crit))
    df = 2 * n_per_arm - 2
    crit = float(special.stdtrit(df, 1 - alpha / 2))
    return float(1 - special.nctdtr(df, shift, crit) + special.nctdtr(df, shift, -crit))


def achieved_power(
    n_per_arm: int,
    *,
    mde: float,
    sd: float | None = None,
    baseline_rate: float | None = None,
    alpha: float = 0.05,
) -> PowerResult:
    """Probability of a significant two-sided result for a true difference of ``mde``."""
    _check_alpha(alpha)
    if n_per_arm < 2:
        raise ValueError(f"n_per_arm must be >= 2, got {n_per_arm!r}")
    effect_size = _effect_size(mde, sd, baseline_rate)
    power = _power(n_per_arm, effect_size, alpha, binary=baseline_rate is not None)
    return PowerResult(power=power, effect_size=effect_size)


def sample_size_per_arm(
    *,
    mde: float,
    sd: float | None = None,
    baseline_rate: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> SampleSizePlan:
    """Units per arm (equal split) to detect an absolute difference ``mde`` with ``power``.

    ``sd`` for a continuous metric (the baseline mean does not enter for an
    absolute mde), ``baseline_rate`` for a binary one.
    """
    _check_alpha(alpha)
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    effect_size = _effect_size(mde, sd, baseline_rate)
    binary = baseline_rate is not None

    def shortfall(n: float) -> float:
        return _power(n, effect_size, alpha, binary) - power

    low = 2.0
    if shortfall(low) >= 0:
        n_exact = low
    else:
        high = 2 * low
        while shortfall(high) < 0:
            high *= 2
        n_exact = float(optimize.brentq(shortfall, low, high, xtol=1e-10, rtol=1e-13))
    return SampleSizePlan(
        n_per_arm=math.ceil(n_exact - 1e-9),
        n_exact=n_exact,
        effect_size=effect_size,
        alpha=alpha,
        power=power,
    )


@dataclass(frozen=True)
class SplitSampleSize:
    n_total: int
    n_champion: int
    n_challenger: int


def split_sample_size(n_per_arm_equal: float, challenger_share: float) -> SplitSampleSize:
    """Units for an unequal split with the power of ``n_per_arm_equal`` per arm at 50/50.

    The variance of the difference is proportional to 1/n_a + 1/n_b; with n_b = p N and
    n_a = (1 - p) N, matching the equal split's 4 / (2 n) gives
    N = n (1 / (1 - p) + 1 / p) / 2.
    """
    if not 0 < challenger_share < 100:
        raise ValueError(f"challenger_share must be in (0, 100), got {challenger_share!r}")
    p = challenger_share / 100
    total = n_per_arm_equal * (1 / (1 - p) + 1 / p) / 2
    n_champion = math.ceil((1 - p) * total - 1e-9)
    n_challenger = math.ceil(p * total - 1e-9)
    return SplitSampleSize(n_champion + n_challenger, n_champion, n_challenger)
