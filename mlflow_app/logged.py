"""An MLflow model folder registered as an Axion version, and back.

`version_from_source` takes what MLflow's CreateModelVersion names as `source` (a logged
model `models:/m-<id>`, `runs:/<run_id>/<path>`, or an `mlflow-artifacts:/` URI of a logged
model's or a run's model folder), reads the folder's `MLmodel`, and registers the file
Axion's serving loads (the sklearn flavor's pickle, cloudpickle or skops file) through
`models_app.services.version_register`: the same safety checks as any upload, the signature
and input example from MLmodel, the source run's latest metrics as reported metrics and the
logged model's params as hyperparameters. Each registration takes the next minor version
(1.0.0, 1.1.0, 1.2.0, ...): MLflow's numbers count registrations, so no registration is a
breaking (major) or a fix-only (patch) change by itself; Axion's own API can still register
any number. A `VersionSource` row keeps the folder, so `version_download_uri` answers the
URI mlflow's pyfunc downloads whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.db import transaction

from experiments_app.models import Run
from experiments_app.selectors.artifacts import run_artifact_root
from experiments_app.selectors.mlflow_support import runs_latest_points, runs_params
from mlflow_app import logged_selectors, mlmodel, selectors
from mlflow_app.errors import invalid, not_found
from mlflow_app.models import LoggedModel, RunOutput, VersionSource
from models_app import artifacts
from models_app.models import ModelVersion, RegisteredModel
from models_app.roles import Actor
from models_app.services import version_register
from models_app.vocabulary import Bump

MODELS_SCHEME = "models:/"
RUNS_SCHEME = "runs:/"
ARTIFACTS_SCHEME = "mlflow-artifacts:"


@dataclass(frozen=True)
class ModelFolder:
    """An MLflow model folder in Axion's storage."""

    storage_root: str
    artifact_uri: str
    logged_model: LoggedModel | None
    run: Run | None


def _logged_folder(model: LoggedModel) -> ModelFolder:
    if model.status == LoggedModel.Status.FAILED:
        raise invalid(f"The logged model {model.model_id} failed to upload; log it again.")
    return ModelFolder(model.artifact_root, logged_selectors.artifact_uri(model), model,
                       model.source_run)


def _run_folder(run: Run, relative: str) -> ModelFolder:
    """A run's model: a folder of its artifacts holding an MLmodel (MLflow 2's log_model),
    else the logged model the run output under that name (the latest step wins)."""
    root = run_artifact_root(run.run_id) + (f"/{relative}" if relative else "")
    if artifacts.artifact_exists(f"{root}/{mlmodel.MLMODEL_FILE}"):
        return ModelFolder(root, ARTIFACTS_SCHEME + "/" + root, None, run)
    output = (RunOutput.objects.filter(run=run, logged_model__name=relative,
                                       logged_model__deleted_at__isnull=True)
              .select_related("logged_model__source_run")
              .order_by("-step", "-logged_model__created_at").first())
    logged = output.logged_model if output else LoggedModel.objects.filter(
        source_run=run, name=relative, deleted_at__isnull=True).order_by("-created_at").first()
    if logged is None:
        raise not_found(f"Run {run.run_id} has no model at '{relative}': no MLmodel file "
                        "there and no logged model of that name.")
    return _logged_folder(logged)


def _artifact_folder(path: str) -> ModelFolder:
    if path.startswith("experiments/"):
        model, relative = logged_selectors.logged_model_at(path)
        if relative:
            raise invalid(f"Register the logged model's folder itself: "
                          f"{logged_selectors.artifact_uri(model)}.")
        return _logged_folder(model)
    run, relative = selectors.artifact_run(path)
    return _run_folder(run, relative)


def model_folder(source: str) -> ModelFolder:
    """The MLflow model folder a CreateModelVersion `source` names."""
    if source.startswith(MODELS_SCHEME):
        reference = source[len(MODELS_SCHEME):].strip("/")
        if reference.startswith("m-") and "/" not in reference:
            return _logged_folder(logged_selectors.logged_model_by_id(reference))
        raise invalid(f"The source {source!r} is not a logged model (models:/m-<id>); "
                      "register from a logged model, a run's model or its artifact URI.")
    if source.startswith(RUNS_SCHEME):
        run_id, _, path = source[len(RUNS_SCHEME):].strip("/").partition("/")
        return _run_folder(selectors.run_by_id(run_id), selectors.clean_relative(path))
    if source.startswith(ARTIFACTS_SCHEME):
        path = source[len(ARTIFACTS_SCHEME):]
        if path.startswith("//"):  # mlflow-artifacts://host/path: the path is what counts
            path = "/" + path[2:].partition("/")[2]
        return _artifact_folder(path.strip("/"))
    raise invalid(f"The source {source!r} is not a model Axion stores: use models:/m-<id>, "
                  "runs:/<run_id>/<path> or an mlflow-artifacts:/ URI.")


def _read(folder: ModelFolder, relative: str, limit: int) -> bytes:
    name = f"{folder.storage_root}/{relative}"
    try:
        with artifacts.artifact_open(name) as stream:
            content = stream.read(limit + 1)
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise invalid(f"The model at {folder.artifact_uri} has no file '{relative}'.") from exc
    if len(content) > limit:
        raise invalid(f"The model's {relative} is over {limit} bytes.")
    return content


def _servable(folder: ModelFolder) -> tuple[mlmodel.ServableModel, object]:
    """What MLmodel names, and the input example it saved (None when none)."""
    try:
        servable = mlmodel.servable(mlmodel.parse(
            _read(folder, mlmodel.MLMODEL_FILE, mlmodel.MAX_MLMODEL_BYTES)))
        example = None
        if servable.example_path:
            example = mlmodel.input_example(
                _read(folder, servable.example_path, mlmodel.MAX_EXAMPLE_BYTES),
                example_type=servable.example_type, named=bool(servable.signature))
    except mlmodel.MLmodelProblem as exc:
        raise invalid(f"The model at {folder.artifact_uri} cannot be served by Axion: {exc}"
                      ) from exc
    return servable, example


def _source_run(folder: ModelFolder, run_id: str) -> Run | None:
    if folder.run is not None:
        return folder.run
    return selectors.run_by_id(run_id) if run_id else None


def _reported_metrics(run: Run | None) -> dict[str, float]:
    if run is None:
        return {}
    return {key: value for key, value, is_nan, _step, _stamp in runs_latest_points([run.pk])
            .get(run.pk, []) if not is_nan and math.isfinite(value)}


def _hyperparameters(folder: ModelFolder, run: Run | None) -> dict[str, str]:
    if folder.logged_model is not None:
        return dict(folder.logged_model.params or {})
    return dict(runs_params([run.pk]).get(run.pk, {})) if run is not None else {}


def version_from_source(
    *,
    model: RegisteredModel,
    source: str,
    run_id: str,
    user: Actor,
    description: str,
    tags: dict[str, str],
) -> ModelVersion:
    """A new version of `model` from an MLflow model folder (see the module's docstring).
    The file streams from storage into the registration; refusals are MLflow errors
    (INVALID_PARAMETER_VALUE with the reason, RESOURCE_DOES_NOT_EXIST, PERMISSION_DENIED)."""
    folder = model_folder(source)
    servable, example = _servable(folder)
    run = _source_run(folder, run_id)
    name = f"{folder.storage_root}/{servable.artifact_path}"
    with transaction.atomic():
        try:
            stream = artifacts.artifact_open(name)
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise invalid(f"The model at {folder.artifact_uri} has no file "
                          f"'{servable.artifact_path}' (MLmodel's pickled_model).") from exc
        with stream:
            version = version_register(
                model_name=model.name, artifact=stream, framework=servable.framework,
                artifact_format=servable.artifact_format, bump=Bump.MINOR,
                metrics=_reported_metrics(run), hyperparameters=_hyperparameters(folder, run),
                tags=tags, description=description, signature=servable.signature,
                input_example=example, source_run_id=run.run_id if run else "",
                created_by=user,
            )
        VersionSource.objects.create(
            version=version, logged_model=folder.logged_model, source=source,
            artifact_uri=folder.artifact_uri, storage_root=folder.storage_root,
        )
    return version


def version_download_uri(version: ModelVersion) -> str:
    """The MLflow model folder of a version registered through MLflow (its logged model's
    artifact URI, an mlflow-artifacts:/ URI); a version registered through Axion's own API
    has none, which is a RESOURCE_DOES_NOT_EXIST."""
    found = VersionSource.objects.filter(version=version).values_list("artifact_uri",
                                                                      flat=True).first()
    if found is None:
        raise not_found(
            f"Version {version.version} of {version.model.name} was registered through "
            "Axion's API, not from an MLflow model, so it has no MLflow model folder; "
            f"download its artifact from /api/v1/models/{version.model.name}/versions/"
            f"{version.version}/."
        )
    return found
