"""The real mlflow client against a live Axion; every fact read back through Axion's own API."""

from __future__ import annotations

import math

from mlflow.entities import Metric, Param, RunTag


def axion_run(api, run_id: str) -> dict:
    response = api.get(f"/api/v1/runs/{run_id}/")
    assert response.status_code == 200, response.json()
    return response.json()


def test_set_experiment_creates_it_in_axion_owned_by_the_caller(tracking, client, api):
    experiment = tracking.set_experiment("ranking-lgbm")
    found = api.get("/api/v1/experiments/", {"name": "ranking-lgbm"}).json()["results"]
    assert [(e["id"], e["owner"]) for e in found] == [(int(experiment.experiment_id),
                                                        "rita_researcher")]
    assert tracking.set_experiment("ranking-lgbm").experiment_id == experiment.experiment_id
    assert experiment.artifact_location.startswith("mlflow-artifacts:/")


def test_experiment_tags_and_the_description_note_are_axion_fields(tracking, client, api):
    experiment_id = tracking.set_experiment("ranking-lgbm").experiment_id
    tracking.set_experiment_tag("team", "quant")
    client.set_experiment_tag(experiment_id, "mlflow.note.content", "Stock ranking")
    axion = api.get(f"/api/v1/experiments/{experiment_id}/").json()
    assert axion["tags"] == {"team": "quant"}
    assert axion["description"] == "Stock ranking"
    tags = client.get_experiment(experiment_id).tags
    assert tags == {"team": "quant", "mlflow.note.content": "Stock ranking"}
    client.delete_experiment_tag(experiment_id, "team")
    assert api.get(f"/api/v1/experiments/{experiment_id}/").json()["tags"] == {}


def test_search_experiments_filters_by_name_like_and_tags(tracking, client):
    for name in ("ranking-lgbm", "ranking-xgb", "regime"):
        client.create_experiment(name, tags={"team": "quant" if name != "regime" else "macro"})
    names = {e.name for e in tracking.search_experiments(filter_string="name LIKE 'rank%'")}
    assert names == {"ranking-lgbm", "ranking-xgb"}
    macro = tracking.search_experiments(filter_string="tags.team = 'macro'")
    assert [e.name for e in macro] == ["regime"]
    ordered = tracking.search_experiments(order_by=["name DESC"],
                                          filter_string="name ILIKE 'R%'")
    assert [e.name for e in ordered] == ["regime", "ranking-xgb", "ranking-lgbm"]
    page = client.search_experiments(max_results=2, order_by=["name"])
    rest = client.search_experiments(max_results=2, order_by=["name"], page_token=page.token)
    assert [e.name for e in page] + [e.name for e in rest] == [
        "ranking-lgbm", "ranking-xgb", "regime"]
    assert rest.token is None


def test_a_fluent_run_logs_params_metrics_tags_into_axion(tracking, client, api):
    tracking.set_experiment("ranking-lgbm")
    with tracking.start_run(run_name="lgbm-1") as run:
        tracking.log_param("lr", 0.01)
        tracking.log_params({"depth": 6, "loss": "huber"})
        for step, loss in enumerate([0.9, 0.7, 0.5]):
            tracking.log_metric("loss", loss, step=step)
        tracking.log_metrics({"auc": 0.71, "rmse": math.nan}, step=3)
        tracking.set_tag("team", "quant")
        tracking.set_tags({"stage": "trial", "owner": "rita"})
    run_id = run.info.run_id
    axion = axion_run(api, run_id)
    assert axion["name"] == "lgbm-1" and axion["status"] == "finished"
    assert axion["params"] == {"lr": "0.01", "depth": "6", "loss": "huber"}
    assert axion["metrics"] == {"loss": 0.5, "auc": 0.71, "rmse": "NaN"}
    assert {"team": "quant", "stage": "trial", "owner": "rita"}.items() <= axion["tags"].items()
    assert axion["user"] == "rita_researcher"
    history = api.get(f"/api/v1/runs/{run_id}/metrics/loss/history/").json()
    assert (history["steps"], history["values"]) == ([0, 1, 2], [0.9, 0.7, 0.5])
    got = client.get_run(run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "lgbm-1"
    assert got.info.end_time is not None and got.info.lifecycle_stage == "active"
    assert got.data.params == axion["params"]
    assert got.data.metrics["loss"] == 0.5 and math.isnan(got.data.metrics["rmse"])
    assert got.data.tags["mlflow.runName"] == "lgbm-1"


def test_nested_runs_are_axion_parent_and_child(tracking, client, api):
    tracking.set_experiment("ranking-lgbm")
    with tracking.start_run(run_name="sweep") as parent:
        with tracking.start_run(run_name="trial-1", nested=True) as child:
            tracking.log_metric("loss", 0.3)
    assert axion_run(api, child.info.run_id)["parent_run_id"] == parent.info.run_id
    assert axion_run(api, parent.info.run_id)["child_run_ids"] == [child.info.run_id]
    found = tracking.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'", output_format="list")
    assert [r.info.run_id for r in found] == [child.info.run_id]
    assert client.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == (
        parent.info.run_id)


def test_the_client_api_creates_logs_in_batches_and_fails_a_run(tracking, client, api):
    experiment_id = client.create_experiment("regime")
    run = client.create_run(experiment_id, run_name="batch", tags={"team": "macro"})
    run_id = run.info.run_id
    assert run.info.status == "RUNNING" and run.info.artifact_uri.endswith(run_id)
    client.log_batch(
        run_id,
        metrics=[Metric("loss", 1.0 / (step + 1), 1_700_000_000_000 + step, step)
                 for step in range(1500)],
        params=[Param("lr", "0.1")], tags=[RunTag("stage", "batch")],
    )
    client.set_terminated(run_id, "FAILED")
    axion = axion_run(api, run_id)
    assert axion["status"] == "failed" and axion["end_time"] is not None
    assert axion["params"] == {"lr": "0.1"}
    assert axion["tags"]["stage"] == "batch" and axion["tags"]["team"] == "macro"
    history = client.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(1500))
    axion_history = api.get(f"/api/v1/runs/{run_id}/metrics/loss/history/").json()
    assert axion_history["total_points"] == 1500
    assert [m.value for m in history] == axion_history["values"]
    assert client.get_metric_history(run_id, "never-logged") == []


def test_delete_and_restore_a_run(tracking, client, api):
    experiment_id = client.create_experiment("regime")
    keep = client.create_run(experiment_id).info.run_id
    gone = client.create_run(experiment_id).info.run_id
    client.delete_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "deleted"
    assert [r.info.run_id for r in client.search_runs([experiment_id])] == [keep]
    deleted = client.search_runs([experiment_id], run_view_type=2)
    assert [r.info.run_id for r in deleted] == [gone]
    assert len(client.search_runs([experiment_id], run_view_type=3)) == 2
    assert axion_run(api, gone)["run_id"] == gone  # the run itself is kept
    client.restore_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "active"
    assert len(client.search_runs([experiment_id])) == 2


def test_a_deleted_run_takes_no_more_writes(tracking, client):
    import pytest
    from mlflow.exceptions import MlflowException

    run_id = client.create_run(client.create_experiment("regime")).info.run_id
    client.delete_run(run_id)
    with pytest.raises(MlflowException) as caught:
        client.log_metric(run_id, "loss", 1.0)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "deleted" in caught.value.message


def test_the_default_experiment_is_axion_experiment_named_default(tracking, client, api):
    with tracking.start_run() as run:
        tracking.log_metric("x", 1.0)
    assert axion_run(api, run.info.run_id)["experiment"] == "Default"


def test_a_run_name_set_by_tag_renames_the_axion_run(tracking, client, api):
    run = client.create_run(client.create_experiment("regime"), run_name="before")
    client.set_tag(run.info.run_id, "mlflow.runName", "after")
    assert axion_run(api, run.info.run_id)["name"] == "after"
    client.update_run(run.info.run_id, name="renamed")
    assert client.get_run(run.info.run_id).info.run_name == "renamed"
    client.set_tag(run.info.run_id, "scratch", "1")
    client.delete_tag(run.info.run_id, "scratch")
    assert "scratch" not in axion_run(api, run.info.run_id)["tags"]


def test_rename_delete_and_restore_an_experiment(tracking, client, api):
    experiment_id = client.create_experiment("regime")
    client.rename_experiment(experiment_id, "regime-v2")
    assert api.get(f"/api/v1/experiments/{experiment_id}/").json()["name"] == "regime-v2"
    client.delete_experiment(experiment_id)
    assert api.get(f"/api/v1/experiments/{experiment_id}/").json()["archived"] is True
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    assert [e.name for e in client.search_experiments(view_type=2)] == ["regime-v2"]
    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"


def test_logging_metrics_to_an_ended_run_is_refused(tracking, client):
    import pytest
    from mlflow.exceptions import MlflowException

    run_id = client.create_run(client.create_experiment("regime")).info.run_id
    client.set_terminated(run_id)
    client.set_terminated(run_id)  # ending it again the same way is accepted
    with pytest.raises(MlflowException) as caught:
        client.log_metric(run_id, "loss", 1.0)
    assert caught.value.error_code == "INVALID_STATE"
    client.set_tag(run_id, "note", "tags still annotate an ended run")


def test_log_artifacts_and_log_text(tracking, client, api, tmp_path):
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    tracking.set_experiment("regime")
    with tracking.start_run() as run:
        tracking.log_artifacts(str(folder), artifact_path="plots")
        tracking.log_text("hello", "notes/hello.txt")
    files = api.get(f"/api/v1/runs/{run.info.run_id}/artifacts/").json()["files"]
    assert [f["path"] for f in files] == ["notes/hello.txt", "plots/a.txt", "plots/sub/b.txt"]
    assert tracking.artifacts.load_text(f"runs:/{run.info.run_id}/notes/hello.txt") == "hello"
