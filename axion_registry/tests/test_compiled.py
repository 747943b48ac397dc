"""A query shape compiled once answers what the ORM answers, for any parameters; a shape
whose samples cannot be found in its SQL runs through the ORM instead."""

import pytest
from django.db.models.functions import Lower

from axion_registry.compiled import CompiledRows
from mlflow_app import registry_selectors
from models_app.models import ModelVersion, RegisteredModel
from models_app.services import alias_set


@pytest.fixture
def versions(register_version, registered_model, release_manager):
    made = [register_version(v, tags=tags) for v, tags in
            (("1.0.0", {"team": "risk", "ü": "√"}), ("1.1.0", {}), ("2.0.0", {"a": ""}))]
    alias_set(model=registered_model, alias="champion", version=made[1], actor=release_manager)
    return made


def test_compiled_version_rows_are_the_orm_rows_for_every_version(versions):
    orm = registry_selectors._version_rows
    for version in versions:
        assert registry_selectors._VERSION_BY_PK.rows(version.pk) == list(
            orm(ModelVersion.objects.filter(pk=version.pk)))
    assert registry_selectors._VERSION_BY_PK.rows(-1) == []
    rows = registry_selectors._VERSION_BY_PK.rows(versions[0].pk)
    assert rows[0]["tags"] == {"team": "risk", "ü": "√"}  # JSON decoded as the ORM does


def test_compiled_alias_rows_find_the_aliased_version_and_nothing_else(versions):
    by_alias = registry_selectors._VERSION_BY_ALIAS
    (row,) = by_alias.rows("ranking", "champion")
    assert row["pk"] == versions[1].pk and row["model__name"] == "ranking"
    assert by_alias.rows("ranking", "nope") == []
    assert by_alias.rows("other", "champion") == []


def test_a_shape_whose_sample_is_not_in_its_sql_runs_through_the_orm(versions):
    shape = CompiledRows(  # the parameter is used twice: no single slot to fill
        lambda name: RegisteredModel.objects.filter(name=name).exclude(description=name)
        .annotate(low=Lower("name")).values("pk", "low"), samples=["\x00s\x00"])
    assert shape.rows("ranking") == [{"pk": versions[0].model_id, "low": "ranking"}]
    assert shape._compiled["default"] is None
