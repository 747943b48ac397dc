"""Who may ask for a version by number or stage name: the one rule for every way a request
names a version (the predict API's body `version` and its `?version=`).

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
from serving_app.errors import VersionNotPermitted

OPEN_STAGES = (Stage.STAGING, Stage.PRODUCTION)


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
    test = running_test_for_model(row.model_id)
    in_test = test is not None and row.pk in (test.champion_version_id,
                                              test.challenger_version_id)
    if roles.may_serve(user, stage=stage, in_ab_test=in_test):
        return
    raise VersionNotPermitted(
        f"{model_name} {version} is {stage}; serving it by number needs the 'release managers' "
        "group (anyone signed in may ask for staging, production and the versions of a "
        "running A/B test)."
    )
