"""A/B routing: by unit id through abtest_app's assignment, sticky, champion by default."""

from __future__ import annotations

import pytest

from abtest_app import services as abtests
from abtest_app.assignment import assign_arm
from abtest_app.selectors import RunningTest
from models_app import services as registry
from serving_app.route import choose_arm
from serving_app.runtime import predict
from serving_app.tests.mock_models import ConstantModel, RaisingModel

TEST = RunningTest(test_id=1, seed="seed-42", champion_version_id=1, challenger_version_id=2,
               challenger_share=30.0)
UNITS = [f"user-{i}" for i in range(400)]
ROWS = [{"f0": 1.0, "f1": 0.0, "f2": 0.0, "f3": 0.0}]


def test_the_arm_is_abtest_apps_assignment_and_sticky():
    arms = [choose_arm(TEST, unit) for unit in UNITS]
    assert arms == [assign_arm("seed-42", unit, 30.0) for unit in UNITS]
    assert arms == [choose_arm(TEST, unit) for unit in UNITS]  # the same unit, the same arm
    assert 0.2 < arms.count("challenger") / len(UNITS) < 0.4


def test_a_request_without_a_unit_goes_to_the_champion():
    assert choose_arm(TEST, None) == choose_arm(TEST, "") == "champion"


def test_shares_at_the_edges_need_no_hashing():
    assert choose_arm(RunningTest(1, "s", 1, 2, 0.0), "u") == "champion"
    assert choose_arm(RunningTest(1, "s", 1, 2, 100.0), "u") == "challenger"


@pytest.fixture
def running_abtest(deploy, researcher, release_manager):
    champion = deploy(ConstantModel(1.0), "1.0.0")
    challenger = deploy(ConstantModel(2.0), "1.1.0", promote=False)
    registry.version_transition(version=challenger, to="staging", actor=release_manager)

    def start(share: float = 30.0):
        test = abtests.abtest_create(
            name="1.1 vs 1.0", model=champion.model, champion=champion, challenger=challenger,
            metric_name="hit_rate", metric_type="continuous", challenger_share=share,
            created_by=researcher,
        )
        return abtests.abtest_start(test=test, actor=release_manager)

    return start


@pytest.mark.django_db
def test_serving_routes_each_unit_to_the_arm_the_assign_endpoint_gives(
        runtime, running_abtest, api):
    test = running_abtest(30.0)
    for unit in UNITS[:40]:
        response = api.post("/api/v1/serve/ranking/predict/",
                            {"records": ROWS, "unit_id": unit}, format="json").json()
        assigned = api.get(f"/api/v1/abtests/{test.pk}/assign/?unit_id={unit}").json()
        assert response["arm"] == assigned["arm"]
        assert response["version"] == assigned["version"]
        assert response["predictions"] == ([2.0] if assigned["arm"] == "challenger" else [1.0])
        again = predict("ranking", ROWS, unit_id=unit)
        assert (again.arm, again.version) == (response["arm"], response["version"])


@pytest.mark.django_db
def test_without_a_unit_id_the_champion_answers_while_a_test_runs(runtime, running_abtest):
    running_abtest(99.0)
    result = predict("ranking", ROWS)
    assert (result.arm, result.version) == ("champion", "1.0.0")


@pytest.mark.django_db
def test_the_challenger_is_pinned_and_falls_back_to_the_champion(runtime, deploy,
                                                                  researcher,
                                                                  release_manager):
    champion = deploy(ConstantModel(1.0), "1.0.0")
    challenger = deploy(RaisingModel(), "1.1.0", promote=False)
    registry.version_transition(version=challenger, to="staging", actor=release_manager)
    test = abtests.abtest_create(
        name="t", model=champion.model, champion=champion, challenger=challenger,
        metric_name="m", metric_type="continuous", challenger_share=99.0, created_by=researcher)
    abtests.abtest_start(test=test, actor=release_manager)
    unit = next(u for u in UNITS if assign_arm(test.seed, u, 99.0) == "challenger")
    result = predict("ranking", ROWS, unit_id=unit)
    assert (result.arm, result.version, result.fallback) == ("challenger", "1.0.0", True)
    assert challenger.pk in runtime.cache.pinned and champion.pk in runtime.cache.pinned


@pytest.mark.django_db
def test_a_test_started_after_the_route_was_built_is_picked_up_on_refresh(
        runtime, running_abtest):
    assert predict("ranking", ROWS, unit_id="u1").arm is None  # no test yet
    running_abtest(99.0)
    runtime.refresh("ranking")  # what SERVING_ROUTE_REFRESH_SECONDS (or a bump) does
    assert predict("ranking", ROWS, unit_id="u1").arm is not None
