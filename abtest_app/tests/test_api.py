from __future__ import annotations

import math

import pytest
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from abtest_app import power, selectors, services
from abtest_app.assignment import assign_arm, bucket
from abtest_app.models import ABTest

pytestmark = pytest.mark.django_db

DESIGN = {
    "name": "ranking 1.1 vs 1.0", "model": "ranking", "champion": "1.0.0",
    "challenger": "1.1.0", "metric_name": "hit_rate", "metric_type": "continuous",
}


@pytest.fixture
def versions(champion, challenger):
    return champion, challenger


class TestAssign:
    def test_it_matches_assign_arm_and_is_sticky(self, running_test, api, champion,
                                                 challenger):
        test = running_test(challenger_share=20, seed="assign-seed")
        for unit in ["alice", "bob", "AAPL", "MSFT", "42", "üñï-ç", "user:9001", "𝔘"]:
            first = api.get(f"/api/v1/abtests/{test.pk}/assign/", {"unit_id": unit})
            again = api.get(f"/api/v1/abtests/{test.pk}/assign/", {"unit_id": unit})
            assert first.status_code == 200
            assert first.json() == again.json()
            body = first.json()
            assert body["arm"] == assign_arm("assign-seed", unit, 20)
            assert body["bucket"] == bucket("assign-seed", unit)
            expected = challenger if body["arm"] == "challenger" else champion
            assert (body["version"], body["version_id"]) == (expected.version, expected.pk)

    def test_a_test_made_before_growthbook_order_keeps_its_old_rule(self, running_test, api):
        test = running_test(challenger_share=20, seed="legacy-seed")
        assert test.assignment_rule == "growthbook"
        ABTest.objects.filter(pk=test.pk).update(assignment_rule="axion-v1")
        units = [f"legacy-{i}" for i in range(40)]
        arms = [api.get(f"/api/v1/abtests/{test.pk}/assign/", {"unit_id": u}).json()["arm"]
                for u in units]
        assert arms == [assign_arm("legacy-seed", u, 20, "axion-v1") for u in units]
        assert arms != [assign_arm("legacy-seed", u, 20, "growthbook") for u in units]
        running = selectors.running_test_for_model(test.model_id)
        assert running is not None and running.assignment_rule == "axion-v1"
        response = api.post(f"/api/v1/abtests/{test.pk}/outcomes/", {"outcomes": [
            {"unit_id": u, "value": 1.0, "arm": arm} for u, arm in zip(units, arms, strict=True)
        ]}, format="json")
        assert response.status_code == 200, response.json()
        assert response.json()["challenger"] == arms.count("challenger")

    def test_the_split_is_near_the_configured_share(self, running_test, api):
        test = running_test(challenger_share=20)
        arms = [api.get(f"/api/v1/abtests/{test.pk}/assign/", {"unit_id": f"u{i}"}).json()["arm"]
                for i in range(400)]
        assert 40 <= arms.count("challenger") <= 120  # 80 expected; +-5 sd

    def test_it_needs_a_unit_id(self, running_test, api):
        test = running_test()
        response = api.get(f"/api/v1/abtests/{test.pk}/assign/")
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_unit_id"

    def test_an_unknown_test_is_a_404(self, api, versions):
        response = api.get("/api/v1/abtests/999/assign/", {"unit_id": "a"})
        assert response.status_code == 404


class TestRunningTestForModel:
    def test_it_gives_serving_the_routing_of_the_running_test(self, running_test, champion,
                                                              challenger,
                                                              django_assert_num_queries):
        test = running_test(challenger_share=10)
        with django_assert_num_queries(1):
            running = selectors.running_test_for_model(champion.model_id)
        assert running == selectors.RunningTest(
            test_id=test.pk, seed=test.seed, champion_version_id=champion.pk,
            challenger_version_id=challenger.pk, challenger_share=10.0,
        )
        with pytest.raises(AttributeError):
            running.seed = "other"  # frozen

    def test_it_is_none_unless_a_test_runs(self, make_test, researcher, champion, release_manager):
        test = make_test()
        assert selectors.running_test_for_model(champion.model_id) is None
        services.abtest_start(test=test, actor=release_manager)
        assert selectors.running_test_for_model(champion.model_id) is not None
        services.abtest_pause(test=test, actor=researcher)
        assert selectors.running_test_for_model(champion.model_id) is None


class TestCreateApi:
    def test_it_creates_a_draft_owned_by_the_caller(self, api, versions):
        response = api.post("/api/v1/abtests/", {**DESIGN, "challenger_share": 10,
                            "guardrails": [{"name": "latency_ms", "direction": "lower"}],
                            "max_duration": "P14D"}, format="json")
        assert response.status_code == 201, response.json()
        body = response.json()
        assert (body["state"], body["created_by"], body["champion"], body["challenger"]) == (
            "draft", "rita_researcher", "1.0.0", "1.1.0"
        )
        assert body["max_duration"] == "14 00:00:00"
        assert body["decision"] is None  # not "": the schema's enum has no empty decision
        assert body["available_actions"] == ["cancel"]  # ranking is in production: a release
        # manager starts it (see test_roles.py)
        assert body["guardrails"] == [
            {"name": "latency_ms", "type": "continuous", "direction": "lower"}
        ]

    @pytest.mark.parametrize(
        ("change", "code"),
        [
            ({"challenger": "1.0.0"}, "same_version"),
            ({"challenger_share": 100}, "invalid_split"),
            ({"challenger_share": 0}, "invalid_split"),
            ({"challenger": "9.9.9"}, "unknown_version"),
            ({"model": "nope"}, "model_not_found"),
            ({"metric_type": "ordinal"}, "invalid"),
            ({"min_samples_per_arm": 10**30}, "invalid"),
            ({"planned_samples_per_arm": 0}, "invalid"),
        ],
    )
    def test_bad_designs_answer_a_code_and_a_sentence(self, api, versions, change, code):
        response = api.post("/api/v1/abtests/", {**DESIGN, **change}, format="json")
        assert response.status_code in (400, 404)
        body = response.json()
        assert body["code"] == code
        assert len(body["message"]) > 10
        assert not ABTest.objects.exists()

    def test_a_version_of_another_model_is_refused(self, api, versions, register_version):
        from models_app import services as registry

        registry.model_create(name="regime", gates={"load_check": False})
        register_version("2.0.0", model_name="regime")
        response = api.post("/api/v1/abtests/", {**DESIGN, "challenger": "2.0.0"},
                            format="json")
        assert response.status_code == 400
        assert response.json()["code"] == "version_of_other_model"

    def test_a_second_running_test_is_a_409(self, api, manager_api, versions):
        first = api.post("/api/v1/abtests/", DESIGN, format="json").json()["id"]
        second = api.post("/api/v1/abtests/", {**DESIGN, "name": "b"}, format="json").json()["id"]
        assert manager_api.post(f"/api/v1/abtests/{first}/start/").status_code == 200
        response = manager_api.post(f"/api/v1/abtests/{second}/start/")
        assert response.status_code == 409
        assert response.json()["code"] == "test_already_running"

    def test_list_filters_by_state_and_model(self, api, manager_api, versions):
        first = api.post("/api/v1/abtests/", DESIGN, format="json").json()["id"]
        api.post("/api/v1/abtests/", {**DESIGN, "name": "b"}, format="json")
        manager_api.post(f"/api/v1/abtests/{first}/start/")
        running = api.get("/api/v1/abtests/", {"state": "running", "model": "ranking"}).json()
        assert [t["id"] for t in running["results"]] == [first]
        assert api.get("/api/v1/abtests/", {"model": "other"}).json()["count"] == 0


class TestActionsApi:
    def test_only_the_creator_or_a_release_manager_may_act(self, api, manager_api, make_user,
                                                           versions):
        from conftest import _client_for

        test_id = api.post("/api/v1/abtests/", DESIGN, format="json").json()["id"]
        stranger = _client_for(make_user("sam_stranger"))
        refused = stranger.post(f"/api/v1/abtests/{test_id}/start/")
        assert refused.status_code == 403
        assert refused.json()["code"] == "abtest_not_permitted"
        assert stranger.get(f"/api/v1/abtests/{test_id}/").json()["available_actions"] == []
        assert manager_api.post(f"/api/v1/abtests/{test_id}/start/").json()["state"] == "running"
        assert api.post(f"/api/v1/abtests/{test_id}/pause/").json()["state"] == "paused"
        assert manager_api.post(f"/api/v1/abtests/{test_id}/start/").json()["state"] == "running"
        assert manager_api.post(f"/api/v1/abtests/{test_id}/pause/").json()["state"] == "paused"

    def test_conclude_needs_a_reason_and_records_it(self, api, manager_api, versions):
        test_id = api.post("/api/v1/abtests/", DESIGN, format="json").json()["id"]
        manager_api.post(f"/api/v1/abtests/{test_id}/start/")
        missing = api.post(f"/api/v1/abtests/{test_id}/conclude/", {}, format="json")
        assert missing.status_code == 400 and missing.json()["code"] == "reason_required"
        done = api.post(f"/api/v1/abtests/{test_id}/conclude/", {"reason": "quarter ended"},
                        format="json")
        assert done.status_code == 200
        assert (done.json()["state"], done.json()["conclusion_reason"]) == (
            "concluded", "quarter ended"
        )

    def test_a_refused_move_is_a_409(self, api, versions):
        test_id = api.post("/api/v1/abtests/", DESIGN, format="json").json()["id"]
        response = api.post(f"/api/v1/abtests/{test_id}/pause/")
        assert response.status_code == 409
        assert response.json()["code"] == "abtest_transition_refused"
        assert "draft" in response.json()["message"]

    def test_cancel_keeps_the_reason(self, api, versions):
        test_id = api.post("/api/v1/abtests/", DESIGN, format="json").json()["id"]
        body = api.post(f"/api/v1/abtests/{test_id}/cancel/", {"reason": "wrong metric"},
                        format="json").json()
        assert (body["state"], body["conclusion_reason"]) == ("cancelled", "wrong metric")


class TestSampleSize:
    def test_it_matches_the_power_calculation(self, api):
        body = api.get("/api/v1/abtests/sample-size/",
                       {"sd": 2.0, "mde": 0.2, "alpha": 0.05, "power": 0.8}).json()
        plan = power.sample_size(mde=0.2, sd=2.0)
        assert body["n_per_arm"] == plan.n_champion
        assert body["n_champion"] == body["n_challenger"] == plan.n_champion
        assert body["n_total"] == 2 * plan.n_champion

    def test_an_unequal_split_is_solved_at_the_split(self, api):
        body = api.get("/api/v1/abtests/sample-size/",
                       {"sd": 1.0, "mde": 0.02, "challenger_share": 25}).json()
        expected = TTestIndPower().solve_power(effect_size=0.02, alpha=0.05, power=0.8,
                                               ratio=1 / 3)
        assert body["n_champion"] == math.ceil(expected)
        assert body["n_challenger"] == math.ceil(body["n_champion_exact"] / 3)
        assert body["n_champion_exact"] == pytest.approx(expected, rel=1e-7)

    def test_an_unequal_split_needs_more_units(self, api):
        equal = api.get("/api/v1/abtests/sample-size/",
                        {"baseline_rate": 0.1, "mde": 0.02}).json()
        skewed = api.get("/api/v1/abtests/sample-size/",
                         {"baseline_rate": 0.1, "mde": 0.02, "challenger_share": 10}).json()
        assert skewed["n_total"] > equal["n_total"]
        assert skewed["n_challenger"] < skewed["n_champion"]

    @pytest.mark.parametrize("query", [{"mde": 0.1}, {"mde": 0.1, "sd": 1, "baseline_rate": 0.2},
                                       {"mde": 0, "sd": 1}, {"sd": 1}])
    def test_bad_input_is_a_400(self, api, query):
        response = api.get("/api/v1/abtests/sample-size/", query)
        assert response.status_code == 400
        assert response.json()["message"]


class TestMinimumDetectableEffect:
    def test_it_matches_statsmodels_at_the_split(self, api):
        body = api.get("/api/v1/abtests/mde/", {"n_champion": 4000, "n_challenger": 1000,
                                                "sd": 2.5, "baseline_mean": 10.0}).json()
        assert TTestIndPower().power(body["effect_size"], 4000, 0.05, ratio=0.25) == \
            pytest.approx(0.8, abs=1e-11)
        assert body["mde"] == pytest.approx(2.5 * body["effect_size"], rel=1e-12)
        assert body["relative_mde"] == pytest.approx(body["mde"] / 10.0, rel=1e-12)
        assert (body["n_champion"], body["n_challenger"]) == (4000, 1000)

    def test_a_binary_mde_is_a_rate_difference(self, api):
        body = api.get("/api/v1/abtests/mde/", {"n_champion": 20000, "n_challenger": 20000,
                                                "baseline_rate": 0.1, "power": 0.9}).json()
        assert NormalIndPower().power(body["effect_size"], 20000, 0.05) == \
            pytest.approx(0.9, abs=1e-11)
        assert proportion_effectsize(0.1 + body["mde"], 0.1) == \
            pytest.approx(body["effect_size"], rel=1e-12)

    @pytest.mark.parametrize("query", [{"n_champion": 100, "n_challenger": 100},
                                       {"n_champion": 1, "n_challenger": 100, "sd": 1},
                                       {"n_champion": 10, "n_challenger": 10,
                                        "baseline_rate": 0.999},
                                       {"n_champion": 100, "n_challenger": 100, "sd": 1,
                                        "power": 2}])
    def test_bad_input_is_a_400_with_a_code(self, api, query):
        response = api.get("/api/v1/abtests/mde/", query)
        assert response.status_code == 400
        assert response.json()["code"] and response.json()["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/abtests/"),
        ("post", "/api/v1/abtests/"),
        ("get", "/api/v1/abtests/1/"),
        ("get", "/api/v1/abtests/1/assign/?unit_id=a"),
        ("get", "/api/v1/abtests/1/results/"),
        ("post", "/api/v1/abtests/1/start/"),
        ("get", "/api/v1/abtests/sample-size/?sd=1&mde=0.1"),
        ("get", "/api/v1/abtests/mde/?sd=1&n_champion=10&n_challenger=10"),
    ],
)
def test_anonymous_requests_are_refused(anon_api, method, path):
    assert getattr(anon_api, method)(path).status_code == 401
