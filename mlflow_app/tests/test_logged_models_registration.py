"""An MLflow model folder registered as an Axion version (mlflow_app.logged), called
directly: the file Axion serves, the signature and input example from MLmodel, the same
safety checks as any upload, and the folder's URI kept for mlflow's pyfunc."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlflow_app.errors import MlflowError, as_mlflow_error


def _refusal(call):
    """The MLflow error a registration's refusal answers (domain errors mapped)."""
    try:
        call()
    except Exception as exc:
        error = as_mlflow_error(exc)
        if error is None:
            raise
        return error
    raise AssertionError("the registration was not refused")


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(5)
    return pd.DataFrame(rng.normal(size=(60, 3)), columns=["momentum", "value", "size"])


@pytest.fixture(scope="module")
def ranker(frame):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(frame, (frame["momentum"] > 0).astype(int))


@pytest.fixture
def run(tracking):
    tracking.set_experiment("ranking-register")
    active = tracking.start_run()
    tracking.log_params({"C": "1.0", "penalty": "l2"})
    tracking.log_metric("auc", 0.74)
    yield active
    if tracking.active_run() is not None:
        tracking.end_run()


@pytest.fixture
def stock_ranking(db, researcher):
    from models_app.services import model_create

    return model_create(name="stock-ranking", owner=researcher, gates={"load_check": False})


def _register(model, source, user, run_id="", **fields):
    from mlflow_app.logged import version_from_source

    return version_from_source(model=model, source=source, run_id=run_id, user=user,
                               description=fields.get("description", ""),
                               tags=fields.get("tags", {}))


@pytest.mark.parametrize("serialization", [
    "skops", pytest.param("cloudpickle", marks=pytest.mark.artifacts)])
def test_a_logged_sklearn_model_becomes_a_servable_version(
        tracking, run, ranker, frame, stock_ranking, researcher, api, serialization):
    import mlflow.sklearn

    from mlflow_app.logged import version_download_uri
    from serving_app import loader
    from serving_app.loaded import version_warm_up

    info = mlflow.sklearn.log_model(ranker, name="ranker", input_example=frame.head(3),
                                    serialization_format=serialization)
    version = _register(stock_ranking, f"models:/{info.model_id}", researcher,
                        description="from mlflow", tags={"team": "quant"})
    assert version.version == "1.0.0" and version.framework == "sklearn"
    assert version.artifact_format == ("skops" if serialization == "skops" else "pickle")
    assert [c["name"] for c in version.signature["inputs"]] == ["momentum", "value", "size"]
    assert version.serving_input == "dataframe"
    assert np.allclose(pd.DataFrame(version.input_example)[frame.columns].to_numpy(),
                       frame.head(3).to_numpy())
    assert version.metrics == {"auc": 0.74}
    assert version.hyperparameters == {"C": "1.0", "penalty": "l2"}
    assert version.source_run_id == run.info.run_id and version.tags == {"team": "quant"}
    assert version_download_uri(version) == (
        f"mlflow-artifacts:/experiments/{run.info.experiment_id}/models/{info.model_id}"
        "/artifacts")
    listed = api.get("/api/v1/models/stock-ranking/versions/").json()
    row = listed["results"][0] if "results" in listed else listed[0]
    assert row["signature"] == version.signature and row["input_example"] == \
        version.input_example
    warm = version_warm_up(loader.VersionRecord.from_row(version))
    assert warm.exercised is not None
    answer = warm.artifact.predict(frame.head(5))
    assert list(answer) == list(ranker.predict(frame.head(5)))
    second = _register(stock_ranking, f"runs:/{run.info.run_id}/ranker", researcher)
    assert second.version == "1.1.0"
    assert version_download_uri(second) == version_download_uri(version)


def test_an_array_example_gives_numpy_serving_and_a_warm_up_that_passes(
        tracking, run, stock_ranking, researcher):
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    from serving_app import loader
    from serving_app.loaded import version_warm_up

    x = np.random.default_rng(1).normal(size=(40, 3))
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    info = mlflow.sklearn.log_model(model, name="matrix", input_example=x[:2])
    version = _register(stock_ranking, f"models:/{info.model_id}", researcher)
    assert version.signature == {} and version.serving_input == "numpy"
    assert version.input_example == {"dataframe_split": {
        "columns": ["0", "1", "2"], "data": x[:2].tolist()}}
    warm = version_warm_up(loader.VersionRecord.from_row(version))
    assert warm.exercised is not None  # the example itself went through the model


def _folder_with(tmp_path, frame, ranker, pickle_bytes: bytes | None = None,
                 edit=None):
    import mlflow.sklearn

    local = tmp_path / "mlmodel"
    mlflow.sklearn.save_model(ranker, str(local), serialization_format="cloudpickle",
                              input_example=frame.head(2))
    if pickle_bytes is not None:
        (local / "model.pkl").write_bytes(pickle_bytes)
    if edit is not None:
        text = (local / "MLmodel").read_text()
        (local / "MLmodel").write_text(edit(text))
    return local


def _logged_folder(client, run, local):
    model = client.create_logged_model(run.info.experiment_id, name="uploaded",
                                       source_run_id=run.info.run_id)
    client.log_model_artifacts(model.model_id, str(local))
    client.finalize_logged_model(model.model_id, "READY")
    return model


def test_a_hostile_pickle_in_an_mlflow_folder_is_refused(tracking, client, run, ranker, frame,
                                                         stock_ranking, researcher, tmp_path):
    from models_app.models import ModelVersion
    from models_app.tests.hostile import pickles

    marker = tmp_path / "pwned"
    hostile_dir = tmp_path / "hostile"
    hostile_dir.mkdir()
    files = {f.name: f for f in pickles.build(hostile_dir, marker)}
    hostile = files["pickle-reduce-os-system"].path.read_bytes()
    logged = _logged_folder(client, run, _folder_with(tmp_path, frame, ranker, hostile))
    error = _refusal(lambda: _register(stock_ranking, f"models:/{logged.model_id}",
                                       researcher))
    assert error.code == "INVALID_PARAMETER_VALUE" and error.status == 400
    assert "refused" in error.message and "system" in error.message
    assert not marker.exists()
    assert not ModelVersion.objects.filter(model=stock_ranking).exists()


def test_a_model_folder_of_another_flavor_or_with_an_escaping_path_is_refused(
        tracking, client, run, ranker, frame, stock_ranking, researcher, tmp_path):
    escaping = _folder_with(tmp_path / "a", frame, ranker,
                            edit=lambda t: t.replace("pickled_model: model.pkl",
                                                     "pickled_model: ../../secrets.pkl"))
    logged = _logged_folder(client, run, escaping)
    with pytest.raises(MlflowError) as caught:
        _register(stock_ranking, f"models:/{logged.model_id}", researcher)
    assert "leaves the model folder" in caught.value.message
    other = _folder_with(tmp_path / "b", frame, ranker,
                         edit=lambda t: t.replace("  sklearn:", "  keras:"))
    logged = _logged_folder(client, run, other)
    with pytest.raises(MlflowError) as caught:
        _register(stock_ranking, f"models:/{logged.model_id}", researcher)
    assert "sklearn flavor" in caught.value.message and "keras" in caught.value.message


@pytest.mark.artifacts
def test_a_run_folder_with_an_mlmodel_registers_too(tracking, client, run, ranker, frame,
                                                    stock_ranking, researcher, tmp_path):
    from mlflow_app.logged import version_download_uri

    local = _folder_with(tmp_path, frame, ranker)
    client.log_artifacts(run.info.run_id, str(local), artifact_path="legacy")
    version = _register(stock_ranking, f"runs:/{run.info.run_id}/legacy", researcher)
    assert version.artifact_format == "pickle"
    assert version_download_uri(version) == f"mlflow-artifacts:/runs/{run.info.run_id}/legacy"
    again = _register(stock_ranking, f"mlflow-artifacts:/runs/{run.info.run_id}/legacy",
                      researcher)
    assert again.version == "1.1.0"


@pytest.mark.parametrize("source", ["models:/m-0123456789abcdef0123456789abcdef",
                                    "runs:/deadbeef/model", "s3://bucket/model",
                                    "models:/stock-ranking/1"])
def test_unknown_sources_are_refused(db, stock_ranking, researcher, source):
    error = _refusal(lambda: _register(stock_ranking, source, researcher))
    assert error.code == ("INVALID_PARAMETER_VALUE" if source.startswith(("s3", "models:/s"))
                          else "RESOURCE_DOES_NOT_EXIST")


def test_someone_who_may_not_register_is_refused(tracking, run, ranker, frame, stock_ranking,
                                                 make_user):
    import mlflow.sklearn

    from models_app.models import ModelVersion

    info = mlflow.sklearn.log_model(ranker, name="ranker")
    error = _refusal(lambda: _register(stock_ranking, f"models:/{info.model_id}",
                                       make_user("otto_other")))
    assert error.code == "PERMISSION_DENIED"
    assert not ModelVersion.objects.filter(model=stock_ranking).exists()


def test_a_version_registered_through_axions_api_has_no_mlflow_folder(register_version):
    from mlflow_app.logged import version_download_uri

    with pytest.raises(MlflowError) as caught:
        version_download_uri(register_version())
    assert caught.value.code == "RESOURCE_DOES_NOT_EXIST"

