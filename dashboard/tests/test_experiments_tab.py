"""The Experiments tab over a faked API."""

from __future__ import annotations

from dashboard.tests.conftest import tab, texts
from dashboard.tests.fake_api import RUN_A, RUN_B, Reply


def test_it_lists_the_runs_of_the_chosen_experiment_with_params_and_metrics(fake_api, app):
    experiments = tab(app(), "Experiments")
    assert fake_api.requests("GET", "runs/")[-1][0]["experiment"] == "3"
    runs = experiments.dataframe[0].value
    assert list(runs["run"]) == ["lr=0.1", "lr=0.3"]
    assert list(runs["param.lr"]) == ["0.1", "0.3"]
    assert runs.loc[0, "metric.auc"] == 0.71


def test_it_names_the_best_run_by_the_chosen_metric_and_direction(fake_api, app):
    at = app()
    shown = texts(tab(at, "Experiments"))
    assert "Best run by auc (max)=lr=0.1" in shown and "auc=0.71" in shown
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
    assert metrics.loc["auc", "lr=0.1"] == 0.71


def test_metric_curves_come_from_the_downsampled_history_endpoint(fake_api, app):
    experiments = tab(app(), "Experiments")
    query, _ = fake_api.requests("GET", "metrics/history/")[-1]
    assert query == {"run_ids": f"{RUN_A},{RUN_B}", "key": "val_loss", "max_points": "400"}
    assert "6 of 1,003 points" in texts(experiments)
    charts = experiments.get("vega_lite_chart")
    assert len(charts) == 1 and "val_loss by step" in charts[0].proto.spec
