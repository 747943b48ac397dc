"""Four-eyes promotion: one release manager requests, another approves (never the same)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from axion_registry.errors import InvalidInput
from conftest import _client_for
from models_app import services
from models_app.errors import (
    FourEyesRequired,
    FourEyesViolation,
    ModelChangeNotPermitted,
    PromotionRequestClosed,
)
from models_app.models import ModelVersion, PromotionRequest, StageTransition

pytestmark = pytest.mark.django_db


@pytest.fixture
def guarded(registered_model, release_manager):
    services.model_update(model=registered_model, actor=release_manager,
                          require_four_eyes=True)
    return registered_model


@pytest.fixture
def staged(guarded, register_version, researcher):
    version = register_version("1.0.0")
    services.version_transition(version=version, to="staging", actor=researcher)
    return ModelVersion.objects.get(pk=version.pk)


def stage(version: ModelVersion) -> str:
    return ModelVersion.objects.get(pk=version.pk).stage


class TestDirectPromotion:
    def test_a_direct_promotion_is_refused_with_a_409(self, staged, release_manager,
                                                      manager_api):
        with pytest.raises(FourEyesRequired) as refused:
            services.version_promote(version=staged, actor=release_manager)
        assert "promotion request" in refused.value.message
        response = manager_api.post("/api/v1/models/ranking/versions/1.0.0/transition/",
                                    {"to": "production", "reason": "release"}, format="json")
        assert response.status_code == 409
        assert response.json()["code"] == "four_eyes_required"
        assert "promotion-requests/" in response.json()["message"]
        assert stage(staged) == "staging"

    def test_only_a_pending_request_in_the_database_opens_the_way(self, staged,
                                                                  release_manager):
        forged = PromotionRequest(pk=999, model=staged.model, version=staged, status="pending")
        with pytest.raises(FourEyesRequired):
            services.version_promote(version=staged, actor=release_manager,
                                     promotion_request=forged)
        assert stage(staged) == "staging"

    def test_production_is_not_offered_as_a_move(self, staged, manager_api):
        detail = manager_api.get("/api/v1/models/ranking/versions/1.0.0/").json()
        assert "production" not in detail["available_transitions"]

    def test_rollback_stays_one_release_managers_emergency_action(
            self, registered_model, register_version, researcher, release_manager,
            second_release_manager):
        first, second = register_version("1.0.0"), register_version("1.1.0")
        for version in (first, second):
            services.version_transition(version=version, to="staging", actor=researcher)
            services.version_promote(version=version, actor=release_manager)
        services.model_update(model=registered_model, actor=release_manager,
                              require_four_eyes=True)
        record = services.model_rollback(model=registered_model, actor=second_release_manager)
        assert (record.version, stage(first), stage(second)) == (first, "production",
                                                                  "archived")


class TestRequests:
    def test_only_a_release_manager_files_a_request(self, staged, researcher, api):
        with pytest.raises(ModelChangeNotPermitted):
            services.promotion_request_file(version=staged, actor=researcher, reason="ship")
        response = api.post("/api/v1/models/ranking/versions/1.0.0/promotion-requests/",
                            {"reason": "ship"}, format="json")
        assert response.status_code == 403
        assert "release managers" in response.json()["message"]
        assert not PromotionRequest.objects.exists()

    def test_a_request_needs_a_reason(self, staged, release_manager):
        with pytest.raises(InvalidInput):
            services.promotion_request_file(version=staged, actor=release_manager, reason=" ")

    def test_the_requester_may_not_approve_their_own_request(self, staged, release_manager,
                                                             manager_api):
        filed = manager_api.post("/api/v1/models/ranking/versions/1.0.0/promotion-requests/",
                                 {"reason": "better auc"}, format="json")
        assert filed.status_code == 201
        body = filed.json()
        assert (body["status"], body["requested_by"], body["version"]) == (
            "pending", "max_release", "1.0.0")
        assert body["gate_report"]  # the gates' opinion when it was filed
        response = manager_api.post(f"/api/v1/promotion-requests/{body['id']}/approve/")
        assert response.status_code == 403
        assert response.json()["code"] == "four_eyes_violation"
        assert stage(staged) == "staging"
        assert PromotionRequest.objects.get().status == "pending"

    def test_another_release_manager_approves_and_the_version_goes_to_production(
            self, staged, release_manager, second_release_manager):
        request = services.promotion_request_file(version=staged, actor=release_manager,
                                                  reason="better auc")
        response = _client_for(second_release_manager).post(
            f"/api/v1/promotion-requests/{request.pk}/approve/", {"reason": "looks good"},
            format="json")
        assert response.status_code == 200, response.json()
        body = response.json()
        assert (body["status"], body["decided_by"], body["decision_reason"]) == (
            "approved", "rosa_release", "looks good")
        assert stage(staged) == "production"
        promotion = StageTransition.objects.get(kind="promote")
        assert promotion.actor == second_release_manager
        assert promotion.source == f"promotion-request:{request.pk}"
        assert "requested by max_release" in promotion.reason
        assert promotion.gate_report  # the normal promotion service ran the gates
        assert body["transition"] == promotion.pk

    def test_a_researcher_may_not_approve(self, staged, release_manager, researcher):
        request = services.promotion_request_file(version=staged, actor=release_manager,
                                                  reason="x")
        with pytest.raises(ModelChangeNotPermitted):
            services.promotion_request_approve(request_id=request.pk, actor=researcher)
        assert stage(staged) == "staging"

    def test_failing_gates_on_approval_refuse_the_request(self, staged, registered_model,
                                                          release_manager,
                                                          second_release_manager):
        request = services.promotion_request_file(version=staged, actor=release_manager,
                                                  reason="x")
        services.model_update(model=registered_model, actor=release_manager, gates={
            "thresholds": [{"metric": "auc", "op": ">=", "value": 0.9}]})
        response = _client_for(second_release_manager).post(
            f"/api/v1/promotion-requests/{request.pk}/approve/")
        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "gate_refused"
        assert body["details"]["promotion_request_id"] == request.pk
        request.refresh_from_db()
        assert (request.status, request.decided_by) == ("refused", second_release_manager)
        assert "refused by the gates" in request.decision_reason
        assert any(not g["passed"] for g in request.gate_report)
        assert stage(staged) == "staging"
        with pytest.raises(PromotionRequestClosed):
            services.promotion_request_approve(request_id=request.pk,
                                               actor=second_release_manager)

    def test_a_refusal_needs_a_reason_and_another_release_manager(
            self, staged, release_manager, second_release_manager):
        request = services.promotion_request_file(version=staged, actor=release_manager,
                                                  reason="x")
        with pytest.raises(FourEyesViolation):
            services.promotion_request_refuse(request_id=request.pk, actor=release_manager,
                                              reason="changed my mind")
        client = _client_for(second_release_manager)
        missing = client.post(f"/api/v1/promotion-requests/{request.pk}/refuse/", {},
                              format="json")
        assert missing.status_code == 400 and missing.json()["code"] == "reason_required"
        refused = client.post(f"/api/v1/promotion-requests/{request.pk}/refuse/",
                              {"reason": "latency too high"}, format="json")
        assert refused.json()["status"] == "refused"
        assert refused.json()["decision_reason"] == "latency too high"
        assert stage(staged) == "staging"

    def test_the_requester_withdraws(self, staged, release_manager, researcher):
        request = services.promotion_request_file(version=staged, actor=release_manager,
                                                  reason="x")
        with pytest.raises(ModelChangeNotPermitted):
            services.promotion_request_withdraw(request_id=request.pk, actor=researcher)
        services.promotion_request_withdraw(request_id=request.pk, actor=release_manager)
        assert PromotionRequest.objects.get().status == "withdrawn"

    def test_a_newer_request_supersedes_the_pending_one(self, staged, register_version,
                                                        researcher, release_manager,
                                                        second_release_manager):
        newer = register_version("1.1.0")
        first = services.promotion_request_file(version=staged, actor=release_manager,
                                                reason="first")
        second = services.promotion_request_file(version=newer, actor=second_release_manager,
                                                 reason="second")
        first.refresh_from_db()
        assert (first.status, first.decision_reason) == (
            "withdrawn", f"superseded by request {second.pk}")
        assert PromotionRequest.objects.filter(status="pending").get() == second

    def test_requests_are_listed_with_filters(self, staged, release_manager, api):
        services.promotion_request_file(version=staged, actor=release_manager, reason="x")
        listed = api.get("/api/v1/promotion-requests/", {"model": "ranking",
                                                         "status": "pending"}).json()
        assert [r["version"] for r in listed["results"]] == ["1.0.0"]
        assert api.get("/api/v1/promotion-requests/",
                       {"status": "approved"}).json()["count"] == 0
        assert api.get("/api/v1/promotion-requests/",
                       {"requested_by": "max_release"}).json()["count"] == 1


class TestAdmin:
    def login(self, client, user):
        user.is_staff = True
        user.save()
        user.user_permissions.add(*Permission.objects.filter(codename__in=[
            "view_promotionrequest", "change_promotionrequest"]))
        client.force_login(user)

    def test_a_second_release_manager_approves_in_the_admin(self, client, staged,
                                                            release_manager,
                                                            second_release_manager):
        request = services.promotion_request_file(version=staged, actor=release_manager,
                                                  reason="x")
        self.login(client, release_manager)
        client.post("/admin/models_app/promotionrequest/", {
            "action": "approve", "_selected_action": [request.pk], "reason": ""})
        assert stage(staged) == "staging"  # not by the requester
        client.logout()
        self.login(client, second_release_manager)
        client.post("/admin/models_app/promotionrequest/", {
            "action": "approve", "_selected_action": [request.pk], "reason": "ok"})
        assert stage(staged) == "production"
        assert PromotionRequest.objects.get().decided_by == second_release_manager

    def test_a_refusal_in_the_admin_keeps_its_reason(self, client, staged, release_manager,
                                                     second_release_manager):
        request = services.promotion_request_file(version=staged, actor=release_manager,
                                                  reason="x")
        self.login(client, second_release_manager)
        client.post("/admin/models_app/promotionrequest/", {
            "action": "refuse", "_selected_action": [request.pk], "reason": "not yet"})
        request.refresh_from_db()
        assert (request.status, request.decision_reason) == ("refused", "not yet")

    def test_a_researcher_sees_requests_read_only(self, client, staged, release_manager,
                                                  researcher):
        request = services.promotion_request_file(version=staged, actor=release_manager,
                                                  reason="x")
        self.login(client, researcher)
        page = client.get("/admin/models_app/promotionrequest/").content
        assert b"1.0.0" in page and b'value="approve"' not in page
        client.post("/admin/models_app/promotionrequest/", {
            "action": "approve", "_selected_action": [request.pk]})
        assert PromotionRequest.objects.get().status == "pending"


def test_a_direct_promotion_by_the_admin_button_is_refused(client, staged, release_manager):
    release_manager.is_staff = True
    release_manager.save()
    release_manager.user_permissions.add(*Permission.objects.filter(
        codename__in=["view_modelversion", "change_modelversion"]))
    client.force_login(release_manager)
    response = client.post(f"/admin/models_app/modelversion/{staged.pk}/transition/promote/",
                           {"reason": "now"}, follow=True)
    assert stage(staged) == "staging"
    assert b"four-eyes" in response.content
