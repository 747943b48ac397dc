from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
)
from statsmodels.stats.proportion import (
    test_proportions_2indep as wald_2indep,
)
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW
from statsmodels.stats.weightstats import ttest_ind as sm_ttest_ind

from abtest_app.power import achieved_power, minimum_detectable_effect, sample_size
from abtest_app.stats import (
    ArmStats,
    adjusted_p_values,
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
    assert lift.estimate == pytest.approx((m_b - m_a) / abs(m_a), **TIGHT)
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


def test_relative_lift_divides_by_the_absolute_mean_of_a_negative_baseline() -> None:
    a, b = DATA["negative_baseline"]
    lift = relative_lift(*arms("negative_baseline"))
    m_a, m_b = a.mean(), b.mean()
    var_a, var_b = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    assert m_a < 0 and m_b > m_a
    assert lift.available and lift.estimate is not None and lift.estimate > 0
    assert lift.estimate == pytest.approx((m_b - m_a) / abs(m_a), **TIGHT)
    assert lift.std_error == pytest.approx(
        math.sqrt(var_b / m_a**2 + m_b**2 * var_a / m_a**4), **TIGHT)


def test_relative_lift_is_refused_for_a_zero_champion_mean() -> None:
    lift = relative_lift(ArmStats.from_values([0.0, 1.0, -1.0]),
                         ArmStats.from_values([1.0, 2.0, 3.0]))
    assert not lift.available
    assert "champion mean of 0" in lift.reason
    assert lift.estimate is None and lift.ci_low is None


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
    expected = wald_2indep(s_b, n_b, s_a, n_a, method="wald", compare="diff")
    low, high = confint_proportions_2indep(s_b, n_b, s_a, n_a, method="wald", alpha=0.05)
    assert (result.statistic, result.p_value) == pytest.approx(
        (expected.statistic, expected.pvalue), **TIGHT)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), **TIGHT)
    assert result.effect == pytest.approx(s_b / n_b - s_a / n_a, **TIGHT)


def test_the_ztest_interval_inverts_the_test() -> None:
    """The issue's case: pooled p = 0.0468 with a Wald interval containing 0. With one
    standard error for both, p < alpha exactly when the interval excludes 0."""
    rng = np.random.default_rng(8)
    for _ in range(2000):
        n_a, n_b = rng.integers(50, 3000, size=2)
        s_a, s_b = rng.binomial(n_a, 0.1), rng.binomial(n_b, 0.12)
        result = two_proportion_ztest(int(s_a), int(n_a), int(s_b), int(n_b))
        if math.isnan(result.p_value):
            continue
        assert (result.p_value < 0.05) == (not result.ci_low <= 0 <= result.ci_high)


@pytest.mark.parametrize("alternative", ["larger", "smaller"])
def test_one_sided_ztest_matches_statsmodels(alternative: str) -> None:
    result = two_proportion_ztest(100, 1000, 130, 1050, alternative=alternative)  # type: ignore[arg-type]
    expected = wald_2indep(130, 1050, 100, 1000, method="wald", compare="diff",
                                       alternative=alternative)
    assert result.p_value == pytest.approx(expected.pvalue, **TIGHT)
    assert result.statistic == pytest.approx(expected.statistic, **TIGHT)
    open_end = result.ci_high if alternative == "larger" else result.ci_low
    assert math.isinf(open_end)


@pytest.mark.parametrize("alternative", ["larger", "smaller"])
@pytest.mark.parametrize("name", ["unequal_variances_and_sizes", "lower_is_better_errors"])
def test_one_sided_welch_matches_statsmodels(name: str, alternative: str) -> None:
    a, b = DATA[name]
    result = welch_ttest(*arms(name), alpha=0.1, alternative=alternative)  # type: ignore[arg-type]
    statistic, p_value, df = sm_ttest_ind(b, a, usevar="unequal", alternative=alternative)
    low, high = CompareMeans(DescrStatsW(b), DescrStatsW(a)).tconfint_diff(
        alpha=0.1, alternative=alternative, usevar="unequal")
    assert (result.statistic, result.p_value, result.df) == pytest.approx(
        (statistic, p_value, df), **TIGHT)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), **TIGHT)


@pytest.mark.parametrize("method", ["holm", "bh"])
@pytest.mark.parametrize("p_values", [[0.01, 0.04, 0.03, 0.2], [0.5], [0.001, 0.001, 0.9],
                                      [0.04, 0.01, 0.02, 0.03, 0.045]])
def test_multiple_testing_corrections_match_statsmodels(method: str,
                                                        p_values: list[float]) -> None:
    expected = multipletests(p_values, method="holm" if method == "holm" else "fdr_bh")[1]
    assert adjusted_p_values(p_values, method) == pytest.approx(list(expected), **TIGHT)
    with_nan = adjusted_p_values([math.nan, *p_values], method)
    assert math.isnan(with_nan[0])
    assert with_nan[1:] == pytest.approx(list(expected), **TIGHT)


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
@pytest.mark.parametrize("share", [50.0, 20.0, 70.0])
def test_continuous_sample_size_is_solved_at_the_split_as_ttestindpower(
    sd: float, mde: float, alpha: float, power: float, share: float
) -> None:
    plan = sample_size(mde=mde, sd=sd, alpha=alpha, power=power, challenger_share=share)
    ratio = share / (100 - share)
    expected = TTestIndPower().solve_power(effect_size=abs(mde) / sd, alpha=alpha, power=power,
                                           ratio=ratio)
    assert plan.ratio == pytest.approx(ratio, **TIGHT)
    # statsmodels' own root finder stops near 1e-8; its power function at our root is exact.
    assert plan.n_champion_exact == pytest.approx(expected, rel=1e-7)
    assert TTestIndPower().power(abs(mde) / sd, plan.n_champion_exact, alpha, ratio=ratio) \
        == pytest.approx(power, abs=1e-11)
    assert plan.n_champion == math.ceil(expected)
    assert plan.n_challenger == math.ceil(ratio * expected)
    reached = achieved_power(plan.n_champion, n_challenger=plan.n_challenger, mde=mde, sd=sd,
                             alpha=alpha).power
    assert reached >= power


def test_the_issue_unequal_split_needs_what_statsmodels_solves() -> None:
    # The old answer scaled the 50/50 size; statsmodels solves at the split.
    plan = sample_size(mde=0.02, sd=1.0, challenger_share=25.0)
    expected = TTestIndPower().solve_power(effect_size=0.02, alpha=0.05, power=0.8, ratio=1 / 3)
    assert plan.n_champion == math.ceil(expected)


@pytest.mark.parametrize(("rate", "mde"), [(0.1, 0.02), (0.5, -0.05), (0.02, 0.005)])
@pytest.mark.parametrize("share", [50.0, 10.0, 80.0])
def test_binary_sample_size_matches_normalindpower_with_proportion_effectsize(
    rate: float, mde: float, share: float
) -> None:
    plan = sample_size(mde=mde, baseline_rate=rate, alpha=0.05, power=0.8,
                       challenger_share=share)
    effect_size = abs(proportion_effectsize(rate + mde, rate))
    ratio = share / (100 - share)
    expected = NormalIndPower().solve_power(effect_size=effect_size, alpha=0.05, power=0.8,
                                            ratio=ratio)
    assert plan.effect_size == pytest.approx(effect_size, **TIGHT)
    assert plan.n_champion_exact == pytest.approx(expected, rel=1e-7)
    assert NormalIndPower().power(effect_size, plan.n_champion_exact, 0.05, ratio=ratio) \
        == pytest.approx(0.8, abs=1e-11)
    reached = achieved_power(plan.n_champion, n_challenger=plan.n_challenger, mde=mde,
                             baseline_rate=rate).power
    assert reached >= 0.8


@pytest.mark.parametrize("n", [20, 150, 1000])
def test_achieved_power_matches_statsmodels(n: int) -> None:
    continuous = achieved_power(n, mde=0.3, sd=1.2, alpha=0.05)
    assert continuous.power == pytest.approx(TTestIndPower().power(0.25, n, 0.05), **TIGHT)
    skewed = achieved_power(n, n_challenger=3 * n, mde=0.3, sd=1.2, alpha=0.05)
    assert skewed.power == pytest.approx(TTestIndPower().power(0.25, n, 0.05, ratio=3.0),
                                         **TIGHT)
    binary = achieved_power(n, mde=0.05, baseline_rate=0.2, alpha=0.05)
    assert binary.effect_size == pytest.approx(abs(proportion_effectsize(0.25, 0.2)), **TIGHT)
    assert binary.power == pytest.approx(
        NormalIndPower().power(binary.effect_size, n, 0.05), **TIGHT
    )


@pytest.mark.parametrize(("n_a", "n_b"), [(1000, 1000), (5000, 1250), (300, 900)])
@pytest.mark.parametrize(("alpha", "power"), [(0.05, 0.8), (0.01, 0.9)])
def test_minimum_detectable_effect_matches_solve_power(n_a: int, n_b: int, alpha: float,
                                                       power: float) -> None:
    continuous = minimum_detectable_effect(n_champion=n_a, n_challenger=n_b, sd=2.0,
                                           baseline_mean=-4.0, alpha=alpha, power=power)
    d = TTestIndPower().solve_power(effect_size=None, nobs1=n_a, alpha=alpha, power=power,
                                    ratio=n_b / n_a)
    # solve_power for an effect size stops near 1e-5; the power equation is checked exactly.
    assert continuous.effect_size == pytest.approx(d, rel=1e-4)
    assert TTestIndPower().power(continuous.effect_size, n_a, alpha, ratio=n_b / n_a) \
        == pytest.approx(power, abs=1e-11)
    assert continuous.mde == pytest.approx(2.0 * continuous.effect_size, **TIGHT)
    assert continuous.relative_mde == pytest.approx(continuous.mde / 4.0, **TIGHT)
    binary = minimum_detectable_effect(n_champion=n_a, n_challenger=n_b, baseline_rate=0.1,
                                       alpha=alpha, power=power)
    h = NormalIndPower().solve_power(effect_size=None, nobs1=n_a, alpha=alpha, power=power,
                                     ratio=n_b / n_a)
    assert binary.effect_size == pytest.approx(h, rel=1e-4)
    assert NormalIndPower().power(binary.effect_size, n_a, alpha, ratio=n_b / n_a) \
        == pytest.approx(power, abs=1e-11)
    assert proportion_effectsize(0.1 + binary.mde, 0.1) == pytest.approx(binary.effect_size,
                                                                          **TIGHT)
    assert binary.relative_mde == pytest.approx(binary.mde / 0.1, **TIGHT)


def test_power_rejects_ambiguous_or_impossible_inputs() -> None:
    with pytest.raises(ValueError):
        sample_size(mde=0.1)
    with pytest.raises(ValueError):
        sample_size(mde=0.1, sd=1.0, baseline_rate=0.2)
    with pytest.raises(ValueError):
        sample_size(mde=0.2, baseline_rate=0.9)
    with pytest.raises(ValueError):
        sample_size(mde=0.2, sd=1.0, challenger_share=100)
    with pytest.raises(ValueError):
        minimum_detectable_effect(n_champion=10, n_challenger=10, baseline_rate=0.99)
    with pytest.raises(ValueError):
        achieved_power(100, mde=0.0, sd=1.0)
