from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW
from statsmodels.stats.weightstats import ttest_ind as sm_ttest_ind

from abtest_app.power import achieved_power, sample_size_per_arm
from abtest_app.stats import (
    ArmStats,
    mann_whitney_u,
    mixing_variance,
    msprt,
    relative_lift,
    sample_ratio_mismatch,
    two_proportion_ztest,
    welch_ttest,
)

TIGHT = {"rel": 1e-9, "abs": 1e-12}


def datasets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(champion, challenger) samples, each pair from its own fixed seed."""

    def rng(seed: int) -> np.random.Generator:
        return np.random.default_rng(seed)

    t, u, h, e, n = rng(101), rng(102), rng(103), rng(104), rng(105)
    return {
        "unequal_variances_and_sizes": (t.normal(10, 2, 400), t.normal(11, 5, 900)),
        "heavy_tails": (5 + 3 * u.standard_t(2.5, 700), 5.8 + 3 * u.standard_t(2.5, 650)),
        "a_a_no_effect": (h.normal(3, 1, 1000), h.normal(3, 1, 1000)),
        "lower_is_better_errors": (np.abs(e.normal(0, 1.0, 800)), np.abs(e.normal(0, 0.9, 800))),
        "negative_baseline": (n.normal(-3, 1.5, 500), n.normal(-2.8, 1.5, 520)),
    }


DATA = datasets()


def arms(name: str) -> tuple[ArmStats, ArmStats]:
    a, b = DATA[name]
    return ArmStats.from_values(a), ArmStats.from_values(b)


def test_arm_stats_match_numpy() -> None:
    a, _ = DATA["heavy_tails"]
    arm = ArmStats.from_values(a)
    assert arm.n == a.size
    assert arm.mean == pytest.approx(a.mean(), **TIGHT)
    assert arm.variance == pytest.approx(a.var(ddof=1), **TIGHT)
    assert math.isnan(ArmStats(n=1, total=2.0, total_sq=4.0).variance)


def test_arm_stats_of_a_binary_metric_have_total_equal_to_total_sq() -> None:
    arm = ArmStats.from_values([1, 0, 1, 1, 0])
    assert arm.total == arm.total_sq == 3
    assert arm.variance == pytest.approx(np.var([1, 0, 1, 1, 0], ddof=1))


@pytest.mark.parametrize("name", sorted(DATA))
def test_welch_matches_scipy(name: str) -> None:
    a, b = DATA[name]
    result = welch_ttest(*arms(name), alpha=0.05)
    expected = sps.ttest_ind(b, a, equal_var=False)
    ci = expected.confidence_interval(0.95)
    assert result.statistic == pytest.approx(expected.statistic, **TIGHT)
    assert result.p_value == pytest.approx(expected.pvalue, **TIGHT)
    assert result.df == pytest.approx(expected.df, **TIGHT)
    assert result.ci_low == pytest.approx(ci.low, **TIGHT)
    assert result.ci_high == pytest.approx(ci.high, **TIGHT)
    assert result.effect == pytest.approx(b.mean() - a.mean(), **TIGHT)


@pytest.mark.parametrize("name", sorted(DATA))
def test_welch_matches_statsmodels(name: str) -> None:
    a, b = DATA[name]
    result = welch_ttest(*arms(name), alpha=0.1)
    statistic, p_value, df = sm_ttest_ind(b, a, usevar="unequal")
    low, high = CompareMeans(DescrStatsW(b), DescrStatsW(a)).tconfint_diff(
        alpha=0.1, usevar="unequal"
    )
    assert (result.statistic, result.p_value, result.df) == pytest.approx(
        (statistic, p_value, df), **TIGHT
    )
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), **TIGHT)


def test_welch_from_stored_sufficient_statistics_equals_raw() -> None:
    a, b = DATA["unequal_variances_and_sizes"]
    stored = [ArmStats(n=0, total=0.0, total_sq=0.0), ArmStats(n=0, total=0.0, total_sq=0.0)]
    for i, values in enumerate((a, b)):
        for x in values:  # the way the app accumulates events
            s = stored[i]
            stored[i] = ArmStats(n=s.n + 1, total=s.total + x, total_sq=s.total_sq + x * x)
    incremental = welch_ttest(*stored)
    direct = welch_ttest(*arms("unequal_variances_and_sizes"))
    assert incremental.p_value == pytest.approx(direct.p_value, rel=1e-9)
    assert incremental.ci_low == pytest.approx(direct.ci_low, rel=1e-9)


def test_welch_finds_no_effect_in_an_a_a_test() -> None:
    result = welch_ttest(*arms("a_a_no_effect"))
    assert result.p_value > 0.05
    assert result.ci_low < 0 < result.ci_high


def test_welch_detects_the_effect_with_unequal_variances() -> None:
    result = welch_ttest(*arms("unequal_variances_and_sizes"))
    assert result.p_value < 0.05
    assert result.ci_low > 0


def test_welch_is_undefined_without_variance_and_refuses_tiny_arms() -> None:
    flat = ArmStats.from_values([1.0, 1.0, 1.0])
    assert math.isnan(welch_ttest(flat, flat).p_value)
    with pytest.raises(ValueError):
        welch_ttest(ArmStats.from_values([1.0]), flat)


def test_relative_lift_is_the_ratio_with_a_delta_method_error() -> None:
    a, b = DATA["unequal_variances_and_sizes"]
    lift = relative_lift(*arms("unequal_variances_and_sizes"), alpha=0.05)
    m_a, m_b = a.mean(), b.mean()
    var_a, var_b = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(var_b / m_a**2 + m_b**2 * var_a / m_a**4)
    assert lift.available
    assert lift.estimate == pytest.approx(m_b / m_a - 1, **TIGHT)
    assert lift.std_error == pytest.approx(se, **TIGHT)
    assert lift.ci_low == pytest.approx(m_b / m_a - 1 - sps.norm.ppf(0.975) * se, **TIGHT)


def test_relative_lift_ci_covers_the_true_lift_about_95_percent() -> None:
    rng = np.random.default_rng(11)
    champion = rng.exponential(2.0, size=(2000, 300))
    challenger = rng.exponential(2.2, size=(2000, 300))
    covered = 0
    for a, b in zip(champion, challenger, strict=True):
        lift = relative_lift(ArmStats.from_values(a), ArmStats.from_values(b))
        covered += lift.ci_low <= 0.1 <= lift.ci_high
    assert 0.93 <= covered / 2000 <= 0.97


@pytest.mark.parametrize("values", [[-3.0, -1.0, -2.0], [0.0, 1.0, -1.0]])
def test_relative_lift_is_refused_for_a_non_positive_champion_mean(values: list[float]) -> None:
    lift = relative_lift(ArmStats.from_values(values), ArmStats.from_values([1.0, 2.0, 3.0]))
    assert not lift.available
    assert "champion mean <= 0" in lift.reason
    assert lift.estimate is None and lift.ci_low is None
    assert not relative_lift(*arms("negative_baseline")).available


def test_relative_lift_takes_a_wider_critical_value() -> None:
    fixed = relative_lift(*arms("heavy_tails"))
    wider = relative_lift(*arms("heavy_tails"), critical_value=3.0)
    assert wider.ci_high - wider.ci_low == pytest.approx(6.0 * fixed.std_error)


@pytest.mark.parametrize(
    "counts", [(100, 1000, 130, 1050), (480, 5000, 520, 5000), (3, 40, 9, 35), (0, 50, 4, 60)]
)
def test_ztest_matches_statsmodels(counts: tuple[int, int, int, int]) -> None:
    s_a, n_a, s_b, n_b = counts
    result = two_proportion_ztest(s_a, n_a, s_b, n_b, alpha=0.05)
    statistic, p_value = proportions_ztest([s_b, s_a], [n_b, n_a])
    low, high = confint_proportions_2indep(s_b, n_b, s_a, n_a, method="wald", alpha=0.05)
    assert (result.statistic, result.p_value) == pytest.approx((statistic, p_value), **TIGHT)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), **TIGHT)
    assert result.effect == pytest.approx(s_b / n_b - s_a / n_a, **TIGHT)


def test_ztest_on_binary_arm_stats() -> None:
    rng = np.random.default_rng(5)
    a = ArmStats.from_values(rng.random(20_000) < 0.10)
    b = ArmStats.from_values(rng.random(20_000) < 0.12)
    result = two_proportion_ztest(int(a.total), a.n, int(b.total), b.n)
    assert result.p_value < 0.05 and result.ci_low > 0


def test_ztest_is_undefined_when_nothing_converts_and_rejects_bad_counts() -> None:
    assert math.isnan(two_proportion_ztest(0, 100, 0, 100).p_value)
    with pytest.raises(ValueError):
        two_proportion_ztest(11, 10, 1, 10)


@pytest.mark.parametrize("name", sorted(DATA))
def test_mann_whitney_matches_scipy(name: str) -> None:
    a, b = DATA[name]
    result = mann_whitney_u(a, b)
    expected = sps.mannwhitneyu(b, a, alternative="two-sided")
    assert result.statistic == expected.statistic
    assert result.p_value == pytest.approx(expected.pvalue, **TIGHT)
    assert result.prob_challenger_greater == pytest.approx(expected.statistic / (a.size * b.size))


def test_mann_whitney_sees_a_shift_in_heavy_tails() -> None:
    result = mann_whitney_u(*DATA["heavy_tails"])
    assert result.p_value < 0.05 and result.prob_challenger_greater > 0.5


@pytest.mark.parametrize(("n_a", "n_b", "share"), [(5000, 5100, 50), (6950, 3050, 30), (10, 3, 50)])
def test_sample_ratio_mismatch_matches_scipy(n_a: int, n_b: int, share: float) -> None:
    result = sample_ratio_mismatch(n_a, n_b, share)
    total = n_a + n_b
    expected = sps.chisquare([n_a, n_b], f_exp=[total * (1 - share / 100), total * share / 100])
    assert result.statistic == pytest.approx(expected.statistic, **TIGHT)
    assert result.p_value == pytest.approx(expected.pvalue, **TIGHT)
    assert result.observed_challenger_share == pytest.approx(100 * n_b / total)


def test_sample_ratio_mismatch_flags_a_lossy_challenger() -> None:
    # A 50/50 test whose challenger drops 5% of its units (e.g. a crashing model).
    rng = np.random.default_rng(3)
    arm = rng.random(50_000) < 0.5
    kept = arm & (rng.random(50_000) > 0.05)
    assert sample_ratio_mismatch(int((~arm).sum()), int(kept.sum()), 50).p_value < 0.001
    assert sample_ratio_mismatch(int((~arm).sum()), int(arm.sum()), 50).p_value > 0.001
    assert sample_ratio_mismatch(0, 0, 50).p_value == 1.0


def test_msprt_matches_the_mixture_likelihood_ratio() -> None:
    champion, challenger = arms("unequal_variances_and_sizes")
    result = msprt(champion, challenger, planned_n_per_arm=2000, alpha=0.05)
    v = champion.variance / champion.n + challenger.variance / challenger.n
    d = challenger.mean - champion.mean
    tau_sq = mixing_variance(v * (champion.n + challenger.n) / 2 / 2000, 0.05)
    ratio = math.sqrt(v / (v + tau_sq)) * math.exp(tau_sq * d**2 / (2 * v * (v + tau_sq)))
    log_term = math.log((v + tau_sq) / v) - 2 * math.log(0.05)
    radius = math.sqrt(v * (v + tau_sq) / tau_sq * log_term)
    assert result.variance == pytest.approx(v, **TIGHT)
    assert result.tau_sq == pytest.approx(tau_sq, **TIGHT)
    assert result.look_p_value == pytest.approx(min(1.0, 1 / ratio), **TIGHT)
    assert result.radius == pytest.approx(radius, **TIGHT)
    assert (result.ci_low, result.ci_high) == pytest.approx((d - radius, d + radius), **TIGHT)


def test_msprt_mixing_variance_is_near_optimal_at_the_planned_size() -> None:
    # At the planned size, GrowthBook's tau^2 gives (almost) the narrowest interval.
    alpha, v = 0.05, 1.0

    def radius(tau_sq: float) -> float:
        return math.sqrt(v * (v + tau_sq) / tau_sq * (math.log1p(tau_sq / v) - 2 * math.log(alpha)))

    best = min(radius(t) for t in np.geomspace(0.1, 100, 20_000))
    assert radius(mixing_variance(v, alpha)) <= best * 1.005


def test_msprt_p_and_interval_agree_at_a_look() -> None:
    rng = np.random.default_rng(8)
    for shift in np.linspace(0, 0.4, 25):
        champion = ArmStats.from_values(rng.normal(0, 1, 300))
        challenger = ArmStats.from_values(rng.normal(shift, 1, 300))
        result = msprt(champion, challenger, planned_n_per_arm=1000, alpha=0.05)
        excludes_zero = result.ci_low > 0 or result.ci_high < 0
        assert (result.look_p_value < 0.05) == excludes_zero


def test_msprt_carries_evidence_over_between_looks() -> None:
    champion, challenger = arms("a_a_no_effect")
    fresh = msprt(champion, challenger, planned_n_per_arm=1000)
    carried = msprt(champion, challenger, planned_n_per_arm=1000, prior_p_value=0.01)
    assert fresh.p_value == fresh.look_p_value > 0.01
    assert carried.p_value == 0.01 and carried.look_p_value == fresh.look_p_value


def test_msprt_interval_is_wider_than_the_fixed_horizon_one() -> None:
    champion, challenger = arms("unequal_variances_and_sizes")
    sequential = msprt(champion, challenger, planned_n_per_arm=900)
    fixed = welch_ttest(champion, challenger)
    assert sequential.ci_low < fixed.ci_low and sequential.ci_high > fixed.ci_high
    assert sequential.critical_value > 2.5


@pytest.mark.parametrize(("sd", "mde"), [(1.0, 0.2), (3.0, -0.5), (10.0, 1.0), (1.0, 1.5)])
@pytest.mark.parametrize(("alpha", "power"), [(0.05, 0.8), (0.01, 0.9)])
def test_continuous_sample_size_matches_ttestindpower(
    sd: float, mde: float, alpha: float, power: float
) -> None:
    plan = sample_size_per_arm(mde=mde, sd=sd, alpha=alpha, power=power)
    expected = TTestIndPower().solve_power(effect_size=abs(mde) / sd, alpha=alpha, power=power)
    assert plan.n_exact == pytest.approx(expected, rel=1e-6)
    assert plan.n_per_arm == math.ceil(expected)
    reached = achieved_power(plan.n_per_arm, mde=mde, sd=sd, alpha=alpha).power
    assert reached >= power


@pytest.mark.parametrize(("rate", "mde"), [(0.1, 0.02), (0.5, -0.05), (0.02, 0.005)])
def test_binary_sample_size_matches_normalindpower(rate: float, mde: float) -> None:
    plan = sample_size_per_arm(mde=mde, baseline_rate=rate, alpha=0.05, power=0.8)
    other = rate + mde
    effect_size = abs(mde) / math.sqrt((rate * (1 - rate) + other * (1 - other)) / 2)
    expected = NormalIndPower().solve_power(effect_size=effect_size, alpha=0.05, power=0.8)
    assert plan.effect_size == pytest.approx(effect_size, **TIGHT)
    assert plan.n_exact == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("n", [20, 150, 1000])
def test_achieved_power_matches_statsmodels(n: int) -> None:
    continuous = achieved_power(n, mde=0.3, sd=1.2, alpha=0.05)
    assert continuous.power == pytest.approx(TTestIndPower().power(0.25, n, 0.05), **TIGHT)
    binary = achieved_power(n, mde=0.05, baseline_rate=0.2, alpha=0.05)
    assert binary.power == pytest.approx(
        NormalIndPower().power(binary.effect_size, n, 0.05), **TIGHT
    )


def test_power_rejects_ambiguous_or_impossible_inputs() -> None:
    with pytest.raises(ValueError):
        sample_size_per_arm(mde=0.1)
    with pytest.raises(ValueError):
        sample_size_per_arm(mde=0.1, sd=1.0, baseline_rate=0.2)
    with pytest.raises(ValueError):
        sample_size_per_arm(mde=0.2, baseline_rate=0.9)
    with pytest.raises(ValueError):
        achieved_power(100, mde=0.0, sd=1.0)
