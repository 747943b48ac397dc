"""A version's detail names the version a rollback would restore, so a client offers
"Roll back" only where the API would do one."""

import pytest

from models_app import services

pytestmark = pytest.mark.django_db


def detail(client, version):
    return client.get(f"/api/v1/models/ranking/versions/{version}/").json()


def promote(version, actor):
    services.version_transition(version=version, to="staging", actor=actor)
    services.version_promote(version=version, actor=actor, reason="release")


def test_the_production_version_names_its_rollback_target(api, register_version,
                                                          release_manager):
    first, second = register_version("1.0.0"), register_version("2.0.0")
    promote(first, release_manager)
    assert detail(api, "1.0.0")["rollback_to"] is None  # nothing was in production before
    promote(second, release_manager)
    assert detail(api, "2.0.0")["rollback_to"] == "1.0.0"
    assert detail(api, "1.0.0")["rollback_to"] is None  # archived: not in production


def test_after_a_rollback_there_is_nothing_earlier_to_restore(api, register_version,
                                                              release_manager):
    first, second = register_version("1.0.0"), register_version("2.0.0")
    promote(first, release_manager)
    promote(second, release_manager)
    services.model_rollback(model=first.model, actor=release_manager, reason="bad fills")
    assert detail(api, "1.0.0")["rollback_to"] is None  # 2.0.0 is archived, but newer
