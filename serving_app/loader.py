"""The one place that turns a registered version's artifact into a callable model.

The artifact is read once through models_app.artifacts, its sha256 checked against the one
recorded at registration before anything is deserialized, and then loaded by format:
pickle and joblib (the import allowlist checked again), skops (only allowlisted types
trusted), ONNX (onnxruntime). The platform's own model package is importable through
settings.PLATFORM_MODEL_PATHS.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import logging
import pickle
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings

from models_app import artifacts
from models_app.integrity import scan_pickle
from serving_app.errors import ArtifactRefused
from serving_app.inputs import InputSpec

logger = logging.getLogger(__name__)
_path_lock = threading.Lock()
# The warning scikit-learn gives a names-only estimator called with its matrix (see
# _takes_matrix: the names were checked against the signature at load).
warnings.filterwarnings("ignore", message="X does not have valid feature names",
                        category=UserWarning)


@dataclass(frozen=True)
class VersionRecord:
    """What serving needs of a ModelVersion row, detached from the ORM (safe across threads)."""

    version_id: int
    model_id: int
    model_name: str
    version: str
    artifact_format: str
    artifact_path: str
    artifact_sha256: str
    artifact_size: int
    signature: dict = field(default_factory=dict)
    input_example: Any = None
    tags: dict = field(default_factory=dict)
    serving_input: str = "numpy"

    @classmethod
    def from_row(cls, row: Any) -> VersionRecord:
        return cls(
            version_id=row.pk,
            model_id=row.model_id,
            model_name=row.model.name,
            version=row.version,
            artifact_format=row.artifact_format,
            artifact_path=row.artifact_path,
            artifact_sha256=row.artifact_sha256,
            artifact_size=row.artifact_size,
            signature=row.signature or {},
            input_example=row.input_example,
            tags=row.tags or {},
            serving_input=row.serving_input,
        )

    @property
    def label(self) -> str:
        return f"{self.model_name}@{self.version}"

    @property
    def serving_key(self) -> tuple[str, str]:
        """What decides how serving calls the model; a process holding the version under
        another key reloads it."""
        return self.serving_input, repr(self.signature.get("inputs"))


@dataclass
class LoadedArtifact:
    obj: Any
    predict: Callable[[Any], Any]
    spec: InputSpec


def _allowed(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _platform_paths() -> None:
    paths = [str(p) for p in settings.PLATFORM_MODEL_PATHS]
    with _path_lock:
        added = False
        for path in paths:
            if path not in sys.path:
                sys.path.append(path)
                added = True
        if added:
            importlib.invalidate_caches()


def read_verified(record: VersionRecord) -> bytes:
    """The artifact's bytes, only if they hash to the recorded sha256."""
    try:
        with artifacts.artifact_open(record.artifact_path) as stream:
            data = stream.read()
    except (FileNotFoundError, OSError) as exc:
        raise ArtifactRefused(
            f"{record.label}: the artifact {record.artifact_path} cannot be read ({exc}).",
            code="artifact_missing",
        ) from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != record.artifact_sha256:
        logger.error("refused to load %s: sha256 %s does not match the registered %s",
                     record.label, actual, record.artifact_sha256)
        raise ArtifactRefused(
            f"{record.label}: the artifact's sha256 ({actual[:12]}...) does not match the one "
            f"registered ({record.artifact_sha256[:12]}...); it was not loaded.",
            code="artifact_corrupted",
            details={"expected_sha256": record.artifact_sha256, "actual_sha256": actual},
        )
    return data


def _check_pickle(record: VersionRecord, data: bytes) -> None:
    prefixes = tuple(settings.PICKLE_ALLOWED_PREFIXES)
    scan = scan_pickle(io.BytesIO(data), prefixes)
    if scan.error:
        raise ArtifactRefused(f"{record.label}: {scan.error}", code="disallowed_pickle")
    if scan.disallowed:
        raise ArtifactRefused(
            f"{record.label}: the pickle imports {', '.join(scan.disallowed)}, outside the "
            f"allowed modules ({', '.join(prefixes)}); it was not loaded.",
            code="disallowed_pickle", details={"disallowed_imports": list(scan.disallowed)},
        )


def _load_object(record: VersionRecord, data: bytes) -> Any:
    fmt = record.artifact_format
    if fmt in ("pickle", "joblib"):
        _check_pickle(record, data)
        _platform_paths()
        if fmt == "pickle":
            return pickle.loads(data)  # noqa: S301 - sha256 verified and imports allowlisted
        import joblib

        return joblib.load(io.BytesIO(data))
    if fmt == "skops":
        import skops.io as sio

        prefixes = tuple(settings.PICKLE_ALLOWED_PREFIXES)
        untrusted = sio.get_untrusted_types(data=data)
        refused = [t for t in untrusted if not _allowed(t, prefixes)]
        if refused:
            raise ArtifactRefused(
                f"{record.label}: the skops file needs types outside the allowed modules: "
                f"{', '.join(refused)}; it was not loaded.",
                code="disallowed_types", details={"untrusted_types": refused},
            )
        _platform_paths()
        return sio.loads(data, trusted=list(untrusted))
    if fmt == "onnx":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        return onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    raise ArtifactRefused(f"{record.label}: serving cannot load the format {fmt!r}.",
                          code="unsupported_format")


def _takes_matrix(record: VersionRecord, obj: Any) -> bool:
    """Library estimators that read their input as a float matrix by position get one, in
    the signature's order: one fitted on a matrix (it knows no names), and a bare
    scikit-learn estimator fitted on exactly the signature's numeric columns, which uses a
    DataFrame only to check the names and order (checked here once; its validation of a
    DataFrame costs a millisecond a call). Anything that selects columns by name (a
    ColumnTransformer, a platform class) gets the DataFrame."""
    from models_app.importing import is_library_estimator, model_feature_names, walk

    inputs = record.signature.get("inputs") or []
    if not is_library_estimator(obj) or not all(
            c.get("type", "double") in ("double", "float") for c in inputs):
        return False
    names = model_feature_names(obj)
    if names is None:
        return getattr(obj, "n_features_in_", len(inputs)) == len(inputs)
    if not type(obj).__module__.startswith("sklearn.") or \
            names != [c.get("name") for c in inputs]:
        return False
    return not any(type(part).__name__ == "ColumnTransformer" for part in walk(obj))


def _wants_dataframe(record: VersionRecord, obj: Any) -> bool:
    # Fixed on the version at registration; without a signature a model that declares it
    # takes named columns still gets the caller's columns as a DataFrame.
    if record.serving_input == "dataframe":
        return not _takes_matrix(record, obj)
    return not record.signature.get("inputs") and record.artifact_format != "onnx" and (
        hasattr(obj, "feature_names_in_") or bool(getattr(obj, "takes_dataframe", False)))


def _onnx_predict(session: Any) -> Callable[[Any], Any]:
    inputs = session.get_inputs()
    name = inputs[0].name
    dtype = np.float64 if inputs[0].type == "tensor(double)" else np.float32
    output = session.get_outputs()[0].name

    def predict(x: Any) -> Any:
        return session.run([output], {name: np.asarray(x, dtype=dtype)})[0]

    return predict


def inspect(data: bytes, *, artifact_format: str, label: str) -> Any:
    """Deserialize a file not yet registered (import_model reads its feature names and
    framework), by the same rules as a registered one."""
    record = VersionRecord(0, 0, label, "(unregistered)", artifact_format, "", "", len(data))
    return _load_object(record, data)


def load(record: VersionRecord) -> LoadedArtifact:
    """Verify, deserialize and wrap one version. Raises ArtifactRefused or the load error."""
    data = read_verified(record)
    obj = _load_object(record, data)
    if record.artifact_format == "onnx":
        predict = _onnx_predict(obj)
    elif hasattr(obj, "predict"):
        predict = obj.predict
    elif callable(obj):
        predict = obj
    else:
        raise ArtifactRefused(f"{record.label}: the loaded {type(obj).__name__} has no predict().",
                              code="not_a_model")
    spec = input_spec(record, obj)
    if not spec.dataframe and record.serving_input == "dataframe":
        predict = _in_frame_layout(predict)
    return LoadedArtifact(obj=obj, predict=predict, spec=spec)


def _in_frame_layout(predict: Callable[[Any], Any]) -> Callable[[Any], Any]:
    # A DataFrame's float block is column-major: the same layout gives the same sums, to
    # the last bit, as the estimator called with a DataFrame.
    def call(x: Any) -> Any:
        return predict(np.asfortranarray(x))

    return call


def input_spec(record: VersionRecord, obj: Any) -> InputSpec:
    """How rows are checked and shaped for this version's loaded model."""
    return InputSpec.from_signature(record.signature, dataframe=_wants_dataframe(record, obj))
