"""MLflow 3 logged models through the real client: create, params, tags, finalize, search,
run outputs, delete, and the model folder stored through Axion's artifact storage."""

from __future__ import annotations

import pandas as pd
import pytest
import requests
from mlflow.exceptions import MlflowException


@pytest.fixture(scope="module")
def frame():
    import numpy as np

    rng = np.random.default_rng(3)
    return pd.DataFrame(rng.normal(size=(60, 3)), columns=["momentum", "value", "size"])


@pytest.fixture(scope="module")
def ranker(frame):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(frame, (frame["momentum"] > 0).astype(int))


@pytest.fixture
def run(tracking):
    tracking.set_experiment("ranking-logged")
    active = tracking.start_run()
    yield active
    if tracking.active_run() is not None:
        tracking.end_run()


def test_log_model_stores_the_model_folder_and_finalizes_it(tracking, client, run, ranker,
                                                           frame, artifact_root):
    import mlflow.sklearn

    tracking.log_param("C", "1.0")
    tracking.log_metric("auc", 0.71, step=0)
    info = mlflow.sklearn.log_model(ranker, name="ranker", input_example=frame.head(3))
    model = client.get_logged_model(info.model_id)
    assert model.model_id.startswith("m-") and len(model.model_id) == 34
    assert model.name == "ranker" and model.source_run_id == run.info.run_id
    assert model.status.to_proto() == 2  # READY
    assert model.params["C"] == "1.0"
    assert model.artifact_location == (
        f"mlflow-artifacts:/experiments/{run.info.experiment_id}/models/{model.model_id}"
        "/artifacts")
    folder = artifact_root / "experiments" / run.info.experiment_id / "models" / \
        model.model_id / "artifacts"
    assert {p.name for p in folder.iterdir()} >= {"MLmodel", "model.skops",
                                                  "input_example.json"}
    assert [m.key for m in model.metrics] == ["auc"] and model.metrics[0].value == 0.71
    history = client.get_metric_history(run.info.run_id, "auc")
    assert [(p.step, p.value) for p in history] == [(0, 0.71)]  # not logged twice
    outputs = client.get_run(run.info.run_id).outputs
    assert [o.model_id for o in outputs.model_outputs] == [model.model_id]


def test_the_logged_model_loads_back_through_the_client(tracking, run, ranker, frame,
                                                        tmp_path):
    import mlflow.pyfunc
    import mlflow.sklearn

    info = mlflow.sklearn.log_model(ranker, name="ranker", input_example=frame.head(3),
                                    serialization_format="cloudpickle")
    loaded = mlflow.pyfunc.load_model(f"models:/{info.model_id}")
    assert list(loaded.predict(frame.head(8))) == list(ranker.predict(frame.head(8)))


def test_tags_params_search_and_delete(tracking, client, run):
    model = client.create_logged_model(run.info.experiment_id, name="regime",
                                       source_run_id=run.info.run_id, tags={"team": "quant"},
                                       params={"depth": "3"}, model_type="classifier")
    other = client.create_logged_model(run.info.experiment_id, name="earnings")
    client.set_logged_model_tags(model.model_id, {"stage": "candidate"})
    client.log_model_params(model.model_id, {"lr": "0.1"})
    client.delete_logged_model_tag(model.model_id, "team")
    again = client.get_logged_model(model.model_id)
    assert again.tags.get("stage") == "candidate" and "team" not in again.tags
    assert again.params == {"depth": "3", "lr": "0.1"} and again.model_type == "classifier"
    ids = [run.info.experiment_id]
    found = client.search_logged_models(ids, filter_string="name = 'regime'")
    assert [m.model_id for m in found] == [model.model_id]
    found = client.search_logged_models(ids, filter_string="tags.stage = 'candidate' and "
                                        "params.depth = '3'")
    assert [m.model_id for m in found] == [model.model_id]
    ordered = client.search_logged_models(ids, order_by=[{"field_name": "name"}])
    assert [m.name for m in ordered] == ["earnings", "regime"]
    page = client.search_logged_models(ids, max_results=1)
    assert len(page) == 1 and page.token
    rest = client.search_logged_models(ids, max_results=1, page_token=page.token)
    assert {page[0].model_id, rest[0].model_id} == {model.model_id, other.model_id}
    client.finalize_logged_model(other.model_id, "READY")
    ready = client.search_logged_models(ids, filter_string="status = 'READY'")
    assert [m.model_id for m in ready] == [other.model_id]
    client.delete_logged_model(other.model_id)
    assert [m.model_id for m in client.search_logged_models(ids)] == [model.model_id]
    with pytest.raises(MlflowException) as caught:
        client.get_logged_model(other.model_id)
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_a_bad_logged_model_filter_points_at_the_token(client, run):
    with pytest.raises(MlflowException) as caught:
        client.search_logged_models([run.info.experiment_id],
                                    filter_string="name = 'a' OR name = 'b'")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "position" in caught.value.message


def test_only_the_creator_changes_a_logged_model(tracking, client, run, as_user, make_user,
                                                researcher):
    model = client.create_logged_model(run.info.experiment_id, name="mine")
    as_user(make_user("otto_other"))
    with pytest.raises(MlflowException) as caught:
        client.set_logged_model_tags(model.model_id, {"x": "y"})
    assert caught.value.error_code == "PERMISSION_DENIED"
    with pytest.raises(MlflowException):
        client.finalize_logged_model(model.model_id, "READY")
    assert client.get_logged_model(model.model_id).name == "mine"  # reading is open
    as_user(researcher)


def test_a_finalized_models_files_are_fixed(tracking, client, run, tmp_path, live_server,
                                            token_for, researcher):
    model = client.create_logged_model(run.info.experiment_id, name="fixed")
    client.finalize_logged_model(model.model_id, "READY")
    root = model.artifact_location.removeprefix("mlflow-artifacts:/")
    response = requests.put(
        f"{live_server.url}/api/2.0/mlflow-artifacts/artifacts/{root}/MLmodel", data=b"x",
        headers={"Authorization": f"Bearer {token_for(researcher)}"}, timeout=10)
    assert response.status_code == 400 and "finalized" in response.json()["message"]


def test_anonymous_callers_cannot_create_logged_models(live_server, run):
    response = requests.post(f"{live_server.url}/api/2.0/mlflow/logged-models",
                             json={"experiment_id": run.info.experiment_id}, timeout=10)
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"
