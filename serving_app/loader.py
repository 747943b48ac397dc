"""The one place that turns a registered version's artifact into a callable model.

The artifact is opened from the host's cache (models_app.artifacts.artifact_cached), its
sha256 checked against the one recorded at registration before anything is deserialized,
its signature verified when the model requires signed artifacts, and then loaded by format:
pickle and joblib (restricted unpicklers, models_app.safe_pickle), skops (every node against
exact lists, models_app.safe_skops), ONNX (no external data, models_app.safe_onnx; onnxruntime).
The platform's own model package is importable through settings.PLATFORM_MODEL_PATHS.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from models_app import artifact_checks, artifacts, safe_onnx, safe_pickle, safe_skops, signing
from models_app.artifact_cache import ArtifactMismatch
from models_app.errors import StorageUnavailable
from models_app.pickle_rules import pickle_policy, platform_paths_install
from models_app.vocabulary import PICKLED_FORMATS, ArtifactFormat
from serving_app.errors import ArtifactRefused
from serving_app.inputs import InputSpec

logger = logging.getLogger(__name__)
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
    signature_bundle: str = ""  # the stored model-signing bundle, "" when unsigned
    require_signed: bool = False
    signing_keys: tuple[str, ...] = ()
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
            signature_bundle=row.signature_bundle,
            require_signed=row.model.require_signed_artifacts,
            signing_keys=tuple(row.model.signing_keys or ()),
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


def _platform_paths() -> None:
    platform_paths_install()


@contextmanager
def open_verified(record: VersionRecord) -> Iterator[IO[bytes]]:
    """The artifact as an open file of the host's cache, only if it hashes to the recorded
    sha256 (checked on every load; downloaded from the storage once per host)."""
    try:
        cached = artifacts.artifact_cached(record.artifact_path, record.artifact_sha256)
    except ArtifactMismatch as exc:
        logger.error("refused to load %s: sha256 %s does not match the registered %s",
                     record.label, exc.actual, record.artifact_sha256)
        raise ArtifactRefused(
            f"{record.label}: the artifact's sha256 ({exc.actual[:12]}...) does not match the "
            f"one registered ({record.artifact_sha256[:12]}...); it was not loaded.",
            code="artifact_corrupted",
            details={"expected_sha256": record.artifact_sha256, "actual_sha256": exc.actual},
        ) from exc
    except (FileNotFoundError, OSError, StorageUnavailable, ValueError) as exc:
        raise ArtifactRefused(
            f"{record.label}: the artifact {record.artifact_path} cannot be read ({exc}).",
            code="artifact_missing",
        ) from exc
    with cached.file as stream:
        yield stream


def _load_pickle(record: VersionRecord, stream: IO[bytes]) -> Any:
    try:
        return safe_pickle.load_file(stream, record.artifact_format, pickle_policy())
    except safe_pickle.UnsafePickle as exc:
        details = {"global": exc.global_name} if exc.global_name else {}
        raise ArtifactRefused(f"{record.label}: {exc.reason} It was not loaded.",
                              code="disallowed_pickle", details=details) from exc


def _load_object(record: VersionRecord, stream: IO[bytes]) -> Any:
    """Deserialize from the file: pickles stream through the unpickler; skops and ONNX
    files are read into memory once."""
    fmt = record.artifact_format
    if fmt in PICKLED_FORMATS:
        return _load_pickle(record, stream)
    if fmt == ArtifactFormat.SKOPS:
        return _load_skops(record, stream.read())
    if fmt == ArtifactFormat.ONNX:
        data = stream.read()
        import onnxruntime

        audit = safe_onnx.audit(data)
        if not audit.ok:
            code, message, details = artifact_checks.onnx_refusal(audit)
            raise ArtifactRefused(f"{record.label}: {message}", code=code, details=details)

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        return onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    raise ArtifactRefused(f"{record.label}: serving cannot load the format {fmt!r}.",
                          code="unsupported_format")


def _load_skops(record: VersionRecord, data: bytes) -> Any:
    """Every node checked by kind against exact lists, then skops's own report checked again:
    only types that both passes admit are handed to sio.loads as trusted."""
    import skops.io as sio

    is_allowed = artifact_checks.skops_is_allowed()
    audit = safe_skops.audit(data, is_allowed)
    if audit.ok:
        untrusted = sio.get_untrusted_types(data=data)
        refused = safe_skops.refused_types(untrusted, is_allowed)
        if refused:
            audit = safe_skops.SkopsAudit(
                types=audit.types, refused=tuple(refused),
                reasons={name: "not an allowed class" for name in refused},
            )
    if not audit.ok:
        code, message, details = artifact_checks.skops_refusal(audit)
        raise ArtifactRefused(f"{record.label}: {message}", code=code, details=details)
    obj = sio.loads(data, trusted=list(untrusted))
    problem = safe_skops.constructed_tree_problem(obj)
    if problem:  # the file's own ids decide which arrays skops builds: check what it built
        raise ArtifactRefused(f"{record.label}: a decision tree is malformed: {problem}; it "
                              "was not loaded.", code="unreadable_artifact")
    return obj


def _check_signature(record: VersionRecord, stream: IO[bytes]) -> None:
    """For a model that requires signing: the stored bundle must sign these exact bytes with
    a key the model trusts now."""
    if not record.require_signed:
        return
    if not record.signature_bundle:
        raise ArtifactRefused(
            f"{record.label}: the model requires signed artifacts and this version has no "
            "signature; it was not loaded.", code="signature_required",
        )
    try:
        bundle = artifacts.signature_read(record.signature_bundle)
        signing.verify_stream(stream, bundle, record.signing_keys)
    except (OSError, signing.SignatureError) as exc:
        raise ArtifactRefused(
            f"{record.label}: the artifact's signature was refused ({exc}); it was not loaded.",
            code="signature_invalid",
        ) from exc


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
    return (not record.signature.get("inputs") and record.artifact_format != ArtifactFormat.ONNX
            and (hasattr(obj, "feature_names_in_")
                 or bool(getattr(obj, "takes_dataframe", False))))


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
    if artifact_format in PICKLED_FORMATS:
        # Not yet past registration's opcode walk: take it first, so a file the registry
        # would refuse is never unpickled here, not even by the restricted unpickler.
        try:
            safe_pickle.check_file(io.BytesIO(data), artifact_format, pickle_policy())
        except safe_pickle.UnsafePickle as exc:
            details = {"global": exc.global_name} if exc.global_name else {}
            raise ArtifactRefused(f"{label}: {exc.reason}", code="disallowed_pickle",
                                  details=details) from exc
    return _load_object(record, io.BytesIO(data))


def load(record: VersionRecord) -> LoadedArtifact:
    """Verify, deserialize and wrap one version. Raises ArtifactRefused or the load error."""
    with open_verified(record) as stream:
        _check_signature(record, stream)
        obj = _load_object(record, stream)
    if record.artifact_format == ArtifactFormat.ONNX:
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
