from __future__ import annotations

import hashlib
import tempfile
from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError, transaction

from models_app import artifacts, roles, safe_pickle, selectors, signing
from models_app.artifact_checks import artifact_check
from models_app.choices import (
    ARTIFACT_FILENAMES,
    PICKLED_FORMATS,
    ArtifactFormat,
    Bump,
    Direction,
    Framework,
)
from models_app.errors import (
    ArtifactTooLarge,
    DisallowedPickle,
    DuplicateModel,
    DuplicateVersion,
    InvalidMetadata,
    InvalidVersion,
    MissingArtifact,
    ModelNotFound,
    SignatureInvalid,
)
from models_app.importing import choose_serving_input, signature_from_example
from models_app.models import ModelVersion, RegisteredModel, VersionMetric
from models_app.pickle_rules import pickle_policy
from models_app.roles import Actor
from models_app.services.signing import signature_check
from models_app.signals import model_created, version_created, version_registered
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
SPOOL_IN_MEMORY = 8 * 1024 * 1024  # smaller artifacts are hashed and checked in memory


def model_create(
    *,
    name: str,
    description: str = "",
    owner: Actor = None,
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
            model = RegisteredModel.objects.create(
                name=name,
                description=description,
                owner=roles.audited_user(owner),
                tags=cleaned_tags,
                metric_directions=directions,
                gates=cleaned_gates,
            )
            model_created.send(sender=RegisteredModel, model=model)
            return model
    except IntegrityError as exc:
        raise DuplicateModel(f"A model named '{name}' is already registered.") from exc


def model_update(
    *,
    model: RegisteredModel,
    actor: Actor = None,
    description: str | None = None,
    tags: dict[str, str] | None = None,
    metric_directions: dict[str, str] | None = None,
    gates: dict[str, Any] | None = None,
    require_four_eyes: bool | None = None,
    source: str = "",
) -> RegisteredModel:
    """Change a model's settings, each by the role that may (models_app.roles), audited
    with old and new values in one ModelChange row."""
    from models_app.gates import GateConfigError, clean_gates
    from models_app.services.ownership import model_change_record

    try:
        wanted: dict[str, Any] = {}
        if description is not None:
            wanted["description"] = description
        if tags is not None:
            wanted["tags"] = clean_tags(tags)
        if metric_directions is not None:
            wanted["metric_directions"] = _clean_directions(metric_directions)
        if gates is not None:
            wanted["gates"] = clean_gates(gates)
    except (MetadataError, GateConfigError) as exc:
        raise InvalidMetadata(str(exc)) from exc
    if require_four_eyes is not None:
        wanted["require_four_eyes"] = bool(require_four_eyes)
    with transaction.atomic():
        model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
        roles.require_model_change(actor, model, wanted)
        changed = {f: v for f, v in wanted.items() if getattr(model, f) != v}
        if not changed:
            return model
        old = {field: getattr(model, field) for field in changed}
        for field, value in changed.items():
            setattr(model, field, value)
        model.save()
        model_change_record(model=model, actor=actor, old=old, new=changed, source=source)
    return model


def _clean_directions(directions: dict[str, str] | None) -> dict[str, str]:
    directions = clean_object(directions, "metric_directions")
    for metric, direction in directions.items():
        if direction not in Direction.values:
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


def _check_pickle(stream: IO[bytes], artifact_format: str) -> None:
    """Refuse what the restricted loader would refuse, reading opcodes and executing nothing."""
    try:
        safe_pickle.check_file(stream, artifact_format, pickle_policy())
    except safe_pickle.UnsafePickle as exc:
        details = {"global": exc.global_name} if exc.global_name else {}
        raise DisallowedPickle(f"The artifact was refused: {exc.reason}", details=details) from exc
    finally:
        stream.seek(0)


def _choose_version(model: RegisteredModel, version: str | None, bump: str | None) -> str:
    try:
        if version:
            return str(parse_version(version))
        latest = selectors.version_latest(model=model)
        return str(next_version(parse_version(latest.version) if latest else None,
                                bump or Bump.MINOR))
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
    created_by: Actor = None,
    signature_bundle: IO[bytes] | None = None,
    serving_input: str | None = None,
) -> ModelVersion:
    """Register a version: the row, the artifact and its sidecar, or nothing at all.

    `signature_bundle` is a model-signing bundle of the artifact (required when the model
    requires signed artifacts; verified against the model's trusted keys whenever given).

    Without an explicit version the next one is computed from the highest existing version
    by `bump` (minor by default; a model's first version is 1.0.0), under a row lock on the
    registered model so concurrent registrations never share a number. The same lock gives
    the version its per-model sequence number (1, 2, 3: the MLflow API's version numbers).
    """
    fields = _validate(
        framework=framework, artifact_format=artifact_format, version=version,
        metrics=metrics, hyperparameters=hyperparameters, tags=tags, signature=signature,
        input_example=input_example, serving_input=serving_input,
    )
    if artifact is None:
        raise MissingArtifact("An artifact file is required to register a version.")
    known = RegisteredModel.objects.filter(name=model_name).first()
    if known is not None:  # refused before a byte is read; unknown names 404 below
        roles.require_register(created_by, known)
    bundle = _read_bundle(signature_bundle)
    spooled, sha256, size = _spool(artifact)
    written: list[str] = []
    try:
        _check_artifact(spooled, artifact_format=artifact_format, size=size)
        with transaction.atomic():
            row = _record(
                model_name=model_name, version=version, bump=bump, spooled=spooled,
                bundle=bundle, created_by=created_by, framework=framework,
                artifact_format=artifact_format, description=description,
                artifact_sha256=sha256, artifact_size=size, source_run_id=source_run_id,
                **fields,
            )
            _store(row, spooled=spooled, bundle=bundle, written=written)
            version_created.send(sender=ModelVersion, version=row)
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


def _validate(
    *,
    framework: str,
    artifact_format: str,
    version: str | None,
    metrics: dict[str, float] | None,
    hyperparameters: dict[str, Any] | None,
    tags: dict[str, str] | None,
    signature: dict[str, Any] | None,
    input_example: Any,
    serving_input: str | None,
) -> dict[str, Any]:
    """The metadata, checked and cleaned before a byte of the artifact is read: the row's
    JSON fields and how serving hands it rows."""
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
        if not fields["signature"].get("inputs"):
            # Column errors are then caught before the model, not blamed on it.
            fields["signature"] = {**fields["signature"],
                                   **signature_from_example(fields["input_example"])}
        fields["serving_input"] = choose_serving_input(
            signature=fields["signature"], artifact_format=artifact_format,
            tags=fields["tags"], requested=serving_input,
        )
    except MetadataError as exc:
        raise InvalidMetadata(str(exc)) from exc
    return fields


def _check_artifact(spooled: IO[bytes], *, artifact_format: str, size: int) -> None:
    """Refuse an empty, unsafe or malformed artifact, executing nothing."""
    if size == 0:
        raise MissingArtifact("The artifact file is empty.")
    if artifact_format in PICKLED_FORMATS:
        _check_pickle(spooled, artifact_format)
    artifact_check(artifact_format=artifact_format, stream=spooled, size=size)


def _record(
    *,
    model_name: str,
    version: str | None,
    bump: str | None,
    spooled: IO[bytes],
    bundle: bytes | None,
    created_by: Actor,
    artifact_format: str,
    **fields: Any,
) -> ModelVersion:
    """The row, under the registered model's lock: the signature verified, the version
    number chosen, the storage paths fixed."""
    model = _locked_model(model_name)
    signed_with = signature_check(model=model, artifact=spooled, bundle=bundle)
    chosen = _choose_version(model, version, bump)
    parsed = parse_version(chosen)
    sequence = selectors.version_next_sequence(model=model)  # safe: the model row is locked
    folder = _version_folder(model, chosen)
    row = ModelVersion.objects.create(
        model=model,
        version=chosen,
        sequence=sequence,
        major=parsed.major,
        minor=parsed.minor,
        patch=parsed.patch,
        artifact_format=artifact_format,
        artifact_path=f"{folder}/{ARTIFACT_FILENAMES[ArtifactFormat(artifact_format)]}",
        signature_bundle=f"{folder}/{artifacts.SIGNATURE_BUNDLE}" if bundle else "",
        signed_with=signed_with,
        created_by=roles.audited_user(created_by),
        **fields,
    )
    VersionMetric.objects.bulk_create(
        VersionMetric(version=row, key=key, value=value) for key, value in row.metrics.items())
    return row


def _version_folder(model: RegisteredModel, version: str) -> str:
    """<name>/<version>, unless a version of another model (one renamed, or deleted through
    MLflow, that had this name) keeps its files there: then <name>.<model id>/<version>,
    which no slug can name."""
    folder = artifacts.version_folder(model.name, version)
    taken = ModelVersion.objects.filter(
        artifact_path__in=[f"{folder}/{name}" for name in ARTIFACT_FILENAMES.values()]
    ).exclude(model=model).exists()
    return artifacts.version_folder(f"{model.name}.{model.pk}", version) if taken else folder


def _store(
    row: ModelVersion, *, spooled: IO[bytes], bundle: bytes | None, written: list[str]
) -> None:
    """The artifact, its signature bundle and the sidecar, in the version's folder; each
    name joins `written` before its write, for the caller to remove on failure."""
    folder = row.artifact_path.rsplit("/", 1)[0]
    written.append(row.artifact_path)
    artifacts.artifact_save(row.artifact_path, spooled)
    if bundle is not None:
        written.append(row.signature_bundle)
        artifacts.signature_save(folder, bundle)
    written.append(f"{folder}/{artifacts.SIDECAR}")
    artifacts.sidecar_write(folder, version_metadata(row))


def _read_bundle(stream: IO[bytes] | None) -> bytes | None:
    if stream is None:
        return None
    bundle = stream.read(signing.MAX_BUNDLE_BYTES + 1)
    if len(bundle) > signing.MAX_BUNDLE_BYTES:
        raise SignatureInvalid(
            f"The signature bundle is over {signing.MAX_BUNDLE_BYTES} bytes; a model-signing "
            "bundle is a few kilobytes."
        )
    return bundle


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
        "signature_bundle": version.signature_bundle,
        "signed_with": version.signed_with,
        "created_by": version.created_by.get_username() if version.created_by else None,
        "created_at": version.created_at.isoformat(),
    }


def version_register_from_path(*, path: str, **kwargs: Any) -> ModelVersion:
    with open(path, "rb") as stream:
        return version_register(artifact=stream, **kwargs)
