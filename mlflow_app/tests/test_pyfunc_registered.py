"""End to end with the real client: `log_model(..., registered_model_name=...)` makes an
Axion version that Axion's API shows with its signature and input example, that a worker's
load check passes in a fresh process, and that mlflow's pyfunc loads by number and by alias
and predicts as the local model does."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(8)
    return pd.DataFrame(rng.normal(size=(80, 3)), columns=["momentum", "value", "size"])


@pytest.fixture(scope="module")
def ranker(frame):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(frame, (frame["momentum"] + frame["value"] > 0)
                                    .astype(int))


@pytest.fixture
def celery_worker_parameters():
    return {"perform_ping_check": False, "shutdown_timeout": 30.0,
            "queues": ("celery", "loadcheck")}


@pytest.fixture
def worker(celery_app, celery_worker):
    return celery_worker


@pytest.fixture
def purged(celery_app):
    """Drop tasks queued by earlier tests (their rows are gone) before the worker starts."""
    with celery_app.connection_for_write() as connection:
        for queue in ("celery", "loadcheck"):
            try:
                connection.default_channel.queue_purge(queue)
            except Exception:  # noqa: BLE001 - a queue never declared has nothing to purge
                pass


def _checked(version, seconds: float = 120.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        version.refresh_from_db()
        if version.load_check_status != "pending":
            return version
        time.sleep(0.2)
    raise AssertionError(f"{version} was not load-checked within {seconds} s")


def _log(tracking, model, frame, **kwargs):
    import mlflow.sklearn

    tracking.set_experiment("stock-ranking-training")
    with tracking.start_run() as run:
        tracking.log_params({"C": "1.0"})
        tracking.log_metric("auc", 0.77)
        info = mlflow.sklearn.log_model(model, name="ranker", input_example=frame.head(4),
                                        registered_model_name="stock-ranking", **kwargs)
    return run, info


def test_a_logged_model_registers_loads_back_and_passes_axions_load_check(
        purged, worker, tracking, client, api, as_user, release_manager, researcher,
        ranker, frame):
    from models_app.models import ModelVersion
    from serving_app import loader
    from serving_app.loaded import version_warm_up

    run, info = _log(tracking, ranker, frame)
    assert info.registered_model_version == "1"
    listed = api.get("/api/v1/models/stock-ranking/versions/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [r["version"] for r in rows] == ["1.0.0"]
    row = rows[0]
    assert [c["name"] for c in row["signature"]["inputs"]] == ["momentum", "value", "size"]
    assert np.allclose(pd.DataFrame(row["input_example"])[frame.columns].to_numpy(),
                       frame.head(4).to_numpy())  # jsonb keeps keys in its own order
    assert (row["framework"], row["artifact_format"], row["source_run_id"]) == (
        "sklearn", "skops", run.info.run_id)
    assert row["metrics"] == {"auc": 0.77}

    version = _checked(ModelVersion.objects.get(model__name="stock-ranking"))
    assert version.load_check_status == "passed", version.load_check
    assert version.load_check["rows"] == 4 and version.load_check["output_shape"] == [4]
    assert version.serving_input == "dataframe"  # named columns, checked against the model
    warm = version_warm_up(loader.VersionRecord.from_row(version))
    assert list(warm.artifact.predict(frame.head(6))) == list(ranker.predict(frame.head(6)))

    import mlflow.pyfunc

    expected = list(ranker.predict(frame.head(10)))
    by_number = mlflow.pyfunc.load_model("models:/stock-ranking/1")
    assert list(by_number.predict(frame.head(10))) == expected
    as_user(release_manager)
    client.set_registered_model_alias("stock-ranking", "champion", "1")
    by_alias = mlflow.pyfunc.load_model("models:/stock-ranking@champion")
    assert list(by_alias.predict(frame.head(10))) == expected
    as_user(researcher)
    logged = client.get_logged_model(info.model_id)
    assert client.get_model_version_download_uri("stock-ranking", "1") == (
        logged.artifact_location)


def test_a_second_registration_is_the_next_minor_and_survives_its_logged_model(
        tracking, client, api, ranker, frame):
    import mlflow.pyfunc

    _log(tracking, ranker, frame)
    _, info = _log(tracking, ranker, frame, serialization_format="cloudpickle")
    assert info.registered_model_version == "2"
    body = api.get("/api/v1/models/stock-ranking/versions/1.1.0/").json()
    assert body["artifact_format"] == "pickle"
    client.delete_logged_model(info.model_id)  # MLflow's soft delete: the files stay
    loaded = mlflow.pyfunc.load_model("models:/stock-ranking/2")
    assert list(loaded.predict(frame.head(5))) == list(ranker.predict(frame.head(5)))
