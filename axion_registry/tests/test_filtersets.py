"""The shared query-parameter pieces: one boolean vocabulary, repeated and comma lists,
whole numbers, times, and the errors they answer."""

from __future__ import annotations

import pytest
from django.http import QueryDict
from rest_framework import serializers

from axion_registry.errors import InvalidInput
from axion_registry.filters import (
    CommaListParam,
    RepeatedField,
    UTCDateTimeParam,
    WholeNumberParam,
    parse_boolean,
    query_params_valid,
)


@pytest.mark.parametrize("word", ["true", "True", "TRUE", "yes", "Yes", "1"])
def test_it_reads_every_spelling_of_true(word):
    assert parse_boolean(word) is True


@pytest.mark.parametrize("word", ["false", "False", "FALSE", "no", "NO", "0"])
def test_it_reads_every_spelling_of_false(word):
    assert parse_boolean(word) is False


@pytest.mark.parametrize("word", [None, ""])
def test_an_absent_or_empty_boolean_is_none(word):
    assert parse_boolean(word) is None


@pytest.mark.parametrize("word", ["maybe", "on", "off", "2", "3", "t", " true", "unknown"])
def test_any_other_word_is_refused_naming_the_vocabulary(word):
    with pytest.raises(ValueError, match="use true or false"):
        parse_boolean(word)


def test_a_repeated_parameter_is_a_list_without_empty_values():
    field = RepeatedField(required=False)
    read = field.widget.value_from_datadict
    assert field.clean(read(QueryDict("tag=a&tag=&tag=b:c"), {}, "tag")) == ["a", "b:c"]
    assert field.clean(read({"tag": "a"}, {}, "tag")) == ["a"]
    assert field.clean(read({}, {}, "tag")) == []


class Query(serializers.Serializer):
    ids = CommaListParam(required=False, default=list)
    points = WholeNumberParam(min_value=4, max_value=1000)
    at = UTCDateTimeParam(required=False)


def test_a_query_serializer_gives_typed_values():
    query = query_params_valid(
        Query, QueryDict("ids=a, b,,c&points=10&at=2026-01-01T12:00%2B02:00")
    )
    assert query["ids"] == ["a", "b", "c"] and query["points"] == 10
    assert query["at"].isoformat() == "2026-01-01T10:00:00+00:00"
    assert query_params_valid(Query, QueryDict("points="))["points"] is None


@pytest.mark.parametrize("points", ["3", "1001", "-5", "+5", " 5", "5.0", "٣٤", "²", "x"])
def test_a_whole_number_is_ascii_digits_within_bounds(points):
    with pytest.raises(InvalidInput) as refused:
        query_params_valid(Query, QueryDict(f"points={points}"), code="invalid_points")
    assert refused.value.code == "invalid_points"
    assert refused.value.message == "points: give a whole number from 4 to 1,000."
    assert refused.value.details == {"points": ["give a whole number from 4 to 1,000."]}


@pytest.mark.parametrize("at", ["soon", "2020-01-01T00:00:00+25:00", "0001-01-01T00:00:00+01:00"])
def test_a_time_that_utc_cannot_hold_is_refused(at):
    with pytest.raises(InvalidInput, match="^at: "):
        query_params_valid(Query, {"at": at})
