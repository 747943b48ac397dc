"""CUPED, ratio metrics and the Bayesian read-out against gbstats (fixtures/gbstats_cases.json,
made once by fixtures/make_gbstats_cases.py) and against numpy/statsmodels."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from statsmodels.regression.linear_model import OLS

from abtest_app import adjustment
from abtest_app.bayesian import GaussianPrior, effect_posterior
from abtest_app.decision import DecisionConfig, DecisionRule, evaluate
from abtest_app.stats import ArmStats, relative_lift, welch_ttest
from abtest_app.vocabulary import Analysis, Decision

CASES = json.loads((Path(__file__).parent / "fixtures" / "gbstats_cases.json").read_text())
TIGHT = {"rel": 1e-9, "abs": 1e-12}


def arm(sums: dict) -> ArmStats:
    return ArmStats(**sums)


@pytest.mark.parametrize("case", CASES["cuped"], ids=lambda c: c["name"])
def test_cuped_matches_gbstats(case: dict) -> None:
    a, b = arm(case["champion"]), arm(case["challenger"])
    binary = case["binary"]
    assert adjustment.cuped_theta(a, b, binary=binary) == pytest.approx(case["theta"], **TIGHT)
    primary = adjustment.primary(a, b, binary=binary, is_ratio=False)
    assert primary.analysis == Analysis.CUPED and primary.cuped is not None
    welch = welch_ttest(primary.champion, primary.challenger)
    expected = case["absolute"]
    assert welch.effect == pytest.approx(expected["expected"], **TIGHT)
    assert welch.std_error == pytest.approx(expected["stddev"], **TIGHT)
    assert (welch.ci_low, welch.ci_high) == pytest.approx(tuple(expected["ci"]), **TIGHT)
    assert welch.p_value == pytest.approx(expected["p_value"], **TIGHT)
    lift = relative_lift(primary.champion, primary.challenger, baseline=primary.lift_baseline,
                         variance=primary.lift_variance)
    assert lift.estimate == pytest.approx(case["relative"]["expected"], **TIGHT)
    assert lift.std_error == pytest.approx(case["relative"]["stddev"], **TIGHT)
    info = primary.cuped
    raw_a = a.mean * (1 - a.mean) if binary else a.variance
    raw_b = b.mean * (1 - b.mean) if binary else b.variance
    unadjusted_var = raw_a / a.n + raw_b / b.n
    assert info.unadjusted_std_error == pytest.approx(math.sqrt(unadjusted_var), **TIGHT)
    assert info.variance_reduction == pytest.approx(
        1 - expected["stddev"] ** 2 / unadjusted_var, **TIGHT)
    assert info.variance_reduction > 0.03  # a correlated covariate always reduces it


def test_cuped_theta_is_the_pooled_regression_slope_and_the_adjusted_means_are_numpys() -> None:
    rng = np.random.default_rng(3)
    pre_a, pre_b = rng.normal(5, 2, 800), rng.normal(5, 2, 700)
    post_a = 1.3 * pre_a + rng.normal(0, 1, 800)
    post_b = 1.3 * pre_b + rng.normal(0.4, 1, 700)
    a = ArmStats.from_values(post_a, covariates=pre_a)
    b = ArmStats.from_values(post_b, covariates=pre_b)
    pre, post = np.concatenate([pre_a, pre_b]), np.concatenate([post_a, post_b])
    slope = OLS(post, np.column_stack([np.ones_like(pre), pre])).fit().params[1]
    theta = adjustment.cuped_theta(a, b)
    assert theta == pytest.approx(slope, rel=1e-9)
    primary = adjustment.cuped(a, b)
    assert primary is not None
    adjusted_a = post_a - theta * pre_a
    assert primary.champion.mean == pytest.approx(adjusted_a.mean(), rel=1e-9)
    assert primary.champion.variance == pytest.approx(adjusted_a.var(ddof=1), rel=1e-9)


def test_without_covariates_or_their_variance_there_is_no_cuped() -> None:
    a, b = ArmStats.from_values([1.0, 2.0, 3.0]), ArmStats.from_values([2.0, 3.0, 5.0])
    assert adjustment.cuped(a, b) is None
    flat = ArmStats.from_values([1.0, 2.0, 3.0], covariates=[1.0, 1.0, 1.0])
    assert adjustment.cuped(flat, flat) is None
    assert adjustment.primary(a, b, binary=False, is_ratio=False).analysis == Analysis.RAW


@pytest.mark.parametrize("case", CASES["ratio"], ids=lambda c: c["name"])
def test_ratio_metrics_match_gbstats_delta_method(case: dict) -> None:
    a, b = arm(case["champion"]), arm(case["challenger"])
    primary = adjustment.primary(a, b, binary=False, is_ratio=True)
    assert primary.analysis == Analysis.RATIO and primary.ratio is not None
    assert primary.ratio.champion_ratio == pytest.approx(a.total / a.den_total, **TIGHT)
    welch = welch_ttest(primary.champion, primary.challenger)
    expected = case["absolute"]
    assert welch.effect == pytest.approx(expected["expected"], **TIGHT)
    assert welch.std_error == pytest.approx(expected["stddev"], **TIGHT)
    assert (welch.ci_low, welch.ci_high) == pytest.approx(tuple(expected["ci"]), **TIGHT)
    assert welch.p_value == pytest.approx(expected["p_value"], **TIGHT)
    lift = relative_lift(primary.champion, primary.challenger)
    assert lift.estimate == pytest.approx(case["relative"]["expected"], **TIGHT)
    assert lift.std_error == pytest.approx(case["relative"]["stddev"], **TIGHT)


def test_the_ratio_variance_is_the_delta_method_on_numpy_moments() -> None:
    rng = np.random.default_rng(9)
    d = rng.poisson(10, 5000).astype(float) + 1
    x = rng.binomial(d.astype(int), 0.1).astype(float)
    estimate = adjustment.ratio_estimate(ArmStats.from_values(x, denominators=d))
    m, k = x.mean(), d.mean()
    cov = np.cov(x, d, ddof=1)
    expected = cov[0, 0] / k**2 - 2 * cov[0, 1] * m / k**3 + m**2 * cov[1, 1] / k**4
    assert estimate.mean == pytest.approx(x.sum() / d.sum(), rel=1e-12)
    assert estimate.variance == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("case", CASES["bayesian"],
                         ids=lambda c: f"{'rel' if c['relative'] else 'abs'}-"
                         f"{'proper' if c['prior']['proper'] else 'flat'}-"
                         f"{c['prior']['mean']}-{'inverse' if c['inverse'] else 'higher'}")
def test_the_bayesian_read_out_matches_gbstats(case: dict) -> None:
    a, b = arm(case["champion"]), arm(case["challenger"])
    if case["relative"]:
        lift = relative_lift(a, b)
        assert lift.estimate is not None and lift.std_error is not None
        effect, variance = lift.estimate, lift.std_error**2
    else:
        welch = welch_ttest(a, b)
        effect, variance = welch.effect, welch.std_error**2
    result = effect_posterior(effect, variance, prior=GaussianPrior(**case["prior"]),
                              lower_is_better=case["inverse"])
    expected = case["result"]
    assert result.posterior_mean == pytest.approx(expected["mean"], **TIGHT)
    assert result.posterior_sd == pytest.approx(expected["stddev"], **TIGHT)
    assert result.chance_to_win == pytest.approx(expected["chance_to_win"], **TIGHT)
    assert (result.loss_champion, result.loss_challenger) == pytest.approx(
        tuple(expected["risk"]), **TIGHT)
    assert (result.ci_low, result.ci_high) == pytest.approx(tuple(expected["ci"]), **TIGHT)


def test_an_improper_prior_needs_nothing_and_a_proper_one_needs_a_variance() -> None:
    with pytest.raises(ValueError):
        GaussianPrior(0.0, 0.0, proper=True)
    with pytest.raises(ValueError):
        effect_posterior(0.1, 0.0)


def _cuped_arms(seed: int, shift: float) -> tuple[ArmStats, ArmStats]:
    rng = np.random.default_rng(seed)
    pre_a, pre_b = rng.normal(10, 3, 3000), rng.normal(10, 3, 3000)
    return (ArmStats.from_values(pre_a + rng.normal(0, 1, 3000), covariates=pre_a),
            ArmStats.from_values(pre_b + rng.normal(shift, 1, 3000), covariates=pre_b))


def test_evaluate_decides_on_the_cuped_estimate_and_keeps_the_unadjusted_one() -> None:
    a, b = _cuped_arms(30, 0.1)
    result = evaluate(DecisionConfig(min_samples_per_arm=100), a, b)
    assert result.analysis == Analysis.CUPED and result.cuped is not None
    assert result.unadjusted is not None and result.unadjusted.p_value > 0.05
    assert result.p_value < 0.05  # the variance reduction makes 0.1 visible
    assert result.decision == Decision.CHALLENGER_WINS
    assert result.cuped.variance_reduction > 0.8
    details = json.loads(json.dumps(result.details(), allow_nan=False))
    assert details["analysis"] == "cuped"
    assert details["cuped"]["theta"] == pytest.approx(result.cuped.theta)
    assert details["unadjusted"]["p_value"] == pytest.approx(result.unadjusted.p_value)
    assert details["bayesian"]["chance_to_win"] > 0.95


def test_evaluate_analyses_a_ratio_metric_by_the_delta_method() -> None:
    rng = np.random.default_rng(31)
    arms = []
    for rate in (0.05, 0.04):
        d = rng.poisson(20, 4000).astype(float) + 1
        arms.append(ArmStats.from_values(rng.binomial(d.astype(int), rate).astype(float),
                                         denominators=d))
    result = evaluate(DecisionConfig(direction="lower", ratio=True), *arms)
    assert result.analysis == Analysis.RATIO and result.ratio is not None
    assert result.champion_mean == pytest.approx(arms[0].total / arms[0].den_total)
    assert result.decision == Decision.CHALLENGER_WINS
    assert result.details()["ratio"]["challenger_ratio"] == pytest.approx(result.challenger_mean)


def test_a_test_may_decide_by_expected_loss() -> None:
    a, b = _cuped_arms(32, 0.05)
    config = DecisionConfig(decision_rule=DecisionRule.EXPECTED_LOSS, loss_threshold=0.01,
                            min_samples_per_arm=100)
    result = evaluate(config, a, b)
    assert result.bayesian is not None
    assert result.bayesian.loss_challenger < 0.01 < result.bayesian.loss_champion
    assert result.decision == Decision.CHALLENGER_WINS
    assert "shipping the challenger is the safe choice" in result.reasons[-1]
    strict = evaluate(DecisionConfig(decision_rule="expected_loss", loss_threshold=1e-9,
                                     min_samples_per_arm=100), a, b)
    assert strict.decision == Decision.NO_DECISION
    assert "no arm is safe to ship yet" in strict.reasons[-1]
    worse = evaluate(config, b, a)
    assert worse.decision == Decision.CHAMPION_WINS
    with pytest.raises(ValueError, match="loss_threshold"):
        DecisionConfig(decision_rule="expected_loss")
