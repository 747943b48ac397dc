"""The loader: sha256 before anything is deserialized, the allowlist again at load, every
supported format, and the platform's own model package."""

from __future__ import annotations

import io
import pickle
import sys
import textwrap

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from serving_app import loader
from serving_app.errors import ArtifactRefused
from serving_app.runtime import predict
from serving_app.tests.conftest import EXAMPLE
from serving_app.tests.mock_models import ConstantModel, FrameModel

pytestmark = [pytest.mark.django_db, pytest.mark.artifacts]
ROW = [{"f0": 1.0, "f1": 1.0, "f2": 0.0, "f3": 0.0}]


def record_of(version) -> loader.VersionRecord:
    return loader.VersionRecord.from_row(version)


def test_it_refuses_an_artifact_whose_sha256_does_not_match(deploy, sklearn_model,
                                                            storage_files):
    version = deploy(sklearn_model, "1.0.0")
    storage_files.write(version.artifact_path, pickle.dumps(ConstantModel(9.0)))
    with pytest.raises(ArtifactRefused) as caught:
        loader.load(record_of(version))
    assert caught.value.code == "artifact_corrupted"
    assert "does not match" in caught.value.message
    assert caught.value.details["expected_sha256"] == version.artifact_sha256


def test_a_corrupted_production_version_is_never_served(runtime, deploy, sklearn_model,
                                                        storage_files, api):
    version = deploy(sklearn_model, "1.0.0")
    storage_files.write(version.artifact_path, b"not the registered bytes")
    response = api.post("/api/v1/serve/ranking/predict/", {"records": ROW}, format="json")
    assert response.status_code == 503
    assert response.json()["code"] == "model_unavailable"
    assert "sha256" in response.json()["message"]


def test_it_enforces_the_pickle_allowlist_again_at_load(deploy, settings):
    version = deploy(ConstantModel(1.0), "1.0.0")  # registered while serving_app.tests is allowed
    settings.PLATFORM_MODEL_PACKAGE = ["src.ml"]
    with pytest.raises(ArtifactRefused) as caught:
        loader.load(record_of(version))
    assert caught.value.code == "disallowed_pickle"
    assert "serving_app.tests.mock_models.ConstantModel" in caught.value.message


def test_it_loads_pickle_joblib_and_skops_sklearn_models(deploy, sklearn_model):
    buffer = io.BytesIO()
    joblib.dump(sklearn_model, buffer)
    versions = [
        deploy(sklearn_model, "1.0.0", promote=False),
        deploy(version="1.1.0", content=buffer.getvalue(), artifact_format="joblib",
               promote=False),
        deploy(version="1.2.0", content=sio.dumps(sklearn_model), artifact_format="skops",
               promote=False),
    ]
    expected = sklearn_model.predict(np.array([[1.0, 1.0, 0.0, 0.0]]))
    for version in versions:
        artifact = loader.load(record_of(version))
        matrix, _ = artifact.spec.prepare(ROW)
        assert artifact.predict(matrix).tolist() == expected.tolist()


def test_it_serves_an_onnx_model_with_onnxruntime(runtime, deploy, sklearn_model):
    from skl2onnx import to_onnx

    onnx_model = to_onnx(sklearn_model, np.zeros((1, 4), dtype=np.float32),
                         options={id(sklearn_model): {"zipmap": False}})
    deploy(version="1.0.0", content=onnx_model.SerializeToString(), artifact_format="onnx",
           framework="onnx")
    result = predict("ranking", ROW + EXAMPLE)
    expected = sklearn_model.predict(np.array([[1.0, 1.0, 0.0, 0.0], [0.5, -0.2, 0.1, 1.0]]))
    assert result.predictions == expected.tolist()


def test_a_model_fitted_on_a_dataframe_gets_named_columns(runtime, deploy):
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame(np.random.default_rng(3).normal(size=(50, 4)),
                         columns=["f0", "f1", "f2", "f3"])
    model = LinearRegression().fit(frame, frame["f0"] * 2 + frame["f3"])
    deploy(model, "1.0.0")
    (value,) = predict("ranking", {"dataframe_split": {"columns": ["f3", "f2", "f1", "f0"],
                                                      "data": [[1.0, 0.0, 0.0, 1.0]]}}).predictions
    assert value == pytest.approx(3.0)


def test_a_model_may_take_and_return_dataframes_of_several_columns(runtime, deploy, api):
    signature = {"inputs": [{"name": "momentum", "type": "double"},
                            {"name": "value", "type": "double"},
                            {"name": "sector", "type": "string"}]}
    example = [{"momentum": 0.1, "value": 0.2, "sector": "tech"}]
    deploy(FrameModel(), "1.0.0", signature=signature, input_example=example)
    response = api.post("/api/v1/serve/ranking/predict/", {"records": [
        {"momentum": 1.0, "value": 0.0, "sector": "energy"},
        {"momentum": -1.0, "value": 0.5, "sector": "tech"},
    ]}, format="json")
    assert response.status_code == 200, response.json()
    first, second = response.json()["predictions"]
    assert first["sector"] == "ENERGY" and first["p_top"] == pytest.approx(1 / (1 + np.exp(-2)))
    assert {first["quintile"], second["quintile"]} <= {1, 2, 3, 4, 5}


PLATFORM_MODEL = textwrap.dedent('''
    import numpy as np
    import pandas as pd

    class QuintileRanker:
        """A stand-in for the Axion ranking model: its class lives in the platform package."""

        takes_dataframe = True

        def __init__(self, weight):
            self.weight = weight

        def predict(self, frame):
            score = frame["momentum"] * self.weight
            return pd.DataFrame({"p_q5": 1 / (1 + np.exp(-score)),
                                 "quintile": np.where(score > 0, 5, 1), "score": score})
''')


@pytest.fixture
def platform_pickle(tmp_path):
    """A pickle referencing src.ml.ranker.QuintileRanker, a package only found on disk."""
    root = tmp_path / "platform"
    (root / "src" / "ml").mkdir(parents=True)
    (root / "src" / "__init__.py").write_text("")
    (root / "src" / "ml" / "__init__.py").write_text("")
    (root / "src" / "ml" / "ranker.py").write_text(PLATFORM_MODEL)
    saved = {name: sys.modules.pop(name) for name in list(sys.modules)
             if name == "src" or name.startswith("src.")}
    sys.path.insert(0, str(root))
    try:
        from src.ml.ranker import QuintileRanker  # type: ignore[import-not-found]

        content = pickle.dumps(QuintileRanker(2.0))
    finally:
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n == "src" or n.startswith("src.")]:
            del sys.modules[name]
    yield root, content
    if str(root) in sys.path:
        sys.path.remove(str(root))
    for name in [n for n in sys.modules if n == "src" or n.startswith("src.")]:
        del sys.modules[name]
    sys.modules.update(saved)


def test_platform_models_load_from_the_platform_model_paths(runtime, deploy, settings,
                                                             platform_pickle):
    root, content = platform_pickle
    settings.PLATFORM_MODEL_PATHS = [str(root)]
    deploy(version="1.0.0", content=content, framework="custom",
           signature={"inputs": [{"name": "momentum", "type": "double"}]},
           input_example=[{"momentum": 0.5}])
    result = predict("ranking", pd.DataFrame({"momentum": [1.0, -1.0]}))
    assert [row["quintile"] for row in result.predictions] == [5, 1]
    assert result.predictions[0]["score"] == 2.0


def test_without_the_platform_path_such_a_model_is_refused_at_upload_and_at_load(
        deploy, settings, platform_pickle):
    from models_app.errors import DisallowedPickle

    root, content = platform_pickle
    settings.PLATFORM_MODEL_PATHS = []
    with pytest.raises(DisallowedPickle, match="PLATFORM_MODEL_PATHS"):
        deploy(version="1.0.0", content=content, framework="custom", promote=False)
    settings.PLATFORM_MODEL_PATHS = [str(root)]
    version = deploy(version="1.0.0", content=content, framework="custom", promote=False,
                     signature={"inputs": [{"name": "momentum", "type": "double"}]})
    sys.path.remove(str(root))
    for name in [n for n in sys.modules if n == "src" or n.startswith("src.")]:
        del sys.modules[name]
    settings.PLATFORM_MODEL_PATHS = []
    with pytest.raises(ArtifactRefused, match="cannot be imported here") as caught:
        loader.load(record_of(version))
    assert caught.value.code == "disallowed_pickle"


@pytest.fixture
def platform_skops(platform_pickle):
    """A skops file of src.ml.ranker.QuintileRanker, the platform package found on disk."""
    root, _ = platform_pickle
    sys.path.insert(0, str(root))
    try:
        from src.ml.ranker import QuintileRanker  # type: ignore[import-not-found]

        content = sio.dumps(QuintileRanker(2.0))
    finally:
        sys.path.remove(str(root))
    return root, content


def test_skops_trusts_the_platform_classes_only_under_the_platform_package(deploy, settings,
                                                                          platform_skops):
    root, content = platform_skops
    settings.PLATFORM_MODEL_PATHS = [str(root)]
    version = deploy(version="1.0.0", content=content, artifact_format="skops",
                     framework="custom", promote=False,
                     signature={"inputs": [{"name": "momentum", "type": "double"}]})
    artifact = loader.load(record_of(version))
    assert type(artifact.obj).__module__ == "src.ml.ranker"
    assert artifact.obj.weight == 2.0
    settings.PLATFORM_MODEL_PACKAGE = ["src.other"]
    with pytest.raises(ArtifactRefused) as caught:
        loader.load(record_of(version))
    assert caught.value.code == "disallowed_types"
    assert caught.value.details["untrusted_types"] == ["src.ml.ranker.QuintileRanker"]
