"""Registered models through the real MlflowClient, read back through Axion's own API."""

from __future__ import annotations

import io
import pickle

import pytest
import requests
from mlflow.exceptions import MlflowException

API = "/api/2.0/mlflow"


def error_of(call, *args, **kwargs) -> MlflowException:
    with pytest.raises(MlflowException) as caught:
        call(*args, **kwargs)
    return caught.value


def test_a_model_created_through_mlflow_is_an_axion_model_owned_by_its_creator(client, api):
    made = client.create_registered_model("churn", tags={"team": "risk"},
                                          description="Who leaves")
    assert (made.name, made.description, made.tags) == ("churn", "Who leaves", {"team": "risk"})
    body = api.get("/api/v1/models/churn/").json()
    assert (body["owner"], body["description"], body["tags"]) == (
        "rita_researcher", "Who leaves", {"team": "risk"})
    assert body["gates"]["load_check"] is True  # Axion's default gates apply


def test_creating_an_existing_name_is_resource_already_exists(client, registered_model):
    assert error_of(client.create_registered_model, "ranking").error_code == (
        "RESOURCE_ALREADY_EXISTS")


def test_a_name_that_is_not_a_slug_is_refused_with_a_suggestion(client, api):
    error = error_of(client.create_registered_model, "My Model")
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert "slug" in error.message and "'My-Model'" in error.message
    assert api.get("/api/v1/models/").json()["count"] == 0


def test_get_update_and_tags_read_back_through_axion(client, api, registered_model):
    client.update_registered_model("ranking", description="Ranks stocks daily")
    client.set_registered_model_tag("ranking", "team", "equities")
    client.set_registered_model_tag("ranking", "tier", "1")
    client.delete_registered_model_tag("ranking", "tier")
    got = client.get_registered_model("ranking")
    assert (got.description, got.tags) == ("Ranks stocks daily", {"team": "equities"})
    body = api.get("/api/v1/models/ranking/").json()
    assert (body["description"], body["tags"]) == ("Ranks stocks daily", {"team": "equities"})
    changes = api.get("/api/v1/model-changes/?model=ranking").json()["results"]
    assert {c["source"] for c in changes} == {"mlflow"}
    assert any("description" in c["changes"] for c in changes)


def test_axion_tags_are_read_only(client, registered_model):
    error = error_of(client.set_registered_model_tag, "ranking", "axion.stage", "x")
    assert error.error_code == "INVALID_PARAMETER_VALUE" and "read-only" in error.message


def test_only_owners_and_release_managers_change_a_model(client, as_user, make_user, api,
                                                         registered_model):
    as_user(make_user("bob_other"))
    error = error_of(client.update_registered_model, "ranking", description="mine now")
    assert error.error_code == "PERMISSION_DENIED"
    assert error_of(client.rename_registered_model, "ranking", "mine").error_code == (
        "PERMISSION_DENIED")
    assert api.get("/api/v1/models/ranking/").json()["description"] == "Stock ranking"


def test_rename_is_audited_and_the_old_name_is_gone(client, api, register_version):
    register_version("1.0.0")
    client.rename_registered_model("ranking", "ranking-v2")
    assert client.get_registered_model("ranking-v2").name == "ranking-v2"
    assert client.get_model_version("ranking-v2", "1").version == "1"
    assert error_of(client.get_registered_model, "ranking").error_code == (
        "RESOURCE_DOES_NOT_EXIST")
    assert api.get("/api/v1/models/ranking-v2/").status_code == 200
    changes = api.get("/api/v1/model-changes/?model=ranking-v2&field=name").json()["results"]
    assert changes[0]["changes"] == {"name": {"old": "ranking", "new": "ranking-v2"}}
    assert error_of(client.rename_registered_model, "ranking-v2", "bad name").error_code == (
        "INVALID_PARAMETER_VALUE")


def test_search_registered_models_filters_orders_and_pages(client, make_user):
    for name in ("alpha-rank", "beta-rank", "gamma-regime"):
        client.create_registered_model(name, tags={"kind": name.split("-")[1]})
    found = client.search_registered_models(filter_string="name LIKE '%-rank'")
    assert [m.name for m in found] == ["alpha-rank", "beta-rank"]
    found = client.search_registered_models(filter_string="tags.kind = 'regime'")
    assert [m.name for m in found] == ["gamma-regime"]
    found = client.search_registered_models(order_by=["name DESC"], max_results=2)
    assert [m.name for m in found] == ["gamma-regime", "beta-rank"]
    rest = client.search_registered_models(order_by=["name DESC"], max_results=2,
                                           page_token=found.token)
    assert [m.name for m in rest] == ["alpha-rank"] and not rest.token
    found = client.search_registered_models(filter_string="name ILIKE 'ALPHA%'")
    assert [m.name for m in found] == ["alpha-rank"]


def test_a_bad_filter_is_a_400_that_points_at_the_token(client, live_server, researcher,
                                                         token_for, registered_model):
    error = error_of(client.search_registered_models, filter_string="name = 'a' OR name = 'b'")
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    assert "position 11" in error.message and "'OR'" in error.message
    response = requests.get(f"{live_server.url}{API}/model-versions/search",
                            params={"filter": "version_number > 'x'"},
                            headers={"Authorization": f"Bearer {token_for(researcher)}"},
                            timeout=10)
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "version_number" in response.json()["message"]


def test_anonymous_registry_calls_get_401(live_server, registered_model):
    for method, path in [("GET", f"{API}/registered-models/get?name=ranking"),
                         ("POST", f"{API}/registered-models/create"),
                         ("POST", f"{API}/model-versions/transition-stage"),
                         ("DELETE", f"{API}/registered-models/delete")]:
        response = requests.request(method, f"{live_server.url}{path}", json={"name": "x"},
                                    timeout=10)
        assert response.status_code == 401, (path, response.text)
        assert response.json()["error_code"] == "UNAUTHENTICATED"
    assert requests.get(f"{live_server.url}/ajax-api/2.0/mlflow/registered-models/get",
                        params={"name": "ranking"}, timeout=10).status_code == 401


def test_deleting_a_model_keeps_it_in_axion_and_frees_the_name(client, api, as_user,
                                                               release_manager,
                                                               register_version):
    register_version("1.0.0")
    register_version("1.1.0")
    as_user(release_manager)
    client.transition_model_version_stage("ranking", "1", "Staging")
    client.transition_model_version_stage("ranking", "1", "Production")
    error = error_of(client.delete_registered_model, "ranking")
    assert error.error_code == "INVALID_STATE" and "Archived" in error.message
    client.transition_model_version_stage("ranking", "1", "Archived")
    client.delete_registered_model("ranking")

    assert error_of(client.get_registered_model, "ranking").error_code == (
        "RESOURCE_DOES_NOT_EXIST")
    assert [m.name for m in client.search_registered_models()] == []
    assert client.search_model_versions("name = 'ranking'") == []
    kept = api.get("/api/v1/models/").json()["results"]
    assert [m["name"] for m in kept] == [f"ranking-deleted-{kept[0]['name'].rsplit('-', 1)[1]}"]
    versions = api.get(f"/api/v1/models/{kept[0]['name']}/versions/").json()["results"]
    assert {v["stage"] for v in versions} == {"deprecated"}
    moves = api.get(f"/api/v1/transitions/?model={kept[0]['name']}&kind=deprecate").json()
    assert moves["count"] == 2 and {t["source"] for t in moves["results"]} == {"mlflow"}

    again = client.create_registered_model("ranking")
    assert again.latest_versions == []
    assert api.get("/api/v1/models/ranking/").json()["latest_version"] is None


def test_a_researcher_may_not_delete_someone_elses_model(client, as_user, make_user,
                                                        registered_model):
    as_user(make_user("bob_other"))
    assert error_of(client.delete_registered_model, "ranking").error_code == (
        "PERMISSION_DENIED")
    as_user(registered_model.owner)
    assert client.get_registered_model("ranking").name == "ranking"


def test_a_new_model_under_a_former_name_never_overwrites_the_old_files(client,
                                                                        register_version):
    from models_app.selectors import version_artifact_intact

    old = register_version("1.0.0")
    client.rename_registered_model("ranking", "ranking-old")
    client.create_registered_model("ranking")
    new = register_version("1.0.0", artifact=io.BytesIO(pickle.dumps({"weights": [1, 2, 3]})))
    assert old.artifact_path.startswith("ranking/1.0.0/")
    assert new.artifact_path.startswith(f"ranking.{new.model_id}/1.0.0/")
    old.refresh_from_db()
    assert version_artifact_intact(version=old) and version_artifact_intact(version=new)
    assert old.artifact_sha256 != new.artifact_sha256


def test_a_page_of_models_or_versions_costs_a_constant_number_of_queries(
        register_version, django_assert_max_num_queries, make_user):
    from mlflow_app import registry_selectors as selectors
    from models_app.services import model_create

    for index in range(6):
        model_create(name=f"model-{index}", gates={"load_check": False})
        for version in ("1.0.0", "1.1.0"):
            register_version(version, model_name=f"model-{index}")
    with django_assert_max_num_queries(6):
        found = selectors.models_search(filter_string="name LIKE 'model-%'", order_by=[],
                                        offset=0, limit=100)
        answers = selectors.models_answer(found)
    assert len(answers) == 6 and all(len(a["latest_versions"]) == 1 for a in answers)
    with django_assert_max_num_queries(3):
        found = selectors.versions_search(filter_string="version_number >= 1", order_by=[],
                                          offset=0, limit=100)
        answers = selectors.versions_answer(found)
    assert len(answers) == 12


def test_a_version_search_leaves_the_large_json_columns_unread(
        register_version, django_assert_max_num_queries):
    from mlflow_app import registry_selectors as selectors
    from models_app.services import model_create

    model_create(name="wide", gates={"load_check": False})
    register_version("1.0.0", model_name="wide", metrics={"auc": 0.9})
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        found = selectors.versions_search(filter_string="name = 'wide'", order_by=[],
                                          offset=0, limit=10)
    (search,) = queries.captured_queries
    for column in ("signature", "input_example", "metrics", "load_check", "hyperparameters"):
        assert f'"model_versions"."{column}"' not in search["sql"], column
    with django_assert_max_num_queries(1):  # aliases; nothing re-reads a version
        answers = selectors.versions_answer(found)
    assert answers[0]["name"] == "wide" and answers[0]["version"] == "1"


@pytest.mark.parametrize("microsecond", [0, 999, 123000, 123999, 999999])
def test_version_timestamps_are_the_milliseconds_of_axion_times_whatever_the_fraction(
        register_version, release_manager, microsecond):
    from datetime import UTC, datetime

    from mlflow_app import registry_selectors as selectors
    from mlflow_app.shapes import to_ms
    from models_app.models import ModelVersion, StageTransition
    from models_app.services import model_create

    model_create(name="clock", gates={"load_check": False})
    version = register_version("1.0.0", model_name="clock")
    created = datetime(2026, 3, 9, 23, 59, 58, microsecond, tzinfo=UTC)
    ModelVersion.objects.filter(pk=version.pk).update(created_at=created)
    answer = selectors.versions_answer(selectors.versions_search(
        filter_string="name = 'clock'", order_by=[], offset=0, limit=10))[0]
    assert answer["creation_timestamp"] == answer["last_updated_timestamp"] == to_ms(created)
    moved = datetime(2031, 1, 1, 0, 0, 0, 999999 - microsecond, tzinfo=UTC)
    StageTransition.objects.create(model=version.model, version=version, kind="promote",
                                   from_stage="draft", to_stage="staging", created_at=moved)
    StageTransition.objects.filter(version=version).update(created_at=moved)
    answer = selectors.version_answer(version)
    assert answer["creation_timestamp"] == to_ms(created)
    assert answer["last_updated_timestamp"] == to_ms(moved)
