"""One import command for a real model: a file or a legacy folder, its signature from the input
example or the model itself; the same through the API and the client."""

from __future__ import annotations

import io
import json
import pickle

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from sklearn.linear_model import LogisticRegression

from axion_client import AxionAPIError, AxionClient
from models_app.models import ModelVersion

COLUMNS = ["momentum", "value", "quality"]


@pytest.fixture
def frame():
    rng = np.random.default_rng(2)
    x = pd.DataFrame(rng.normal(size=(200, 3)), columns=COLUMNS)
    return x, (x["momentum"] > 0).astype(int)


@pytest.fixture
def legacy_folder(tmp_path, frame):
    x, y = frame
    folder = tmp_path / "ranker_v3"
    folder.mkdir()
    model = lgb.LGBMClassifier(n_estimators=10, n_jobs=1, verbose=-1).fit(x.to_numpy(), y)
    (folder / "model.pkl").write_bytes(pickle.dumps(model))  # fitted on a matrix: no names
    (folder / "metadata.json").write_text(json.dumps({
        "model_name": "ranker", "model_version": "v3.2", "trained_at": "2026-10-01T06:00:00",
        "train_start": "2018-01-01", "train_end": "2026-09-30", "n_train_samples": 120000,
        "n_features": 3, "feature_names": COLUMNS, "hyperparameters": {"num_leaves": 31},
        "metrics": {"auc": 0.71, "ic": 0.05}, "status": "active",
    }))
    return folder


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("import_model", *args, stdout=out)
    return out.getvalue()


def test_a_legacy_folder_brings_its_metadata_as_metrics_hyperparameters_and_tags(
        db, legacy_folder):
    output = run(str(legacy_folder), "--name", "ranking")
    version = ModelVersion.objects.get(model__name="ranking")
    assert "Registered ranking@1.0.0 (lightgbm" in output
    assert version.metrics == {"auc": 0.71, "ic": 0.05}
    assert version.hyperparameters == {"num_leaves": 31}
    assert version.tags == {"legacy_version": "v3.2", "trained_at": "2026-10-01T06:00:00",
                            "train_start": "2018-01-01", "train_end": "2026-09-30",
                            "n_train_samples": "120000", "n_features": "3",
                            "legacy_status": "active"}
    assert [c["name"] for c in version.signature["inputs"]] == COLUMNS
    # Fitted on a matrix: it gets one, in the order of the old save's feature names.
    assert version.serving_input == "numpy" and version.load_check_status == "pending"


def test_an_input_example_gives_the_signature_in_the_models_order_with_its_dtypes(
        db, tmp_path, frame):
    x, y = frame
    x = x.assign(quality=(x["quality"] * 10).round().astype("int64"))
    model = LogisticRegression().fit(x, y)
    (tmp_path / "model.pickle").write_bytes(pickle.dumps(model))
    x[["quality", "value", "momentum"]].head(4).to_parquet(tmp_path / "rows.parquet")
    run(str(tmp_path / "model.pickle"), "--name", "ranking", "--input-example",
        str(tmp_path / "rows.parquet"), "--tag", "team=quant", "--tag", "universe=us",
        "--metrics", '{"auc": 0.9}')
    version = ModelVersion.objects.get(model__name="ranking")
    assert version.artifact_format == "pickle" and version.framework == "sklearn"
    assert version.signature["inputs"] == [{"name": "momentum", "type": "double"},
                                           {"name": "value", "type": "double"},
                                           {"name": "quality", "type": "long"}]
    # Records' key order is not kept by PostgreSQL's jsonb; the signature holds the order.
    assert set(version.input_example[0]) == set(COLUMNS) and len(version.input_example) == 4
    assert version.tags == {"team": "quant", "universe": "us"}
    assert version.metrics == {"auc": 0.9}


def test_an_input_example_with_other_columns_than_the_model_is_refused_naming_them(
        db, tmp_path, frame):
    x, y = frame
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(LogisticRegression().fit(x, y)))
    x.rename(columns={"quality": "size"}).head(2).to_csv(tmp_path / "rows.csv", index=False)
    with pytest.raises(CommandError, match="missing: quality; not features: size"):
        run(str(tmp_path / "model.pkl"), "--name", "ranking", "--input-example",
            str(tmp_path / "rows.csv"))
    assert not ModelVersion.objects.exists()


def test_an_explicit_framework_wins_and_a_bad_path_says_what_a_legacy_folder_holds(
        db, tmp_path, frame):
    x, y = frame
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(LogisticRegression().fit(x, y)))
    run(str(tmp_path / "model.pkl"), "--name", "ranking", "--framework", "custom")
    assert ModelVersion.objects.get(model__name="ranking").framework == "custom"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CommandError, match="without model.pkl"):
        run(str(empty), "--name", "ranking")
    with pytest.raises(CommandError, match="key=value"):
        run(str(tmp_path / "model.pkl"), "--name", "ranking", "--tag", "nokey")


@pytest.fixture
def client(live_server, researcher):
    from rest_framework.authtoken.models import Token

    from models_app import services

    services.model_create(name="ranking", owner=researcher)
    token, _ = Token.objects.get_or_create(user=researcher)
    client = AxionClient(live_server.url, token.key)
    yield client
    client.session.close()


@pytest.mark.artifacts
def test_the_client_imports_a_legacy_folder_and_an_evaluation_dataset_through_the_api(
        client, legacy_folder, tmp_path, frame):
    x, y = frame
    x.head(3).to_csv(tmp_path / "rows.csv", index=False)
    body = client.import_model("ranking", str(legacy_folder), input_example=str(tmp_path /
                               "rows.csv"), tags={"team": "quant"})
    assert body["version"] == "1.0.0" and body["framework"] == "lightgbm"
    assert body["metrics"] == {"auc": 0.71, "ic": 0.05}
    assert body["tags"]["legacy_version"] == "v3.2" and body["tags"]["team"] == "quant"
    assert [c["name"] for c in body["signature"]["inputs"]] == COLUMNS
    assert body["load_check_status"] == "pending" and body["serving_input"] == "numpy"
    x.assign(label=y).to_csv(tmp_path / "holdout.csv", index=False)
    dataset = client.add_evaluation_dataset("ranking", str(tmp_path / "holdout.csv"),
                                            name="holdout", label_column="label")
    assert dataset["rows"] == 200 and len(dataset["sha256"]) == 64
    with pytest.raises(AxionAPIError) as error:
        client.add_evaluation_dataset("ranking", str(tmp_path / "holdout.csv"),
                                      name="holdout2", label_column="target")
    assert error.value.status == 400 and "no label column 'target'" in error.value.message
    with pytest.raises(AxionAPIError) as error:
        client.import_model("ranking", str(legacy_folder / "metadata.json"))
    assert error.value.status == 400 and "format" in error.value.message
