"""Power, sample size and minimum detectable effect. Pure computation: no Django.

The arms may be split unequally: with n_a champion units and n_b = r n_a challenger
units (r = share / (100 - share)), everything is solved at that split, as statsmodels'
``solve_power(..., ratio=r)`` does, never scaled from the 50/50 answer. The effective
sample size is n = 1 / (1 / n_a + 1 / n_b).

- continuous metrics: the two-sample t-test (noncentral t, df = n_a + n_b - 2), as
  TTestIndPower, with effect size d = |mde| / sd;
- binary metrics: the normal approximation, as NormalIndPower, with Cohen's h,
  |2 asin sqrt(p1 + mde) - 2 asin sqrt(p1)| (statsmodels' proportion_effectsize).

Shares of traffic are percentages.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from scipy import optimize, special

from abtest_app.stats import _check_alpha, _z_critical


@dataclass(frozen=True)
class SampleSizePlan:
    n_champion: int  # rounded up
    n_challenger: int  # rounded up
    n_total: int
    n_champion_exact: float  # statsmodels' nobs1
    ratio: float  # n_challenger / n_champion
    effect_size: float  # d (continuous) or Cohen's h (binary)
    alpha: float
    power: float


@dataclass(frozen=True)
class PowerResult:
    power: float
    effect_size: float


@dataclass(frozen=True)
class DetectableEffect:
    mde: float  # absolute, an increase over the champion (sd units times d, or p2 - p1)
    relative_mde: float | None  # mde / |baseline|; None without a non-zero baseline
    effect_size: float
    n_champion: int
    n_challenger: int
    alpha: float
    power: float


def _check_share(challenger_share: float) -> float:
    if not 0 < challenger_share < 100:
        raise ValueError(f"challenger_share must be in (0, 100), got {challenger_share!r}")
    return challenger_share / (100 - challenger_share)


def _check_power(power: float) -> None:
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power!r}")


def _check_rate(rate: float, what: str = "rates") -> None:
    if not 0 < rate < 1:
        raise ValueError(f"{what} must be in (0, 1), got {rate!r}")


def cohens_h(p1: float, p2: float) -> float:
    """2 asin sqrt(p2) - 2 asin sqrt(p1), statsmodels' proportion_effectsize(p2, p1)."""
    return 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))


def _effect_size(mde: float, sd: float | None, baseline_rate: float | None) -> float:
    """|mde| as a standardised effect: d for a continuous metric, Cohen's h for a binary one."""
    if (sd is None) == (baseline_rate is None):
        raise ValueError("give exactly one of sd (continuous) or baseline_rate (binary)")
    if mde == 0:
        raise ValueError("mde must be non-zero")
    if sd is not None:
        if sd <= 0:
            raise ValueError(f"sd must be > 0, got {sd!r}")
        return abs(mde) / sd
    assert baseline_rate is not None  # exactly one of the two is given, checked above
    for rate in (baseline_rate, baseline_rate + mde):
        _check_rate(rate)
    return abs(cohens_h(baseline_rate, baseline_rate + mde))


def _power(n_champion: float, ratio: float, effect_size: float, alpha: float,
           binary: bool) -> float:
    """Two-sided power at n_champion and ratio * n_champion units (both tails counted)."""
    n_challenger = ratio * n_champion
    shift = effect_size * math.sqrt(1 / (1 / n_champion + 1 / n_challenger))
    if binary:
        crit = _z_critical(alpha)
        return float(special.ndtr(shift - crit) + special.ndtr(-shift - crit))
    df = n_champion + n_challenger - 2
    crit = float(special.stdtrit(df, 1 - alpha / 2))
    return float(1 - special.nctdtr(df, shift, crit) + special.nctdtr(df, shift, -crit))


def _increasing_root(f: Callable[[float], float], low: float) -> float:
    """The root of an increasing f above ``low`` (``low`` itself if f(low) >= 0)."""
    if f(low) >= 0:
        return low
    high = 2 * low
    while f(high) < 0:
        high *= 2
    return float(optimize.brentq(f, low, high, xtol=1e-12, rtol=1e-15))


def achieved_power(
    n_per_arm: int,
    *,
    mde: float,
    sd: float | None = None,
    baseline_rate: float | None = None,
    alpha: float = 0.05,
    n_challenger: int | None = None,
) -> PowerResult:
    """Probability of a significant two-sided result for a true difference of ``mde``.

    ``n_per_arm`` champion units and ``n_challenger`` challenger units (as many by default).
    """
    _check_alpha(alpha)
    n_b = n_per_arm if n_challenger is None else n_challenger
    if min(n_per_arm, n_b) < 2:
        raise ValueError(f"need at least 2 units per arm, got {n_per_arm} and {n_b}")
    effect_size = _effect_size(mde, sd, baseline_rate)
    power = _power(n_per_arm, n_b / n_per_arm, effect_size, alpha,
                   binary=baseline_rate is not None)
    return PowerResult(power=power, effect_size=effect_size)


def sample_size(
    *,
    mde: float,
    sd: float | None = None,
    baseline_rate: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    challenger_share: float = 50.0,
) -> SampleSizePlan:
    """Units per arm at the split to detect an absolute difference ``mde`` with ``power``.

    ``sd`` for a continuous metric (the baseline mean does not enter for an absolute
    mde), ``baseline_rate`` for a binary one.
    """
    _check_alpha(alpha)
    _check_power(power)
    ratio = _check_share(challenger_share)
    effect_size = _effect_size(mde, sd, baseline_rate)
    binary = baseline_rate is not None
    # The t-test needs df > 0; NormalIndPower starts from any positive n.
    low = 2.0 if not binary else 1e-3

    def shortfall(n_champion: float) -> float:
        return _power(n_champion, ratio, effect_size, alpha, binary) - power

    n_exact = _increasing_root(shortfall, low)
    n_champion = math.ceil(n_exact - 1e-9)
    n_challenger = math.ceil(ratio * n_exact - 1e-9)
    return SampleSizePlan(
        n_champion=n_champion,
        n_challenger=n_challenger,
        n_total=n_champion + n_challenger,
        n_champion_exact=n_exact,
        ratio=ratio,
        effect_size=effect_size,
        alpha=alpha,
        power=power,
    )


def minimum_detectable_effect(
    *,
    n_champion: int,
    n_challenger: int,
    sd: float | None = None,
    baseline_rate: float | None = None,
    baseline_mean: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> DetectableEffect:
    """The smallest increase detected with ``power`` by these arm sizes (two-sided test).

    The effect size solves power(d) = power at the split (statsmodels' solve_power with
    effect_size=None); a continuous metric's mde is d sd, a binary metric's is the rate
    p2 with h(p1, p2) = h minus p1. ``baseline_mean`` (continuous) gives the relative mde.
    """
    _check_alpha(alpha)
    _check_power(power)
    if min(n_champion, n_challenger) < 2:
        raise ValueError(f"need at least 2 units per arm, got {n_champion} and {n_challenger}")
    if (sd is None) == (baseline_rate is None):
        raise ValueError("give exactly one of sd (continuous) or baseline_rate (binary)")
    binary = baseline_rate is not None
    ratio = n_challenger / n_champion
    effect_size = _increasing_root(
        lambda d: _power(n_champion, ratio, d, alpha, binary) - power, 1e-6
    )
    if baseline_rate is not None:
        _check_rate(baseline_rate, "baseline_rate")
        angle = math.asin(math.sqrt(baseline_rate)) + effect_size / 2
        if angle >= math.pi / 2:
            raise ValueError(
                f"no rate above {baseline_rate:g} is detectable with {power:g} power at these "
                "sizes; add units"
            )
        mde = math.sin(angle) ** 2 - baseline_rate
        baseline: float | None = baseline_rate
    else:
        assert sd is not None
        if sd <= 0:
            raise ValueError(f"sd must be > 0, got {sd!r}")
        mde = effect_size * sd
        baseline = baseline_mean
    return DetectableEffect(
        mde=mde,
        relative_mde=mde / abs(baseline) if baseline else None,
        effect_size=effect_size,
        n_champion=n_champion,
        n_challenger=n_challenger,
        alpha=alpha,
        power=power,
    )
