from __future__ import annotations

from datetime import timedelta

import orjson
import pytest

from abtest_app import selectors, services
from abtest_app.assignment import assign_many
from abtest_app.models import ABTest, ABTestSnapshot
from abtest_app.tests.conftest import record, simulate
from axion_registry.testing import run_concurrently
from models_app.models import ModelVersion, StageTransition

pytestmark = pytest.mark.django_db


def fresh(obj):
    return type(obj).objects.get(pk=obj.pk)


class TestDecisions:
    def test_a_lower_is_better_metric_end_to_end_through_the_api(self, api, manager_api,
                                                                  champion, challenger):
        """Prediction error: the challenger's is lower, so it wins; the evidence is stored."""
        created = api.post("/api/v1/abtests/", {
            "name": "error", "model": "ranking", "champion": "1.0.0", "challenger": "1.1.0",
            "metric_name": "abs_error", "metric_type": "continuous", "metric_direction": "lower",
            "method": "welch", "min_samples_per_arm": 200,
        }, format="json")
        assert created.status_code == 201, created.json()
        test_id = created.json()["id"]
        assert manager_api.post(f"/api/v1/abtests/{test_id}/start/").status_code == 200
        test = ABTest.objects.get(pk=test_id)
        items = simulate(test, 4000, champion_mean=1.00, challenger_mean=0.85, sd=0.5)
        response = api.post(f"/api/v1/abtests/{test_id}/outcomes/",
                            data=orjson.dumps({"outcomes": items}),
                            content_type="application/json")
        assert response.status_code == 200

        snapshot = services.abtest_evaluate(test_id=test_id)
        assert snapshot.decision == "challenger_wins"
        assert snapshot.effect < 0 and snapshot.ci_high < 0
        assert "lower is better" in snapshot.reasons[0]
        test = fresh(test)
        assert (test.state, test.decision) == ("concluded", "challenger_wins")
        assert snapshot.concluded and test.promotion_status == ""  # auto_promote is off
        assert fresh(challenger).stage == "staging"

    @pytest.mark.parametrize(("direction", "decision"), [("lower", "champion_wins"),
                                                         ("higher", "challenger_wins")])
    def test_the_direction_decides_who_wins_the_same_data(self, running_test, direction,
                                                          decision):
        test = running_test(metric_direction=direction, method="welch")
        record(test, simulate(test, 3000, champion_mean=1.0, challenger_mean=1.2))
        assert services.abtest_evaluate(test_id=test.pk).decision == decision

    def test_below_the_minimum_sample_there_is_no_decision_and_the_test_keeps_running(
        self, running_test
    ):
        test = running_test(min_samples_per_arm=500)
        record(test, simulate(test, 600, champion_mean=0, challenger_mean=3))
        snapshot = services.abtest_evaluate(test_id=test.pk)
        assert snapshot.decision == "no_decision"
        assert "minimum sample" in snapshot.reasons[0]
        assert fresh(test).state == "running"

    def test_a_significant_effect_smaller_than_the_minimum_effect_does_not_win(self,
                                                                               running_test):
        test = running_test(method="welch", min_effect=0.1, min_effect_kind="relative")
        record(test, simulate(test, 20_000, champion_mean=10.0, challenger_mean=10.3, sd=1.0))
        snapshot = services.abtest_evaluate(test_id=test.pk)
        assert snapshot.p_value < 0.001
        assert snapshot.decision == "no_decision"
        assert "does not clear" in snapshot.reasons[0]

    def test_a_guardrail_significantly_worse_blocks_the_win(self, running_test):
        test = running_test(method="welch",
                            guardrails=[{"name": "latency_ms", "direction": "lower"}])
        record(test, simulate(test, 3000, champion_mean=1.0, challenger_mean=1.3,
                              guardrails={"latency_ms": (20.0, 22.0)}))
        snapshot = services.abtest_evaluate(test_id=test.pk)
        assert snapshot.decision == "no_decision"
        assert snapshot.guardrails[0]["significantly_worse"] is True
        assert fresh(test).state == "running"

    def test_a_binary_metric_with_the_z_test(self, running_test):
        test = running_test(metric_type="binary", method="ztest")
        record(test, simulate(test, 6000, champion_mean=0.10, challenger_mean=0.16,
                              binary=True))
        snapshot = services.abtest_evaluate(test_id=test.pk)
        assert snapshot.decision == "challenger_wins"
        assert "proportion" in snapshot.details

    def test_mann_whitney_reads_the_raw_outcomes(self, running_test):
        test = running_test(method="mannwhitney")
        record(test, simulate(test, 2000, champion_mean=1.0, challenger_mean=1.4))
        snapshot = services.abtest_evaluate(test_id=test.pk)
        assert snapshot.decision == "challenger_wins"
        assert snapshot.details["mann_whitney"]["prob_challenger_greater"] > 0.5

    def test_sample_ratio_mismatch_blocks_a_winner_and_flags_the_test(self, running_test):
        test = running_test(method="welch")
        items = simulate(test, 4000, champion_mean=1.0, challenger_mean=2.0)
        arms = assign_many(test.seed, [i["unit_id"] for i in items], 50)
        # Lose three quarters of the champion's outcomes, as a broken logger would.
        kept = [item for n, (item, arm) in enumerate(zip(items, arms, strict=True))
                if arm == "challenger" or n % 4 == 0]
        record(test, kept)
        snapshot = services.abtest_evaluate(test_id=test.pk)
        assert snapshot.srm_mismatch and snapshot.srm_p < 0.001
        assert snapshot.decision == "no_decision"
        assert "sample ratio mismatch" in snapshot.reasons[0]
        assert fresh(test).srm_flagged and fresh(test).state == "running"

    def test_at_the_maximum_duration_without_a_winner_the_test_is_inconclusive(
        self, running_test
    ):
        test = running_test(max_duration=timedelta(days=7))
        record(test, simulate(test, 1000, champion_mean=1.0, challenger_mean=1.0))
        ABTest.objects.filter(pk=test.pk).update(run_time=timedelta(days=7))
        snapshot = services.abtest_evaluate(test_id=test.pk)
        assert snapshot.decision == "inconclusive" and snapshot.max_duration_reached
        test = fresh(test)
        assert (test.state, test.decision) == ("concluded", "inconclusive")

    def test_the_sequential_p_carries_over_between_looks(self, running_test):
        # A minimum effect no result can clear keeps the test running across both looks.
        test = running_test(method="sequential", min_samples_per_arm=50,
                            planned_samples_per_arm=200, min_effect=5.0)
        record(test, simulate(test, 400, champion_mean=1.0, challenger_mean=1.8, seed=1))
        first = services.abtest_evaluate(test_id=test.pk)
        assert first.decision == "no_decision" and first.sequential_p < 0.05
        # Null data dilute the effect: this look alone is much weaker than the first.
        record(test, simulate(test, 3000, champion_mean=1.0, challenger_mean=1.0, seed=2,
                              prefix="late"))
        second = services.abtest_evaluate(test_id=test.pk)
        look_p = second.details["sequential"]["look_p_value"]
        assert look_p > first.sequential_p
        assert second.sequential_p == pytest.approx(first.sequential_p)
        assert selectors.previous_sequential_p(fresh(test)) == pytest.approx(first.sequential_p)

    def test_a_test_that_is_not_running_is_not_evaluated(self, running_test, researcher):
        test = running_test()
        services.abtest_pause(test=test, actor=researcher)
        assert services.abtest_evaluate(test_id=test.pk) is None
        assert not ABTestSnapshot.objects.exists()


class TestAutoPromotion:
    def test_a_winning_challenger_is_promoted_through_the_registry(self, running_test,
                                                                   champion, challenger):
        test = running_test(auto_promote=True, method="welch")
        record(test, simulate(test, 3000, champion_mean=1.0, challenger_mean=1.3))
        snapshot = services.abtest_evaluate(test_id=test.pk)
        assert snapshot.promotion_status == "promoted"
        assert (fresh(challenger).stage, fresh(champion).stage) == ("production", "archived")
        promotion = StageTransition.objects.get(version=challenger, kind="promote")
        assert promotion.source == f"abtest:{test.pk}"
        assert promotion.actor.username == "axion-system"
        assert f"A/B test {test.pk}" in promotion.reason
        assert fresh(test).promotion_status == "promoted"

    def test_a_refusing_gate_keeps_the_champion_and_says_why(self, running_test, champion,
                                                             challenger):
        from models_app import services as registry

        registry.model_update(model=champion.model, gates={
            "thresholds": [{"metric": "auc", "op": ">=", "value": 0.9}]})
        test = running_test(auto_promote=True, method="welch")
        record(test, simulate(test, 3000, champion_mean=1.0, challenger_mean=1.3))
        snapshot = services.abtest_evaluate(test_id=test.pk)
        test = fresh(test)
        assert (test.state, test.decision) == ("concluded", "challenger_wins")
        assert (fresh(champion).stage, fresh(challenger).stage) == ("production", "staging")
        assert test.promotion_status == snapshot.promotion_status == "refused"
        assert "auc >= 0.9" in test.promotion_message
        assert test.promotion_details["code"] == "gate_refused"
        assert not StageTransition.objects.filter(version=challenger, kind="promote").exists()

    def test_a_champion_win_promotes_nothing(self, running_test, champion, challenger):
        test = running_test(auto_promote=True, method="welch")
        record(test, simulate(test, 3000, champion_mean=1.3, challenger_mean=1.0))
        snapshot = services.abtest_evaluate(test_id=test.pk)
        assert snapshot.decision == "champion_wins" and snapshot.promotion_status == ""
        assert fresh(champion).stage == "production"


class TestResults:
    def test_a_running_test_is_evaluated_now_without_storing(self, running_test, api):
        test = running_test(min_samples_per_arm=50)
        record(test, simulate(test, 300, champion_mean=1.0, challenger_mean=1.0))
        services.abtest_evaluate(test_id=test.pk)
        response = api.get(f"/api/v1/abtests/{test.pk}/results/")
        assert response.status_code == 200
        body = response.json()
        assert body["source"] == "computed"
        assert body["evaluation"]["champion_n"] + body["evaluation"]["challenger_n"] == 300
        assert len(body["history"]) == 1 == ABTestSnapshot.objects.count()
        arms = body["arms"]["primary"]
        assert arms["champion"]["n"] + arms["challenger"]["n"] == 300

    def test_a_finished_test_shows_its_last_snapshot_and_the_history_oldest_first(
        self, running_test, api
    ):
        test = running_test(method="welch")
        record(test, simulate(test, 150, champion_mean=1.0, challenger_mean=1.0))
        services.abtest_evaluate(test_id=test.pk)
        record(test, simulate(test, 3000, champion_mean=1.0, challenger_mean=1.5,
                              prefix="more"))
        services.abtest_evaluate(test_id=test.pk)
        body = api.get(f"/api/v1/abtests/{test.pk}/results/").json()
        assert body["source"] == "snapshot"
        assert body["evaluation"]["decision"] == "challenger_wins"
        assert [s["decision"] for s in body["history"]] == ["no_decision", "challenger_wins"]
        assert body["history"][0]["challenger_n"] < body["history"][1]["challenger_n"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_evaluations_at_once_conclude_and_promote_once(running_test, challenger):
    test = running_test(auto_promote=True, method="welch")
    record(test, simulate(test, 3000, champion_mean=1.0, challenger_mean=1.3))
    results = run_concurrently([lambda: services.abtest_evaluate(test_id=test.pk)] * 2)
    assert sorted(r is None for r in results) == [False, True]
    assert ABTestSnapshot.objects.filter(test=test, concluded=True).count() == 1
    assert StageTransition.objects.filter(version=challenger, kind="promote").count() == 1
    assert ModelVersion.objects.get(pk=challenger.pk).stage == "production"
