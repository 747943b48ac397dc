"""Lineage: a version registered from a run's artifact, seen from both sides."""

import pathlib

import pytest

from models_app.models import ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def trained_run(api, start_run, log_batch, sklearn_pickle):
    from io import BytesIO

    run_id = start_run("ranking-exp", params={"C": "1.0", "penalty": "l2"})["run_id"]
    log_batch(run_id, metrics=[
        {"key": "auc", "value": 0.70, "step": 0}, {"key": "auc", "value": 0.78, "step": 1},
        {"key": "rmse", "value": 0.05, "step": 1}, {"key": "diverged", "value": "NaN"},
    ])
    stream = BytesIO(sklearn_pickle)
    stream.name = "model.pkl"
    response = api.post(f"/api/v1/runs/{run_id}/artifacts/",
                        {"file": stream, "path": "model/model.pkl"}, format="multipart")
    assert response.status_code == 201
    return run_id


def register(api, run_id, **fields):
    body = {"model": "ranking", "artifact_path": "model/model.pkl", "framework": "sklearn",
            "artifact_format": "pickle", **fields}
    return api.post(f"/api/v1/runs/{run_id}/register-version/", body, format="json")


def test_a_version_registered_from_a_run_keeps_its_lineage(api, registered_model, trained_run,
                                                           sklearn_pickle, researcher):
    response = register(api, trained_run)
    assert response.status_code == 201, response.json()
    version = response.json()
    assert version["version"] == "1.0.0"
    assert version["source_run_id"] == trained_run
    assert version["metrics"] == {"auc": 0.78, "rmse": 0.05}  # latest, finite only
    assert version["hyperparameters"] == {"C": "1.0", "penalty": "l2"}
    row = ModelVersion.objects.get(model__name="ranking", version="1.0.0")
    assert row.created_by == researcher
    assert row.artifact_size == len(sklearn_pickle)

    # run -> versions
    detail = api.get(f"/api/v1/runs/{trained_run}/").json()
    assert detail["produced_versions"] == [
        {"model": "ranking", "version": "1.0.0", "stage": "draft",
         "created_at": detail["produced_versions"][0]["created_at"]}
    ]
    # version -> run
    found = api.get(f"/api/v1/versions/?run_id={trained_run}").json()["results"]
    assert [(v["model"], v["version"]) for v in found] == [("ranking", "1.0.0")]
    source = api.get(f"/api/v1/runs/{found[0]['source_run_id']}/").json()
    assert source["run_id"] == trained_run


def test_overrides_replace_the_runs_values_key_by_key(api, registered_model, trained_run):
    response = register(api, trained_run, version="2.1.0", metrics={"auc": 0.8, "f1": 0.6},
                        hyperparameters={"C": 0.5}, description="tuned")
    assert response.status_code == 201, response.json()
    version = response.json()
    assert version["version"] == "2.1.0"
    assert version["metrics"] == {"auc": 0.8, "rmse": 0.05, "f1": 0.6}
    assert version["hyperparameters"] == {"C": 0.5, "penalty": "l2"}
    second = register(api, trained_run, bump="patch").json()
    assert second["version"] == "2.1.1"
    detail = api.get(f"/api/v1/runs/{trained_run}/").json()
    assert [v["version"] for v in detail["produced_versions"]] == ["2.1.0", "2.1.1"]


def test_registration_needs_the_artifact_in_the_run(api, registered_model, trained_run):
    missing = register(api, trained_run, artifact_path="model/other.pkl")
    assert missing.status_code == 404
    assert missing.json()["code"] == "artifact_not_found"
    escape = register(api, trained_run, artifact_path="../../ranking/1.0.0/model.pkl")
    assert escape.status_code == 400
    unknown_model = register(api, trained_run, model="nope")
    assert unknown_model.status_code == 404
    assert not ModelVersion.objects.exists()


def test_a_finished_run_can_still_register_a_version(api, registered_model, trained_run,
                                                     end_run):
    end_run(trained_run)
    assert register(api, trained_run).status_code == 201


def test_models_app_does_not_import_experiments_app():
    root = pathlib.Path(__file__).resolve().parents[2] / "models_app"
    offenders = [str(path) for path in root.rglob("*.py")
                 if "experiments_app" in path.read_text()]
    assert offenders == []
