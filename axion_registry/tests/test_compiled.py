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


def _orm_search(filter_string: str, order_by: list[str], offset: int = 0, limit: int = 100):
    from mlflow_app.grammar import parse_checked_filter, parse_checked_order_by
    from mlflow_app.registry_search import (
        VERSION_RULES,
        versions_annotated,
        versions_filter,
        versions_order,
    )

    conditions = parse_checked_filter(filter_string, VERSION_RULES)
    orders = [parse_checked_order_by(clause, VERSION_RULES) for clause in order_by]
    queryset = versions_order(versions_filter(versions_annotated(
        registry_selectors.visible_versions()), conditions), orders)
    return list(registry_selectors._facts(queryset)[offset:offset + limit + 1])


SEARCHES = [  # (filter, order_by): every kind of condition, twice with other values
    ("name = 'ranking'", []),
    ("name = 'other'", []),
    ("name = 'ranking' and version_number > 1", ["version_number DESC"]),
    ("name = 'ranking' and version_number >= 3", []),
    ("name LIKE 'rank%'", ["creation_timestamp ASC"]),
    ("name ILIKE 'RANK%'", []),
    ("name IN ('ranking', 'other')", []),
    ("name != 'ranking'", []),
    ("tags.team = 'risk'", []),
    ("tags.team = 'rates'", []),
    ("tags.`ü` = '√'", []),
    ("tags.a = ''", []),
    ("tags.team IS NULL", []),
    ("tags.team IS NOT NULL", []),
    ("tags.`axion.version` = '1.1.0'", []),
    ("tags.`axion.stage` = 'draft'", []),
    ("run_id = ''", []),
    ("source_path LIKE '%model%'", []),
    ("creation_timestamp > 0", ["version_number ASC"]),
    ("", ["last_updated_timestamp DESC"]),
    ("", []),
]


@pytest.mark.parametrize(("filter_string", "order_by"), SEARCHES)
def test_a_compiled_search_answers_what_the_orm_answers(versions, filter_string, order_by):
    for offset, limit in ((0, 100), (1, 1)):
        expected = _orm_search(filter_string, order_by, offset, limit)
        for _ in range(2):  # compiled the first time, reused the second
            assert registry_selectors.versions_search(
                filter_string=filter_string, order_by=order_by, offset=offset,
                limit=limit) == expected


def test_searches_of_one_shape_share_one_compiled_query_and_see_their_own_values(versions):
    registry_selectors._SEARCHES._shapes.clear()
    found = {tag: registry_selectors.versions_search(
        filter_string=f"name = 'ranking' and tags.team = '{tag}'", order_by=[], offset=0,
        limit=10) for tag in ("risk", "rates", "r%")}
    assert [row["version"] for row in found["risk"]] == ["1.0.0"]
    assert found["rates"] == found["r%"] == []
    (compiled,) = registry_selectors._SEARCHES._shapes.values()
    assert compiled._compiled["default"] is not None  # compiled, not the ORM's fallback


def test_the_compiled_shapes_are_bounded_and_the_least_recently_used_goes(versions):
    from axion_registry.compiled import CompiledShapes

    shapes = CompiledShapes(
        lambda shape, values: RegisteredModel.objects.filter(
            **{shape: values[0]}).values("name"),
        lambda shape: ["\x00s\x00"], size=2)
    assert shapes.rows("name", ["ranking"]) == [{"name": "ranking"}]
    assert shapes.rows("description", ["Stock ranking"]) == [{"name": "ranking"}]
    assert shapes.rows("name", ["ranking"]) == [{"name": "ranking"}]  # now the most recent
    assert shapes.rows("name__startswith", ["rank"]) == [{"name": "ranking"}]
    assert list(shapes._shapes) == ["name", "name__startswith"]
