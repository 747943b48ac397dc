"""transition_model_version_stage through Axion's lifecycle: the same FSM, gates, roles,
four-eyes rule, load check and audit trail (source "mlflow")."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException


def error_of(call, *args, **kwargs) -> MlflowException:
    with pytest.raises(MlflowException) as caught:
        call(*args, **kwargs)
    return caught.value


def transitions(api, **filters) -> list[tuple[str, str, str, str, str]]:
    query = "&".join(f"{key}={value}" for key, value in {"model": "ranking", **filters}.items())
    rows = api.get(f"/api/v1/transitions/?{query}").json()["results"]
    return [(r["version"], r["from_stage"], r["to_stage"], r["actor"], r["source"])
            for r in reversed(rows)]


def test_a_release_manager_promotes_through_staging_and_the_old_one_is_archived(
        client, api, as_user, release_manager, register_version):
    register_version("1.0.0")
    register_version("1.1.0")
    as_user(release_manager)
    client.transition_model_version_stage("ranking", "1", "Staging")
    client.transition_model_version_stage("ranking", "1", "Production")
    client.transition_model_version_stage("ranking", "2", "staging")
    moved = client.transition_model_version_stage("ranking", "2", "Production",
                                                  archive_existing_versions=True)
    assert (moved.version, moved.current_stage) == ("2", "Production")
    assert client.get_model_version("ranking", "1").current_stage == "Archived"
    assert transitions(api) == [
        ("1.0.0", "draft", "staging", "max_release", "mlflow"),
        ("1.0.0", "staging", "production", "max_release", "mlflow"),
        ("1.1.0", "draft", "staging", "max_release", "mlflow"),
        ("1.0.0", "production", "archived", "max_release", "mlflow"),
        ("1.1.0", "staging", "production", "max_release", "mlflow"),
    ]
    assert api.get("/api/v1/models/ranking/").json()["production_version"] == "1.1.0"


def test_a_researcher_may_stage_but_not_promote(client, api, register_version):
    register_version("1.0.0")
    client.transition_model_version_stage("ranking", "1", "Staging")
    error = error_of(client.transition_model_version_stage, "ranking", "1", "Production")
    assert error.error_code == "PERMISSION_DENIED"
    assert "release managers" in error.message
    assert api.get("/api/v1/models/ranking/versions/1.0.0/").json()["stage"] == "staging"
    assert transitions(api) == [("1.0.0", "draft", "staging", "rita_researcher", "mlflow")]


def test_a_refused_gate_answers_with_the_whole_gate_report(client, api, as_user,
                                                          release_manager, register_version,
                                                          registered_model):
    from models_app.services import model_update

    model_update(model=registered_model, gates={
        "load_check": False, "thresholds": [{"metric": "auc", "op": ">=", "value": 0.9}]})
    register_version("1.0.0", metrics={"auc": 0.75})
    as_user(release_manager)
    client.transition_model_version_stage("ranking", "1", "Staging")
    error = error_of(client.transition_model_version_stage, "ranking", "1", "Production")
    assert error.error_code == "INVALID_STATE"
    assert "may not enter production" in error.message and "Gate report:" in error.message
    assert "FAILED (wanted auc >= 0.9" in error.message
    assert "require_staging: passed" in error.message
    assert api.get("/api/v1/models/ranking/versions/1.0.0/").json()["stage"] == "staging"


def test_staging_waits_for_the_load_check_on_a_model_with_default_gates(client, api,
                                                                       register_version):
    client.create_registered_model("regime")
    register_version("1.0.0", model_name="regime")
    error = error_of(client.transition_model_version_stage, "regime", "1", "Staging")
    assert error.error_code == "INVALID_STATE"
    assert "load_check" in error.message
    assert api.get("/api/v1/models/regime/versions/1.0.0/").json()["stage"] == "draft"


def test_a_four_eyes_model_is_not_promoted_by_one_release_manager(client, as_user,
                                                                  release_manager,
                                                                  registered_model,
                                                                  register_version):
    from models_app.services import model_update

    model_update(model=registered_model, require_four_eyes=True)
    register_version("1.0.0")
    as_user(release_manager)
    client.transition_model_version_stage("ranking", "1", "Staging")
    error = error_of(client.transition_model_version_stage, "ranking", "1", "Production")
    assert error.error_code == "INVALID_STATE" and "promotion-requests" in error.message


def test_archive_existing_versions_sends_other_staging_versions_back_to_draft(
        client, api, register_version):
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        register_version(version)
    client.transition_model_version_stage("ranking", "1", "Staging")
    client.transition_model_version_stage("ranking", "2", "Staging")
    client.transition_model_version_stage("ranking", "3", "Staging",
                                          archive_existing_versions=True)
    stages = {v.version: v.current_stage for v in client.search_model_versions(
        "name = 'ranking'")}
    assert stages == {"1": "None", "2": "None", "3": "Staging"}
    rejects = api.get("/api/v1/transitions/?model=ranking&kind=reject").json()["results"]
    assert {r["version"] for r in rejects} == {"1.0.0", "1.1.0"}
    assert all("archive_existing_versions" in r["reason"] for r in rejects)
    error = error_of(client.transition_model_version_stage, "ranking", "3", "Archived",
                     archive_existing_versions=True)
    assert error.error_code == "INVALID_PARAMETER_VALUE"


def test_archiving_a_draft_deprecates_it_and_none_rejects_a_staging_version(
        client, api, register_version):
    register_version("1.0.0")
    register_version("1.1.0")
    archived = client.transition_model_version_stage("ranking", "1", "Archived")
    assert archived.current_stage == "Archived" and archived.tags["axion.stage"] == "deprecated"
    assert api.get("/api/v1/models/ranking/versions/1.0.0/").json()["stage"] == "deprecated"
    client.transition_model_version_stage("ranking", "2", "Staging")
    assert client.transition_model_version_stage("ranking", "2", "None").current_stage == "None"
    assert client.transition_model_version_stage("ranking", "2", "None").current_stage == "None"
    error = error_of(client.transition_model_version_stage, "ranking", "1", "Staging")
    assert error.error_code == "INVALID_STATE" and "deprecated" in error.message
    error = error_of(client.transition_model_version_stage, "ranking", "2", "Live")
    assert error.error_code == "INVALID_PARAMETER_VALUE" and "Production" in error.message


def test_a_production_version_does_not_go_back_to_none(client, as_user, release_manager,
                                                       register_version):
    register_version("1.0.0")
    as_user(release_manager)
    client.transition_model_version_stage("ranking", "1", "Staging")
    client.transition_model_version_stage("ranking", "1", "Production")
    error = error_of(client.transition_model_version_stage, "ranking", "1", "None")
    assert error.error_code == "INVALID_STATE" and "Archived" in error.message
