"""Importing a real model: one file (pickle, joblib, skops, ONNX) or a legacy folder, with
what it says about itself turned into the version's signature, framework and metadata.

The command (manage.py import_model), the API (POST models/{name}/versions/import/) and the
client all come here, so a model imported any way gets the same signature.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from typing import IO, Any

import pandas as pd
from django.conf import settings

from models_app import importing, roles
from models_app.errors import ArtifactTooLarge, InvalidMetadata, ModelNotFound
from models_app.importing import ImportProblem
from models_app.models import ModelVersion, RegisteredModel
from models_app.roles import Actor
from models_app.services.registration import model_create, version_register
from models_app.vocabulary import format_from_name

logger = logging.getLogger(__name__)

@dataclass
class ImportResult:
    version: ModelVersion
    notes: list[str] = field(default_factory=list)


def _inspect(data: bytes, artifact_format: str, label: str, notes: list[str]) -> Any:
    from serving_app.loader import inspect  # serving owns loading: one loader

    try:
        return inspect(data, artifact_format=artifact_format, label=label)
    except Exception as exc:  # the load check will fail it with the reason and a hint
        notes.append(f"could not read the model here ({type(exc).__name__}: "
                     f"{getattr(exc, 'message', exc)}); its framework and feature names were "
                     "not inferred")
        return None


def _signature(example: pd.DataFrame | None, names: list[str] | None,
               legacy_names: list[str] | None) -> tuple[dict[str, Any], pd.DataFrame | None]:
    """The signature (and the example in the model's column order)."""
    trained = names or legacy_names
    if example is None:
        return (importing.signature_from_names(trained) if trained else {}), None
    if trained:
        given, wanted = [str(c) for c in example.columns], list(trained)
        if set(given) != set(wanted):
            missing = [c for c in wanted if c not in given]
            extra = [c for c in given if c not in wanted]
            raise InvalidMetadata(
                "The input example's columns differ from the model's features"
                + (f"; missing: {', '.join(missing)}" if missing else "")
                + (f"; not features: {', '.join(extra)}" if extra else "") + ".",
                details={"missing": missing, "unexpected": extra},
            )
        example = example[wanted]  # the order the model was trained with
    return importing.signature_from_frame(example), example


def version_import(
    *,
    model_name: str,
    data: bytes,
    filename: str,
    artifact_format: str = "",
    framework: str = "",
    legacy_metadata: Any = None,
    input_example: pd.DataFrame | None = None,
    signature: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    hyperparameters: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    version: str | None = None,
    bump: str | None = None,
    description: str = "",
    source_run_id: str = "",
    create_model: bool = False,
    created_by: Actor = None,
    signature_bundle: IO[bytes] | None = None,
) -> ImportResult:
    """Register `data` as a new version, with its signature from the input example, else
    from the model (feature names), else from the legacy metadata.json; a legacy folder's
    metrics, hyperparameters, training window and old version string come along. What is
    passed explicitly wins over what was inferred, key by key."""
    artifact_format, legacy = _read_request(data, filename, artifact_format, legacy_metadata)
    known = RegisteredModel.objects.filter(name=model_name).first()
    if known is not None:  # refused before the file is even read here
        roles.require_register(created_by, known)
    notes: list[str] = []
    inferred = _infer(data, artifact_format=artifact_format, label=f"{model_name} (import)",
                      framework=framework, input_example=input_example,
                      legacy_names=legacy.feature_names, notes=notes)
    _model_ensure(model_name, create_model=create_model, created_by=created_by)
    example = inferred.example
    row = version_register(
        model_name=model_name, artifact=io.BytesIO(data), framework=inferred.framework,
        artifact_format=artifact_format, version=version, bump=bump,
        metrics={**legacy.metrics, **(metrics or {})},
        hyperparameters={**legacy.hyperparameters, **(hyperparameters or {})},
        tags={**legacy.tags, **(tags or {})}, description=description,
        signature=signature or inferred.signature,
        input_example=importing.example_records(example) if example is not None else None,
        source_run_id=source_run_id, created_by=created_by,
        serving_input=inferred.serving_input, signature_bundle=signature_bundle,
    )
    if not row.signature:
        notes.append("no signature: give an input example, or the model's feature names are "
                     "unknown; serving will pass a float matrix")
    return ImportResult(row, notes)


def _read_request(
    data: bytes, filename: str, artifact_format: str, legacy_metadata: Any
) -> tuple[str, importing.LegacyMetadata]:
    """The size limit, the format (from the extension unless given), the legacy metadata."""
    if len(data) > settings.MAX_ARTIFACT_BYTES:
        raise ArtifactTooLarge(
            f"The artifact is larger than the limit of {settings.MAX_ARTIFACT_BYTES} bytes.")
    artifact_format = artifact_format or format_from_name(filename)
    if not artifact_format:
        raise InvalidMetadata(f"Cannot tell the format of {filename} from its extension; "
                              "give artifact_format (pickle, joblib, skops or onnx).")
    try:
        legacy = (importing.legacy_metadata(legacy_metadata) if legacy_metadata is not None
                  else importing.LegacyMetadata())
    except ImportProblem as exc:
        raise InvalidMetadata(str(exc)) from exc
    return artifact_format, legacy


@dataclass(frozen=True)
class _Inferred:
    framework: str
    signature: dict[str, Any]
    example: pd.DataFrame | None
    serving_input: str | None


def _infer(
    data: bytes,
    *,
    artifact_format: str,
    label: str,
    framework: str,
    input_example: pd.DataFrame | None,
    legacy_names: list[str] | None,
    notes: list[str],
) -> _Inferred:
    """What the model says about itself: feature names (so the signature), the framework,
    whether it was fitted on a matrix."""
    obj = _inspect(data, artifact_format, label, notes)
    names = importing.model_feature_names(obj) if obj is not None else None
    signature, example = _signature(input_example, names, legacy_names)
    serving_input = None
    if obj is not None and names is None and importing.is_library_estimator(obj):
        serving_input = "numpy"  # fitted on a matrix: a DataFrame would only draw warnings
    if not framework:
        framework = importing.infer_framework(obj) if obj is not None else "custom"
        notes.append(f"framework {framework} (inferred)")
    return _Inferred(framework, signature, example, serving_input)


def _model_ensure(
    model_name: str, *, create_model: bool, created_by: Actor
) -> None:
    if RegisteredModel.objects.filter(name=model_name).exists():
        return
    if not create_model:
        raise ModelNotFound(f"No registered model named '{model_name}'; create it first "
                            "(POST /api/v1/models/).")
    model_create(name=model_name, owner=created_by)
