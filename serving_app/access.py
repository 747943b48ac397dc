"""Who may ask for a version by number, stage name or alias: the one rule for every way a
request names a version (the predict API's body `version`, its `?version=`, and
`serve/<model>@<alias>/`).

Staging, production and the champion and challenger of a running A/B test: anyone signed
in. Drafts, archived and deprecated versions: release managers (they are not vetted for
traffic, or were taken out of it). The Python runtime (`serving_app.runtime.predict`) is
internal and is not checked.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from abtest_app.selectors import running_test_for_model
from models_app import roles
from models_app import selectors as registry
from models_app.choices import Stage
from models_app.errors import VersionNotFound
from models_app.gates import load_check_gate
from models_app.models import ModelVersion
from serving_app.errors import AliasNotServable, VersionNotPermitted

OPEN_STAGES = (Stage.STAGING, Stage.PRODUCTION)


def _in_running_test(row: ModelVersion) -> bool:
    test = running_test_for_model(row.model_id)
    return test is not None and row.pk in (test.champion_version_id,
                                           test.challenger_version_id)


def require_version_access(
    user: AbstractBaseUser | None, *, model_name: str, version: str | None
) -> None:
    if version is None or version in OPEN_STAGES or roles.is_release_manager(user):
        return
    if version in Stage.values:
        raise VersionNotPermitted(
            f"Serving the {version} version of {model_name} by stage needs the 'release "
            "managers' group; ask for staging or production, or a version number."
        )
    try:
        row = registry.version_get(model_name=model_name, version=version)
    except VersionNotFound:
        return  # the runtime answers the 404
    stage = row.stage
    if roles.may_serve(user, stage=stage, in_ab_test=_in_running_test(row)):
        return
    raise VersionNotPermitted(
        f"{model_name} {version} is {stage}; serving it by number needs the 'release managers' "
        "group (anyone signed in may ask for staging, production and the versions of a "
        "running A/B test)."
    )


def require_alias_access(
    user: AbstractBaseUser | None, *, model_name: str, alias: str, version: str
) -> None:
    """An alias answers only with a version that passed the model's load-check gate (for
    everyone: an alias is traffic), and only to a caller who may serve that version when
    asking for its number, so an alias opens no path that the number does not."""
    row = registry.version_get(model_name=model_name, version=version)
    check = load_check_gate(row.model.gates, registry.version_load_check(version=row))
    if check is not None and not check.passed:
        raise AliasNotServable(
            f"{model_name}@{alias} names {version}, whose load check is {check.got}; an alias "
            "is served only once its version passed the load check. Wait for the check, or "
            "point the alias at a checked version.",
            details={"alias": alias, "version": version, "load_check": row.load_check_status},
        )
    if roles.is_release_manager(user):
        return
    if not roles.may_serve(user, stage=row.stage, in_ab_test=_in_running_test(row)):
        raise VersionNotPermitted(
            f"{model_name}@{alias} names {version}, which is {row.stage}; serving it needs the "
            "'release managers' group (anyone signed in may be served staging, production and "
            "the versions of a running A/B test).",
            details={"alias": alias, "version": version, "stage": row.stage},
        )
