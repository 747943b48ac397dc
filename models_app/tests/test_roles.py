"""Roles on the registry: who registers, who changes gates and metadata, who deprecates.

Named users: rita_researcher (no group), olga_owner (owns `regime`), paul_publisher
("model publishers"), max_release and rosa_release ("release managers").
"""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Permission

from conftest import _client_for
from models_app import roles, selectors, services
from models_app.errors import (
    ModelChangeNotPermitted,
    RegistrationNotPermitted,
    TransitionNotPermitted,
)
from models_app.models import ModelChange, ModelVersion, RegisteredModel, StageTransition

pytestmark = pytest.mark.django_db

GATES = {"required_metrics": ["auc"], "verify_artifact": True, "require_staging": True,
         "load_check": False}


@pytest.fixture
def regime(owner):
    return services.model_create(name="regime", owner=owner, gates=GATES,
                                 metric_directions={"rmse": "lower"})


@pytest.fixture
def register(regime, sklearn_pickle):
    def make(version: str, *, by=None, **fields):
        fields.setdefault("metrics", {"auc": 0.8})
        return services.version_register(
            model_name="regime", artifact=io.BytesIO(sklearn_pickle), version=version,
            framework="sklearn", artifact_format="pickle", created_by=by, **fields)

    return make


def upload(client, version: str, sklearn_pickle: bytes, metrics=None):
    stream = io.BytesIO(sklearn_pickle)
    stream.name = "model.pkl"
    import orjson

    metadata = {"version": version, "framework": "sklearn", "artifact_format": "pickle",
                "metrics": metrics or {"auc": 0.99}}
    return client.post("/api/v1/models/regime/versions/",
                       {"artifact": stream, "metadata": orjson.dumps(metadata).decode()},
                       format="multipart")


class TestRegistering:
    def test_a_researcher_may_not_register_versions_of_someone_elses_model(
            self, register, researcher, artifact_root):
        with pytest.raises(RegistrationNotPermitted) as refused:
            register("1.0.0", by=researcher)
        assert "owners" in refused.value.message and "model publishers" in refused.value.message
        assert not ModelVersion.objects.exists()
        assert not any(artifact_root.rglob("*.pkl"))

    def test_the_api_answers_403_naming_the_roles_and_keeps_nothing(
            self, regime, api, sklearn_pickle, artifact_root):
        response = upload(api, "1.0.0", sklearn_pickle)
        assert response.status_code == 403
        body = response.json()
        assert body["code"] == "registration_not_permitted"
        assert "release managers" in body["message"]
        assert not ModelVersion.objects.exists()
        assert not any(artifact_root.rglob("*"))

    @pytest.mark.parametrize("who", ["owner", "publisher", "release_manager"])
    def test_owners_publishers_and_release_managers_register(self, request, regime, who,
                                                             sklearn_pickle):
        user = request.getfixturevalue(who)
        response = upload(_client_for(user), "1.0.0", sklearn_pickle)
        assert response.status_code == 201, response.json()
        assert ModelVersion.objects.get().created_by == user

    def test_anyone_signed_in_creates_a_model_and_owns_it(self, api, anon_api):
        response = api.post("/api/v1/models/", {"name": "mine"}, format="json")
        assert response.status_code == 201
        assert (response.json()["owner"], response.json()["owners"]) == (
            "rita_researcher", ["rita_researcher"])
        assert anon_api.post("/api/v1/models/", {"name": "anon"}, format="json"
                             ).status_code == 401
        assert not RegisteredModel.objects.filter(name="anon").exists()


class TestOwnership:
    def test_an_owner_shares_the_model_with_a_teammate(self, regime, owner, researcher,
                                                       sklearn_pickle):
        client = _client_for(owner)
        response = client.post("/api/v1/models/regime/owners/", {"username": "rita_researcher"},
                               format="json")
        assert response.status_code == 200
        assert response.json()["owners"] == ["olga_owner", "rita_researcher"]
        assert upload(_client_for(researcher), "1.0.0", sklearn_pickle).status_code == 201
        change = ModelChange.objects.get(model=regime)
        assert change.actor == owner
        assert change.changes == {"owners": {"old": ["olga_owner"],
                                             "new": ["olga_owner", "rita_researcher"]}}

    def test_a_researcher_may_not_make_herself_an_owner(self, regime, api):
        response = api.post("/api/v1/models/regime/owners/", {"username": "rita_researcher"},
                            format="json")
        assert response.status_code == 403
        assert response.json()["code"] == "model_change_not_permitted"
        assert not roles.is_owner(api.user, RegisteredModel.objects.get(name="regime"))

    def test_a_removed_owner_loses_the_model(self, regime, owner, researcher, sklearn_pickle):
        services.model_owner_add(model=regime, username="rita_researcher", actor=owner)
        client = _client_for(owner)
        assert client.delete("/api/v1/models/regime/owners/rita_researcher/").json()[
            "owners"] == ["olga_owner"]
        assert upload(_client_for(researcher), "1.0.0", sklearn_pickle).status_code == 403

    def test_the_last_owner_stays_unless_a_release_manager_removes_them(
            self, regime, owner, release_manager):
        response = _client_for(owner).delete("/api/v1/models/regime/owners/olga_owner/")
        assert response.status_code == 400 and response.json()["code"] == "last_owner"
        services.model_owner_remove(model=regime, username="olga_owner", actor=release_manager)
        assert services.ownership.model_owners(RegisteredModel.objects.get(pk=regime.pk)) == []

    def test_the_first_owner_leaving_hands_the_model_to_a_co_owner(self, regime, owner,
                                                                   researcher):
        services.model_owner_add(model=regime, username="rita_researcher", actor=owner)
        services.model_owner_remove(model=regime, username="olga_owner", actor=owner)
        regime = RegisteredModel.objects.get(pk=regime.pk)
        assert regime.owner == researcher and not regime.co_owners.exists()


class TestGates:
    def test_a_researcher_may_not_empty_another_teams_gates(self, regime, api):
        response = api.patch("/api/v1/models/regime/", {"gates": {"verify_artifact": False}},
                             format="json")
        assert response.status_code == 403
        assert response.json()["code"] == "model_change_not_permitted"
        assert "owners or the 'release managers'" in response.json()["message"]
        assert RegisteredModel.objects.get(pk=regime.pk).gates["verify_artifact"] is True
        assert not ModelChange.objects.exists()

    def test_a_publisher_may_not_change_gates_or_directions(self, regime, publisher):
        for field, value in (("gates", {}), ("metric_directions", {"rmse": "higher"})):
            with pytest.raises(ModelChangeNotPermitted):
                services.model_update(model=regime, actor=publisher, **{field: value})
        regime.refresh_from_db()
        assert regime.metric_directions == {"rmse": "lower"} and regime.gates["required_metrics"]

    @pytest.mark.parametrize("who", ["owner", "release_manager"])
    def test_owners_and_release_managers_change_gates_audited_old_and_new(self, request,
                                                                          regime, who):
        user = request.getfixturevalue(who)
        before = dict(regime.gates)
        response = _client_for(user).patch("/api/v1/models/regime/", {
            "gates": {"required_metrics": []}, "metric_directions": {"rmse": "higher"}},
            format="json")
        assert response.status_code == 200, response.json()
        change = ModelChange.objects.get()
        assert (change.actor, change.source) == (user, "api")
        assert change.changes["gates"]["old"] == before
        assert change.changes["gates"]["new"]["required_metrics"] == []
        assert change.changes["metric_directions"] == {"old": {"rmse": "lower"},
                                                       "new": {"rmse": "higher"}}

    def test_the_model_changes_are_listed_and_read_only(self, regime, owner, api):
        services.model_update(model=regime, actor=owner, description="new words")
        listed = api.get("/api/v1/model-changes/", {"model": "regime", "field": "description"})
        assert listed.status_code == 200
        [row] = listed.json()["results"]
        assert (row["actor"], row["changes"]["description"]) == (
            "olga_owner", {"old": "", "new": "new words"})
        assert api.post("/api/v1/model-changes/", {}, format="json").status_code == 405
        assert api.get("/api/v1/model-changes/", {"model": "ranking"}).json()["count"] == 0

    def test_a_setting_without_a_rule_of_its_own_needs_an_owner_or_release_manager(
            self, regime, publisher, owner, release_manager):
        with pytest.raises(ModelChangeNotPermitted):
            roles.require_model_change(publisher, regime, ["require_signed_artifacts"])
        roles.require_model_change(owner, regime, ["require_signed_artifacts"])
        roles.require_model_change(release_manager, regime, ["require_signed_artifacts"])
        assert roles.is_owner_or_release_manager(owner, regime)
        assert not roles.is_owner_or_release_manager(publisher, regime)

    def test_a_no_op_change_is_not_recorded(self, regime, owner):
        services.model_update(model=regime, actor=owner, gates=regime.gates)
        assert not ModelChange.objects.exists()


class TestMetadata:
    def test_publishers_and_owners_describe_and_tag_a_researcher_may_not(
            self, regime, publisher, owner, researcher):
        services.model_update(model=regime, actor=publisher, description="by paul")
        services.model_update(model=regime, actor=owner, tags={"team": "macro"})
        with pytest.raises(ModelChangeNotPermitted):
            services.model_update(model=regime, actor=researcher, tags={"team": "mine"})
        regime.refresh_from_db()
        assert (regime.description, regime.tags) == ("by paul", {"team": "macro"})
        assert ModelChange.objects.count() == 2

    def test_only_a_release_manager_turns_four_eyes_on(self, regime, owner, release_manager):
        response = _client_for(owner).patch("/api/v1/models/regime/",
                                            {"require_four_eyes": True}, format="json")
        assert response.status_code == 403
        assert "release managers" in response.json()["message"]
        response = _client_for(release_manager).patch(
            "/api/v1/models/regime/", {"require_four_eyes": True}, format="json")
        assert response.json()["require_four_eyes"] is True
        assert ModelChange.objects.get().changes == {
            "require_four_eyes": {"old": False, "new": True}}

    def test_anonymous_requests_change_nothing(self, regime, anon_api):
        assert anon_api.patch("/api/v1/models/regime/", {"description": "x"},
                              format="json").status_code == 401
        assert anon_api.post("/api/v1/models/regime/owners/", {"username": "x"},
                             format="json").status_code == 401


class TestMoves:
    def test_a_researcher_may_not_submit_or_deprecate_another_teams_draft(self, register,
                                                                           api):
        register("1.0.0")
        for to in ("staging", "deprecated"):
            response = api.post("/api/v1/models/regime/versions/1.0.0/transition/",
                                {"to": to}, format="json")
            assert response.status_code == 403
            assert response.json()["code"] == "transition_not_permitted"
        assert ModelVersion.objects.get().stage == "draft"

    @pytest.mark.parametrize("who", ["owner", "publisher"])
    def test_owners_and_publishers_submit_reject_and_deprecate_drafts(self, request,
                                                                       register, who):
        user = request.getfixturevalue(who)
        version = register("1.0.0")
        services.version_transition(version=version, to="staging", actor=user)
        services.version_transition(version=version, to="draft", actor=user)
        services.version_transition(version=version, to="deprecated", actor=user)
        assert ModelVersion.objects.get().stage == "deprecated"

    def test_only_a_release_manager_deprecates_an_archived_version(self, register, owner,
                                                                   release_manager):
        first, second = register("1.0.0"), register("1.1.0")
        for version in (first, second):
            services.version_transition(version=version, to="staging", actor=owner)
            services.version_promote(version=version, actor=release_manager)
        archived = ModelVersion.objects.get(pk=first.pk)
        assert archived.stage == "archived"
        assert "deprecated" not in selectors.available_moves(version=archived, user=owner)
        with pytest.raises(TransitionNotPermitted) as refused:
            services.version_transition(version=archived, to="deprecated", actor=owner)
        assert "rollback" in refused.value.message
        assert "deprecated" in selectors.available_moves(version=archived, user=release_manager)
        services.version_transition(version=archived, to="deprecated", actor=release_manager)
        assert ModelVersion.objects.get(pk=first.pk).stage == "deprecated"

    def test_the_bulk_deprecation_refuses_all_when_one_is_archived(self, register, owner,
                                                                   release_manager):
        first, second = register("1.0.0"), register("1.1.0")
        services.version_transition(version=first, to="staging", actor=owner)
        services.version_promote(version=first, actor=release_manager)
        services.version_transition(version=second, to="staging", actor=owner)
        services.version_promote(version=second, actor=release_manager)
        draft = register("1.2.0")
        with pytest.raises(TransitionNotPermitted):
            services.versions_deprecate(versions=[draft, ModelVersion.objects.get(pk=first.pk)],
                                        actor=owner)
        assert ModelVersion.objects.get(pk=draft.pk).stage == "draft"

    def test_available_transitions_follow_the_role(self, register, api, owner):
        register("1.0.0")
        url = "/api/v1/models/regime/versions/1.0.0/"
        assert api.get(url).json()["available_transitions"] == []
        assert _client_for(owner).get(url).json()["available_transitions"] == [
            "deprecated", "staging"]


class TestAdmin:
    def login(self, client, user):
        user.is_staff = True
        user.save()
        user.user_permissions.add(*Permission.objects.filter(codename__in=[
            "view_modelversion", "change_modelversion", "view_registeredmodel",
            "change_registeredmodel", "view_modelchange", "view_stagetransition"]))
        client.force_login(user)

    def form(self, model: RegisteredModel, **changes) -> dict:
        import json

        data = {"description": model.description, "tags": json.dumps(model.tags),
                "metric_directions": json.dumps(model.metric_directions),
                "gates": json.dumps(model.gates)}
        return {**data, **changes}

    def test_a_researcher_cannot_change_gates_in_the_admin(self, client, regime, researcher):
        self.login(client, researcher)
        url = f"/admin/models_app/registeredmodel/{regime.pk}/change/"
        client.post(url, self.form(regime, gates='{"verify_artifact": false}'))
        assert RegisteredModel.objects.get(pk=regime.pk).gates["verify_artifact"] is True
        assert not ModelChange.objects.exists()

    def test_an_owners_admin_edit_goes_through_the_service_and_is_audited(self, client,
                                                                          regime, owner):
        self.login(client, owner)
        url = f"/admin/models_app/registeredmodel/{regime.pk}/change/"
        response = client.post(url, self.form(regime, gates='{"required_metrics": []}'))
        assert response.status_code == 302
        change = ModelChange.objects.get()
        assert (change.actor, change.source) == (owner, "admin")
        assert change.changes["gates"]["new"]["required_metrics"] == []
        page = client.get(f"/admin/models_app/modelchange/{change.pk}/change/").content
        assert b"required_metrics" in page and b'name="_save"' not in page

    def test_the_admin_offers_a_non_owner_no_transition_buttons(self, client, register,
                                                                researcher, owner):
        version = register("1.0.0")
        self.login(client, researcher)
        url = f"/admin/models_app/modelversion/{version.pk}/change/"
        assert b'value="submit"' not in client.get(url).content
        client.post(f"/admin/models_app/modelversion/{version.pk}/transition/submit/",
                    {"reason": "sneaky"})
        assert ModelVersion.objects.get().stage == "draft"
        assert not StageTransition.objects.exists()
        client.logout()
        self.login(client, owner)
        assert b'value="submit"' in client.get(url).content
