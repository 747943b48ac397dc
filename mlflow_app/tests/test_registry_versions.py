"""Model versions, tags, searches, aliases and deletion through the real MlflowClient, read
back through Axion's own API."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException


def error_of(call, *args, **kwargs) -> MlflowException:
    with pytest.raises(MlflowException) as caught:
        call(*args, **kwargs)
    return caught.value


def transitions_of(api, version: str) -> list[tuple[str, str, str]]:
    rows = api.get(f"/api/v1/transitions/?model=ranking&version={version}").json()["results"]
    return [(r["kind"], r["source"], r["actor"]) for r in rows]


@pytest.fixture
def three_versions(register_version):
    return [register_version("1.0.0", source_run_id="a" * 32, tags={"data": "2024"}),
            register_version("1.1.0", tags={"data": "2025"}),
            register_version("2.0.0", metrics={"auc": 0.8})]


def test_versions_speak_numbers_and_show_their_semver(client, api, three_versions):
    got = client.get_model_version("ranking", "2")
    assert (got.name, got.version, got.current_stage, got.status) == (
        "ranking", "2", "None", "READY")
    assert got.tags["axion.version"] == "1.1.0" and got.tags["data"] == "2025"
    assert got.tags["axion.stage"] == "draft"
    assert client.get_model_version("ranking", "1").run_id == "a" * 32
    assert api.get("/api/v1/models/ranking/versions/1.1.0/").json()["sequence"] == 2
    assert error_of(client.get_model_version, "ranking", "9").error_code == (
        "RESOURCE_DOES_NOT_EXIST")
    assert error_of(client.get_model_version, "ranking", "1.0.0").error_code == (
        "INVALID_PARAMETER_VALUE")


def test_update_model_version_and_its_tags_reach_axion(client, api, three_versions):
    updated = client.update_model_version("ranking", "1", description="first try")
    assert updated.description == "first try"
    client.set_model_version_tag("ranking", "1", "validated", "yes")
    client.delete_model_version_tag("ranking", "1", "data")
    body = api.get("/api/v1/models/ranking/versions/1.0.0/").json()
    assert (body["description"], body["tags"]) == ("first try", {"validated": "yes"})
    changes = api.get("/api/v1/model-changes/?model=ranking").json()["results"]
    assert {key for c in changes for key in c["changes"]} == {
        "version 1.0.0 description", "version 1.0.0 tags"}
    assert {c["actor"] for c in changes} == {"rita_researcher"}
    error = error_of(client.set_model_version_tag, "ranking", "1", "axion.version", "9")
    assert error.error_code == "INVALID_PARAMETER_VALUE"


def test_someone_without_a_role_on_the_model_may_not_tag_its_versions(client, as_user,
                                                                      make_user, api,
                                                                      three_versions):
    as_user(make_user("bob_other"))
    error = error_of(client.set_model_version_tag, "ranking", "1", "mine", "yes")
    assert error.error_code == "PERMISSION_DENIED"
    assert api.get("/api/v1/models/ranking/versions/1.0.0/").json()["tags"] == {"data": "2024"}


def test_search_model_versions_filters_orders_and_pages(client, three_versions):
    numbers = [v.version for v in client.search_model_versions("name = 'ranking'")]
    assert sorted(numbers) == ["1", "2", "3"]
    found = client.search_model_versions("name = 'ranking' AND version_number >= 2",
                                         order_by=["version_number ASC"])
    assert [v.version for v in found] == ["2", "3"]
    assert [v.version for v in client.search_model_versions(f"run_id = '{'a' * 32}'")] == [
        "1"]
    assert [v.version for v in client.search_model_versions("tags.data = '2025'")] == ["2"]
    assert [v.version for v in client.search_model_versions(
        "tags.`axion.version` = '2.0.0'")] == ["3"]
    first = client.search_model_versions("name = 'ranking'", max_results=2,
                                         order_by=["version_number DESC"])
    assert [v.version for v in first] == ["3", "2"] and first.token
    rest = client.search_model_versions("name = 'ranking'", max_results=2,
                                        order_by=["version_number DESC"],
                                        page_token=first.token)
    assert [v.version for v in rest] == ["1"] and not rest.token
    error = error_of(client.search_model_versions, "name = 'ranking' AND colour = 'red'")
    assert error.error_code == "INVALID_PARAMETER_VALUE" and "colour" in error.message


def test_only_a_release_manager_sets_an_alias(client, api, three_versions):
    error = error_of(client.set_registered_model_alias, "ranking", "champion", "2")
    assert error.error_code == "PERMISSION_DENIED" and "release managers" in error.message
    assert client.get_registered_model("ranking").aliases == {}


def test_aliases_point_at_versions_and_show_in_axion(client, api, as_user, release_manager,
                                                      three_versions):
    as_user(release_manager)
    client.set_registered_model_alias("ranking", "champion", "2")
    client.set_registered_model_alias("ranking", "challenger", "3")
    assert client.get_model_version_by_alias("ranking", "champion").version == "2"
    assert client.get_model_version("ranking", "2").aliases == ["champion"]
    model = client.get_registered_model("ranking")
    assert model.aliases == {"champion": "2", "challenger": "3"}
    client.set_registered_model_alias("ranking", "champion", "1")  # moved
    assert client.get_model_version_by_alias("ranking", "champion").version == "1"
    assert client.get_model_version_by_alias("ranking", "latest").version == "3"
    assert api.get("/api/v1/models/ranking/").json()["aliases"] == {
        "champion": "1.0.0", "challenger": "2.0.0"}
    changes = api.get("/api/v1/alias-changes/?model=ranking").json()["results"]
    assert [(c["alias"], c["source"], c["actor"]) for c in changes] == [
        ("champion", "mlflow", "max_release"), ("challenger", "mlflow", "max_release"),
        ("champion", "mlflow", "max_release")]
    client.delete_registered_model_alias("ranking", "challenger")
    error = error_of(client.get_model_version_by_alias, "ranking", "challenger")
    assert error.error_code == "INVALID_PARAMETER_VALUE"
    error = error_of(client.set_registered_model_alias, "ranking", "latest", "1")
    assert error.error_code == "INVALID_PARAMETER_VALUE" and "reserved" in error.message
    stages = [v["stage"] for v in api.get("/api/v1/models/ranking/versions/").json()["results"]]
    assert stages == ["draft"] * 3  # an alias never moves a stage


def test_get_latest_versions_per_stage(client, as_user, release_manager, three_versions):
    as_user(release_manager)
    client.transition_model_version_stage("ranking", "1", "Staging")
    client.transition_model_version_stage("ranking", "2", "Staging")
    latest = client.get_latest_versions("ranking", stages=["Staging"])
    assert [(v.version, v.current_stage) for v in latest] == [("2", "Staging")]
    every = client.get_latest_versions("ranking")
    assert sorted((v.current_stage, v.version) for v in every) == [
        ("None", "3"), ("Staging", "2")]
    assert error_of(client.get_latest_versions, "ranking", stages=["Live"]).error_code == (
        "INVALID_PARAMETER_VALUE")


def test_deleting_a_version_deprecates_it_in_axion_and_hides_it(client, api, as_user,
                                                               release_manager,
                                                               three_versions):
    client.delete_model_version("ranking", "1")
    as_user(release_manager)
    client.set_registered_model_alias("ranking", "candidate", "2")
    client.delete_model_version("ranking", "2")
    assert error_of(client.get_model_version, "ranking", "2").error_code == (
        "RESOURCE_DOES_NOT_EXIST")
    assert [v.version for v in client.search_model_versions("name = 'ranking'",
                                                            order_by=["version_number"])] == [
        "3"]
    assert client.get_registered_model("ranking").aliases == {}
    body = api.get("/api/v1/models/ranking/versions/1.1.0/").json()
    assert body["stage"] == "deprecated"
    moves = transitions_of(api, "1.0.0") + transitions_of(api, "1.1.0")
    assert moves == [("deprecate", "mlflow", "rita_researcher"),
                     ("deprecate", "mlflow", "max_release")]

    client.transition_model_version_stage("ranking", "3", "Staging")
    client.transition_model_version_stage("ranking", "3", "Production")
    error = error_of(client.delete_model_version, "ranking", "3")
    assert error.error_code == "INVALID_STATE" and "Archived" in error.message
    assert api.get("/api/v1/models/ranking/versions/2.0.0/").json()["stage"] == "production"
