"""create_model_version from a logged model, its download URI, and loading the registered
model back by number and by alias (mlflow.pyfunc against the live server)."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def frame():
    import numpy as np

    rng = np.random.default_rng(5)
    return pd.DataFrame(rng.normal(size=(60, 3)), columns=["momentum", "value", "size"])


@pytest.fixture(scope="module")
def ranker(frame):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(frame, (frame["momentum"] > 0).astype(int))


def test_log_model_with_a_registered_name_makes_an_axion_version(tracking, client, api,
                                                                  ranker, frame):
    import mlflow.sklearn

    tracking.set_experiment("ranking-registry")
    with tracking.start_run() as run:
        tracking.log_metric("auc", 0.8)
        info = mlflow.sklearn.log_model(ranker, name="ranker", input_example=frame.head(3),
                                        registered_model_name="ranker")
    version = client.get_model_version("ranker", "1")
    assert (version.run_id, version.current_stage, version.status) == (
        run.info.run_id, "None", "READY")
    assert version.source == f"models:/{info.model_id}"
    body = api.get("/api/v1/models/ranker/versions/1.0.0/").json()
    assert (body["framework"], body["source_run_id"], body["sequence"]) == (
        "sklearn", run.info.run_id, 1)
    assert [c["name"] for c in body["signature"]["inputs"]] == ["momentum", "value", "size"]
    assert client.get_model_version_download_uri("ranker", "1").startswith(
        "mlflow-artifacts:/")


def test_the_registered_model_loads_by_number_and_by_alias(tracking, client, as_user,
                                                          release_manager, ranker, frame):
    import mlflow.pyfunc
    import mlflow.sklearn

    tracking.set_experiment("ranking-registry")
    with tracking.start_run():
        mlflow.sklearn.log_model(ranker, name="ranker", input_example=frame.head(3),
                                 registered_model_name="ranker",
                                 serialization_format="cloudpickle")
    expected = list(ranker.predict(frame.head(8)))
    assert list(mlflow.pyfunc.load_model("models:/ranker/1").predict(frame.head(8))) == (
        expected)
    as_user(release_manager)
    client.set_registered_model_alias("ranker", "champion", "1")
    loaded = mlflow.pyfunc.load_model("models:/ranker@champion")
    assert list(loaded.predict(frame.head(8))) == expected


def test_a_version_registered_through_axion_has_no_mlflow_model_folder(client,
                                                                      register_version):
    from mlflow.exceptions import MlflowException

    register_version("1.0.0")
    with pytest.raises(MlflowException) as caught:
        client.get_model_version_download_uri("ranking", "1")
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
