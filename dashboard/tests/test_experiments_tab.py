"""The Experiments tab over a faked API."""

from __future__ import annotations

import json

from dashboard.tests.conftest import tab, texts
from dashboard.tests.fake_api import RUN_A, RUN_B, Reply, page


def test_it_lists_the_runs_of_the_chosen_experiment_with_params_and_metrics(fake_api, app):
    experiments = tab(app(), "Experiments")
    assert fake_api.requests("GET", "runs/")[-1][0]["experiment"] == "3"
    runs = experiments.dataframe[0].value
    assert list(runs["run"]) == ["lr=0.1", "lr=0.3"]
    assert list(runs["param.lr"]) == ["0.1", "0.3"]
    assert runs.loc[0, "metric.auc"] == "0.71"


def test_it_names_the_best_run_by_the_chosen_metric_and_direction(fake_api, app):
    at = app()
    shown = texts(tab(at, "Experiments"))
    assert f'Best run by auc (max)<br>**<a href="?run={RUN_A}" target="_self">lr=0.1</a>**' \
        in shown and "auc=0.71" in shown
    at.selectbox(key="exp_best_metric_3").set_value("val_loss")
    app(at)
    query, _ = fake_api.requests("GET", "experiments/3/best-run/")[-1]
    assert query == {"metric": "val_loss", "direction": "min"}  # a loss: lower is better


def test_no_finished_run_with_the_metric_is_a_message(fake_api, app):
    fake_api.routes["experiments/3/best-run/"] = Reply(
        404, {"code": "not_found", "message": "No finished run has metric 'auc'."})
    assert "No finished run has metric 'auc'." in texts(tab(app(), "Experiments"))


def test_it_compares_runs_and_marks_the_params_that_differ(fake_api, app):
    experiments = tab(app(), "Experiments")
    query, _ = fake_api.requests("GET", "runs/compare/")[-1]
    assert query["run_ids"] == f"{RUN_A},{RUN_B}"
    params = experiments.dataframe[1].value.set_index("param")
    assert params.loc["lr", "differs"] == "yes" and params.loc["depth", "differs"] == ""
    assert params.loc["lr", "lr=0.3"] == "0.3"
    metrics = experiments.dataframe[2].value.set_index("metric")
    assert metrics.loc["auc", "lr=0.1"] == "0.71"


def test_metric_curves_come_from_the_downsampled_history_endpoint(fake_api, app):
    experiments = tab(app(), "Experiments")
    query, _ = fake_api.requests("GET", "metrics/history/")[-1]
    assert query == {"run_ids": f"{RUN_A},{RUN_B}", "key": "val_loss", "max_points": "400"}
    assert "6 of 1,003 points" in texts(experiments)
    charts = experiments.get("vega_lite_chart")
    assert "val_loss by step" in charts[0].proto.spec


def test_a_nan_metric_reads_nan_in_the_runs_table_not_none(fake_api, app):
    runs = tab(app(), "Experiments").dataframe[0].value
    assert list(runs["metric.val_loss"]) == ["0.52", "NaN"]
    assert list(runs["metric.auc"]) == ["0.71", "0.68"]
    assert list(runs["page"]) == [f"?run={RUN_A}", f"?run={RUN_B}"]


def test_it_opens_on_the_newest_experiment_that_has_runs(fake_api, app):
    fake_api.routes["experiments/"] = page([
        {"id": 9, "name": "empty-new", "description": "", "tags": {}, "archived": False,
         "created_at": "2026-11-28T09:00:00Z", "run_count": 0},
        {"id": 3, "name": "ranking-sweep", "description": "", "tags": {}, "archived": False,
         "created_at": "2026-11-27T09:00:00Z", "run_count": 2},
    ])
    at = app()
    assert at.selectbox(key="exp_experiment").value == 3
    assert fake_api.requests("GET", "runs/")[0][0]["experiment"] == "3"


def test_several_metrics_share_one_chart_coloured_by_metric(fake_api, app):
    at = app()
    at.multiselect(key="exp_curve_metrics_3").set_value(["val_loss", "auc"])
    experiments = tab(app(at), "Experiments")
    keys = {q["key"] for q, _ in fake_api.requests("GET", "metrics/history/")}
    assert keys == {"val_loss", "auc"}
    spec = json.loads(experiments.get("vega_lite_chart")[0].proto.spec)
    assert spec["encoding"]["color"]["field"] == "metric"
    assert "val_loss and auc by step" in json.dumps(spec["title"])


def test_an_all_nan_series_is_named_instead_of_drawn(fake_api, app):
    fake_api.routes["metrics/history/"] = {"key": "val_loss", "max_points": 400, "series": [
        {"run_id": RUN_B, "key": "val_loss", "total_points": 2, "returned_points": 2,
         "steps": [0, 1], "timestamps": [1, 2], "values": ["NaN", "NaN"]}]}
    experiments = tab(app(), "Experiments")
    assert "val_loss: every point of the chosen runs is NaN" in texts(experiments)
    assert all("by step" not in c.proto.spec for c in experiments.get("vega_lite_chart"))


def test_params_against_a_metric_draw_a_scatter_and_parallel_coordinates(fake_api, app):
    specs = [c.proto.spec for c in tab(app(), "Experiments").get("vega_lite_chart")]
    assert any("auc against depth" in s for s in specs)
    assert any("Params against auc" in s for s in specs)


def test_runs_are_compared_across_experiments(fake_api, app):
    experiments = tab(app(), "Experiments")
    assert any("auc of each run, by experiment" in c.proto.spec
               for c in experiments.get("vega_lite_chart"))
    across = experiments.dataframe[-1].value
    assert list(across["experiment"]) == ["ranking-sweep", "ranking-sweep"]
