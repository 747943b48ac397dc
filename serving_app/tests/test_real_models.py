"""Real LightGBM, XGBoost and platform-class models, imported as a user would: inputs reach
the model the way it was trained, whatever order the request used."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pandas as pd
import xgboost as xgb
from django.core.management import call_command

from demo import training
from models_app import services as registry
from models_app.models import ModelVersion
from serving_app.runtime import predict

FEATURES = [f"x{i}" for i in range(10)]


def imported(tmp_path, obj, *args: str) -> ModelVersion:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(obj))
    call_command("import_model", str(path), "--name", "ranking", *args, stdout=io.StringIO())
    return ModelVersion.objects.filter(model__name="ranking").order_by("-pk").first()


def promoted(version: ModelVersion, actor) -> None:
    registry.version_transition(version=version, to="staging", actor=actor)
    registry.version_promote(version=version, actor=actor)


def test_a_reordered_request_answers_exactly_what_an_xgboost_model_answers_in_process(
        runtime, registered_model, release_manager, tmp_path, api):
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(300, 10)), columns=FEATURES)
    labels = (frame["x0"] - frame["x7"] + 0.5 * frame["x3"] > 0).astype(int)
    model = xgb.XGBRegressor(n_estimators=30, max_depth=3, n_jobs=1).fit(frame, labels)
    version = imported(tmp_path, model)
    assert version.framework == "xgboost"
    assert [c["name"] for c in version.signature["inputs"]] == FEATURES  # from the model
    promoted(version, release_manager)
    rows = frame.head(20)
    shuffled = list(reversed(FEATURES))
    response = api.post("/api/v1/serve/ranking/predict/", {"dataframe_split": {
        "columns": shuffled, "data": rows[shuffled].to_numpy().tolist()}}, format="json")
    assert response.status_code == 200, response.json()
    served = np.asarray(response.json()["predictions"])
    assert np.array_equal(served, model.predict(rows))


def test_a_platform_ranking_model_gets_its_columns_in_order_from_shuffled_records(
        runtime, registered_model, release_manager, tmp_path, api, demo_platform):
    candidate = training.train("stock-ranking", training.SPECS["stock-ranking"].baseline)
    pd.DataFrame(candidate.input_example).to_csv(tmp_path / "example.csv", index=False)
    version = imported(tmp_path, candidate.estimator, "--input-example",
                       str(tmp_path / "example.csv"))
    assert version.serving_input == "dataframe" and version.framework == "lightgbm"
    promoted(version, release_manager)
    rows = pd.DataFrame(candidate.input_example)
    records = [dict(reversed(list(row.items()))) for row in rows.to_dict(orient="records")]
    response = api.post("/api/v1/serve/ranking/predict/", {"records": records}, format="json")
    assert response.status_code == 200, response.json()
    served = pd.DataFrame(response.json()["predictions"])
    expected = candidate.estimator.predict(rows)
    assert list(served.columns) == list(expected.columns)
    assert np.abs(served.to_numpy(float) - expected.to_numpy(float)).max() == 0.0


def test_missing_unknown_and_uncoercible_columns_are_a_400_naming_them(
        runtime, registered_model, release_manager, tmp_path, api):
    frame = pd.DataFrame(np.random.default_rng(1).normal(size=(50, 10)), columns=FEATURES)
    model = xgb.XGBRegressor(n_estimators=5, n_jobs=1).fit(frame, frame["x1"])
    promoted(imported(tmp_path, model), release_manager)
    row = dict(frame.iloc[0])

    def post(record):
        return api.post("/api/v1/serve/ranking/predict/", {"records": [record]}, format="json")

    missing = post({k: v for k, v in row.items() if k != "x4"})
    assert missing.status_code == 400 and missing.json()["details"]["column"] == "x4"
    unknown = post({**row, "sector": 1.0})
    assert unknown.status_code == 400 and "sector" in unknown.json()["message"]
    text = post({**row, "x2": "high"})
    assert text.status_code == 400 and text.json()["details"]["column"] == "x2"
    whole = post({**row, "x2": 3})  # an integer is coerced to the column's double
    assert whole.status_code == 200


def test_the_input_mode_is_fixed_on_the_version_and_a_changed_one_is_reloaded(
        runtime, registered_model, release_manager, tmp_path, demo_platform):
    candidate = training.train("earnings-surprise", training.SPECS["earnings-surprise"].baseline)
    version = imported(tmp_path, candidate.estimator)
    promoted(version, release_manager)
    rows = pd.DataFrame(candidate.input_example)
    assert predict("ranking", rows).predictions  # a DataFrame reached the platform class
    ModelVersion.objects.filter(pk=version.pk).update(tags={"serving.input": "numpy"})
    runtime.refresh("ranking")
    assert predict("ranking", rows).predictions  # a later tag changes nothing
    ModelVersion.objects.filter(pk=version.pk).update(serving_input="numpy")
    runtime.refresh("ranking")
    # Reloaded and warmed with the new mode: this class refuses a matrix.
    assert "needs a DataFrame" in runtime.route("ranking").primary.error


def test_a_names_only_estimator_gets_a_matrix_in_signature_order_a_column_picker_a_frame(
        registered_model, tmp_path):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from serving_app import loader

    frame = pd.DataFrame(np.random.default_rng(4).normal(size=(80, 10)), columns=FEATURES)
    target = frame["x2"] * 3 - frame["x9"]
    plain = LinearRegression().fit(frame, target)
    picker = make_pipeline(ColumnTransformer([("scaled", StandardScaler(), ["x2", "x9"])]),
                           LinearRegression()).fit(frame, target)
    rows = frame.head(5)
    shuffled = {"dataframe_split": {"columns": FEATURES[::-1],
                                    "data": rows[FEATURES[::-1]].to_numpy().tolist()}}
    for model, wants_frame in ((plain, False), (picker, True)):
        version = imported(tmp_path, model)
        assert version.serving_input == "dataframe"
        artifact = loader.load(loader.VersionRecord.from_row(version))
        model_input, n = artifact.spec.prepare(shuffled)
        assert isinstance(model_input, pd.DataFrame) is wants_frame
        assert np.array_equal(artifact.predict(model_input), model.predict(rows))
