"""Outcomes that carry a CUPED covariate or a ratio denominator: stored, summed in the arm
statistics at ingestion, and read out by the results endpoint."""

from __future__ import annotations

import math

import numpy as np
import orjson
import pytest

from abtest_app import selectors, services
from abtest_app.assignment import assign_many
from abtest_app.models import ABTest, ArmStats, Outcome
from abtest_app.stats import ArmStats as Sums

pytestmark = pytest.mark.django_db


def post(api, test: ABTest, outcomes: list[dict]):
    return api.post(f"/api/v1/abtests/{test.pk}/outcomes/", data=orjson.dumps(
        {"outcomes": outcomes}), content_type="application/json")


def cuped_items(test: ABTest, n: int, *, lift: float, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    units = [f"u{i}" for i in range(n)]
    arms = assign_many(test.seed, units, test.challenger_share, test.assignment_rule)
    items = []
    for i, (unit, arm) in enumerate(zip(units, arms, strict=True)):
        pre = float(rng.normal(10, 3))
        item = {"unit_id": unit, "outcome_id": f"o{i}",
                "value": pre + float(rng.normal(lift if arm == "challenger" else 0, 1))}
        if i % 10:  # every tenth unit has no pre-period value: it counts as 0
            item["covariate"] = pre
        items.append(item)
    return items


def sums_from_rows(test: ABTest) -> dict[str, Sums]:
    found: dict[str, Sums] = {}
    for arm in ("champion", "challenger"):
        rows = list(Outcome.objects.filter(test=test, arm=arm).values_list(
            "value", "covariate", "denominator"))
        x = np.array([r[0] for r in rows])
        c = np.array([r[1] for r in rows], dtype=float)
        d = np.array([r[2] for r in rows], dtype=float)
        sums = Sums.from_values(x)
        given_c, given_d = ~np.isnan(c), ~np.isnan(d)
        c0, d0 = np.where(given_c, c, 0.0), np.where(given_d, d, 0.0)
        found[arm] = Sums(sums.n, sums.total, sums.total_sq, int(given_c.sum()),
                          math.fsum(c0), math.fsum(c0 * c0), math.fsum(x * c0),
                          int(given_d.sum()), math.fsum(d0), math.fsum(d0 * d0),
                          math.fsum(x * d0))
    return found


def test_covariates_are_stored_summed_and_cuped_shows_in_the_results(running_test, api):
    test = running_test(method="welch", min_samples_per_arm=50)
    items = cuped_items(test, 3000, lift=0.15)
    for start in range(0, len(items), 1000):
        assert post(api, test, items[start:start + 1000]).status_code == 200
    assert post(api, test, items[:500]).json()["recorded"] == 0  # a retry changes nothing
    stored = {row.arm: row.as_stats() for row in ArmStats.objects.filter(test=test, metric="")}
    for arm, expected in sums_from_rows(test).items():
        got = stored[arm]
        assert (got.n, got.cov_n, got.den_n) == (expected.n, expected.cov_n, 0)
        for name in ("total", "total_sq", "cov_total", "cov_total_sq", "value_cov_total"):
            assert getattr(got, name) == pytest.approx(getattr(expected, name), rel=1e-9)
    assert Outcome.objects.filter(test=test, covariate__isnull=True).count() == 300

    body = api.get(f"/api/v1/abtests/{test.pk}/results/").json()
    details = body["evaluation"]["details"]
    assert details["analysis"] == "cuped"
    assert details["cuped"]["variance_reduction"] > 0.3  # one unit in ten has no covariate
    assert details["unadjusted"]["std_error"] > details["welch"]["std_error"]
    assert details["bayesian"]["scale"] == "absolute"
    assert body["arms"]["primary"]["champion"]["cov_n"] == stored["champion"].cov_n
    snapshot = services.abtest_evaluate(test_id=test.pk)
    assert snapshot is not None and snapshot.details["cuped"]["theta"] == pytest.approx(
        details["cuped"]["theta"])


def test_a_ratio_metric_needs_a_denominator_on_every_outcome(running_test, api):
    test = running_test(ratio_metric=True, metric_direction="lower", min_samples_per_arm=50)
    rng = np.random.default_rng(4)
    items = []
    for i in range(2000):
        predictions = float(rng.poisson(20) + 1)
        items.append({"unit_id": f"u{i}", "value": float(rng.binomial(int(predictions), 0.05)),
                      "denominator": predictions})
    assert post(api, test, items).status_code == 200
    stored = {row.arm: row.as_stats() for row in ArmStats.objects.filter(test=test, metric="")}
    for arm, expected in sums_from_rows(test).items():
        assert stored[arm].den_n == stored[arm].n == expected.den_n
        assert stored[arm].value_den_total == pytest.approx(expected.value_den_total, rel=1e-9)
    evaluation = selectors.abtest_evaluation(test=ABTest.objects.get(pk=test.pk))
    assert evaluation.ratio is not None
    assert evaluation.champion_mean == pytest.approx(
        stored["champion"].total / stored["champion"].den_total, rel=1e-12)

    missing = post(api, test, [{"unit_id": "x", "value": 1.0}])
    assert missing.status_code == 400
    assert missing.json()["code"] == "invalid_outcomes"
    assert "denominator is missing" in missing.json()["message"]
    negative = post(api, test, [{"unit_id": "x", "value": 1.0, "denominator": -2.0}])
    assert negative.status_code == 400 and ">= 0" in negative.json()["message"]


def test_a_denominator_on_a_plain_metric_and_a_bad_covariate_are_refused(running_test, api):
    test = running_test()
    response = post(api, test, [{"unit_id": "a", "value": 1.0, "denominator": 3.0}])
    assert response.status_code == 400
    assert "only for a test whose metric is a ratio" in response.json()["message"]
    response = post(api, test, [{"unit_id": "a", "value": 1.0, "covariate": "high"}])
    assert response.status_code == 400 and "covariate must be a number" in \
        response.json()["message"]
    services.abtest_cancel(test=test, actor=test.created_by, reason="next")
    binary = running_test(metric_type="binary", method="ztest", name="binary")
    response = post(api, binary, [{"unit_id": "a", "value": 1, "covariate": 0.4}])
    assert response.status_code == 400 and "give 0 or 1" in response.json()["message"]
    assert ArmStats.objects.filter(test__in=[test, binary], n__gt=0).count() == 0


@pytest.mark.parametrize(("fields", "code"), [
    ({"ratio_metric": True, "metric_type": "binary", "method": "ztest"}, "invalid_ratio_metric"),
    ({"ratio_metric": True, "method": "mannwhitney"}, "invalid_ratio_metric"),
    ({"decision_rule": "expected_loss"}, "invalid_loss_threshold"),
    ({"decision_rule": "bayes"}, "invalid"),  # the serializer's choice check
    ({"guardrail_correction": "bonferroni"}, "invalid"),
    ({"prior_proper": True, "prior_variance": 0.0}, "invalid_prior"),
])
def test_the_statistics_settings_are_checked_at_creation(api, champion, challenger, fields,
                                                         code):
    body = {"name": "t", "model": "ranking", "champion": "1.0.0", "challenger": "1.1.0",
            "metric_name": "m", "metric_type": "continuous", **fields}
    response = api.post("/api/v1/abtests/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == code, response.json()
    assert next(iter(fields)) in response.json()["message"] or code != "invalid"


def test_a_test_decides_by_expected_loss_through_the_api(api, champion, challenger,
                                                         release_manager):
    body = {"name": "t", "model": "ranking", "champion": "1.0.0", "challenger": "1.1.0",
            "metric_name": "m", "metric_type": "continuous", "method": "welch",
            "decision_rule": "expected_loss", "loss_threshold": 0.01,
            "prior_proper": True, "prior_variance": 0.25, "min_samples_per_arm": 50}
    created = api.post("/api/v1/abtests/", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["decision_rule"] == "expected_loss"
    test = ABTest.objects.get(pk=created.json()["id"])
    services.abtest_start(test=test, actor=release_manager)
    assert post(api, test, cuped_items(test, 3000, lift=0.3)).status_code == 200
    snapshot = services.abtest_evaluate(test_id=test.pk)
    assert snapshot is not None and snapshot.decision == "challenger_wins"
    bayes = snapshot.details["bayesian"]
    assert bayes["prior_proper"] and bayes["loss_challenger"] < 0.01
    assert "shipping the challenger is the safe choice" in snapshot.reasons[-1]
