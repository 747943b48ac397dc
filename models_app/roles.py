"""Who may do what to a registered model and its versions: the one place the roles live.

Roles: a model's owners (`owner` and `co_owners`), the "model publishers" group
(`models_app.publish_modelversion`), the "release managers" group
(`models_app.promote_modelversion`). Superusers hold every permission.

`None` as the user means an internal caller (a management command, a seed script, a Celery
task acting for the platform): it is trusted like a shell on the server. Every request
reaching a service from the API or the admin carries its user, and an anonymous user may
change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeAlias, TypeGuard, cast

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission, User

from models_app.choices import Stage
from models_app.errors import (
    AliasNotPermitted,
    ModelChangeNotPermitted,
    RegistrationNotPermitted,
    TransitionNotPermitted,
)
from models_app.models import ModelVersion, RegisteredModel

PROMOTE_PERMISSION = "models_app.promote_modelversion"
PUBLISH_PERMISSION = "models_app.publish_modelversion"
RELEASE_MANAGERS = "release managers"
MODEL_PUBLISHERS = "model publishers"

# What rollback and serving's fallback stand on: only release managers deprecate these.
PROTECTED_FROM_DEPRECATION = (Stage.ARCHIVED,)


# Who asks: a request's user (maybe anonymous), a user row, or None (an internal caller).
Actor: TypeAlias = AbstractBaseUser | AnonymousUser | None


def _signed_in(user: Actor) -> TypeGuard[User]:
    return bool(user is not None and user.is_authenticated and user.is_active)


def audited_user(user: Actor) -> User | None:
    """The user an audit row or a created row names: whoever is signed in, else nobody."""
    if user is None or not user.is_authenticated:
        return None
    return cast(User, user)  # the project's user model (AUTH_USER_MODEL is auth.User)


def is_release_manager(user: Actor) -> bool:
    return _signed_in(user) and user.has_perm(PROMOTE_PERMISSION)


def is_publisher(user: Actor) -> bool:
    return _signed_in(user) and user.has_perm(PUBLISH_PERMISSION)


def is_owner(user: Actor, model: RegisteredModel) -> bool:
    if not _signed_in(user):
        return False
    if model.owner_id == user.pk:
        return True
    return model.co_owners.filter(pk=user.pk).exists()


def is_owner_or_release_manager(user: Actor, model: RegisteredModel) -> bool:
    """Gates, metric directions, owners (and, through formats-signing, signing settings)."""
    return is_release_manager(user) or is_owner(user, model)


def may_register(user: Actor, model: RegisteredModel) -> bool:
    """Register versions; also submit, reject and deprecate a draft or staging version."""
    return is_release_manager(user) or is_publisher(user) or is_owner(user, model)


def may_change_metadata(user: Actor, model: RegisteredModel) -> bool:
    """Description and tags."""
    return may_register(user, model)


def require_register(user: Actor, model: RegisteredModel) -> None:
    if user is not None and not may_register(user, model):
        raise RegistrationNotPermitted(
            f"You may not register versions of {model.name}: that needs one of its owners, "
            f"the '{MODEL_PUBLISHERS}' group ({PUBLISH_PERMISSION}) or the "
            f"'{RELEASE_MANAGERS}' group."
        )


def require_owner_or_release_manager(
    user: Actor, model: RegisteredModel, what: str
) -> None:
    if user is not None and not is_owner_or_release_manager(user, model):
        raise ModelChangeNotPermitted(
            f"You may not change {what} of {model.name}: that needs one of its owners or the "
            f"'{RELEASE_MANAGERS}' group."
        )


def require_release_manager(user: Actor, what: str) -> None:
    if user is not None and not is_release_manager(user):
        raise ModelChangeNotPermitted(
            f"You may not {what}: that needs the '{RELEASE_MANAGERS}' group "
            f"({PROMOTE_PERMISSION})."
        )


def require_metadata(user: Actor, model: RegisteredModel) -> None:
    if user is not None and not may_change_metadata(user, model):
        raise ModelChangeNotPermitted(
            f"You may not change the description or tags of {model.name}: that needs one of "
            f"its owners, the '{MODEL_PUBLISHERS}' group or the '{RELEASE_MANAGERS}' group."
        )


def may_move(user: Actor, version: ModelVersion, target: str) -> bool:
    """Moves other than promotion, archiving and rollback (those need a release manager)."""
    if target in (Stage.PRODUCTION, Stage.ARCHIVED):
        return is_release_manager(user)
    if target == Stage.DEPRECATED and version.stage in PROTECTED_FROM_DEPRECATION:
        return is_release_manager(user)
    return may_register(user, version.model)


def require_move(user: Actor, version: ModelVersion, target: str) -> None:
    """Refuse a move the user's role does not allow (None: an internal caller)."""
    if user is None or may_move(user, version, target):
        return
    if target in (Stage.PRODUCTION, Stage.ARCHIVED) or version.stage in PROTECTED_FROM_DEPRECATION:
        needed = f"the '{RELEASE_MANAGERS}' group ({PROMOTE_PERMISSION})"
        if target == Stage.DEPRECATED:
            needed += ": rollback and serving's fallback depend on archived versions"
    else:
        needed = (f"one of the model's owners, the '{MODEL_PUBLISHERS}' group or the "
                  f"'{RELEASE_MANAGERS}' group")
    raise TransitionNotPermitted(
        f"You may not move {version} from {version.stage} to {target}: that needs {needed}."
    )


def may_change_alias(user: Actor, model: RegisteredModel) -> bool:
    """Set, move or delete an alias: serving answers `<model>@<alias>`, so pointing an
    alias at a version puts it in front of that traffic, a release manager's decision."""
    return is_release_manager(user)


def require_alias_change(user: Actor, model: RegisteredModel, alias: str) -> None:
    if user is not None and not may_change_alias(user, model):
        raise AliasNotPermitted(
            f"You may not set, move or delete the alias '{alias}' of {model.name}: serving "
            f"answers {model.name}@{alias}, so that needs the '{RELEASE_MANAGERS}' group "
            f"({PROMOTE_PERMISSION}); ask one of them, or tag the version instead."
        )


def may_serve(user: Actor, *, stage: str, in_ab_test: bool) -> bool:
    """Serving a version asked for by number or stage name: staging, production and the
    versions of a running A/B test for anyone signed in; the rest for release managers."""
    if not _signed_in(user):
        return False
    if stage in (Stage.STAGING, Stage.PRODUCTION) or in_ab_test:
        return True
    return is_release_manager(user)


# A model's settings by the role that changes them; any other setting (gates, metric
# directions, owners, and whatever is added later, such as signing) needs an owner or a
# release manager.
METADATA_FIELDS = frozenset({"description", "tags"})
RELEASE_MANAGER_FIELDS = frozenset({"require_four_eyes"})


def require_model_change(
    user: Actor, model: RegisteredModel, fields: Iterable[str]
) -> None:
    """Refuse a settings change unless the user's role covers every field in it."""
    names = set(fields)
    if names & RELEASE_MANAGER_FIELDS:
        require_release_manager(user, f"change whether {model.name} requires four-eyes "
                                "promotion")
    if names - METADATA_FIELDS - RELEASE_MANAGER_FIELDS:
        require_owner_or_release_manager(user, model, "the gates, metric directions or owners")
    if names & METADATA_FIELDS:
        require_metadata(user, model)


def model_publishers() -> Group:
    """The group whose members may register versions of any model (0004_roles creates it)."""
    group, created = Group.objects.get_or_create(name=MODEL_PUBLISHERS)
    if created:
        group.permissions.add(Permission.objects.get(
            codename="publish_modelversion", content_type__app_label="models_app"))
    return group
