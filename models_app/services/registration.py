from __future__ import annotations

import hashlib
import io
import tempfile
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from models_app import artifacts
from models_app.choices import ARTIFACT_FILENAMES, PICKLED_FORMATS, ArtifactFormat, Framework
from models_app.errors import (
    ArtifactTooLarge,
    DisallowedPickle,
    DuplicateModel,
    DuplicateVersion,
    InvalidMetadata,
    InvalidVersion,
    MissingArtifact,
    ModelNotFound,
)
from models_app.importing import choose_serving_input
from models_app.integrity import scan_pickle
from models_app.models import ModelVersion, RegisteredModel
from models_app.signals import version_registered
from models_app.validation import (
    MetadataError,
    clean_json,
    clean_metrics,
    clean_object,
    clean_signature,
    clean_tags,
)
from models_app.versioning import VersionError, next_version, parse_version

CHUNK = 1024 * 1024
SPOOL_IN_MEMORY = 8 * 1024 * 1024  # smaller artifacts are hashed and scanned in memory


def model_create(
    *,
    name: str,
    description: str = "",
    owner: AbstractBaseUser | None = None,
    tags: dict[str, str] | None = None,
    metric_directions: dict[str, str] | None = None,
    gates: dict[str, Any] | None = None,
) -> RegisteredModel:
    from models_app.gates import GateConfigError, clean_gates

    try:
        directions = _clean_directions(metric_directions)
        cleaned_gates = clean_gates(gates or {})
        cleaned_tags = clean_tags(tags)
    except (MetadataError, GateConfigError) as exc:
        raise InvalidMetadata(str(exc)) from exc
    try:
        with transaction.atomic():
            return RegisteredModel.objects.create(
                name=name,
                description=description,
                owner=owner if owner is not None and owner.is_authenticated else None,
                tags=cleaned_tags,
                metric_directions=directions,
                gates=cleaned_gates,
            )
    except IntegrityError as exc:
        raise DuplicateModel(f"A model named '{name}' is already registered.") from exc


def model_update(
    *,
    model: RegisteredModel,
    description: str | None = None,
    tags: dict[str, str] | None = None,
    metric_directions: dict[str, str] | None = None,
    gates: dict[str, Any] | None = None,
) -> RegisteredModel:
    from models_app.gates import GateConfigError, clean_gates

    try:
        if description is not None:
            model.description = description
        if tags is not None:
            model.tags = clean_tags(tags)
        if metric_directions is not None:
            model.metric_directions = _clean_directions(metric_directions)
        if gates is not None:
            model.gates = clean_gates(gates)
    except (MetadataError, GateConfigError) as exc:
        raise InvalidMetadata(str(exc)) from exc
    model.save()
    return model


def _clean_directions(directions: dict[str, str] | None) -> dict[str, str]:
    directions = clean_object(directions, "metric_directions")
    for metric, direction in directions.items():
        if direction not in ("higher", "lower"):
            raise MetadataError(
                f"metric_directions['{metric}'] is {direction!r}; use 'higher' or 'lower'."
            )
    return directions


def _spool(artifact: IO[bytes]) -> tuple[tempfile.SpooledTemporaryFile, str, int]:
    """Copy an upload to a temporary file, hashing as it streams; never all in memory."""
    spooled = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    digest = hashlib.sha256()
    size = 0
    limit = settings.MAX_ARTIFACT_BYTES
    if getattr(artifact, "seekable", lambda: False)():
        artifact.seek(0)
    while chunk := artifact.read(CHUNK):
        size += len(chunk)
        if size > limit:
            spooled.close()
            raise ArtifactTooLarge(
                f"The artifact is larger than the limit of {limit} bytes (MAX_ARTIFACT_BYTES)."
            )
        digest.update(chunk)
        spooled.write(chunk)
    spooled.seek(0)
    return spooled, digest.hexdigest(), size


def _check_pickle(stream: IO[bytes], size: int) -> None:
    # The scanner reads opcode by opcode: a plain in-memory buffer is far faster to scan.
    source = io.BytesIO(stream.read()) if size <= SPOOL_IN_MEMORY else stream
    scan = scan_pickle(source, settings.PICKLE_ALLOWED_PREFIXES)
    stream.seek(0)
    if scan.error:
        raise DisallowedPickle(f"The artifact was refused: {scan.error}.")
    if scan.disallowed:
        names = ", ".join(scan.disallowed)
        raise DisallowedPickle(
            f"The pickle imports {names}, outside the allowed modules "
            f"({', '.join(settings.PICKLE_ALLOWED_PREFIXES)}). Loading it could run code.",
            details={"disallowed_imports": list(scan.disallowed)},
        )


def _choose_version(model: RegisteredModel, version: str | None, bump: str | None) -> str:
    try:
        if version:
            return str(parse_version(version))
        latest = (
            ModelVersion.objects.filter(model=model)
            .order_by("-major", "-minor", "-patch")
            .values_list("version", flat=True)
            .first()
        )
        return str(next_version(parse_version(latest) if latest else None, bump or "minor"))
    except VersionError as exc:
        raise InvalidVersion(str(exc)) from exc


def version_register(
    *,
    model_name: str,
    artifact: IO[bytes] | None,
    framework: str,
    artifact_format: str,
    version: str | None = None,
    bump: str | None = None,
    metrics: dict[str, float] | None = None,
    hyperparameters: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    description: str = "",
    signature: dict[str, Any] | None = None,
    input_example: Any = None,
    source_run_id: str = "",
    created_by: AbstractBaseUser | None = None,
    serving_input: str | None = None,
) -> ModelVersion:
    """Register a version: the row, the artifact and its sidecar, or nothing at all.

    Without an explicit version the next one is computed from the highest existing version
    by `bump` (minor by default; a model's first version is 1.0.0), under a row lock on the
    registered model so concurrent registrations never share a number.
    """
    if framework not in Framework.values:
        raise InvalidMetadata(
            f"Unknown framework '{framework}'; use one of {', '.join(Framework.values)}."
        )
    if artifact_format not in ArtifactFormat.values:
        raise InvalidMetadata(
            f"Unknown artifact format '{artifact_format}'; "
            f"use one of {', '.join(ArtifactFormat.values)}."
        )
    if version:
        try:
            parse_version(version)
        except VersionError as exc:
            raise InvalidVersion(str(exc)) from exc
    try:
        fields = {
            "metrics": clean_metrics(metrics),
            "hyperparameters": clean_object(hyperparameters, "hyperparameters"),
            "tags": clean_tags(tags),
            "signature": clean_signature(signature),
            "input_example": clean_json(input_example, "input_example"),
        }
        fields["serving_input"] = choose_serving_input(
            signature=fields["signature"], artifact_format=artifact_format,
            tags=fields["tags"], requested=serving_input,
        )
    except MetadataError as exc:
        raise InvalidMetadata(str(exc)) from exc
    if artifact is None:
        raise MissingArtifact("An artifact file is required to register a version.")

    spooled, sha256, size = _spool(artifact)
    written: list[str] = []
    try:
        if size == 0:
            raise MissingArtifact("The artifact file is empty.")
        if artifact_format in PICKLED_FORMATS:
            _check_pickle(spooled, size)
        with transaction.atomic():
            model = _locked_model(model_name)
            chosen = _choose_version(model, version, bump)
            parsed = parse_version(chosen)
            folder = artifacts.version_folder(model.name, chosen)
            row = ModelVersion.objects.create(
                model=model,
                version=chosen,
                major=parsed.major,
                minor=parsed.minor,
                patch=parsed.patch,
                framework=framework,
                artifact_format=artifact_format,
                description=description,
                artifact_path=f"{folder}/{ARTIFACT_FILENAMES[artifact_format]}",
                artifact_sha256=sha256,
                artifact_size=size,
                source_run_id=source_run_id,
                created_by=created_by if created_by is not None and created_by.is_authenticated
                else None,
                **fields,
            )
            written.append(row.artifact_path)
            artifacts.artifact_save(row.artifact_path, spooled)
            written.append(f"{folder}/{artifacts.SIDECAR}")
            artifacts.sidecar_write(folder, version_metadata(row))
            _announce_registered(row)
    except IntegrityError as exc:
        _remove(written)
        raise DuplicateVersion(
            f"{model_name} already has version {version or 'that number'}"
            + ("." if version else "; another registration took it first, try again.")
        ) from exc
    except BaseException:
        _remove(written)
        raise
    finally:
        spooled.close()
    return row


def _announce_registered(row: ModelVersion) -> None:
    payload = {"version_id": row.pk, "model_name": row.model.name, "version": row.version}
    transaction.on_commit(lambda: version_registered.send(sender=ModelVersion, **payload))


def _locked_model(model_name: str) -> RegisteredModel:
    try:
        return RegisteredModel.objects.select_for_update().get(name=model_name)
    except RegisteredModel.DoesNotExist as exc:
        raise ModelNotFound(
            f"No registered model named '{model_name}'; create it first (POST /api/v1/models/)."
        ) from exc


def _remove(names: list[str]) -> None:
    for name in names:
        try:
            artifacts.artifact_delete(name)
        except OSError:
            pass


def version_metadata(version: ModelVersion) -> dict[str, Any]:
    """What the sidecar holds: the row's registration fields, the sha256 included.

    The stage is left out: it changes over the version's life and the audit trail owns it.
    """
    return {
        "model": version.model.name,
        "version": version.version,
        "framework": version.framework,
        "artifact_format": version.artifact_format,
        "metrics": version.metrics,
        "hyperparameters": version.hyperparameters,
        "tags": version.tags,
        "description": version.description,
        "signature": version.signature,
        "input_example": version.input_example,
        "serving_input": version.serving_input,
        "artifact_path": version.artifact_path,
        "artifact_sha256": version.artifact_sha256,
        "artifact_size": version.artifact_size,
        "source_run_id": version.source_run_id,
        "created_by": version.created_by.get_username() if version.created_by else None,
        "created_at": version.created_at.isoformat(),
    }


def version_verify_artifact(*, version: ModelVersion) -> bool:
    """True when the stored artifact still hashes to the sha256 recorded at registration."""
    if not artifacts.artifact_exists(version.artifact_path):
        return False
    return artifacts.artifact_sha256(version.artifact_path) == version.artifact_sha256


def version_register_from_path(*, path: str, **kwargs: Any) -> ModelVersion:
    with open(path, "rb") as stream:
        return version_register(artifact=stream, **kwargs)
