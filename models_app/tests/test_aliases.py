"""Aliases: named pointers at versions, set by release managers, audited, announced."""

import pytest
from django.db import IntegrityError, transaction

from models_app import selectors, services
from models_app.errors import AliasNotFound, AliasNotPermitted, InvalidAlias
from models_app.models import AliasChange, ModelAlias
from models_app.signals import alias_changed


@pytest.fixture
def versions(register_version, registered_model):
    return [register_version("1.0.0"), register_version("1.1.0")]


@pytest.fixture
def announced():
    received = []

    def listen(sender, signal, **kwargs):
        received.append(kwargs)

    alias_changed.connect(listen, dispatch_uid="test_aliases.listen")
    yield received
    alias_changed.disconnect(dispatch_uid="test_aliases.listen")


def test_a_release_manager_sets_an_alias_and_it_is_audited_and_announced_after_commit(
        versions, registered_model, release_manager, announced,
        django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        row = services.alias_set(model=registered_model, alias="champion", version=versions[0],
                                 actor=release_manager, reason="best auc")
        assert announced == []  # not before the commit
    assert row.version == versions[0] and row.set_by == release_manager
    change = AliasChange.objects.get()
    assert (change.alias, change.from_version, change.to_version, change.actor, change.reason,
            change.source) == ("champion", None, versions[0], release_manager, "best auc", "api")
    assert announced == [{"model_name": "ranking", "alias": "champion", "from_version": None,
                          "to_version": "1.0.0", "to_sequence": 1,
                          "actor_id": release_manager.pk, "source": "api",
                          "change_id": change.pk}]


def test_moving_an_alias_records_where_it_came_from_and_setting_it_again_changes_nothing(
        versions, registered_model, release_manager):
    services.alias_set(model=registered_model, alias="champion", version=versions[0],
                       actor=release_manager)
    services.alias_set(model=registered_model, alias="champion", version=versions[1],
                       actor=release_manager, source="mlflow")
    services.alias_set(model=registered_model, alias="champion", version=versions[1],
                       actor=release_manager)
    assert ModelAlias.objects.get().version == versions[1]
    moves = list(AliasChange.objects.order_by("id").values_list(
        "from_version__version", "to_version__version", "source"))
    assert moves == [(None, "1.0.0", "api"), ("1.0.0", "1.1.0", "mlflow")]


def test_deleting_an_alias_keeps_an_audit_row_pointing_nowhere(
        versions, registered_model, release_manager, announced,
        django_capture_on_commit_callbacks):
    services.alias_set(model=registered_model, alias="champion", version=versions[0],
                       actor=release_manager)
    with django_capture_on_commit_callbacks(execute=True):
        services.alias_delete(model=registered_model, alias="champion", actor=release_manager)
    assert not ModelAlias.objects.exists()
    last = AliasChange.objects.order_by("-id").first()
    assert (last.from_version, last.to_version) == (versions[0], None)
    assert announced[-1]["to_version"] is None and announced[-1]["from_version"] == "1.0.0"
    with pytest.raises(AliasNotFound):
        services.alias_delete(model=registered_model, alias="champion", actor=release_manager)


@pytest.mark.parametrize("who", ["researcher", "owner_of_ranking", "publisher", "anonymous"])
def test_only_release_managers_may_set_or_delete_an_alias(
        who, versions, registered_model, researcher, publisher, release_manager):
    from django.contrib.auth.models import AnonymousUser

    services.alias_set(model=registered_model, alias="champion", version=versions[0],
                       actor=release_manager)
    actor = {"researcher": researcher, "owner_of_ranking": registered_model.owner,
             "publisher": publisher, "anonymous": AnonymousUser()}[who]
    with pytest.raises(AliasNotPermitted, match="release managers"):
        services.alias_set(model=registered_model, alias="champion", version=versions[1],
                           actor=actor)
    with pytest.raises(AliasNotPermitted):
        services.alias_set(model=registered_model, alias="new", version=versions[1],
                           actor=actor)
    with pytest.raises(AliasNotPermitted):
        services.alias_delete(model=registered_model, alias="champion", actor=actor)
    assert selectors.alias_map(model=registered_model) == {"champion": "1.0.0"}
    assert AliasChange.objects.count() == 1


@pytest.mark.parametrize("name", ["latest", "LATEST", "v1", "V12", "has space", "", "a/b",
                                  "é", "x" * 256])
def test_it_refuses_names_mlflow_refuses(name, versions, registered_model):
    with pytest.raises(InvalidAlias):
        services.alias_set(model=registered_model, alias=name, version=versions[0], actor=None)
    assert not ModelAlias.objects.exists()


@pytest.mark.parametrize("name", ["champion", "Challenger_2", "v1a", "version2", "a-b", "x" * 255])
def test_it_accepts_letters_digits_underscores_and_dashes(name, versions, registered_model):
    services.alias_set(model=registered_model, alias=name, version=versions[0], actor=None)
    assert selectors.version_by_alias(model=registered_model, alias=name) == versions[0]


def test_an_alias_points_only_at_a_version_of_its_own_model(
        versions, registered_model, register_version):
    services.model_create(name="regime")
    other = register_version(model_name="regime")
    with pytest.raises(InvalidAlias, match="not a version of ranking"):
        services.alias_set(model=registered_model, alias="champion", version=other, actor=None)


def test_setting_an_alias_never_changes_a_stage(versions, registered_model, release_manager):
    services.alias_set(model=registered_model, alias="champion", version=versions[0],
                       actor=release_manager)
    versions[0].refresh_from_db()
    assert versions[0].stage == "draft"
    assert not versions[0].transitions.exists()


def test_the_selectors_read_aliases_by_model_and_by_version(versions, registered_model):
    services.alias_set(model=registered_model, alias="champion", version=versions[1], actor=None)
    services.alias_set(model=registered_model, alias="b", version=versions[1], actor=None)
    services.alias_set(model=registered_model, alias="old", version=versions[0], actor=None)
    assert selectors.alias_map(model=registered_model) == {
        "b": "1.1.0", "champion": "1.1.0", "old": "1.0.0"}
    assert [a.name for a in selectors.alias_list(model=registered_model)] == [
        "b", "champion", "old"]
    assert selectors.version_aliases(version=versions[1]) == ["b", "champion"]
    assert selectors.aliases_by_version(versions=[v.pk for v in versions]) == {
        versions[0].pk: ["old"], versions[1].pk: ["b", "champion"]}
    with pytest.raises(AliasNotFound, match="no alias 'nope'"):
        selectors.version_by_alias(model=registered_model, alias="nope")


def test_the_database_keeps_alias_names_unique_per_model(versions, registered_model):
    services.alias_set(model=registered_model, alias="champion", version=versions[0], actor=None)
    row = ModelAlias.objects.get()
    row.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        row.save()
