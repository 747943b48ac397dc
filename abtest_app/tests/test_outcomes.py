from __future__ import annotations

import functools
import math

import numpy as np
import orjson
import pytest

from abtest_app import services
from abtest_app.assignment import assign_arm
from abtest_app.errors import ABTestNotCollecting, InvalidOutcomes, OutcomeBatchTooLarge
from abtest_app.models import ABTest, ArmStats, Outcome
from abtest_app.tests.conftest import record, simulate
from axion_registry.testing import run_concurrently

pytestmark = pytest.mark.django_db


def stats_of(test: ABTest) -> dict[tuple[str, str], tuple[int, float, float]]:
    return {
        (row.arm, row.metric): (row.n, row.total, row.total_sq)
        for row in ArmStats.objects.filter(test=test)
    }


def stats_from_raw(test: ABTest) -> dict[tuple[str, str], tuple[int, float, float]]:
    """The same statistics recomputed from the stored outcome rows."""
    found: dict[tuple[str, str], list[float]] = {}
    for arm, value, metrics in Outcome.objects.filter(test=test).values_list(
        "arm", "value", "metrics"
    ):
        found.setdefault((arm, ""), []).append(value)
        for name, metric_value in (metrics or {}).items():
            found.setdefault((arm, name), []).append(metric_value)
    return {
        key: (len(values), math.fsum(values), math.fsum(v * v for v in values))
        for key, values in found.items()
    }


def post(api, test: ABTest, outcomes, **kwargs):
    return api.post(f"/api/v1/abtests/{test.pk}/outcomes/", data=orjson.dumps(
        {"outcomes": outcomes} if isinstance(outcomes, list) else outcomes
    ), content_type="application/json", **kwargs)


class TestSufficientStatistics:
    def test_they_equal_the_statistics_of_the_raw_outcomes(self, running_test):
        test = running_test(guardrails=[{"name": "latency_ms", "direction": "lower"},
                                        {"name": "error", "type": "binary"}])
        items = simulate(test, 2500, champion_mean=1.0, challenger_mean=1.3,
                         guardrails={"latency_ms": (20.0, 21.0)})
        for i, item in enumerate(items):
            if i % 3 == 0:
                item["metrics"]["error"] = i % 2
            if i % 7 == 0:
                del item["metrics"]  # outcomes without guardrail values count only for the primary
        record(test, items, batch=700)
        stored, raw = stats_of(test), stats_from_raw(test)
        assert set(raw) <= set(stored)
        for key, (n, total, total_sq) in raw.items():
            assert stored[key][0] == n
            assert stored[key][1] == pytest.approx(total, rel=1e-12, abs=1e-9)
            assert stored[key][2] == pytest.approx(total_sq, rel=1e-12, abs=1e-9)
        assert stored[("champion", "")][0] + stored[("challenger", "")][0] == 2500
        assert 0 < stored[("challenger", "error")][0] < stored[("challenger", "")][0]

    def test_the_arm_is_derived_from_the_unit_by_the_assignment(self, running_test):
        test = running_test(challenger_share=30)
        items = simulate(test, 500, champion_mean=0, challenger_mean=0)
        record(test, items)
        for unit_id, arm in Outcome.objects.filter(test=test).values_list("unit_id", "arm"):
            assert arm == assign_arm(test.seed, unit_id, 30)

    def test_a_claimed_arm_that_disagrees_with_the_assignment_is_refused(self, running_test):
        test = running_test()
        wrong = "champion" if assign_arm(test.seed, "u1", 50) == "challenger" else "challenger"
        with pytest.raises(InvalidOutcomes, match=r"outcomes\[1\].*assignment"):
            services.abtest_record_outcomes(test=test, outcomes=[
                {"unit_id": "u0", "value": 1.0},
                {"unit_id": "u1", "value": 1.0, "arm": wrong},
            ])
        assert not Outcome.objects.filter(test=test).exists()


class TestIdempotency:
    def test_a_repeated_outcome_id_is_stored_and_counted_once(self, running_test):
        test = running_test()
        items = simulate(test, 300, champion_mean=1, challenger_mean=2)
        first = services.abtest_record_outcomes(test=test, outcomes=items)
        before = stats_of(test)
        again = services.abtest_record_outcomes(test=test, outcomes=items[:120] + [
            {"unit_id": "new", "value": 5.0, "outcome_id": "fresh"}
        ])
        assert (first.recorded, first.duplicates) == (300, 0)
        assert (again.received, again.recorded, again.duplicates) == (121, 1, 120)
        assert Outcome.objects.filter(test=test).count() == 301
        after = stats_of(test)
        arm = assign_arm(test.seed, "new", 50)
        n, total, total_sq = before[(arm, "")]
        assert after[(arm, "")] == pytest.approx((n + 1, total + 5.0, total_sq + 25.0))

    def test_a_repeat_inside_one_batch_counts_once(self, running_test):
        test = running_test()
        receipt = services.abtest_record_outcomes(test=test, outcomes=[
            {"unit_id": "a", "value": 1.0, "outcome_id": "x"},
            {"unit_id": "a", "value": 9.0, "outcome_id": "x"},
            {"unit_id": "b", "value": 2.0},
            {"unit_id": "b", "value": 2.0},  # no outcome id: two observations
        ])
        assert (receipt.recorded, receipt.duplicates) == (3, 1)
        assert sorted(Outcome.objects.filter(test=test).values_list("value", flat=True)) == [
            1.0, 2.0, 2.0
        ]
        assert sum(n for n, _, _ in stats_of(test).values()) == 3

    def test_outcome_ids_are_unique_per_test_not_globally(self, running_test, make_test,
                                                          researcher, release_manager):
        first = running_test()
        services.abtest_record_outcomes(test=first, outcomes=[
            {"unit_id": "a", "value": 1.0, "outcome_id": "x"}])
        services.abtest_cancel(test=first, actor=researcher)
        second = make_test(name="second")
        services.abtest_start(test=second, actor=release_manager)
        second = ABTest.objects.get(pk=second.pk)
        receipt = services.abtest_record_outcomes(test=second, outcomes=[
            {"unit_id": "a", "value": 1.0, "outcome_id": "x"}])
        assert receipt.recorded == 1


    def test_a_resent_batch_with_new_outcomes_counts_only_the_new(self, running_test):
        test = running_test(ratio_metric=True)
        items = [dict(item, covariate=1.5 * i, denominator=float(i % 4))
                 for i, item in enumerate(simulate(test, 500, champion_mean=1,
                                                   challenger_mean=2))]
        services.abtest_record_outcomes(test=test, outcomes=items[:300])
        again = services.abtest_record_outcomes(test=test, outcomes=items[250:])
        assert (again.recorded, again.duplicates) == (200, 50)
        assert Outcome.objects.filter(test=test).count() == 500
        stored = {(row.arm, row.metric): row for row in ArmStats.objects.filter(test=test)}
        for arm in ("champion", "challenger"):
            rows = Outcome.objects.filter(test=test, arm=arm)
            x = np.array([o.value for o in rows])
            d = np.array([o.denominator for o in rows])
            c = np.array([o.covariate for o in rows])
            row = stored[(arm, "")]
            assert (row.n, row.den_n, row.cov_n) == (x.size, x.size, x.size)
            assert row.value_den_total == pytest.approx(float(x @ d))
            assert row.value_cov_total == pytest.approx(float(x @ c))
            assert row.den_total_sq == pytest.approx(float(d @ d))

    def test_a_test_concluded_after_it_was_read_takes_no_more_outcomes(self, running_test,
                                                                         researcher):
        test = running_test()
        read_before = ABTest.objects.get(pk=test.pk)
        services.abtest_cancel(test=test, actor=researcher, reason="stopped")
        with pytest.raises(ABTestNotCollecting):
            services.abtest_record_outcomes(test=read_before, outcomes=[
                {"unit_id": "a", "value": 1.0, "outcome_id": "late"}])
        assert not Outcome.objects.filter(test=test).exists()
        assert sum(ArmStats.objects.filter(test=test).values_list("n", flat=True)) == 0


class TestBatchApi:
    def test_it_records_a_batch_and_answers_a_receipt(self, running_test, api):
        test = running_test()
        response = post(api, test, simulate(test, 50, champion_mean=0, challenger_mean=0))
        assert response.status_code == 200, response.json()
        body = response.json()
        assert body["received"] == body["recorded"] == 50
        assert body["champion"] + body["challenger"] == 50

    def test_it_records_a_single_outcome_object(self, running_test, api):
        test = running_test()
        response = post(api, test, {"unit_id": "u1", "value": 0.5})
        assert response.status_code == 200
        assert response.json()["recorded"] == 1

    @pytest.mark.parametrize("value", [1e308, -1e13, 10**18])
    def test_a_value_too_large_to_sum_is_refused_and_the_test_still_evaluates(
            self, running_test, api, value):
        test = running_test()
        assert post(api, test, [{"unit_id": f"u{i}", "value": 1.0} for i in range(50)]
                    ).status_code == 200
        response = post(api, test, [{"unit_id": "evil", "value": value}])
        assert response.status_code == 400
        assert "outcomes[0]" in response.json()["message"]
        assert api.get(f"/api/v1/abtests/{test.pk}/results/").status_code == 200

    def test_a_batch_over_10000_is_refused_with_413(self, running_test, api):
        test = running_test()
        items = [{"unit_id": f"u{i}", "value": 1.0} for i in range(10_001)]
        response = post(api, test, items)
        assert response.status_code == 413
        assert response.json()["code"] == "batch_too_large"
        assert not Outcome.objects.filter(test=test).exists()

    def test_a_batch_of_exactly_10000_is_accepted(self, running_test, api):
        test = running_test()
        items = [{"unit_id": f"u{i}", "value": float(i % 5)} for i in range(10_000)]
        assert post(api, test, items).status_code == 200
        assert Outcome.objects.filter(test=test).count() == 10_000

    @pytest.mark.parametrize(
        ("items", "fragment"),
        [
            ([], "empty"),
            ([{"value": 1.0}], "outcomes[0]: unit_id"),
            ([{"unit_id": "a"}], "outcomes[0]: value is missing"),
            ([{"unit_id": "a", "value": 1}, {"unit_id": "b", "value": "high"}],
             "outcomes[1]: value must be a number"),
            ([{"unit_id": "a", "value": 1, "metrics": {"nope": 1}}], "not a guardrail"),
            ([{"unit_id": "a", "value": 1, "outcome_id": ""}], "outcome_id"),
            ([{"unit_id": "x" * 201, "value": 1}], "unit_id"),
        ],
    )
    def test_bad_items_are_refused_with_400_naming_the_item(self, running_test, api, items,
                                                            fragment):
        test = running_test()
        response = post(api, test, items)
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "invalid_outcomes"
        assert fragment in body["message"]
        assert not Outcome.objects.filter(test=test).exists()

    def test_non_finite_values_are_refused(self, running_test, api):
        test = running_test()
        response = api.post(f"/api/v1/abtests/{test.pk}/outcomes/",
                            data=b'{"outcomes": [{"unit_id": "a", "value": 1e999}]}',
                            content_type="application/json")
        assert response.status_code == 400

    def test_a_binary_metric_takes_only_0_or_1(self, running_test, api):
        test = running_test(metric_type="binary", method="ztest")
        assert post(api, test, [{"unit_id": "a", "value": True},
                                {"unit_id": "b", "value": 0}]).status_code == 200
        response = post(api, test, [{"unit_id": "c", "value": 0.5}])
        assert response.status_code == 400
        assert "binary" in response.json()["message"]

    def test_malformed_json_is_a_400(self, running_test, api):
        test = running_test()
        response = api.post(f"/api/v1/abtests/{test.pk}/outcomes/", data=b"{nope",
                            content_type="application/json")
        assert response.status_code == 400

    @pytest.mark.parametrize("state", ["draft", "concluded", "cancelled"])
    def test_outcomes_are_refused_unless_running_or_paused(self, make_test, researcher, api,
                                                           state, release_manager):
        test = make_test()
        if state != "draft":
            services.abtest_start(test=test, actor=release_manager)
            if state == "concluded":
                services.abtest_conclude(test=test, actor=researcher, reason="stop")
            else:
                services.abtest_cancel(test=test, actor=researcher)
        response = post(api, test, [{"unit_id": "a", "value": 1}])
        assert response.status_code == 409
        assert response.json()["code"] == "test_not_collecting"
        with pytest.raises(ABTestNotCollecting):
            services.abtest_record_outcomes(test=ABTest.objects.get(pk=test.pk),
                                            outcomes=[{"unit_id": "a", "value": 1}])

    def test_a_paused_test_still_collects_late_outcomes(self, running_test, researcher, api):
        test = running_test()
        services.abtest_pause(test=test, actor=researcher)
        assert post(api, test, [{"unit_id": "a", "value": 1}]).status_code == 200

    def test_anonymous_posts_are_refused(self, running_test, anon_api):
        test = running_test()
        assert post(anon_api, test, [{"unit_id": "a", "value": 1}]).status_code == 401
        assert not Outcome.objects.exists()


def test_oversized_batch_is_refused_by_the_service_too(running_test):
    test = running_test()
    with pytest.raises(OutcomeBatchTooLarge):
        services.abtest_record_outcomes(
            test=test, outcomes=[{"unit_id": "a", "value": 1}] * 10_001
        )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_the_same_ids_count_once(running_test):
    """Four threads post overlapping batches at once; every id is counted exactly once."""
    test = running_test()
    items = simulate(test, 4000, champion_mean=1.0, challenger_mean=2.0)
    # Each thread sends all 4000 (in its own order), so every id races four ways.
    rng = np.random.default_rng(3)
    orders = [rng.permutation(len(items)) for _ in range(4)]
    batches = [[items[i] for i in order] for order in orders]

    def send(batch) -> int:
        return services.abtest_record_outcomes(test=ABTest.objects.get(pk=test.pk),
                                               outcomes=batch).recorded

    recorded = run_concurrently([functools.partial(send, batch) for batch in batches])
    assert sum(recorded) == 4000
    assert Outcome.objects.filter(test=test).count() == 4000
    stored, raw = stats_of(test), stats_from_raw(test)
    assert stored[("champion", "")][0] + stored[("challenger", "")][0] == 4000
    for key, (n, total, total_sq) in raw.items():
        assert stored[key] == pytest.approx((n, total, total_sq))
