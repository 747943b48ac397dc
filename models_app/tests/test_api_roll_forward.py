"""Roll-forward (an archived version promoted again through the gates) and the reasons a
person must give for a promotion or a rollback, through the API."""

import pytest

from conftest import _client_for
from models_app import selectors, services
from models_app.models import STAGE_MOVES, ModelVersion, PromotionRequest, StageTransition

pytestmark = pytest.mark.django_db


def stage(version):
    return ModelVersion.objects.get(model__name="ranking", version=version).stage


def transition(client, version, to, reason="because"):
    return client.post(f"/api/v1/models/ranking/versions/{version}/transition/",
                       {"to": to, "reason": reason}, format="json")


def rollback(client, reason="bad fills"):
    return client.post("/api/v1/models/ranking/rollback/", {"reason": reason}, format="json")


@pytest.fixture
def rolled_back(register_version, release_manager):
    """1.0.0 and then 2.0.0 went to production; 2.0.0 was rolled back (now archived)."""
    for number in ("1.0.0", "2.0.0"):
        version = register_version(number)
        services.version_transition(version=version, to="staging", actor=release_manager)
        services.version_promote(version=version, actor=release_manager, reason="release")
    services.model_rollback(model=version.model, actor=release_manager, reason="bad fills")
    assert (stage("1.0.0"), stage("2.0.0")) == ("production", "archived")
    return version


class TestRollForward:
    def test_an_archived_version_returns_to_production_through_the_gates(
            self, manager_api, rolled_back):
        response = transition(manager_api, "2.0.0", "production", "the fill bug was upstream")
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["kind"], body["from_stage"], body["to_stage"]) == (
            "promote", "archived", "production")
        assert body["reason"] == "the fill bug was upstream"
        assert (stage("1.0.0"), stage("2.0.0")) == ("archived", "production")
        record = StageTransition.objects.get(pk=body["id"])
        assert {g["gate"] for g in record.gate_report} >= {"require_staging", "verify_artifact"}
        assert all(g["passed"] for g in record.gate_report)

    def test_a_rollback_after_a_roll_forward_walks_back_again(self, manager_api,
                                                              rolled_back):
        assert transition(manager_api, "2.0.0", "production").status_code == 200
        response = rollback(manager_api, "worse than we thought")
        assert response.status_code == 200
        assert (response.json()["version"], response.json()["kind"]) == ("1.0.0", "rollback")

    def test_the_detail_offers_production_to_a_release_manager_only(self, api, manager_api,
                                                                     rolled_back):
        url = "/api/v1/models/ranking/versions/2.0.0/"
        assert "production" in manager_api.get(url).json()["available_transitions"]
        assert "production" not in api.get(url).json()["available_transitions"]

    def test_failing_gates_refuse_a_roll_forward_with_the_report(
            self, manager_api, rolled_back, release_manager):
        services.model_update(model=rolled_back.model, actor=release_manager, gates={
            "thresholds": [{"metric": "auc", "op": ">=", "value": 0.9}], "load_check": False})
        response = transition(manager_api, "2.0.0", "production")
        assert response.status_code == 409
        assert response.json()["code"] == "gate_refused"
        report = response.json()["details"]["gate_report"]
        assert {"gate": "threshold:auc", "passed": False, "wanted": "auc >= 0.9",
                "got": "auc = 0.75"} in report
        assert (stage("1.0.0"), stage("2.0.0")) == ("production", "archived")

    def test_a_researcher_may_not_roll_forward(self, api, rolled_back):
        response = transition(api, "2.0.0", "production")
        assert (response.status_code, response.json()["code"]) == (
            403, "promotion_not_permitted")
        assert stage("2.0.0") == "archived"

    def test_a_corrupted_artifact_refuses_a_roll_forward(self, manager_api, rolled_back):
        from django.core.files.base import ContentFile

        from models_app import artifacts

        storage = artifacts.artifact_storage()
        storage.delete(rolled_back.artifact_path)
        storage.save(rolled_back.artifact_path, ContentFile(b"tampered"))
        response = transition(manager_api, "2.0.0", "production")
        assert response.status_code == 409
        failed = [g["gate"] for g in response.json()["details"]["gate_report"]
                  if not g["passed"]]
        assert failed == ["verify_artifact"]
        assert stage("2.0.0") == "archived"

    def test_a_deprecated_version_still_cannot_return(self, manager_api, rolled_back,
                                                      release_manager):
        services.version_transition(version=rolled_back, to="deprecated", actor=release_manager,
                                    reason="gone")
        response = transition(manager_api, "2.0.0", "production")
        assert (response.status_code, response.json()["code"]) == (409, "transition_refused")

    def test_a_four_eyes_model_rolls_forward_through_an_approved_request(
            self, manager_api, rolled_back, release_manager, second_release_manager):
        services.model_update(model=rolled_back.model, actor=release_manager,
                              require_four_eyes=True)
        assert transition(manager_api, "2.0.0", "production").json()["code"] == (
            "four_eyes_required")
        filed = manager_api.post("/api/v1/models/ranking/versions/2.0.0/promotion-requests/",
                                 {"reason": "roll forward"}, format="json")
        assert filed.status_code == 201, filed.content
        approver = _client_for(second_release_manager)
        decided = approver.post(f"/api/v1/promotion-requests/{filed.json()['id']}/approve/",
                                {}, format="json")
        assert decided.status_code == 200, decided.content
        assert PromotionRequest.objects.get().status == "approved"
        assert stage("2.0.0") == "production"

    def test_rollback_keeps_its_own_path_and_stage_moves_their_meaning(self, rolled_back):
        assert STAGE_MOVES["production"] == "promote"  # restore stays rollback-only
        assert "restore" not in STAGE_MOVES.values()
        target = selectors.rollback_target(model=rolled_back.model,
                                           current=selectors.version_in_production(
                                               model=rolled_back.model))
        assert target is None  # 1.0.0 is the first: nothing earlier to restore


class TestReasons:
    def test_a_rollback_without_a_reason_is_a_400_and_changes_nothing(
            self, manager_api, rolled_back, register_version, release_manager):
        version = register_version("3.0.0")
        services.version_transition(version=version, to="staging", actor=release_manager)
        services.version_promote(version=version, actor=release_manager, reason="release")
        for body in ({}, {"reason": ""}, {"reason": "   "}):
            response = manager_api.post("/api/v1/models/ranking/rollback/", body,
                                        format="json")
            assert response.status_code == 400, body
            assert response.json()["code"] == "reason_required"
            assert "reason" in response.json()["message"]
        assert stage("3.0.0") == "production"

    def test_a_promotion_without_a_reason_is_a_400(self, manager_api, register_version,
                                                   release_manager):
        version = register_version("1.0.0")
        services.version_transition(version=version, to="staging", actor=release_manager)
        response = transition(manager_api, "1.0.0", "production", "")
        assert (response.status_code, response.json()["code"]) == (400, "reason_required")
        assert "promote" in response.json()["message"]
        assert stage("1.0.0") == "staging"

    def test_a_roll_forward_without_a_reason_is_a_400(self, manager_api, rolled_back):
        response = transition(manager_api, "2.0.0", "production", " ")
        assert (response.status_code, response.json()["code"]) == (400, "reason_required")
        assert stage("2.0.0") == "archived"

    def test_other_moves_may_go_without_a_reason(self, api, register_version):
        register_version("1.0.0")
        assert transition(api, "1.0.0", "staging", "").status_code == 200

    def test_a_promotion_request_needs_a_reason(self, manager_api, register_version):
        register_version("1.0.0")
        response = manager_api.post("/api/v1/models/ranking/versions/1.0.0/promotion-requests/",
                                    {"reason": ""}, format="json")
        assert response.status_code == 400
