"""ExperimentFilterSet and RunFilterSet on their own: what each parameter keeps, and the
400 a bad one answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.http import QueryDict
from django.utils import timezone

from axion_registry.errors import InvalidInput
from experiments_app.errors import InvalidSearch
from experiments_app.filtersets import ExperimentFilterSet, RunFilterSet, run_filter
from experiments_app.models import Experiment, LatestMetric, Param, Run
from experiments_app.selectors import experiment_list

pytestmark = pytest.mark.django_db


@pytest.fixture
def experiments():
    return {
        "live": Experiment.objects.create(name="ranking-live", tags={"team": "quant"}),
        "old": Experiment.objects.create(name="ranking-old", archived=True, tags={"team": "ml"}),
        "other": Experiment.objects.create(name="regime"),
    }


def names(queryset) -> list[str]:
    return sorted(item.name for item in queryset)


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["ranking-live", "ranking-old", "regime"]),
    ("archived=true", ["ranking-old"]),
    ("archived=FALSE", ["ranking-live", "regime"]),
    ("archived=1", ["ranking-old"]),
    ("archived=no", ["ranking-live", "regime"]),
    ("archived=", ["ranking-live", "ranking-old", "regime"]),
    ("name=RANKING", ["ranking-live", "ranking-old"]),
    ("tag=team", ["ranking-live", "ranking-old"]),
    ("tag=team:ml&tag=team", ["ranking-old"]),
])
def test_experiments_filter_by_name_archived_and_tags(experiments, query, expected):
    filterset = ExperimentFilterSet(QueryDict(query), Experiment.objects.all())
    assert filterset.is_valid(), filterset.errors
    assert names(filterset.qs) == expected


@pytest.mark.parametrize("word", ["maybe", "on", "2", "yess"])
def test_a_word_outside_the_boolean_vocabulary_is_a_400_naming_archived(experiments, word):
    filterset = ExperimentFilterSet(QueryDict(f"archived={word}"), Experiment.objects.all())
    assert not filterset.is_valid()
    assert list(filterset.errors) == ["archived"]
    with pytest.raises(InvalidSearch, match=r"^archived: '.*' is not a boolean; use true"):
        experiment_list(filters=QueryDict(f"archived={word}"))


@pytest.fixture
def runs(experiments, researcher):
    now = timezone.now()

    def run(name: str, experiment: str, minutes: int, **fields) -> Run:
        return Run.objects.create(name=name, experiment=experiments[experiment],
                                  start_time=now - timedelta(minutes=minutes), user=researcher,
                                  **fields)

    made = {
        "a": run("a", "live", 3, tags={"team": "quant"}),
        "b": run("b", "live", 2, status="finished", end_time=now),
        "c": run("c", "other", 1),
    }
    for name, auc in (("a", 0.7), ("b", 0.9)):
        LatestMetric.objects.create(run=made[name], key="auc", value=auc, timestamp=0)
    Param.objects.create(run=made["a"], key="lr", value="0.1")
    Param.objects.create(run=made["b"], key="lr", value="0.01")
    return made


def run_names(query: str) -> list[str]:
    filterset = RunFilterSet(QueryDict(query), Run.objects.all())
    assert filterset.is_valid(), filterset.errors
    return [run.name for run in filterset.qs]


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["c", "b", "a"]),  # the newest first
    ("experiment=ranking-live,regime", ["c", "b", "a"]),
    ("experiment=ranking-live", ["b", "a"]),
    ("status=finished", ["b"]),
    ("status=running&status=finished&name=A", ["a"]),
    ("param=lr:0.1", ["a"]),
    ("param=lr", ["b", "a"]),
    ("tag=team:quant", ["a"]),
    ("metric=auc>=0.8", ["b"]),
    ("metric=auc>0.5&metric=auc<0.8", ["a"]),
    ("user=rita_researcher", ["c", "b", "a"]),
    ("user=nobody", []),
])
def test_runs_filter_by_every_parameter(runs, query, expected):
    assert run_names(query) == expected


@pytest.mark.parametrize(("query", "expected"), [
    ("order_by=metric.auc", ["a", "b", "c"]),  # no value sorts last
    ("order_by=metric.auc&desc=true", ["b", "a", "c"]),
    ("order_by=metric.auc&desc=1", ["b", "a", "c"]),
    ("order_by=metric.auc&desc=Yes", ["b", "a", "c"]),
    ("order_by=metric.auc&desc=false", ["a", "b", "c"]),
    ("order_by=param.lr&desc=0", ["b", "a", "c"]),  # "0.01" < "0.1" as strings
    ("order_by=name&desc=no", ["a", "b", "c"]),
    ("desc=true", ["c", "b", "a"]),  # desc without order_by: still the newest first
])
def test_runs_are_ordered_by_order_by_and_desc(runs, query, expected):
    assert run_names(query) == expected


@pytest.mark.parametrize(("query", "parameter"), [
    ("desc=descending", "desc"),
    ("status=paused", "status"),
    ("started_after=yesterday", "started_after"),
])
def test_a_bad_run_parameter_is_an_invalid_search_naming_it(runs, query, parameter):
    with pytest.raises(InvalidSearch) as refused:
        run_filter(Run.objects.all(), QueryDict(query))
    assert refused.value.message.startswith(f"{parameter}: ")
    assert list(refused.value.details) == [parameter]


@pytest.mark.parametrize("query", ["order_by=colour", "metric=auc>>1", "param=:1"])
def test_a_malformed_order_metric_or_param_is_an_invalid_search(runs, query):
    with pytest.raises(InvalidInput) as refused:
        run_filter(Run.objects.all(), QueryDict(query))
    assert refused.value.code == "invalid_search"


def test_the_api_answers_a_bad_boolean_with_a_400_naming_it(api, runs):
    archived = api.get("/api/v1/experiments/?archived=maybe")
    assert archived.status_code == 400
    assert archived.json()["code"] == "invalid_search"
    assert archived.json()["message"].startswith("archived: 'maybe' is not a boolean")
    desc = api.get("/api/v1/runs/?order_by=name&desc=descending")
    assert (desc.status_code, desc.json()["code"]) == (400, "invalid_search")
    assert desc.json()["details"] == {"desc": [desc.json()["message"].removeprefix("desc: ")]}
    assert [run["name"] for run in api.get("/api/v1/runs/?order_by=name&desc=YES").json()[
        "results"]] == ["c", "b", "a"]
