"""Changes to what was registered: a model's name, a version's description and tags.

Both are audited in the model's ModelChange trail (a version's fields under the key
`version <semver> <field>`). A renamed model keeps its artifacts where they are (each
version's row holds its path); registration never writes into a folder another model's
version uses (see registration._version_folder).
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from models_app import roles, signals
from models_app.errors import DuplicateModel, InvalidMetadata, ModelChangeNotPermitted
from models_app.models import ModelVersion, RegisteredModel
from models_app.roles import Actor
from models_app.services.ownership import model_change_record
from models_app.validation import MetadataError, clean_tags

NAME_MAX_LENGTH = 100


def _clean_name(name: str) -> str:
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_slug

    try:
        validate_slug(name)
    except ValidationError as exc:
        raise InvalidMetadata(
            f"'{name}' is not a model name: use letters, digits, '-' and '_'."
        ) from exc
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidMetadata(f"A model name has at most {NAME_MAX_LENGTH} characters.")
    return name


def model_rename(
    *, model: RegisteredModel, name: str, actor: Actor, source: str = ""
) -> RegisteredModel:
    """Give a model a new name (its owners and release managers may), audited."""
    name = _clean_name(name)
    try:
        with transaction.atomic():
            model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
            if actor is not None and not roles.is_owner_or_release_manager(actor, model):
                raise ModelChangeNotPermitted(
                    f"You may not rename {model.name}: that needs one of its owners or the "
                    f"'{roles.RELEASE_MANAGERS}' group."
                )
            if model.name == name:
                return model
            old = model.name
            model.name = name
            model.save(update_fields=["name", "updated_at"])
            model_change_record(model=model, actor=actor, old={"name": old},
                                new={"name": name}, source=source)
            return model
    except IntegrityError as exc:
        raise DuplicateModel(f"A model named '{name}' is already registered.") from exc


def version_update(
    *,
    version: ModelVersion,
    actor: Actor,
    description: str | None = None,
    tags: dict[str, str] | None = None,
    source: str = "",
) -> ModelVersion:
    """Change a version's description or tags (whoever may change the model's metadata),
    audited on the model."""
    wanted: dict[str, Any] = {}
    if description is not None:
        wanted["description"] = description
    if tags is not None:
        try:
            wanted["tags"] = clean_tags(tags)
        except MetadataError as exc:
            raise InvalidMetadata(str(exc)) from exc
    with transaction.atomic():
        model = RegisteredModel.objects.select_for_update().get(pk=version.model_id)
        roles.require_metadata(actor, model)
        version = ModelVersion.objects.select_related("model").get(pk=version.pk)
        changed = {f: v for f, v in wanted.items() if getattr(version, f) != v}
        if not changed:
            return version
        old = {f"version {version.version} {f}": getattr(version, f) for f in changed}
        for field, value in changed.items():
            setattr(version, field, value)
        version.save(update_fields=list(changed))
        model_change_record(
            model=model, actor=actor, old=old,
            new={f"version {version.version} {f}": v for f, v in changed.items()},
            source=source,
        )
        if "tags" in changed:
            signals.version_tags_changed.send(
                sender=ModelVersion, version=version,
                old=old[f"version {version.version} tags"], new=changed["tags"])
        return version
