"""Aliases: a model's named pointers at its versions ("champion", "candidate").

Who may: only release managers set, move or delete an alias (models_app.roles
`may_change_alias`). Serving answers `/serve/<model>@<alias>/` with the aliased version, so
pointing an alias at a version puts that version in front of whatever traffic asks for the
alias: a deployment decision, like a promotion, and a signed-in account, an owner or a
publisher is not a release manager. Internal callers (actor None) are trusted.

What an alias never does: change a stage, pass a gate or start a load check. Any version of
the model may be aliased (a release manager may park "candidate" on a draft); serving then
answers through the alias only for a version whose load check passed, and only to callers
who may serve that version's stage anyway (serving_app.access), so an alias opens no path
to a version that asking for its number would not.

Every set, move and delete is kept (AliasChange: who, when, from, to, why, from where) and
announced after commit (models_app.signals.alias_changed: serving bumps the model's
generation so every process re-reads its aliases; webhooks deliver it).
"""

from __future__ import annotations

import re

from django.db import transaction
from django.utils import timezone

from models_app import roles
from models_app.errors import AliasNotFound, InvalidAlias
from models_app.models import AliasChange, ModelAlias, ModelVersion, RegisteredModel
from models_app.roles import Actor
from models_app.signals import alias_changed

MAX_ALIAS_LENGTH = 255
_ALIAS_NAME = re.compile(r"[A-Za-z0-9_-]+")
_VERSION_LIKE = re.compile(r"[vV]\d+")
RESERVED_ALIAS = "latest"


def alias_name_clean(name: str) -> str:
    """The alias name, or InvalidAlias saying why not (MLflow's rules: letters, digits, `_`
    and `-`; not `latest`, which MLflow resolves to the newest version; not `v<digits>`,
    which reads as a version)."""
    if not isinstance(name, str) or not name:
        raise InvalidAlias("An alias needs a name, such as 'champion'.")
    if len(name) > MAX_ALIAS_LENGTH:
        raise InvalidAlias(f"The alias name is {len(name)} characters long; keep it to "
                           f"{MAX_ALIAS_LENGTH}.")
    if not _ALIAS_NAME.fullmatch(name):
        raise InvalidAlias(f"'{name}' is not an alias name: use letters, digits, '_' and "
                           "'-' only.")
    if name.lower() == RESERVED_ALIAS:
        raise InvalidAlias("'latest' is reserved (it always means the newest version); "
                           "choose another alias name.")
    if _VERSION_LIKE.fullmatch(name):
        raise InvalidAlias(f"'{name}' reads as a version number; choose an alias name that "
                           "does not look like v<digits>.")
    return name


def _locked(model: RegisteredModel) -> RegisteredModel:
    # One writer of a model's aliases at a time; the audit trail's from/to then chain.
    return RegisteredModel.objects.select_for_update().get(pk=model.pk)


def _announce(change: AliasChange) -> None:
    payload = {
        "model_name": change.model.name,
        "alias": change.alias,
        "from_version": change.from_version.version if change.from_version else None,
        "to_version": change.to_version.version if change.to_version else None,
        "to_sequence": change.to_version.sequence if change.to_version else None,
        "actor_id": change.actor_id,
        "source": change.source,
        "change_id": change.pk,
    }
    transaction.on_commit(lambda: alias_changed.send(sender=ModelAlias, **payload))


def alias_set(
    *,
    model: RegisteredModel,
    alias: str,
    version: ModelVersion,
    actor: Actor,
    source: str = "api",
    reason: str = "",
) -> ModelAlias:
    """Point `alias` at `version` (creating or moving it); release managers only (see the
    module's docstring). Setting it to the version it already names changes nothing."""
    name = alias_name_clean(alias)
    if version.model_id != model.pk:
        raise InvalidAlias(f"{version} is not a version of {model.name}; an alias points at "
                           "a version of its own model.")
    roles.require_alias_change(actor, model, name)
    with transaction.atomic():
        model = _locked(model)
        row = ModelAlias.objects.select_related("version").filter(model=model,
                                                                  name=name).first()
        if row is not None and row.version_id == version.pk:
            return row
        previous = row.version if row is not None else None
        who = roles.audited_user(actor)
        if row is None:
            row = ModelAlias(model=model, name=name)
        row.version, row.set_by, row.set_at = version, who, timezone.now()
        row.save()
        change = AliasChange.objects.create(
            model=model, alias=name, from_version=previous, to_version=version, actor=who,
            source=source, reason=reason,
        )
        _announce(change)
    return row


def alias_delete(
    *, model: RegisteredModel, alias: str, actor: Actor, source: str = "api", reason: str = ""
) -> AliasChange:
    """Remove the alias (release managers only); serving stops answering it."""
    roles.require_alias_change(actor, model, alias)
    with transaction.atomic():
        model = _locked(model)
        row = ModelAlias.objects.select_related("version").filter(model=model,
                                                                  name=alias).first()
        if row is None:
            raise AliasNotFound(f"{model.name} has no alias '{alias}'.")
        row.delete()
        change = AliasChange.objects.create(
            model=model, alias=alias, from_version=row.version, to_version=None,
            actor=roles.audited_user(actor), source=source, reason=reason,
        )
        _announce(change)
    return change
