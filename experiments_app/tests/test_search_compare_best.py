"""Run search, comparison and the best run of an experiment."""

import pandas as pd
import pytest

from experiments_app import selectors
from experiments_app.tests.conftest import points

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(start_run, log_batch, end_run):
    """Four runs of `ranking`, one of `regime`, with params, metrics, tags and statuses."""

    def make(experiment, name, params, auc, status="finished", tags=None, loss=None):
        run = start_run(experiment, name=name, params=params, tags=tags or {})
        metrics = points("auc", auc) if isinstance(auc, list) else [
            {"key": "auc", "value": auc, "step": 0}]
        if loss is not None:
            metrics.append({"key": "loss", "value": loss, "step": 0})
        log_batch(run["run_id"], metrics=metrics)
        if status != "running":
            end_run(run["run_id"], status)
        return run["run_id"]

    return {
        "a": make("ranking", "a", {"lr": "0.1", "depth": "3"}, [0.9, 0.72],
                  tags={"team": "quant"}, loss=0.3),
        "b": make("ranking", "b", {"lr": "0.01", "depth": "3"}, 0.81, tags={"team": "ml"}),
        "c": make("ranking", "c", {"lr": "0.1", "depth": "5"}, 0.95, status="failed"),
        "d": make("ranking", "d", {"lr": "0.1"}, 0.60, status="running"),
        "e": make("regime", "e", {"lr": "0.1"}, 0.99),
    }


def names(response):
    assert response.status_code == 200, response.json()
    return [run["name"] for run in response.json()["results"]]


def test_search_filters_by_experiment_status_params_tags_and_metrics(api, runs):
    get = api.get
    assert sorted(names(get("/api/v1/runs/?experiment=ranking"))) == ["a", "b", "c", "d"]
    assert sorted(names(get("/api/v1/runs/?experiment=ranking,regime&status=finished"))) == [
        "a", "b", "e"]
    assert sorted(names(get("/api/v1/runs/?status=failed&status=running"))) == ["c", "d"]
    assert sorted(names(get("/api/v1/runs/?param=lr:0.1&experiment=ranking"))) == [
        "a", "c", "d"]
    assert sorted(names(get("/api/v1/runs/?param=lr:0.1&param=depth:3"))) == ["a"]
    assert sorted(names(get("/api/v1/runs/?param=depth"))) == ["a", "b", "c"]
    assert names(get("/api/v1/runs/?tag=team:ml")) == ["b"]
    assert sorted(names(get("/api/v1/runs/?tag=team"))) == ["a", "b"]
    # thresholds apply to the latest value: a's history peaked at 0.9 but ended at 0.72
    assert sorted(names(get("/api/v1/runs/?metric=auc>=0.8"))) == ["b", "c", "e"]
    assert sorted(names(get("/api/v1/runs/?metric=auc>0.7&metric=auc<0.9"))) == ["a", "b"]
    assert names(get("/api/v1/runs/?metric=loss<=0.3")) == ["a"]
    experiment_id = get("/api/v1/runs/?experiment=regime").json()["results"][0][
        "experiment_id"]
    assert names(get(f"/api/v1/runs/?experiment={experiment_id}")) == ["e"]


def test_search_orders_by_a_metric_with_missing_values_last(api, runs, start_run):
    start_run("ranking", name="no-auc")
    url = "/api/v1/runs/?experiment=ranking&order_by=metric.auc"
    assert names(api.get(url + "&desc=1")) == ["c", "b", "a", "d", "no-auc"]
    assert names(api.get(url)) == ["d", "a", "b", "c", "no-auc"]
    by_depth = names(api.get("/api/v1/runs/?experiment=ranking&order_by=param.depth&desc=1"))
    assert by_depth[0] == "c" and sorted(by_depth[1:3]) == ["a", "b"]  # a, b tie: run_id
    assert names(api.get("/api/v1/runs/?experiment=ranking&order_by=name")) == [
        "a", "b", "c", "d", "no-auc"]


def test_search_is_paginated(api, runs):
    page = api.get("/api/v1/runs/?order_by=name&page_size=2").json()
    assert page["count"] == 5
    assert [r["name"] for r in page["results"]] == ["a", "b"]
    assert page["next"]
    assert api.get(page["next"]).json()["results"][0]["name"] == "c"


def test_search_results_carry_params_and_latest_metrics(api, runs):
    [run] = api.get("/api/v1/runs/?tag=team:quant").json()["results"]
    assert run["params"] == {"depth": "3", "lr": "0.1"}
    assert run["metrics"] == {"auc": 0.72, "loss": 0.3}


@pytest.mark.parametrize("query", ["metric=auc>>0.7", "metric=auc", "order_by=colour",
                                   "status=paused", "param=:1"])
def test_a_malformed_search_is_a_400(api, runs, query):
    response = api.get(f"/api/v1/runs/?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_search"


def test_comparison_puts_params_and_metrics_side_by_side(api, runs):
    ids = [runs["a"], runs["b"], runs["d"]]
    data = api.get(f"/api/v1/runs/compare/?run_ids={','.join(ids)}").json()
    assert data["run_ids"] == ids
    assert data["params"]["lr"] == {"values": dict(zip(ids, ["0.1", "0.01", "0.1"], strict=False)),
                                    "differs": True}
    assert data["params"]["depth"] == {"values": dict(zip(ids, ["3", "3", None], strict=False)),
                                       "differs": True}  # missing from d
    assert data["metrics"]["auc"]["values"] == dict(zip(ids, [0.72, 0.81, 0.60], strict=False))
    assert data["metrics"]["loss"]["values"] == dict(zip(ids, [0.3, None, None], strict=False))
    assert data["differing_params"] == ["depth", "lr"]
    assert data["runs"][runs["d"]]["status"] == "running"
    same = api.get(f"/api/v1/runs/compare/?run_ids={runs['a']},{runs['c']}").json()
    assert same["params"]["lr"]["differs"] is False


def test_comparison_as_dataframes_from_the_selector(runs):
    comparison = selectors.runs_compare(run_ids=[runs["a"], runs["b"]])
    assert isinstance(comparison.params, pd.DataFrame)
    assert comparison.params.loc["lr"].tolist() == ["0.1", "0.01"]
    assert comparison.metrics.loc["auc"].tolist() == [0.72, 0.81]
    assert pd.isna(comparison.metrics.loc["loss", runs["b"]])
    assert list(comparison.metrics.columns) == [runs["a"], runs["b"]]


def test_comparing_an_unknown_run_is_a_404(api, runs):
    response = api.get(f"/api/v1/runs/compare/?run_ids={runs['a']},{'f' * 32}")
    assert response.status_code == 404
    assert response.json()["details"] == {"missing": ["f" * 32]}
    assert api.get("/api/v1/runs/compare/?run_ids=").status_code == 400


def best(api, experiment_id, query):
    return api.get(f"/api/v1/experiments/{experiment_id}/best-run/?{query}")


def experiment_id_of(api, run_id):
    return api.get(f"/api/v1/runs/{run_id}/").json()["experiment_id"]


def test_best_run_by_max_and_min_among_finished_runs_only(api, runs):
    experiment = experiment_id_of(api, runs["a"])
    # c (failed, 0.95) and d (running, 0.60) never win
    top = best(api, experiment, "metric=auc&direction=max").json()
    assert (top["run"]["name"], top["value"], top["candidates"]) == ("b", 0.81, 2)
    assert best(api, experiment, "metric=auc&direction=min").json()["run"]["name"] == "a"
    assert best(api, experiment, "metric=auc").json()["direction"] == "max"


def test_best_run_respects_param_and_tag_filters(api, runs):
    experiment = experiment_id_of(api, runs["a"])
    assert best(api, experiment, "metric=auc&param=lr:0.1").json()["run"]["name"] == "a"
    assert best(api, experiment, "metric=auc&tag=team:quant").json()["run"]["name"] == "a"
    missing = best(api, experiment, "metric=auc&param=lr:9")
    assert missing.status_code == 404
    assert missing.json()["code"] == "no_matching_run"


def test_best_run_ties_go_to_the_earliest_end_then_run_id(start_run, log_batch, end_run):
    ids = []
    for name in ("first", "second", "third"):
        run_id = start_run("ties", name=name)["run_id"]
        log_batch(run_id, metrics=[{"key": "auc", "value": 0.8, "step": 0}])
        ids.append(run_id)
    for run_id in (ids[1], ids[0], ids[2]):  # second ends first
        end_run(run_id)
    from experiments_app.models import Experiment, Run

    experiment = Experiment.objects.get(name="ties")
    assert selectors.run_best(experiment=experiment, metric="auc").run.name == "second"
    same_end = Run.objects.get(run_id=ids[1]).end_time
    Run.objects.filter(run_id__in=ids).update(end_time=same_end)
    assert selectors.run_best(experiment=experiment, metric="auc").run.run_id == min(ids)


def test_the_best_run_selector_takes_the_one_direction_or_the_api_words(
    start_run, log_batch, end_run
):
    from experiments_app.models import Experiment
    from models_app.vocabulary import Direction

    for name, auc in (("low", 0.6), ("high", 0.9)):
        run_id = start_run("directions", name=name)["run_id"]
        log_batch(run_id, metrics=[{"key": "auc", "value": auc, "step": 0}])
        end_run(run_id)
    experiment = Experiment.objects.get(name="directions")
    lower = selectors.run_best(experiment=experiment, metric="auc", direction=Direction.LOWER)
    assert (lower.run.name, lower.better, lower.direction) == ("low", Direction.LOWER, "min")
    higher = selectors.run_best(experiment=experiment, metric="auc", direction="max")
    assert (higher.run.name, higher.better, higher.direction) == ("high", Direction.HIGHER, "max")


def test_a_nan_value_never_wins(start_run, log_batch, end_run, api):
    nan_run = start_run("nan-exp", name="nan")["run_id"]
    log_batch(nan_run, metrics=[{"key": "auc", "value": "NaN", "step": 0}])
    real = start_run("nan-exp", name="real")["run_id"]
    log_batch(real, metrics=[{"key": "auc", "value": 0.1, "step": 0}])
    end_run(nan_run)
    end_run(real)
    experiment = experiment_id_of(api, real)
    for direction in ("max", "min"):
        answer = best(api, experiment, f"metric=auc&direction={direction}").json()
        assert answer["run"]["name"] == "real"
    assert "nan" not in names(api.get("/api/v1/runs/?metric=auc<1&experiment=nan-exp"))


def test_best_run_needs_a_metric_and_a_known_direction(api, runs):
    experiment = experiment_id_of(api, runs["a"])
    assert best(api, experiment, "").status_code == 400
    assert best(api, experiment, "metric=auc&direction=up").status_code == 400
    assert api.get("/api/v1/experiments/999/best-run/?metric=auc").status_code == 404
