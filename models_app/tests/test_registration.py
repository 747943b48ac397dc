import io
import os
import pickle

import joblib
import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError

from models_app import artifacts, selectors, services
from models_app.errors import (
    ArtifactTooLarge,
    DisallowedPickle,
    DuplicateVersion,
    InvalidMetadata,
    InvalidVersion,
    MissingArtifact,
    ModelNotFound,
)
from models_app.models import ModelVersion

pytestmark = [pytest.mark.django_db, pytest.mark.artifacts]


class RunsAShellCommand:
    def __reduce__(self):
        return (os.system, ("echo owned",))


def test_it_registers_a_version_with_artifact_and_sidecar(register_version, storage_files):
    version = register_version("1.2.0", hyperparameters={"C": 1.0}, tags={"team": "quant"},
                               signature={"inputs": [{"name": "f1", "type": "double"}]},
                               input_example=[{"f1": 0.5}])
    assert (version.major, version.minor, version.patch) == (1, 2, 0)
    assert storage_files.names() == ["ranking/1.2.0/metadata.json", "ranking/1.2.0/model.pkl"]
    assert version.artifact_size == storage_files.size("ranking/1.2.0/model.pkl")


def test_the_sidecar_equals_the_row(register_version):
    version = register_version("1.0.0", metrics={"auc": 0.71, "rmse": 0.04},
                               hyperparameters={"depth": 3}, description="first")
    sidecar = artifacts.sidecar_read("ranking/1.0.0")
    version.refresh_from_db()
    assert sidecar == services.version_metadata(version)
    assert sidecar["artifact_sha256"] == version.artifact_sha256
    assert sidecar["metrics"] == {"auc": 0.71, "rmse": 0.04}


def test_a_changed_byte_is_detected_by_the_sha256(register_version, storage_files):
    version = register_version("1.0.0")
    assert selectors.version_artifact_intact(version=version)
    data = bytearray(storage_files.read(version.artifact_path))
    data[len(data) // 2] ^= 0x01
    storage_files.write(version.artifact_path, bytes(data))
    assert not selectors.version_artifact_intact(version=version)


def test_it_computes_the_next_version_from_the_highest(register_version):
    register_version("1.9.0")
    register_version("1.10.0")
    assert register_version(bump="minor").version == "1.11.0"
    assert register_version(bump="patch").version == "1.11.1"
    assert register_version(bump="major").version == "2.0.0"


def test_the_first_version_is_1_0_0(register_version):
    assert register_version().version == "1.0.0"


def test_it_refuses_a_duplicate_version(register_version, storage_files):
    register_version("1.0.0")
    before = storage_files.names()
    with pytest.raises(DuplicateVersion):
        register_version("1.0.0")
    assert storage_files.names() == before


def test_it_refuses_a_bad_version(register_version):
    with pytest.raises(InvalidVersion, match="MAJOR.MINOR.PATCH"):
        register_version("1.0")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), "high", True])
def test_it_refuses_metrics_that_are_not_finite_numbers(register_version, value):
    with pytest.raises(InvalidMetadata, match="auc"):
        register_version(metrics={"auc": value})
    assert not ModelVersion.objects.exists()


def test_it_refuses_an_unknown_framework_or_format(register_version):
    with pytest.raises(InvalidMetadata, match="framework"):
        register_version(framework="caffe")
    with pytest.raises(InvalidMetadata, match="format"):
        register_version(artifact_format="zip")


def test_it_refuses_a_missing_or_empty_artifact(registered_model):
    with pytest.raises(MissingArtifact):
        services.version_register(model_name="ranking", artifact=None, framework="sklearn",
                                  artifact_format="pickle")
    with pytest.raises(MissingArtifact):
        services.version_register(model_name="ranking", artifact=io.BytesIO(b""),
                                  framework="sklearn", artifact_format="pickle")


def test_it_refuses_an_unknown_model(db, sklearn_pickle):
    with pytest.raises(ModelNotFound):
        services.version_register(model_name="nope", artifact=io.BytesIO(sklearn_pickle),
                                  framework="sklearn", artifact_format="pickle")


def test_it_refuses_a_pickle_that_runs_a_command(register_version, storage_files):
    with pytest.raises(DisallowedPickle) as error:
        register_version(artifact=io.BytesIO(pickle.dumps(RunsAShellCommand())))
    assert "system" in error.value.message
    assert error.value.details["global"] in ("posix.system", "os.system")
    assert not ModelVersion.objects.exists()
    assert storage_files.names() == []


def test_it_admits_a_real_scikit_learn_model_as_joblib(register_version, sklearn_model):
    stream = io.BytesIO()
    joblib.dump(sklearn_model, stream)
    version = register_version(artifact=io.BytesIO(stream.getvalue()), artifact_format="joblib")
    assert version.artifact_path.endswith("model.joblib")


def test_an_operator_adds_an_exact_global_with_pickle_extra_globals(register_version,
                                                                     settings):
    from fractions import Fraction

    content = pickle.dumps({"weight": Fraction(1, 3)})
    with pytest.raises(DisallowedPickle, match="fractions.Fraction"):
        register_version(artifact=io.BytesIO(content))
    settings.PICKLE_EXTRA_GLOBALS = ["fractions:Fraction"]
    assert register_version(artifact=io.BytesIO(content)).artifact_size == len(content)


def test_it_refuses_an_artifact_over_the_limit(register_version, settings, storage_files):
    settings.MAX_ARTIFACT_BYTES = 100
    with pytest.raises(ArtifactTooLarge):
        register_version()
    assert storage_files.names() == []


def test_a_failing_row_insert_leaves_no_file(register_version, storage_files, monkeypatch):
    def fail(*args, **kwargs):
        raise IntegrityError("simulated failure of the insert")

    monkeypatch.setattr(ModelVersion.objects, "create", fail)
    with pytest.raises(DuplicateVersion):
        register_version("1.0.0")
    assert storage_files.names() == []


def test_a_failing_file_write_leaves_no_row(register_version, storage_files, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(artifacts, "sidecar_write", fail)
    with pytest.raises(OSError):
        register_version("1.0.0")
    assert not ModelVersion.objects.exists()
    assert storage_files.names() == []


def test_a_large_artifact_is_streamed_not_held_in_memory(register_version):
    class CountingStream(io.RawIOBase):
        """A 64 MiB upload produced on the fly; records the largest read it served."""

        def __init__(self, size):
            self.left = size
            self.largest = 0

        def readable(self):
            return True

        def read(self, n=-1):
            n = self.left if n < 0 else min(n, self.left)
            self.largest = max(self.largest, n)
            self.left -= n
            return b"\0" * n

    class OnnxUpload(CountingStream):
        """A real ONNX model followed by one large field that protobuf readers skip."""

        def __init__(self, model: bytes, size: int):
            padding = size - len(model) - 6
            self.head = model + bytes([0xC2, 0x3E]) + _varint(padding)  # field 1000, bytes
            super().__init__(padding)
            self.largest = 0

        def read(self, n=-1):
            if self.head:
                chunk, self.head = self.head[:n], self.head[n:]
                self.largest = max(self.largest, len(chunk))
                return chunk
            return super().read(n)

    stream = OnnxUpload(_onnx_model(), 64 * 1024 * 1024)
    version = register_version(artifact=stream, artifact_format="onnx", framework="onnx")
    assert version.artifact_size == 64 * 1024 * 1024
    assert stream.largest <= 1024 * 1024


def test_import_model_registers_a_legacy_pickle(tmp_path, db, sklearn_pickle):
    path = tmp_path / "ranking_model.pkl"
    path.write_bytes(sklearn_pickle)
    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"auc": 0.74}')
    out = io.StringIO()
    call_command("import_model", str(path), "--name", "ranking", "--framework", "lightgbm",
                 "--metrics", str(metrics), stdout=out)
    version = ModelVersion.objects.get()
    assert (version.model.name, version.version, version.metrics) == (
        "ranking", "1.0.0", {"auc": 0.74})
    assert "Registered ranking@1.0.0" in out.getvalue()


def test_import_model_explains_a_refusal(tmp_path, db):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(RunsAShellCommand()))
    with pytest.raises(CommandError, match="system"):
        call_command("import_model", str(path), "--name", "ranking", "--framework", "sklearn")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _onnx_model() -> bytes:
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(np.eye(4), [0.0, 1.0, 2.0, 3.0])
    return to_onnx(model, np.zeros((1, 4), dtype=np.float32)).SerializeToString()


def test_a_malformed_pickle_extra_globals_setting_stops_the_process_at_start():
    import subprocess
    import sys

    env = {**os.environ, "PICKLE_EXTRA_GLOBALS": "fractions.Fraction"}
    result = subprocess.run([sys.executable, "-c", "import axion_registry.settings"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "PICKLE_EXTRA_GLOBALS: 'fractions.Fraction' is not module:qualname" in result.stderr
