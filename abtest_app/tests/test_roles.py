"""Who starts tests that touch production, who posts outcomes, outcome tokens, four-eyes."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from abtest_app import services
from abtest_app.errors import ABTestNotPermitted, OutcomesNotPermitted
from abtest_app.models import ABTest, Outcome, OutcomeToken
from abtest_app.tests.conftest import record, simulate
from conftest import _client_for
from models_app import services as registry
from models_app.models import ModelVersion, PromotionRequest, StageTransition

pytestmark = pytest.mark.django_db

ONE = {"outcomes": [{"unit_id": "u1", "value": 1.0}]}


def fresh(obj):
    return type(obj).objects.get(pk=obj.pk)


class TestStarting:
    def test_a_researcher_may_not_start_a_test_against_a_production_champion(
            self, make_test, researcher, api, champion):
        test = make_test()
        with pytest.raises(ABTestNotPermitted) as refused:
            services.abtest_start(test=test, actor=researcher)
        assert "release managers" in refused.value.message
        response = api.post(f"/api/v1/abtests/{test.pk}/start/")
        assert response.status_code == 403
        assert response.json()["code"] == "abtest_not_permitted"
        assert fresh(test).state == "draft"

    def test_a_release_manager_starts_it(self, make_test, manager_api):
        test = make_test()
        assert manager_api.post(f"/api/v1/abtests/{test.pk}/start/").json()["state"] == "running"

    def test_a_researcher_may_not_resume_a_paused_production_test(self, running_test,
                                                                  researcher):
        test = running_test()
        services.abtest_pause(test=test, actor=researcher)  # stopping traffic is fine
        with pytest.raises(ABTestNotPermitted):
            services.abtest_start(test=fresh(test), actor=researcher)
        assert fresh(test).state == "paused"

    def test_a_sandbox_test_is_started_by_its_creator_but_not_with_auto_promotion(
            self, register_version, researcher):
        registry.model_create(name="sandbox", owner=researcher, gates={})
        first = register_version("1.0.0", model_name="sandbox")
        second = register_version("1.1.0", model_name="sandbox")
        design = {"model": "sandbox", "champion": first, "challenger": second,
                  "metric_name": "m", "metric_type": "continuous", "created_by": researcher}
        auto = services.abtest_create(name="auto", auto_promote=True, **design)
        with pytest.raises(ABTestNotPermitted) as refused:
            services.abtest_start(test=auto, actor=researcher)
        assert "auto_promote" in refused.value.message
        plain = services.abtest_create(name="plain", **design)
        assert services.abtest_start(test=plain, actor=researcher).state == "running"


class TestOutcomes:
    def test_a_stranger_may_not_post_outcomes(self, running_test, make_user):
        test = running_test()
        stranger = make_user("sam_stranger")
        with pytest.raises(OutcomesNotPermitted):
            services.abtest_record_outcomes(test=test, outcomes=ONE["outcomes"], actor=stranger)
        response = _client_for(stranger).post(f"/api/v1/abtests/{test.pk}/outcomes/", ONE,
                                              format="json")
        assert response.status_code == 403
        body = response.json()
        assert body["code"] == "outcomes_not_permitted"
        assert "outcome token" in body["message"]
        assert not Outcome.objects.exists()

    @pytest.mark.parametrize("client", ["api", "manager_api"])
    def test_the_creator_and_release_managers_post(self, request, running_test, client):
        test = running_test()
        response = request.getfixturevalue(client).post(
            f"/api/v1/abtests/{test.pk}/outcomes/", ONE, format="json")
        assert response.status_code == 200 and response.json()["recorded"] == 1


class TestOutcomeTokens:
    def make_token(self, client, test) -> dict:
        response = client.post(f"/api/v1/abtests/{test.pk}/outcome-tokens/",
                               {"name": "label-service"}, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    def test_a_token_posts_outcomes_to_its_test_only(self, running_test, make_test, api,
                                                     release_manager):
        test = running_test()
        issued = self.make_token(api, test)
        assert issued["token"].startswith("axo_") and issued["created_by"] == "rita_researcher"
        service = APIClient()
        service.credentials(HTTP_AUTHORIZATION=f"OutcomeToken {issued['token']}")
        posted = service.post(f"/api/v1/abtests/{test.pk}/outcomes/", ONE, format="json")
        assert posted.status_code == 200 and posted.json()["recorded"] == 1
        other = make_test(name="other")
        refused = service.post(f"/api/v1/abtests/{other.pk}/outcomes/", ONE, format="json")
        assert refused.status_code == 403 and refused.json()["code"] == "outcomes_not_permitted"
        assert service.get("/api/v1/abtests/").status_code == 401
        assert service.post(f"/api/v1/abtests/{test.pk}/pause/").status_code == 401
        assert service.get("/api/v1/models/").status_code == 401

    def test_the_key_is_shown_once_and_stored_hashed(self, running_test, api):
        test = running_test()
        issued = self.make_token(api, test)
        listed = api.get(f"/api/v1/abtests/{test.pk}/outcome-tokens/").json()
        assert [t["name"] for t in listed] == ["label-service"]
        assert "token" not in listed[0] and listed[0]["prefix"] == issued["token"][:12]
        stored = OutcomeToken.objects.get()
        assert issued["token"] not in (stored.key_hash, stored.prefix)
        assert len(stored.key_hash) == 64

    def test_a_revoked_token_stops_working(self, running_test, api):
        test = running_test()
        issued = self.make_token(api, test)
        revoked = api.post(f"/api/v1/abtests/{test.pk}/outcome-tokens/{issued['id']}/revoke/")
        assert revoked.status_code == 200 and revoked.json()["active"] is False
        service = APIClient()
        service.credentials(HTTP_AUTHORIZATION=f"OutcomeToken {issued['token']}")
        response = service.post(f"/api/v1/abtests/{test.pk}/outcomes/", ONE, format="json")
        assert response.status_code == 401
        assert not Outcome.objects.exists()

    def test_only_the_creator_or_a_release_manager_makes_or_revokes_tokens(
            self, running_test, make_user, manager_api):
        test = running_test()
        stranger = _client_for(make_user("sam_stranger"))
        response = stranger.post(f"/api/v1/abtests/{test.pk}/outcome-tokens/",
                                 {"name": "mine"}, format="json")
        assert response.status_code == 403 and response.json()["code"] == "abtest_not_permitted"
        assert stranger.get(f"/api/v1/abtests/{test.pk}/outcome-tokens/").status_code == 403
        issued = self.make_token(manager_api, test)
        assert stranger.post(f"/api/v1/abtests/{test.pk}/outcome-tokens/{issued['id']}/revoke/"
                             ).status_code == 403
        assert OutcomeToken.objects.get().active


class TestFourEyesAutoPromotion:
    def test_a_win_on_a_four_eyes_model_files_a_request_instead_of_promoting(
            self, running_test, champion, challenger, release_manager,
            second_release_manager):
        registry.model_update(model=champion.model, actor=release_manager,
                              require_four_eyes=True)
        test = running_test(auto_promote=True, method="welch")
        record(test, simulate(test, 3000, champion_mean=1.0, challenger_mean=1.3))
        snapshot = services.abtest_evaluate(test_id=test.pk)
        test = fresh(test)
        assert test.promotion_status == snapshot.promotion_status == "requested"
        assert (fresh(champion).stage, fresh(challenger).stage) == ("production", "staging")
        request = PromotionRequest.objects.get()
        assert (request.version_id, request.status, request.requested_by.username,
                request.source) == (challenger.pk, "pending", "axion-system", f"abtest:{test.pk}")
        assert test.promotion_details == {"promotion_request_id": request.pk}
        registry.promotion_request_approve(request_id=request.pk, actor=second_release_manager)
        assert fresh(challenger).stage == "production"
        assert StageTransition.objects.get(version=challenger, kind="promote").actor == (
            second_release_manager)


def test_a_normal_user_cannot_replay_the_attack(api, champion,
                                                challenger):
    """Issue 10: register self-rated metrics, start an auto_promote test against production,
    post outcomes to it, and wait for the system user to promote."""
    created = api.post("/api/v1/abtests/", {
        "name": "sneaky", "model": "ranking", "champion": "1.0.0", "challenger": "1.1.0",
        "metric_name": "m", "metric_type": "continuous", "auto_promote": True}, format="json")
    assert created.status_code == 201  # a draft does nothing
    test_id = created.json()["id"]
    assert api.post(f"/api/v1/abtests/{test_id}/start/").status_code == 403
    assert ABTest.objects.get(pk=test_id).state == "draft"
    assert ModelVersion.objects.get(pk=challenger.pk).stage == "staging"
