"""ABTestFilterSet on its own: state, model, creator and auto_promote in the API's one
boolean vocabulary."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from abtest_app.filtersets import ABTestFilterSet
from abtest_app.models import ABTest

pytestmark = pytest.mark.django_db


@pytest.fixture
def tests(make_test):
    return {"plain": make_test(name="plain"), "auto": make_test(name="auto", auto_promote=True)}


def found(query: str) -> list[str]:
    filterset = ABTestFilterSet(QueryDict(query), ABTest.objects.all())
    assert filterset.is_valid(), filterset.errors
    return sorted(test.name for test in filterset.qs)


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["auto", "plain"]),
    ("auto_promote=true", ["auto"]),
    ("auto_promote=True", ["auto"]),
    ("auto_promote=1", ["auto"]),
    ("auto_promote=false", ["plain"]),
    ("auto_promote=NO", ["plain"]),
    ("auto_promote=", ["auto", "plain"]),
    ("state=draft&model=ranking&created_by=rita_researcher", ["auto", "plain"]),
    ("state=running", []),
])
def test_tests_filter_by_state_model_creator_and_auto_promote(tests, query, expected):
    assert found(query) == expected


@pytest.mark.parametrize("word", ["2", "3", "unknown", "maybe"])
def test_auto_promote_outside_the_vocabulary_is_refused_not_ignored(tests, word):
    filterset = ABTestFilterSet(QueryDict(f"auto_promote={word}"), ABTest.objects.all())
    assert not filterset.is_valid()
    assert "is not a boolean" in filterset.errors["auto_promote"][0]


def test_the_api_answers_a_bad_boolean_with_a_400_naming_it(api, tests):
    response = api.get("/api/v1/abtests/?auto_promote=maybe")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["message"].startswith("auto_promote: 'maybe' is not a boolean")
