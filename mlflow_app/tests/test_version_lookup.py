"""A version named by model name and MLflow number is found in one query, and every miss
is refused exactly as the two-step lookup (model, then number) refuses it."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mlflow_app import registry_selectors as selectors
from mlflow_app.models import VersionDeletion


def _refusal(call):
    try:
        return call().pk
    except Exception as exc:  # noqa: BLE001 - compared by type and message
        return type(exc), str(exc)


def _two_step(name: str, number: str):
    return selectors.version_by_number(selectors.model_by_name(name), number)


@pytest.fixture
def versions(register_version, researcher):
    return [register_version(v) for v in ("1.0.0", "1.1.0", "2.0.0")]


def test_a_version_is_found_by_name_and_number_in_one_query(versions):
    with CaptureQueriesContext(connection) as queries:
        found = selectors.version_named("ranking", "2")
        assert found.model.name == "ranking" and found.created_by is None
    assert found.pk == versions[1].pk
    assert len(queries) == 1


@pytest.mark.parametrize(("name", "number"), [
    ("nope", "1"), ("nope", "x"), ("ranking", "9"), ("ranking", "0"), ("ranking", "x"),
    ("ranking", ""), ("", "1"), ("ranking", " 2"), ("ranking", "٣"),
])
def test_every_miss_is_refused_as_the_two_step_lookup_refuses_it(versions, name, number):
    expected = _refusal(lambda: _two_step(name, number))
    assert expected == versions[1].pk if number == " 2" else isinstance(expected, tuple)
    assert _refusal(lambda: selectors.version_named(name, number)) == expected


def test_a_deleted_version_is_not_found(versions, release_manager):
    VersionDeletion.objects.create(version=versions[0], deleted_by=release_manager)
    refused = _refusal(lambda: selectors.version_named("ranking", "1"))
    assert refused == _refusal(lambda: _two_step("ranking", "1"))
    assert isinstance(refused, tuple) and "not found" in refused[1]
    assert selectors.version_named("ranking", "2").pk == versions[1].pk
