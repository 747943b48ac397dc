"""Writes for MLflow's model-registry protocol, each through models_app's services: the same
roles, FSM, gates, four-eyes rule, load check and audit trail as Axion's own API (source
"mlflow"). Only what Axion has no column for (deletions) is written here.

Stage moves (MLflow -> Axion):
- Staging: draft -> staging (submit; the load-check gate applies).
- Production: promotion with every gate; the production version is archived in the same
  transaction whatever `archive_existing_versions` says (Axion keeps one in production).
  With `archive_existing_versions`, other staging versions go back to draft.
- Archived: production -> archived (release managers); draft or staging -> deprecated,
  which MLflow shows as Archived (`axion.stage` says which).
- None: staging -> draft (reject).
Asking for the stage a version already shows is accepted and changes nothing.
"""

from __future__ import annotations

from django.db import transaction

from axion_registry.errors import Conflict
from mlflow_app import registry_shapes as rshapes
from mlflow_app.models import ModelDeletion, VersionDeletion
from mlflow_app.registry_selectors import visible_versions
from models_app import roles
from models_app import services as registry
from models_app.choices import Stage
from models_app.errors import ModelChangeNotPermitted
from models_app.models import ModelVersion, RegisteredModel
from models_app.roles import Actor

SOURCE = "mlflow"


class ProductionVersionKept(Conflict):
    code = "production_version"


def model_create(*, name: str, description: str, tags: dict[str, str],
                 actor: Actor) -> RegisteredModel:
    """A new registered model owned by the caller, with Axion's default gates."""
    return registry.model_create(name=rshapes.model_name(name), description=description,
                                 tags=tags, owner=actor)


def model_tag_set(*, model: RegisteredModel, key: str, value: str,
                  actor: Actor) -> RegisteredModel:
    key = rshapes.writable_tag(key)
    return registry.model_update(model=model, actor=actor, tags={**model.tags, key: value},
                                 source=SOURCE)


def model_tag_delete(*, model: RegisteredModel, key: str, actor: Actor) -> RegisteredModel:
    key = rshapes.writable_tag(key)
    tags = {k: v for k, v in model.tags.items() if k != key}
    return registry.model_update(model=model, actor=actor, tags=tags, source=SOURCE)


def version_tag_set(*, version: ModelVersion, key: str, value: str,
                    actor: Actor) -> ModelVersion:
    key = rshapes.writable_tag(key)
    return registry.version_update(version=version, actor=actor,
                                   tags={**version.tags, key: value}, source=SOURCE)


def version_tag_delete(*, version: ModelVersion, key: str, actor: Actor) -> ModelVersion:
    key = rshapes.writable_tag(key)
    tags = {k: v for k, v in version.tags.items() if k != key}
    return registry.version_update(version=version, actor=actor, tags=tags, source=SOURCE)


def _move(version: ModelVersion, to: str, actor: Actor, reason: str) -> None:
    registry.version_transition(version=version, to=to, actor=actor, reason=reason,
                                source=SOURCE)


def _reject_other_staging(version: ModelVersion, actor: Actor) -> None:
    others = visible_versions().filter(model_id=version.model_id, stage=Stage.STAGING).exclude(
        pk=version.pk).select_related("model")
    for other in others:
        _move(other, Stage.DRAFT, actor,
              f"archive_existing_versions: version {version.sequence} entered staging")


def version_stage_move(*, version: ModelVersion, stage: str, archive_existing: bool,
                       actor: Actor) -> None:
    """MLflow's TransitionModelVersionStage on Axion's lifecycle (see the module's map); the
    answer reads the moved row afresh (registry_selectors.version_answer)."""
    wanted = rshapes.canonical_stage(stage)
    if archive_existing and wanted not in rshapes.ACTIVE_STAGES:
        raise rshapes.ShapeError(
            f"archive_existing_versions applies to {' or '.join(rshapes.ACTIVE_STAGES)} only, "
            f"not to '{wanted}'.")
    reason = f"MLflow transition to {wanted}"
    if rshapes.mlflow_stage(version.stage) != wanted:
        target = rshapes.TO_AXION[wanted]
        if wanted == rshapes.STAGE_ARCHIVED and version.stage != Stage.PRODUCTION:
            target = Stage.DEPRECATED
        if wanted == rshapes.STAGE_NONE and version.stage == Stage.PRODUCTION:
            raise ProductionVersionKept(
                f"{version} is in production; Axion does not send a production version back "
                "to draft. Transition it to Archived (or roll the model back) instead.")
        _move(version, target, actor, reason)
    if archive_existing and wanted == rshapes.STAGE_STAGING:
        _reject_other_staging(version, actor)


def _require_not_production(version: ModelVersion, what: str) -> None:
    if version.stage == Stage.PRODUCTION:
        raise ProductionVersionKept(
            f"{what}: version {version.sequence} ({version.version}) is in production. "
            "Transition it to Archived (or promote another version) first.")


def _retire(version: ModelVersion, actor: Actor, reason: str) -> None:
    if version.stage != Stage.DEPRECATED:
        _move(version, Stage.DEPRECATED, actor, reason)


def _drop_aliases(version: ModelVersion, actor: Actor) -> None:
    """MLflow removes a deleted version's aliases (a release manager's move in Axion)."""
    for name in version.aliases.values_list("name", flat=True):
        registry.alias_delete(model=version.model, alias=name, actor=actor, source=SOURCE,
                              reason=f"version {version.sequence} deleted through MLflow")


@transaction.atomic
def version_delete(*, version: ModelVersion, actor: Actor) -> None:
    """Hide the version from MLflow; Axion deprecates it and keeps it, audited."""
    _require_not_production(version, f"Cannot delete {version}")
    _drop_aliases(version, actor)
    _retire(version, actor, "deleted through MLflow")
    VersionDeletion.objects.create(version=version, deleted_by=roles.audited_user(actor))


def _tombstone_name(model: RegisteredModel) -> str:
    suffix = f"-deleted-{model.pk}"
    return model.name[:rshapes.MAX_NAME_LENGTH - len(suffix)] + suffix


@transaction.atomic
def model_delete(*, model: RegisteredModel, actor: Actor) -> None:
    """Hide the model from MLflow and free its name: Axion deprecates its versions and keeps
    the model under `<name>-deleted-<id>`, audited. Its owners or a release manager may."""
    if actor is not None and not roles.is_owner_or_release_manager(actor, model):
        raise ModelChangeNotPermitted(
            f"You may not delete {model.name}: that needs one of its owners or the "
            f"'{roles.RELEASE_MANAGERS}' group.")
    versions = list(visible_versions().filter(model=model).select_related("model"))
    for version in versions:
        _require_not_production(version, f"Cannot delete the registered model {model.name}")
    for version in versions:
        _drop_aliases(version, actor)
        _retire(version, actor, f"registered model {model.name} deleted through MLflow")
    name = model.name
    registry.model_rename(model=model, name=_tombstone_name(model), actor=actor,
                          source=SOURCE)
    ModelDeletion.objects.create(model=model, name=name, deleted_by=roles.audited_user(actor))


def model_rename(*, model: RegisteredModel, new_name: str, actor: Actor) -> RegisteredModel:
    return registry.model_rename(model=model, name=rshapes.model_name(new_name,
                                                                       field="new_name"),
                                 actor=actor, source=SOURCE)
