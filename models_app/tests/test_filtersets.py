"""The registry's FilterSets on their own: models and versions by name, tags, metrics,
stage, time and order, and the 400 a bad parameter answers."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from axion_registry.errors import InvalidInput
from models_app.filtersets import (
    ModelChangeFilterSet,
    ModelVersionFilterSet,
    RegisteredModelFilterSet,
)
from models_app.models import ModelChange, ModelVersion, RegisteredModel
from models_app.selectors import version_list

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(register_version, researcher):
    from models_app.services import model_create

    model_create(name="regime", owner=researcher, tags={"team": "macro"},
                 gates={"load_check": False})
    RegisteredModel.objects.filter(name="ranking").update(tags={"team": "quant"})
    register_version("1.0.0", metrics={"auc": 0.70}, tags={"team": "quant"})
    register_version("1.10.0", metrics={"auc": 0.80})
    register_version("1.2.0", metrics={"auc": 0.90, "rmse": 0.1}, tags={"team": "ml"})
    register_version("0.1.0", model_name="regime", metrics={"auc": 0.60})


def versions(query: str) -> list[str]:
    filterset = ModelVersionFilterSet(QueryDict(query), ModelVersion.objects.all())
    assert filterset.is_valid(), filterset.errors
    return [f"{v.model.name}@{v.version}" for v in filterset.qs]


def test_models_filter_by_name_and_repeated_tags(catalogue):
    def models(query: str) -> list[str]:
        filterset = RegisteredModelFilterSet(QueryDict(query), RegisteredModel.objects.all())
        assert filterset.is_valid(), filterset.errors
        return sorted(model.name for model in filterset.qs)

    assert models("name=RANK") == ["ranking"]
    assert models("tag=team") == ["ranking", "regime"]
    assert models("tag=team&tag=team:macro") == ["regime"]
    assert models("tag=") == ["ranking", "regime"]


@pytest.mark.parametrize(("query", "expected"), [
    ("name=regime", ["regime@0.1.0"]),
    ("tag=team:quant", ["ranking@1.0.0"]),
    ("tag=team&ordering=version", ["ranking@1.0.0", "ranking@1.2.0"]),
    ("metric=auc>=0.8&ordering=version", ["ranking@1.2.0", "ranking@1.10.0"]),
    ("metric=auc>=0.8&metric=rmse<0.5", ["ranking@1.2.0"]),
    ("name=ranking&ordering=-version", ["ranking@1.10.0", "ranking@1.2.0", "ranking@1.0.0"]),
    ("stage=draft&framework=sklearn&name=regime", ["regime@0.1.0"]),
    ("stage=production", []),
])
def test_versions_filter_by_tags_metrics_stage_and_order_in_semver(catalogue, query, expected):
    assert versions(query) == expected


@pytest.mark.parametrize(("query", "parameter"), [
    ("stage=live", "stage"),
    ("framework=caffe", "framework"),
    ("created_after=tomorrow", "created_after"),
    ("ordering=colour", "ordering"),
])
def test_a_bad_version_parameter_is_an_invalid_search_naming_it(catalogue, query, parameter):
    with pytest.raises(InvalidInput) as refused:
        version_list(filters=QueryDict(query))
    assert refused.value.code == "invalid_search"
    assert refused.value.message.startswith(f"{parameter}: ")


def test_a_malformed_metric_condition_is_an_invalid_search(catalogue):
    with pytest.raises(InvalidInput, match="write it like metric=auc>=0.7") as refused:
        versions("metric=auc>>0.7")
    assert refused.value.code == "invalid_search"


def test_model_changes_refuse_a_time_utc_cannot_hold(catalogue):
    filterset = ModelChangeFilterSet(QueryDict("after=0001-01-01T00:00:00%2B01:00"),
                                     ModelChange.objects.all())
    assert not filterset.is_valid()
    assert list(filterset.errors) == ["after"]


def test_the_api_answers_bad_compare_and_time_parameters_with_their_codes(api, catalogue):
    few = api.get("/api/v1/models/ranking/compare/?versions=1.0.0,")
    assert (few.status_code, few.json()["code"]) == (400, "invalid_versions")
    assert few.json()["message"].startswith("versions: name at least two versions")
    missing = api.get("/api/v1/models/ranking/production-at/")
    assert (missing.status_code, missing.json()["code"]) == (400, "invalid_time")
    assert missing.json()["message"].startswith("at: ")
    listed = api.get("/api/v1/models/ranking/versions/?ordering=-version&metric=auc>=0.8")
    assert [row["version"] for row in listed.json()["results"]] == ["1.10.0", "1.2.0"]


def test_metric_rows_are_written_with_the_version_and_backfilled_for_older_ones(
        catalogue, register_version):
    """A version registered by a process older than VersionMetric has metrics JSON but no
    rows: the search misses it until the backfill command adds them, once."""
    import io

    from django.core.management import call_command

    from models_app.models import VersionMetric

    assert sorted(VersionMetric.objects.filter(version__version="1.2.0")
                  .values_list("key", "value")) == [("auc", 0.9), ("rmse", 0.1)]
    older = register_version("1.3.0", metrics={"auc": 0.95, "recall": 3})
    VersionMetric.objects.filter(version=older).delete()
    assert versions("metric=auc>=0.93") == []
    out = io.StringIO()
    call_command("version_metrics_backfill", stdout=out)
    assert out.getvalue().strip() == "added 2 metric rows"
    assert versions("metric=auc>=0.93") == ["ranking@1.3.0"]
    assert versions("metric=recall=3") == ["ranking@1.3.0"]
    call_command("version_metrics_backfill", stdout=out)
    assert out.getvalue().splitlines()[-1] == "added 0 metric rows"


def test_a_metric_name_longer_than_250_characters_is_refused(register_version):
    from models_app.errors import InvalidMetadata

    with pytest.raises(InvalidMetadata, match="the limit is 250"):
        register_version("1.0.0", metrics={"a" * 251: 0.5})
    assert not ModelVersion.objects.exists()
