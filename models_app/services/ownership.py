"""Who owns a registered model, and the audit trail of its settings (ModelChange)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from models_app import roles
from models_app.errors import InvalidMetadata, OwnerNotFound
from models_app.models import ModelChange, RegisteredModel
from models_app.roles import Actor


def model_change_record(
    *,
    model: RegisteredModel,
    actor: Actor,
    old: dict[str, Any],
    new: dict[str, Any],
    source: str = "",
) -> ModelChange:
    return ModelChange.objects.create(
        model=model,
        actor=roles.audited_user(actor),
        changes={field: {"old": old[field], "new": new[field]} for field in new},
        source=source,
    )


def model_owners(model: RegisteredModel) -> list[str]:
    """Usernames of every owner, the first owner first."""
    names = [model.owner.get_username()] if model.owner is not None else []
    names += sorted(u.get_username() for u in model.co_owners.all()
                    if u.pk != model.owner_id)
    return names


def _user(username: str) -> User:
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise OwnerNotFound(f"No active user named '{username}'.")
    return user


@transaction.atomic
def model_owner_add(
    *, model: RegisteredModel, username: str, actor: Actor, source: str = ""
) -> RegisteredModel:
    """Share ownership with a teammate (owners and release managers may)."""
    model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
    roles.require_model_change(actor, model, ["owners"])
    user = _user(username)
    before = model_owners(model)
    if user.get_username() in before:
        return model
    if model.owner_id is None:
        model.owner = user
        model.save(update_fields=["owner", "updated_at"])
    else:
        model.co_owners.add(user)
    model_change_record(model=model, actor=actor, old={"owners": before},
                        new={"owners": model_owners(model)}, source=source)
    return model


@transaction.atomic
def model_owner_remove(
    *, model: RegisteredModel, username: str, actor: Actor, source: str = ""
) -> RegisteredModel:
    """Take an owner off the model; a co-owner takes over when the first owner leaves."""
    model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
    roles.require_model_change(actor, model, ["owners"])
    before = model_owners(model)
    if username not in before:
        raise OwnerNotFound(f"{username} is not an owner of {model.name}.")
    if before == [username] and not roles.is_release_manager(actor):
        raise InvalidMetadata(
            f"{username} is the last owner of {model.name}; add another owner first "
            "(or ask a release manager).",
            code="last_owner",
        )
    user = _user(username)
    if model.owner_id == user.pk:
        successor = model.co_owners.exclude(pk=user.pk).order_by("username").first()
        model.owner = successor
        model.save(update_fields=["owner", "updated_at"])
        if successor is not None:
            model.co_owners.remove(successor)
    model.co_owners.remove(user)
    model_change_record(model=model, actor=actor, old={"owners": before},
                        new={"owners": model_owners(model)}, source=source)
    return model
