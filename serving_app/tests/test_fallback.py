"""Fallback to the previous production version, its counters, and the guardrail."""

from __future__ import annotations

import logging
import time

import pytest

from models_app.models import StageTransition
from serving_app import flusher
from serving_app.models import DeploymentEvent, LatencyMinute, ServingPolicy
from serving_app.runtime import predict
from serving_app.tests.mock_models import (
    ConstantModel,
    PickyModel,
    RaisingModel,
    SlowModel,
    WrongShapeModel,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/serve/ranking/predict/"
GOOD = [{"f0": 1.0, "f1": 0.0, "f2": 0.0, "f3": 0.0}]
UNLUCKY = [{"f0": 13.0, "f1": 0.0, "f2": 0.0, "f3": 0.0}]


def outcomes(runtime) -> dict[str, int]:
    found: dict[str, int] = {}
    for (_, _, outcome), stats in runtime.recorder._pending.items():
        found[outcome] = found.get(outcome, 0) + stats.count
    return found


def test_a_failing_request_is_answered_by_the_previous_production_version(
        runtime, deploy, api, caplog):
    deploy(ConstantModel(7.0), "1.0.0")
    deploy(PickyModel(), "1.1.0")
    assert api.post(URL, {"records": GOOD}, format="json").json()["version"] == "1.1.0"
    with caplog.at_level(logging.ERROR, logger="serving_app.runtime"):
        response = api.post(URL, {"records": UNLUCKY}, format="json")
    assert response.status_code == 200
    assert response.json() == {"model": "ranking", "version": "1.0.0", "predictions": [7.0],
                               "arm": None, "fallback": True}
    failure = next(r for r in caplog.records if "ranking@1.1.0 failed" in r.getMessage())
    assert failure.exc_info and "13 is unlucky" in str(failure.exc_info[1])
    assert outcomes(runtime) == {"ok": 1, "fallback": 1}


def test_fallbacks_are_counted_per_minute_and_listed(runtime, deploy, api):
    deploy(ConstantModel(7.0), "1.0.0")
    failing = deploy(PickyModel(), "1.1.0")
    for rows in (GOOD, UNLUCKY, UNLUCKY, GOOD):
        predict("ranking", rows)
    flusher.flush(runtime)
    row = LatencyMinute.objects.get(version=failing)
    assert (row.count, row.fallbacks, row.errors) == (4, 2, 0)
    assert row.p50_ms is not None and row.p99_ms >= row.p50_ms
    assert "13 is unlucky" in row.last_error
    event = DeploymentEvent.objects.get(kind="fallback", version=failing)
    assert event.count == 2 and "13 is unlucky" in event.error
    listed = api.get("/api/v1/deployments/?kind=fallback").json()["results"]
    assert [(e["version"], e["count"]) for e in listed] == [("1.1.0", 2)]
    latency = api.get("/api/v1/serve/ranking/latency/?minutes=5").json()
    assert [(r["version"], r["count"], r["fallbacks"]) for r in latency] == [("1.1.0", 4, 2)]


def test_a_second_flush_adds_to_the_same_minute(runtime, deploy):
    version = deploy(ConstantModel(1.0), "1.0.0")
    predict("ranking", GOOD)
    flusher.flush(runtime)
    predict("ranking", GOOD)
    predict("ranking", GOOD)
    flusher.flush(runtime)
    row = LatencyMinute.objects.get(version=version)
    assert row.count == 3 and sum(row.buckets) == 3


def test_a_version_that_fails_its_warm_up_here_is_never_called(runtime, deploy, api):
    deploy(ConstantModel(7.0), "1.0.0")
    deploy(RaisingModel(), "1.1.0")
    answers = [api.post(URL, {"records": GOOD}, format="json").json() for _ in range(3)]
    assert {(a["version"], a["fallback"]) for a in answers} == {("1.0.0", True)}
    described = runtime.describe("ranking")["production"]
    assert described["loaded"] is False and "always fails" in described["error"]


def test_a_version_answering_the_wrong_shape_falls_back(runtime, deploy):
    deploy(ConstantModel(7.0), "1.0.0")
    deploy(WrongShapeModel(), "1.1.0")
    result = predict("ranking", GOOD)
    assert (result.version, result.fallback, result.predictions) == ("1.0.0", True, [7.0])


def test_a_version_slower_than_the_model_timeout_falls_back(runtime, deploy,
                                                            registered_model):
    ServingPolicy.objects.create(model=registered_model, timeout_ms=50)
    deploy(ConstantModel(7.0), "1.0.0")
    deploy(SlowModel(0.3), "1.1.0")
    predict("ranking", GOOD)  # the cold load (and its warm-up, which has no timeout)
    started = time.perf_counter()
    result = predict("ranking", GOOD)
    assert (result.version, result.fallback) == ("1.0.0", True)
    assert time.perf_counter() - started < 0.25  # did not wait for the slow model
    assert outcomes(runtime) == {"fallback": 2}


def test_without_a_fallback_it_answers_503_with_a_clear_message(runtime, deploy, api):
    deploy(RaisingModel(), "1.0.0")
    response = api.post(URL, {"records": GOOD}, format="json")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "model_unavailable"
    assert "ranking@1.0.0 failed" in body["message"]
    assert "no fallback version is available" in body["message"]
    assert outcomes(runtime) == {"error": 1}


def test_when_the_fallback_fails_too_it_is_a_503(runtime, deploy):
    deploy(PickyModel(), "1.0.0")
    deploy(PickyModel(), "1.1.0")
    with pytest.raises(Exception) as caught:
        predict("ranking", UNLUCKY)
    assert caught.value.status == 503 and "failed too" in caught.value.message


def test_the_guardrail_rolls_back_a_failing_version(runtime, deploy, registered_model,
                                                    django_capture_on_commit_callbacks):
    ServingPolicy.objects.create(model=registered_model, guardrail_min_requests=5,
                                 guardrail_max_failure_rate=0.2)
    deploy(ConstantModel(7.0), "1.0.0")
    failing = deploy(PickyModel(), "1.1.0")
    for rows in [GOOD] * 3 + [UNLUCKY] * 3:
        predict("ranking", rows)
    with django_capture_on_commit_callbacks(execute=True):
        flusher.flush(runtime)
    failing.refresh_from_db()
    assert failing.stage == "archived"
    rollback = StageTransition.objects.filter(kind="rollback").get()
    assert rollback.version.version == "1.0.0" and rollback.source == "guardrail"
    assert rollback.actor.username == "axion-system"
    assert "3 of 6 requests" in rollback.reason
    event = DeploymentEvent.objects.get(kind="rollback")
    assert (event.version.version, event.source) == ("1.0.0", "guardrail")
    assert predict("ranking", GOOD).version == "1.0.0"  # the runtime noticed the rollback


def test_the_guardrail_needs_the_minimum_count_and_the_threshold(runtime, deploy,
                                                                 registered_model):
    ServingPolicy.objects.create(model=registered_model, guardrail_min_requests=10,
                                 guardrail_max_failure_rate=0.2)
    deploy(ConstantModel(7.0), "1.0.0")
    failing = deploy(PickyModel(), "1.1.0")
    for rows in [UNLUCKY] * 5:  # every request failed, but too few to judge
        predict("ranking", rows)
    flusher.flush(runtime)
    for rows in [GOOD] * 20:  # 5 of 25 failed: 20%, not above the threshold
        predict("ranking", rows)
    flusher.flush(runtime)
    failing.refresh_from_db()
    assert failing.stage == "production"
    assert not StageTransition.objects.filter(kind="rollback").exists()


class TestCallerErrorsAreNotModelFailures:
    """Rows a version without a signature cannot use are the caller's 400; they never count
    toward the guardrail (70 such requests from one user rolled production back before)."""

    WIDE = [{"f0": 1.0, "f1": 0.0, "f2": 0.0, "f3": 0.0, "extra": 5.0}]

    def test_an_extra_column_is_a_400_and_production_stays(
            self, runtime, deploy, registered_model, sklearn_model, api,
            django_capture_on_commit_callbacks):
        ServingPolicy.objects.create(model=registered_model, guardrail_min_requests=5,
                                     guardrail_max_failure_rate=0.2)
        deploy(sklearn_model, "1.0.0", signature=None, input_example=None)
        current = deploy(sklearn_model, "1.1.0", signature=None, input_example=None)
        for _ in range(70):
            response = api.post(URL, {"records": self.WIDE}, format="json")
            assert response.status_code == 400
            assert response.json()["code"] == "input_rejected"
            assert "features" in response.json()["message"]  # the model's own complaint
        with django_capture_on_commit_callbacks(execute=True):
            flusher.flush(runtime)
        current.refresh_from_db()
        assert current.stage == "production"
        assert not StageTransition.objects.filter(kind="rollback").exists()
        assert outcomes(runtime) == {}
        good = [{k: v for k, v in self.WIDE[0].items() if k != "extra"}]
        assert api.post(URL, {"records": good}, format="json").status_code == 200

    def test_with_a_signature_the_same_rows_never_reach_the_model(self, runtime, deploy, api):
        deploy(ConstantModel(1.0), "1.0.0")
        response = api.post(URL, {"records": self.WIDE}, format="json")
        assert response.status_code == 400 and "extra" in response.json()["message"]
        assert outcomes(runtime) == {}

    def test_a_signed_version_that_raises_is_still_a_fault_that_counts(self, runtime, deploy):
        deploy(ConstantModel(7.0), "1.0.0")
        deploy(PickyModel(), "1.1.0")
        assert predict("ranking", UNLUCKY).version == "1.0.0"  # the fallback answered
        assert outcomes(runtime) == {"fallback": 1}

    def test_a_version_without_a_signature_gets_one_from_its_input_example(
            self, runtime, deploy, sklearn_model, api):
        example = [{"f0": 0.5, "f1": -0.2, "f2": 0.1, "f3": 1}]
        version = deploy(sklearn_model, "1.0.0", signature=None, input_example=example)
        assert [(c["name"], c["type"]) for c in version.signature["inputs"]] == [
            ("f0", "double"), ("f1", "double"), ("f2", "double"), ("f3", "long")]
        response = api.post(URL, {"records": self.WIDE}, format="json")
        assert response.status_code == 400 and "extra" in response.json()["message"]
        assert outcomes(runtime) == {}
        shuffled = [{"f3": 1.0, "f2": 0.1, "f1": -0.2, "f0": 0.5}]
        in_order = sklearn_model.predict([[0.5, -0.2, 0.1, 1.0]]).tolist()
        assert api.post(URL, {"records": shuffled}, format="json").json()["predictions"] == \
            in_order
