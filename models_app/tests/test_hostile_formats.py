"""Hostile skops and ONNX files: refused at upload (400, nothing stored) and at load (a row
forced in behind the registry's back); no payload runs, no file's bytes come back. Benign
skops and ONNX models are admitted, load and predict."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from models_app.models import ModelVersion
from models_app.tests.hostile import formats
from serving_app import loader
from serving_app.errors import ArtifactRefused

pytestmark = pytest.mark.django_db

CORPUS_DIR = Path(tempfile.mkdtemp(prefix="axion-hostile-formats-"))
MARKER = CORPUS_DIR / "PWNED"
FILES = {f.name: f for f in formats.build(CORPUS_DIR / "files", MARKER)}
UNREADABLE = {
    "skops-schema-protocol-downgrade", "skops-zip-embeds-pickle",
    "skops-npy-object-array-pickle", "skops-truncated", "skops-zip-without-schema",
    "skops-tree-child-out-of-bounds", "skops-tree-cycle",
    "onnx-pickle-declared-as-onnx", "onnx-random-bytes", "onnx-text",
}


def expected_code(name: str) -> str:
    if name in UNREADABLE:
        return "unreadable_artifact"
    return "disallowed_types" if name.startswith("skops-") else "onnx_external_data"


def upload(client, content: bytes, artifact_format: str, framework: str, model="ranking"):
    artifact = io.BytesIO(content)
    artifact.name = f"model.{artifact_format}"
    return client.post(
        f"/api/v1/models/{model}/versions/",
        {"artifact": artifact,
         "metadata": json.dumps({"framework": framework, "artifact_format": artifact_format})},
        format="multipart",
    )


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def force_into_storage(model, hostile, artifact_root: Path) -> ModelVersion:
    """What an attacker with storage access does: the file and a row with its sha256."""
    content = hostile.path.read_bytes()
    path = f"{model.name}/9.9.9/model.{hostile.artifact_format}"
    (artifact_root / model.name / "9.9.9").mkdir(parents=True, exist_ok=True)
    (artifact_root / path).write_bytes(content)
    return ModelVersion.objects.create(
        model=model, version="9.9.9", sequence=99, major=9, minor=9, patch=9,
        framework=hostile.framework,
        artifact_format=hostile.artifact_format, artifact_path=path,
        artifact_sha256=hashlib.sha256(content).hexdigest(), artifact_size=len(content),
    )


def test_the_formats_builder_writes_at_least_ten_hostile_files_of_each_format():
    by_format = [f.artifact_format for f in FILES.values()]
    assert by_format.count("skops") >= 10 and by_format.count("onnx") >= 10
    assert all(f.path.stat().st_size > 0 for f in FILES.values())


@pytest.mark.parametrize("name", sorted(FILES))
def test_it_refuses_each_hostile_file_at_upload_and_stores_nothing(name, api, registered_model,
                                                                   artifact_root):
    hostile = FILES[name]
    response = upload(api, hostile.path.read_bytes(), hostile.artifact_format,
                      hostile.framework)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == expected_code(name), body
    assert body["message"]
    assert not ModelVersion.objects.exists()
    assert stored_files(artifact_root) == []
    assert not MARKER.exists()


@pytest.mark.parametrize("name", sorted(FILES))
def test_it_refuses_each_hostile_file_at_load_when_forced_into_storage(name, registered_model,
                                                                       artifact_root):
    row = force_into_storage(registered_model, FILES[name], artifact_root)
    with pytest.raises(ArtifactRefused) as caught:
        loader.load(loader.VersionRecord.from_row(row))
    assert caught.value.code == expected_code(name)
    assert caught.value.message.startswith("ranking@9.9.9: ")
    assert not MARKER.exists()


def test_a_disallowed_type_refusal_names_the_function(api, registered_model):
    hostile = FILES["skops-key-type-sklearn-run-python-script"]
    body = upload(api, hostile.path.read_bytes(), "skops", "sklearn").json()
    assert body["details"]["untrusted_types"] == [
        "sklearn.utils._testing.assert_run_python_script_without_output"]
    assert "functions, methods and operators may not" in body["message"]


def _run_trusting_what_skops_reports(path: Path, cwd: Path) -> None:
    code = (
        "import skops.io as sio, sys\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "try:\n"
        "    sio.loads(data, trusted=sio.get_untrusted_types(data=data))\n"
        "except Exception:\n"
        "    pass\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], cwd=cwd, timeout=120, check=True)


@pytest.mark.parametrize("name", ["skops-key-type-builtins-eval",
                                  "skops-key-type-sklearn-run-python-script",
                                  "skops-schema-tampered-popen"])
def test_the_skops_payloads_are_live_when_a_loader_trusts_what_skops_reports(name, tmp_path):
    marker = tmp_path / "PWNED"
    files = {f.name: f for f in formats.build(tmp_path / "corpus", marker)}
    assert not marker.exists()
    _run_trusting_what_skops_reports(files[name].path, tmp_path)
    assert marker.exists()  # so the refusals above are refusals of working attacks


def test_the_onnx_payload_returns_the_token_to_a_plain_onnxruntime_but_not_to_us(
        tmp_path, monkeypatch, registered_model, artifact_root):
    import onnxruntime

    secret = b"axion-api-token-" * 16
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "api-token").write_bytes(secret)
    monkeypatch.chdir(tmp_path)
    hostile = FILES["onnx-node-attribute-external"]
    session = onnxruntime.InferenceSession(hostile.path.read_bytes(),
                                           providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: np.zeros((1, 4), np.float32)})
    assert outputs[-1].tobytes() == secret[:64]
    row = force_into_storage(registered_model, hostile, artifact_root)
    with pytest.raises(ArtifactRefused) as caught:
        loader.load(loader.VersionRecord.from_row(row))
    assert caught.value.code == "onnx_external_data"
    assert "var/api-token" in caught.value.message
    assert secret[:16].decode() not in caught.value.message


# -- the benign set ----------------------------------------------------------------------

def _features() -> np.ndarray:
    return np.abs(np.random.default_rng(4).normal(size=(5, 4)))


def _benign_skops() -> dict[str, object]:
    from sklearn.ensemble import RandomForestClassifier

    features, labels = formats._training_data()
    return {
        "pipeline": formats._pipeline(),
        "random-forest": RandomForestClassifier(n_estimators=5, random_state=0).fit(
            features, labels),
        "logistic": formats._logistic(),
    }


@pytest.mark.parametrize("kind", ["pipeline", "random-forest", "logistic"])
def test_benign_skops_models_are_admitted_load_and_predict(kind, api, registered_model):
    model = _benign_skops()[kind]
    response = upload(api, sio.dumps(model), "skops", "sklearn")
    assert response.status_code == 201, response.content
    row = ModelVersion.objects.get(version=response.json()["version"])
    artifact = loader.load(loader.VersionRecord.from_row(row))
    assert artifact.predict(_features()).tolist() == model.predict(_features()).tolist()


def test_a_benign_onnx_model_is_admitted_loads_and_predicts(api, registered_model):
    from skl2onnx import to_onnx

    model = formats._logistic()
    onnx_model = to_onnx(model, np.zeros((1, 4), dtype=np.float32),
                         options={id(model): {"zipmap": False}})
    response = upload(api, onnx_model.SerializeToString(), "onnx", "onnx")
    assert response.status_code == 201, response.content
    row = ModelVersion.objects.get(version=response.json()["version"])
    artifact = loader.load(loader.VersionRecord.from_row(row))
    assert artifact.predict(_features()).tolist() == model.predict(_features()).tolist()
