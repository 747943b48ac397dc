"""CUPED on a ratio metric: the pure estimates against gbstats' RegressionAdjustedRatioStatistic
(fixtures/gbstats_cases.json, "ratio_cuped", made by fixtures/make_gbstats_cases.py) and numpy,
the pre-period denominators summed at ingestion, and the results endpoint's read-out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson
import pytest

from abtest_app import adjustment
from abtest_app.assignment import assign_many
from abtest_app.bayesian import GaussianPrior, effect_posterior
from abtest_app.decision import DecisionConfig, evaluate
from abtest_app.models import ABTest, ArmStats, Outcome
from abtest_app.stats import ArmStats as Sums
from abtest_app.stats import relative_lift, welch_ttest
from abtest_app.vocabulary import Analysis

CASES = json.loads((Path(__file__).parent / "fixtures" / "gbstats_cases.json").read_text())
TIGHT = {"rel": 1e-9, "abs": 1e-12}
FLAT = GaussianPrior(0.0, 1.0, proper=False)


def arm(sums: dict) -> Sums:
    return Sums(**sums)


def assert_bayesian(result, expected: dict) -> None:
    assert result.posterior_mean == pytest.approx(expected["mean"], **TIGHT)
    assert result.posterior_sd == pytest.approx(expected["stddev"], **TIGHT)
    assert result.chance_to_win == pytest.approx(expected["chance_to_win"], **TIGHT)
    assert (result.loss_champion, result.loss_challenger) == pytest.approx(
        tuple(expected["risk"]), **TIGHT)
    assert (result.ci_low, result.ci_high) == pytest.approx(tuple(expected["ci"]), **TIGHT)


@pytest.mark.parametrize("case", CASES["ratio_cuped"], ids=lambda c: c["name"])
def test_ratio_cuped_matches_gbstats(case: dict) -> None:
    a, b = arm(case["champion"]), arm(case["challenger"])
    assert adjustment.ratio_cuped_theta(a, b) == pytest.approx(case["theta"], **TIGHT)
    primary = adjustment.primary(a, b, binary=False, is_ratio=True)
    assert primary.analysis == Analysis.RATIO_CUPED
    assert primary.cuped is not None and primary.ratio is not None
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
    unadjusted = case["unadjusted"]["stddev"]
    assert info.unadjusted_std_error == pytest.approx(unadjusted, **TIGHT)
    assert info.unadjusted_effect == pytest.approx(case["unadjusted"]["expected"], **TIGHT)
    assert info.adjusted_std_error == pytest.approx(expected["stddev"], **TIGHT)
    assert info.variance_reduction == pytest.approx(
        1 - expected["stddev"] ** 2 / unadjusted**2, **TIGHT)
    assert info.variance_reduction > 0.08  # the unit's own rate carries over
    assert primary.ratio.champion_ratio == pytest.approx(a.total / a.den_total, rel=1e-12)
    assert_bayesian(effect_posterior(welch.effect, welch.std_error**2, prior=FLAT),
                    case["bayesian_absolute"])
    assert lift.estimate is not None and lift.std_error is not None
    assert_bayesian(effect_posterior(lift.estimate, lift.std_error**2, prior=FLAT,
                                     lower_is_better=True, scale="relative"),
                    case["bayesian_relative"])


@pytest.mark.parametrize("case", CASES["ratio_cuped"], ids=lambda c: c["name"])
def test_evaluate_decides_a_ratio_test_on_the_adjusted_estimates(case: dict) -> None:
    a, b = arm(case["champion"]), arm(case["challenger"])
    share = 100 * b.n / (a.n + b.n)  # no sample ratio mismatch at the case's split
    result = evaluate(DecisionConfig(ratio=True, challenger_share=share), a, b)
    assert result.analysis == Analysis.RATIO_CUPED
    assert result.effect == pytest.approx(case["absolute"]["expected"], **TIGHT)
    assert result.p_value == pytest.approx(case["absolute"]["p_value"], **TIGHT)
    assert result.unadjusted is not None
    assert result.unadjusted.std_error == pytest.approx(case["unadjusted"]["stddev"], **TIGHT)
    assert result.bayesian is not None
    assert_bayesian(result.bayesian, case["bayesian_absolute"])
    details = json.loads(json.dumps(result.details(), allow_nan=False))
    assert details["analysis"] == "ratio_cuped"
    assert details["cuped"]["theta"] == pytest.approx(case["theta"], **TIGHT)
    assert details["ratio"]["champion_ratio"] == pytest.approx(a.total / a.den_total)


def simulated_columns(n: int, seed: int, lift: float = 0.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    e = rng.poisson(15, n).astype(float) + 1
    d = np.maximum(e + rng.normal(0, 2, n).round(), 1.0)
    rate = rng.beta(3, 30, n)
    c = rng.binomial(e.astype(int), rate).astype(float)
    x = rng.binomial(d.astype(int), np.clip(rate * (1 + lift), 0, 1)).astype(float)
    return {"x": x, "d": d, "c": c, "e": e}


def test_the_adjusted_ratio_is_the_delta_method_on_numpy_moments() -> None:
    cols = [simulated_columns(3000, 40), simulated_columns(3200, 41, lift=0.1)]
    a, b = (Sums.from_values(k["x"], covariates=k["c"], denominators=k["d"],
                             covariate_denominators=k["e"]) for k in cols)
    theta = adjustment.ratio_cuped_theta(a, b)
    estimates, cov_terms, var_terms = [], 0.0, 0.0
    for k in cols:
        data = np.vstack([k["x"], k["d"], k["c"], k["e"]])
        means, lam = data.mean(axis=1), np.cov(data, ddof=1)
        post = np.array([1 / means[1], -means[0] / means[1] ** 2])
        pre = np.array([1 / means[3], -means[2] / means[3] ** 2])
        cov_terms += post @ lam[:2, 2:] @ pre
        var_terms += pre @ lam[2:, 2:] @ pre
        gradient = np.concatenate([post, -theta * pre])
        estimates.append((k["x"].sum() / k["d"].sum() - theta * k["c"].sum() / k["e"].sum(),
                          gradient @ lam @ gradient))
    assert theta == pytest.approx(cov_terms / var_terms, rel=1e-9)
    primary = adjustment.ratio_cuped(a, b)
    assert primary is not None
    for got, (mean, variance) in zip((primary.champion, primary.challenger), estimates,
                                     strict=True):
        assert got.mean == pytest.approx(mean, rel=1e-9)
        assert got.variance == pytest.approx(variance, rel=1e-9)


def test_a_ratio_without_usable_pre_period_denominators_is_the_plain_ratio() -> None:
    k = simulated_columns(500, 42)
    plain = Sums.from_values(k["x"], covariates=k["c"], denominators=k["d"])
    assert adjustment.ratio_cuped(plain, plain) is None  # covariates alone: no pre ratio
    assert adjustment.primary(plain, plain, binary=False,
                              is_ratio=True).analysis == Analysis.RATIO
    with_pre = Sums.from_values(k["x"], covariates=k["c"], denominators=k["d"],
                                covariate_denominators=k["e"])
    none_given = Sums.from_values(k["x"], covariates=k["c"], denominators=k["d"],
                                  covariate_denominators=np.zeros(500))
    assert adjustment.ratio_cuped(with_pre, none_given) is None  # one arm: nothing to divide
    constant = Sums.from_values(k["x"], covariates=0.1 * k["e"], denominators=k["d"],
                                covariate_denominators=k["e"])
    assert adjustment.ratio_cuped_theta(constant, constant) == 0  # no pre-period variance
    assert adjustment.primary(constant, constant, binary=False,
                              is_ratio=True).analysis == Analysis.RATIO


# --- through the API -------------------------------------------------------------------

def post(api, test: ABTest, outcomes: list[dict]):
    return api.post(f"/api/v1/abtests/{test.pk}/outcomes/", data=orjson.dumps(
        {"outcomes": outcomes}), content_type="application/json")


def ratio_items(test: ABTest, n: int, seed: int = 0) -> list[dict]:
    """Units in the arms the test assigns; every fifth has no pre-period data, every
    seventh only a pre-period denominator (no errors before: its covariate counts as 0)."""
    units = [f"u{i}" for i in range(n)]
    arms = assign_many(test.seed, units, test.challenger_share, test.assignment_rule)
    champion, challenger = simulated_columns(n, seed), simulated_columns(n, seed + 1, -0.15)
    items = []
    for i, (unit, assigned) in enumerate(zip(units, arms, strict=True)):
        k = challenger if assigned == "challenger" else champion
        item = {"unit_id": unit, "outcome_id": f"o{i}", "value": float(k["x"][i]),
                "denominator": float(k["d"][i])}
        if i % 5:
            item["covariate_denominator"] = float(k["e"][i])
            if i % 7:
                item["covariate"] = float(k["c"][i])
        items.append(item)
    return items


def sums_from_rows(test: ABTest) -> dict[str, Sums]:
    found = {}
    for arm_name in ("champion", "challenger"):
        rows = np.array(list(Outcome.objects.filter(test=test, arm=arm_name).values_list(
            "value", "covariate", "denominator", "covariate_denominator")), dtype=float)
        x, c, d, e = rows.T
        given_c, given_e = ~np.isnan(c), ~np.isnan(e)
        full = Sums.from_values(x, covariates=np.nan_to_num(c), denominators=d,
                                covariate_denominators=np.nan_to_num(e))
        found[arm_name] = Sums(**{**full.__dict__, "cov_n": int(given_c.sum()),
                                  "cov_den_n": int(given_e.sum())})
    return found


@pytest.mark.django_db
def test_pre_period_denominators_are_summed_once_and_the_results_show_ratio_cuped(
        running_test, api):
    test = running_test(ratio_metric=True, metric_direction="lower", method="welch",
                        min_samples_per_arm=50)
    items = ratio_items(test, 3000)
    assert post(api, test, items[:1000]).status_code == 200
    again = post(api, test, items[500:2000]).json()  # half of it was sent before
    assert (again["received"], again["recorded"], again["duplicates"]) == (1500, 1000, 500)
    assert post(api, test, items[2000:]).status_code == 200
    stored = {row.arm: row.as_stats() for row in ArmStats.objects.filter(test=test, metric="")}
    for arm_name, expected in sums_from_rows(test).items():
        got = stored[arm_name]
        assert (got.n, got.den_n, got.cov_n, got.cov_den_n) == (
            expected.n, expected.n, expected.cov_n, expected.cov_den_n)
        for name in Sums.__dataclass_fields__:
            assert getattr(got, name) == pytest.approx(getattr(expected, name), rel=1e-9), name
    assert Outcome.objects.filter(test=test, covariate_denominator__isnull=True).count() == 600
    assert Outcome.objects.filter(test=test, covariate__isnull=True).count() == 600 + 343

    body = api.get(f"/api/v1/abtests/{test.pk}/results/").json()
    details = body["evaluation"]["details"]
    assert details["analysis"] == "ratio_cuped"
    primary = adjustment.primary(stored["champion"], stored["challenger"], binary=False,
                                 is_ratio=True)
    assert primary.cuped is not None
    assert details["cuped"]["theta"] == pytest.approx(primary.cuped.theta, rel=1e-12)
    assert details["cuped"]["variance_reduction"] > 0.05
    assert details["unadjusted"]["std_error"] > details["welch"]["std_error"]
    assert details["ratio"]["champion_ratio"] == pytest.approx(
        stored["champion"].total / stored["champion"].den_total, rel=1e-12)
    assert body["arms"]["primary"]["challenger"]["cov_den_n"] == stored["challenger"].cov_den_n


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["fewer_errors", "negative_baseline"])
def test_the_results_endpoint_agrees_with_gbstats(running_test, api, name):
    case = next(c for c in CASES["ratio_cuped"] if c["name"] == name)
    share = 100 * case["challenger"]["n"] / (case["challenger"]["n"] + case["champion"]["n"])
    test = running_test(ratio_metric=True, method="welch", challenger_share=share)
    for arm_name in ("champion", "challenger"):
        ArmStats.objects.filter(test=test, arm=arm_name, metric="").update(**case[arm_name])
    evaluation = api.get(f"/api/v1/abtests/{test.pk}/results/").json()["evaluation"]
    details = evaluation["details"]
    assert details["analysis"] == "ratio_cuped"
    expected = case["absolute"]
    assert evaluation["effect"] == pytest.approx(expected["expected"], **TIGHT)
    assert evaluation["p_value"] == pytest.approx(expected["p_value"], **TIGHT)
    assert (evaluation["ci_low"], evaluation["ci_high"]) == pytest.approx(
        tuple(expected["ci"]), **TIGHT)
    assert details["welch"]["std_error"] == pytest.approx(expected["stddev"], **TIGHT)
    assert evaluation["relative_lift"] == pytest.approx(case["relative"]["expected"], **TIGHT)
    assert details["relative_lift"]["std_error"] == pytest.approx(case["relative"]["stddev"],
                                                                  **TIGHT)
    assert details["cuped"]["theta"] == pytest.approx(case["theta"], **TIGHT)
    assert details["unadjusted"]["std_error"] == pytest.approx(case["unadjusted"]["stddev"],
                                                               **TIGHT)
    bayes = case["bayesian_absolute"]
    assert details["bayesian"]["chance_to_win"] == pytest.approx(bayes["chance_to_win"], **TIGHT)
    assert details["bayesian"]["posterior_sd"] == pytest.approx(bayes["stddev"], **TIGHT)
    assert (details["bayesian"]["loss_champion"], details["bayesian"]["loss_challenger"]) == \
        pytest.approx(tuple(bayes["risk"]), **TIGHT)


@pytest.mark.django_db
@pytest.mark.parametrize(("value", "message"), [
    (-1.0, "covariate_denominator must be >= 0, got -1.0"),
    ("many", "covariate_denominator must be a number, got 'many'"),
    (True, "covariate_denominator must be a number, got True"),
    (2e12, "covariate_denominator is 2000000000000.0, beyond ±1e+12"),
])
def test_a_bad_covariate_denominator_is_refused_with_its_index(running_test, api, value,
                                                              message):
    test = running_test(ratio_metric=True)
    good = {"unit_id": "a", "value": 1.0, "denominator": 3.0, "covariate_denominator": 2.0}
    response = post(api, test, [good, {**good, "unit_id": "b", "covariate_denominator": value}])
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_outcomes"
    assert body["message"].startswith(f"outcomes[1]: {message}")
    assert body["details"]["index"] == 1
    assert ArmStats.objects.filter(test=test, n__gt=0).count() == 0


@pytest.mark.django_db
def test_a_covariate_denominator_on_a_plain_metric_is_refused(running_test, api):
    test = running_test()
    response = post(api, test, [{"unit_id": "a", "value": 1.0, "covariate": 2.0,
                                 "covariate_denominator": 3.0}])
    assert response.status_code == 400 and response.json()["code"] == "invalid_outcomes"
    assert "covariate_denominator is only for a test whose metric is a ratio" in \
        response.json()["message"]
    assert Outcome.objects.filter(test=test).count() == 0
