import pytest

from models_app.models import ModelVersion, StageTransition

pytestmark = pytest.mark.django_db


def stage(version):
    return ModelVersion.objects.get(model__name="ranking", version=version).stage


@pytest.fixture
def staged(register_version, researcher):
    from models_app import services

    version = register_version("1.0.0")
    services.version_transition(version=version, to="staging", actor=researcher)
    return version


def transition(client, version, to, reason=""):
    return client.post(f"/api/v1/models/ranking/versions/{version}/transition/",
                       {"to": to, "reason": reason}, format="json")


def test_a_release_manager_promotes_through_the_api(manager_api, staged):
    response = transition(manager_api, "1.0.0", "production", "weekly release")
    assert response.status_code == 200, response.content
    assert response.json()["kind"] == "promote"
    assert response.json()["reason"] == "weekly release"
    assert stage("1.0.0") == "production"


def test_a_researcher_gets_a_403_and_nothing_changes(api, staged):
    response = transition(api, "1.0.0", "production", "ship it")
    assert response.status_code == 403
    assert response.json()["code"] == "promotion_not_permitted"
    assert stage("1.0.0") == "staging"
    assert api.post("/api/v1/models/ranking/rollback/", {"reason": "bad fills"},
                    format="json").status_code == 403


def test_a_refused_gate_is_a_409_with_the_report(manager_api, register_version,
                                                  registered_model):
    from models_app import services

    services.model_update(model=registered_model,
                          gates={"thresholds": [{"metric": "auc", "op": ">=", "value": 0.9}],
                                 "load_check": False})
    register_version("1.0.0", metrics={"auc": 0.75})
    response = transition(manager_api, "1.0.0", "production", "weekly release")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "gate_refused"
    assert {"gate": "threshold:auc", "passed": False, "wanted": "auc >= 0.9",
            "got": "auc = 0.75"} in body["details"]["gate_report"]
    assert "auc >= 0.9" in body["message"]


def test_an_impossible_move_is_a_409(manager_api, register_version):
    register_version("1.0.0")
    response = transition(manager_api, "1.0.0", "archived")
    assert (response.status_code, response.json()["code"]) == (409, "transition_refused")


def test_an_unknown_stage_is_a_400(manager_api, register_version):
    register_version("1.0.0")
    assert transition(manager_api, "1.0.0", "live").status_code == 400


def test_the_detail_lists_the_moves_the_user_may_take(api, manager_api, staged):
    assert api.get("/api/v1/models/ranking/versions/1.0.0/").json()[
        "available_transitions"] == ["deprecated", "draft"]
    assert manager_api.get("/api/v1/models/ranking/versions/1.0.0/").json()[
        "available_transitions"] == ["deprecated", "draft", "production"]


def test_the_gate_report_can_be_read_before_promoting(api, staged):
    body = api.get("/api/v1/models/ranking/versions/1.0.0/gates/").json()
    assert body["passed"] is True
    assert [g["gate"] for g in body["gates"]] == ["require_staging", "verify_artifact"]


def test_rollback_through_the_api(manager_api, register_version, release_manager):
    from models_app import services

    for number in ("1.0.0", "2.0.0"):
        version = register_version(number)
        services.version_transition(version=version, to="staging", actor=release_manager)
        services.version_promote(version=version, actor=release_manager)
    response = manager_api.post("/api/v1/models/ranking/rollback/", {"reason": "bad fills"},
                                format="json")
    assert response.status_code == 200
    assert (response.json()["version"], response.json()["kind"]) == ("1.0.0", "rollback")
    again = manager_api.post("/api/v1/models/ranking/rollback/", {"reason": "still bad"},
                             format="json")
    assert again.status_code == 409
    assert "no earlier production version" in again.json()["message"]


def test_gates_are_editable_through_the_api(manager_api, registered_model):
    response = manager_api.patch("/api/v1/models/ranking/", {"gates": {
        "required_metrics": ["auc"], "require_staging": False}}, format="json")
    assert response.status_code == 200
    assert response.json()["gates"]["required_metrics"] == ["auc"]
    bad = manager_api.patch("/api/v1/models/ranking/", {"gates": {"thresholds": "high"}},
                            format="json")
    assert bad.status_code == 400


class TestAdmin:
    @pytest.fixture
    def staff_researcher(self, researcher):
        """Staff, and the owner of `ranking`: she may reject its versions, not promote them."""
        return researcher

    def login(self, client, user):
        from django.contrib.auth.models import Permission

        user.is_staff = True
        user.save()
        user.user_permissions.add(*Permission.objects.filter(
            codename__in=["view_modelversion", "change_modelversion", "view_registeredmodel",
                          "change_registeredmodel", "view_stagetransition"]))
        client.force_login(user)
        return client

    def test_the_admin_lists_and_searches_versions(self, client, release_manager,
                                                   register_version):
        register_version("1.0.0")
        self.login(client, release_manager)
        response = client.get("/admin/models_app/modelversion/?q=ranking&stage__exact=draft")
        assert response.status_code == 200
        assert b"1.0.0" in response.content

    def test_the_promote_button_is_offered_only_with_the_permission(
            self, client, release_manager, staff_researcher, staged):
        url = f"/admin/models_app/modelversion/{staged.pk}/change/"
        self.login(client, staff_researcher)
        page = client.get(url).content
        assert b'value="reject"' in page  # the buttons are there, but not this one
        assert b'value="promote"' not in page
        client.logout()
        self.login(client, release_manager)
        assert b'value="promote"' in client.get(url).content

    def test_a_promotion_in_the_admin_goes_through_the_service(self, client, release_manager,
                                                               staged):
        self.login(client, release_manager)
        url = f"/admin/models_app/modelversion/{staged.pk}/transition/promote/"
        response = client.post(url, {"reason": "promoted by hand"})
        assert response.status_code == 302
        assert stage("1.0.0") == "production"
        record = StageTransition.objects.get(kind="promote")
        assert (record.actor, record.reason, record.source) == (
            release_manager, "promoted by hand", "admin")
        assert record.gate_report  # gates ran

    def test_the_admin_refuses_a_promotion_without_the_permission(
            self, client, staff_researcher, staged):
        self.login(client, staff_researcher)
        url = f"/admin/models_app/modelversion/{staged.pk}/transition/promote/"
        client.post(url, {"reason": "sneaky"})
        assert stage("1.0.0") == "staging"
        assert not StageTransition.objects.filter(kind="promote").exists()

    def test_a_gate_refusal_in_the_admin_shows_the_report(self, client, release_manager,
                                                          register_version):
        version = register_version("1.0.0")  # still draft: require_staging fails
        self.login(client, release_manager)
        url = f"/admin/models_app/modelversion/{version.pk}/transition/promote/"
        response = client.post(url, {"reason": "skip staging"}, follow=True)
        assert stage("1.0.0") == "draft"
        assert b"require_staging" in response.content

    def test_bulk_deprecation(self, client, release_manager, register_version):
        versions = [register_version(v) for v in ("1.0.0", "1.1.0")]
        self.login(client, release_manager)
        client.post("/admin/models_app/modelversion/", {
            "action": "deprecate_selected", "_selected_action": [v.pk for v in versions]})
        assert {stage("1.0.0"), stage("1.1.0")} == {"deprecated"}
        assert StageTransition.objects.filter(kind="deprecate").count() == 2

    def test_the_audit_trail_is_read_only_in_the_admin(self, client, release_manager, staged):
        self.login(client, release_manager)
        record = StageTransition.objects.get()
        response = client.post(f"/admin/models_app/stagetransition/{record.pk}/change/",
                               {"reason": "rewritten"})
        record.refresh_from_db()
        assert record.reason == ""
        assert response.status_code in (302, 403, 200)
        assert client.get("/admin/models_app/stagetransition/add/").status_code == 403
