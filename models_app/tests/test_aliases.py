"""Aliases: named pointers at versions, set by release managers, audited, announced."""

import pytest
from django.db import IntegrityError, transaction

from models_app import selectors, services
from models_app.errors import AliasNotFound, AliasNotPermitted, InvalidAlias
from models_app.models import AliasChange, ModelAlias
from models_app.signals import alias_changed


@pytest.fixture
def versions(register_version, registered_model):
    return [register_version("1.0.0"), register_version("1.1.0")]


@pytest.fixture
def announced():
    received = []

    def listen(sender, signal, **kwargs):
        received.append(kwargs)

    alias_changed.connect(listen, dispatch_uid="test_aliases.listen")
    yield received
    alias_changed.disconnect(dispatch_uid="test_aliases.listen")


def test_a_release_manager_sets_an_alias_and_it_is_audited_and_announced_after_commit(
        versions, registered_model, release_manager, announced,
        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        row = services.alias_set(model=registered_model, alias="champion", version=versions[0],
                                 actor=release_manager, reason="best auc")
        assert announced == []  # not before the commit
    assert row.version == versions[0] and row.set_by == release_manager
    change = AliasChange.objects.get()
    assert (change.alias, change.from_version, change.to_version, change.actor, change.reason,
            change.source) == ("champion", None, versions[0], release_manager, "best auc", "api")
    assert announced == [{"model_name": "ranking", "alias": "champion", "from_version": None,
                          "to_version": "1.0.0", "to_sequence": 1,
                          "actor_id": release_manager.pk, "source": "api",
                          "change_id": change.pk}]


def test_moving_an_alias_records_where_it_came_from_and_setting_it_again_changes_nothing(
        versions, registered_model, release_manager):
    services.alias_set(model=registered_model, alias="champion", version=versions[0],
                       actor=release_manager)
    services.alias_set(model=registered_model, alias="champion", version=versions[1],
                       actor=release_manager, source="mlflow")
    services.alias_set(model=registered_model, alias="champion", version=versions[1],
                       actor=release_manager)
    assert ModelAlias.objects.get().version == versions[1]
    moves = list(AliasChange.objects.order_by("id").values_list(
        "from_version__version", "to_version__version", "source"))
    assert moves == [(None, "1.0.0", "api"), ("1.0.0", "1.1.0", "mlflow")]


def test_deleting_an_alias_keeps_an_audit_row_pointing_nowhere(
        versions, registered_model, release_manager, announced,
        django_capture_on_commit_callbacks):
    services.alias_set(model=registered_model, alias="champion", version=versions[0],
                       actor=release_manager)
    with django_capture_on_commit_callbacks(execute=True):
        services.alias_delete(model=registered_model, alias="champion", actor=release_manager)
    assert not ModelAlias.objects.exists()
    last = AliasChange.objects.order_by("-id").first()
    assert (last.from_version, last.to_version) == (versions[0], None)
    assert announced[-1]["to_version"] is None and announced[-1]["from_version"] == "1.0.0"
    with pytest.raises(AliasNotFound):
        services.alias_delete(model=registered_model, alias="champion", actor=release_manager)


@pytest.mark.parametrize("who", ["researcher", "owner_of_ranking", "publisher", "anonymous"])
def test_only_release_managers_may_set_or_delete_an_alias(
        who, versions, registered_model, researcher, publisher, release_manager):
    from django.contrib.auth.models import AnonymousUser

    services.alias_set(model=registered_model, alias="champion", version=versions[0],
                       actor=release_manager)
    actor = {"researcher": researcher, "owner_of_ranking": registered_model.owner,
             "publisher": publisher, "anonymous": AnonymousUser()}[who]
    with pytest.raises(AliasNotPermitted, match="release managers"):
        services.alias_set(model=registered_model, alias="champion", version=versions[1],
                           actor=actor)
    with pytest.raises(AliasNotPermitted):
        services.alias_set(model=registered_model, alias="new", version=versions[1],
                           actor=actor)
    with pytest.raises(AliasNotPermitted):
        services.alias_delete(model=registered_model, alias="champion", actor=actor)
    assert selectors.alias_map(model=registered_model) == {"champion": "1.0.0"}
    assert AliasChange.objects.count() == 1


@pytest.mark.parametrize("name", ["latest", "LATEST", "v1", "V12", "has space", "", "a/b",
                                  "é", "x" * 256])
def test_it_refuses_names_mlflow_refuses(name, versions, registered_model):
    with pytest.raises(InvalidAlias):
        services.alias_set(model=registered_model, alias=name, version=versions[0], actor=None)
    assert not ModelAlias.objects.exists()


@pytest.mark.parametrize("name", ["champion", "Challenger_2", "v1a", "version2", "a-b", "x" * 255])
def test_it_accepts_letters_digits_underscores_and_dashes(name, versions, registered_model):
    services.alias_set(model=registered_model, alias=name, version=versions[0], actor=None)
    assert selectors.version_by_alias(model=registered_model, alias=name) == versions[0]


def test_an_alias_points_only_at_a_version_of_its_own_model(
        versions, registered_model, register_version):
    services.model_create(name="regime")
    other = register_version(model_name="regime")
    with pytest.raises(InvalidAlias, match="not a version of ranking"):
        services.alias_set(model=registered_model, alias="champion", version=other, actor=None)


def test_setting_an_alias_never_changes_a_stage(versions, registered_model, release_manager):
    services.alias_set(model=registered_model, alias="champion", version=versions[0],
                       actor=release_manager)
    versions[0].refresh_from_db()
    assert versions[0].stage == "draft"
    assert not versions[0].transitions.exists()


def test_the_selectors_read_aliases_by_model_and_by_version(versions, registered_model):
    services.alias_set(model=registered_model, alias="champion", version=versions[1], actor=None)
    services.alias_set(model=registered_model, alias="b", version=versions[1], actor=None)
    services.alias_set(model=registered_model, alias="old", version=versions[0], actor=None)
    assert selectors.alias_map(model=registered_model) == {
        "b": "1.1.0", "champion": "1.1.0", "old": "1.0.0"}
    assert [a.name for a in selectors.alias_list(model=registered_model)] == [
        "b", "champion", "old"]
    assert selectors.version_aliases(version=versions[1]) == ["b", "champion"]
    assert selectors.aliases_by_model(models=[registered_model.pk]) == {
        versions[0].pk: ["old"], versions[1].pk: ["b", "champion"]}
    assert selectors.aliases_by_model(models=[registered_model.pk + 1]) == {}
    with pytest.raises(AliasNotFound, match="no alias 'nope'"):
        selectors.version_by_alias(model=registered_model, alias="nope")


def test_the_database_keeps_alias_names_unique_per_model(versions, registered_model):
    services.alias_set(model=registered_model, alias="champion", version=versions[0], actor=None)
    row = ModelAlias.objects.get()
    row.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        row.save()


# -- the REST API ------------------------------------------------------------------------

ALIAS_URL = "/api/v1/models/ranking/aliases/champion/"


def test_a_release_manager_sets_an_alias_by_version_or_number_and_reads_it_back(
        versions, manager_api):
    answer = manager_api.put(ALIAS_URL, {"version": "1.0.0", "reason": "best auc"},
                             format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json() | {"set_at": None} == {
        "model": "ranking", "alias": "champion", "version": "1.0.0", "sequence": 1,
        "stage": "draft", "set_by": "max_release", "set_at": None}
    moved = manager_api.put(ALIAS_URL, {"sequence": 2}, format="json")
    assert moved.json()["version"] == "1.1.0"
    assert manager_api.get(ALIAS_URL).json()["version"] == "1.1.0"
    assert [a["alias"] for a in manager_api.get("/api/v1/models/ranking/aliases/").json()] == [
        "champion"]
    trail = manager_api.get("/api/v1/alias-changes/?model=ranking&alias=champion").json()
    assert [(c["from_version"], c["to_version"], c["reason"], c["actor"])
            for c in trail["results"]] == [("1.0.0", "1.1.0", "", "max_release"),
                                          (None, "1.0.0", "best auc", "max_release")]


def test_version_and_model_answers_show_the_aliases(versions, api, registered_model):
    services.alias_set(model=registered_model, alias="champion", version=versions[1], actor=None)
    services.alias_set(model=registered_model, alias="shadow", version=versions[1], actor=None)
    detail = api.get("/api/v1/models/ranking/versions/1.1.0/").json()
    assert detail["aliases"] == ["champion", "shadow"] and detail["sequence"] == 2
    assert api.get("/api/v1/models/ranking/versions/1.0.0/").json()["aliases"] == []
    assert api.get("/api/v1/models/ranking/").json()["aliases"] == {
        "champion": "1.1.0", "shadow": "1.1.0"}
    listed = api.get("/api/v1/models/").json()["results"]
    assert listed[0]["aliases"] == {"champion": "1.1.0", "shadow": "1.1.0"}
    rows = api.get("/api/v1/models/ranking/versions/").json()["results"]
    assert sorted(r["sequence"] for r in rows) == [1, 2]


def test_versions_filter_by_sequence_and_alias(versions, api, registered_model):
    services.alias_set(model=registered_model, alias="champion", version=versions[0], actor=None)
    by_number = api.get("/api/v1/models/ranking/versions/?sequence=2").json()["results"]
    assert [r["version"] for r in by_number] == ["1.1.0"]
    by_alias = api.get("/api/v1/versions/?alias=champion").json()["results"]
    assert [r["version"] for r in by_alias] == ["1.0.0"]
    bad = api.get("/api/v1/models/ranking/versions/?sequence=two")
    assert bad.status_code == 400 and "sequence" in bad.json()["message"]


@pytest.mark.parametrize("body, status, code", [
    ({}, 400, "invalid"),
    ({"version": "1.0.0", "sequence": 1}, 400, "invalid"),
    ({"sequence": 0}, 400, "invalid"),
    ({"version": "9.9.9"}, 404, "version_not_found"),
    ({"sequence": 7}, 404, "version_not_found"),
])
def test_a_bad_put_answers_a_json_error_and_sets_nothing(body, status, code, versions,
                                                          manager_api):
    answer = manager_api.put(ALIAS_URL, body, format="json")
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert answer.json()["message"]
    assert not ModelAlias.objects.exists()


def test_a_reserved_name_or_unknown_model_is_refused_with_a_reason(versions, manager_api):
    answer = manager_api.put("/api/v1/models/ranking/aliases/latest/", {"version": "1.0.0"},
                             format="json")
    assert (answer.status_code, answer.json()["code"]) == (400, "invalid_alias")
    assert "reserved" in answer.json()["message"]
    missing = manager_api.put("/api/v1/models/nope/aliases/champion/", {"version": "1.0.0"},
                              format="json")
    assert (missing.status_code, missing.json()["code"]) == (404, "model_not_found")


def test_signed_in_users_who_are_not_release_managers_change_no_alias(
        versions, api, anon_api, registered_model):
    services.alias_set(model=registered_model, alias="champion", version=versions[0], actor=None)
    refused = api.put(ALIAS_URL, {"version": "1.1.0"}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "alias_not_permitted")
    assert "release managers" in refused.json()["message"]
    assert api.delete(ALIAS_URL).status_code == 403
    assert anon_api.put(ALIAS_URL, {"version": "1.1.0"}, format="json").status_code == 401
    assert anon_api.get(ALIAS_URL).status_code == 401
    assert api.get(ALIAS_URL).json()["version"] == "1.0.0"  # reading is for anyone signed in
    assert AliasChange.objects.count() == 1


def test_deleting_an_alias_answers_204_and_then_404(versions, manager_api, registered_model):
    services.alias_set(model=registered_model, alias="champion", version=versions[0], actor=None)
    assert manager_api.delete(ALIAS_URL, {"reason": "retired"}, format="json").status_code == 204
    gone = manager_api.get(ALIAS_URL)
    assert (gone.status_code, gone.json()["code"]) == (404, "alias_not_found")
    assert manager_api.delete(ALIAS_URL).status_code == 404
    last = AliasChange.objects.order_by("-id").first()
    assert (last.to_version, last.reason, last.actor.username) == (None, "retired", "max_release")


# -- the admin ---------------------------------------------------------------------------

def _admin_login(client, user):
    from django.contrib.auth.models import Permission

    user.is_staff = True
    user.save()
    user.user_permissions.add(*Permission.objects.filter(codename__in=[
        "view_modelversion", "change_modelversion", "view_modelalias", "view_aliaschange",
        "view_registeredmodel"]))
    client.force_login(user)


def test_a_release_manager_sets_and_deletes_an_alias_in_the_admin_through_the_service(
        client, versions, release_manager, registered_model):
    _admin_login(client, release_manager)
    client.post("/admin/models_app/modelversion/", {
        "action": "alias_set", "_selected_action": [versions[1].pk], "alias": "champion",
        "reason": "from the admin"})
    assert selectors.alias_map(model=registered_model) == {"champion": "1.1.0"}
    change = AliasChange.objects.get()
    assert (change.source, change.reason, change.actor) == ("admin", "from the admin",
                                                            release_manager)
    page = client.get(f"/admin/models_app/registeredmodel/{registered_model.pk}/change/")
    assert b"champion" in page.content
    client.post("/admin/models_app/modelalias/", {
        "action": "alias_delete", "_selected_action": [ModelAlias.objects.get().pk]})
    assert not ModelAlias.objects.exists()
    assert AliasChange.objects.order_by("-id").first().to_version is None


def test_the_admin_offers_no_alias_action_to_others_and_keeps_the_audit_read_only(
        client, versions, researcher, registered_model):
    services.alias_set(model=registered_model, alias="champion", version=versions[0], actor=None)
    _admin_login(client, researcher)
    client.post("/admin/models_app/modelversion/", {
        "action": "alias_set", "_selected_action": [versions[1].pk], "alias": "champion"})
    assert selectors.alias_map(model=registered_model) == {"champion": "1.0.0"}
    change = AliasChange.objects.get()
    client.post(f"/admin/models_app/aliaschange/{change.pk}/change/", {"reason": "edited"})
    change.refresh_from_db()
    assert change.reason == ""


# -- the Python client, against a live server ---------------------------------------------

def test_the_client_sets_lists_and_deletes_aliases_and_reads_their_audit(
        live_server, versions, release_manager, researcher):
    from rest_framework.authtoken.models import Token

    from axion_client import AxionAPIError, AxionClient

    manager = AxionClient(live_server.url, Token.objects.create(user=release_manager).key)
    other = AxionClient(live_server.url, Token.objects.create(user=researcher).key)
    try:
        assert manager.set_alias("ranking", "champion", version="1.0.0")["sequence"] == 1
        assert manager.set_alias("ranking", "champion", sequence=2,
                                 reason="moved")["version"] == "1.1.0"
        with pytest.raises(AxionAPIError) as refused:
            other.set_alias("ranking", "champion", version="1.0.0")
        assert (refused.value.status, refused.value.code) == (403, "alias_not_permitted")
        assert [(a["alias"], a["version"]) for a in other.list_aliases("ranking")] == [
            ("champion", "1.1.0")]
        manager.delete_alias("ranking", "champion", reason="retired")
        assert other.list_aliases("ranking") == []
        trail = other.list_alias_changes(model="ranking")
        assert [(c["from_version"], c["to_version"], c["reason"]) for c in trail] == [
            ("1.1.0", None, "retired"), ("1.0.0", "1.1.0", "moved"), (None, "1.0.0", "")]
    finally:
        manager.session.close()
        other.session.close()
