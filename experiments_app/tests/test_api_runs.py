"""Experiments and runs through the REST API: creation, logging, write-once params, ended
runs, batch limits, NaN and infinity on both database backends, authentication."""

import math
import re

import pytest
from django.db import connection

from experiments_app.models import LatestMetric, Metric, Param, Run
from experiments_app.tests.conftest import points

pytestmark = pytest.mark.django_db

RUN_URL = "/api/v1/runs/{}/"


def test_anonymous_requests_are_refused(anon_api, start_run):
    run_id = start_run()["run_id"]
    for method, url in [
        ("get", "/api/v1/experiments/"),
        ("post", "/api/v1/experiments/"),
        ("get", "/api/v1/runs/"),
        ("post", "/api/v1/runs/"),
        ("get", f"/api/v1/runs/{run_id}/"),
        ("post", f"/api/v1/runs/{run_id}/log-metric/"),
        ("post", f"/api/v1/runs/{run_id}/log-batch/"),
        ("get", f"/api/v1/runs/compare/?run_ids={run_id}"),
        ("get", f"/api/v1/metrics/history/?run_ids={run_id}&key=loss"),
        ("get", f"/api/v1/runs/{run_id}/artifacts/"),
    ]:
        assert getattr(anon_api, method)(url).status_code == 401, url
    assert Metric.objects.count() == 0


def test_a_bad_token_is_refused(anon_api):
    anon_api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = anon_api.get("/api/v1/runs/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_an_inactive_user_is_refused(api, researcher):
    researcher.is_active = False
    researcher.save()
    assert api.get("/api/v1/runs/").status_code == 401


def test_it_creates_an_experiment_and_refuses_a_duplicate_name(api):
    response = api.post("/api/v1/experiments/", {"name": "regime", "tags": {"team": "quant"}},
                        format="json")
    assert response.status_code == 201
    assert response.json()["tags"] == {"team": "quant"}
    again = api.post("/api/v1/experiments/", {"name": "regime"}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "duplicate_experiment"


def test_an_experiment_name_of_digits_only_is_refused(api):
    response = api.post("/api/v1/experiments/", {"name": "2024"}, format="json")
    assert response.status_code == 400


def test_experiments_are_listed_and_filtered(api, start_run):
    start_run("alpha")
    start_run("alpha")
    start_run("beta")
    listed = api.get("/api/v1/experiments/").json()
    assert {e["name"]: e["run_count"] for e in listed["results"]} == {"alpha": 2, "beta": 1}
    assert [e["name"] for e in api.get("/api/v1/experiments/?name=alp").json()["results"]] == [
        "alpha"
    ]


def test_a_run_starts_in_an_experiment_named_or_created(api, start_run, researcher):
    run = start_run("new-experiment", name="first", source="train.py",
                    tags={"git": "abc123"}, params={"lr": 0.1, "depth": 6})
    assert re.fullmatch(r"[0-9a-f]{32}", run["run_id"])
    assert run["status"] == "running" and run["end_time"] is None
    assert run["user"] == researcher.username
    assert run["params"] == {"depth": "6", "lr": "0.1"}
    assert run["tags"] == {"git": "abc123"}
    by_id = start_run(str(run["experiment_id"]))
    assert by_id["experiment"] == "new-experiment"


def test_an_archived_experiment_refuses_new_runs(api, start_run):
    experiment_id = start_run("old")["experiment_id"]
    response = api.patch(f"/api/v1/experiments/{experiment_id}/", {"archived": True},
                         format="json")
    assert response.json()["archived"] is True
    refused = api.post("/api/v1/runs/", {"experiment": "old"}, format="json")
    assert refused.status_code == 409
    assert refused.json()["code"] == "experiment_archived"


def test_nested_runs_point_to_their_parent(api, start_run):
    parent = start_run("sweep")
    child = start_run("sweep", parent_run_id=parent["run_id"])
    assert child["parent_run_id"] == parent["run_id"]
    detail = api.get(RUN_URL.format(parent["run_id"])).json()
    assert detail["child_run_ids"] == [child["run_id"]]
    elsewhere = api.post("/api/v1/runs/", {"experiment": "other",
                                           "parent_run_id": parent["run_id"]}, format="json")
    assert elsewhere.status_code == 400


def test_an_unknown_run_is_a_404(api):
    response = api.get(RUN_URL.format("0" * 32))
    assert response.status_code == 404
    assert response.json()["code"] == "run_not_found"


def test_it_logs_single_metrics_and_keeps_the_whole_history(api, start_run):
    run_id = start_run()["run_id"]
    for step, value in enumerate([0.9, 0.7, 0.5]):
        response = api.post(f"/api/v1/runs/{run_id}/log-metric/",
                            {"key": "loss", "value": value, "step": step, "timestamp": 1000},
                            format="json")
        assert response.status_code == 201
        assert response.json() == {"key": "loss", "value": value, "step": step,
                                   "timestamp": 1000}
    history = Metric.objects.filter(run__run_id=run_id).order_by("step")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.7), (2, 0.5)]
    assert api.get(RUN_URL.format(run_id)).json()["metrics"] == {"loss": 0.5}


def test_the_latest_value_is_the_highest_step_even_when_logged_out_of_order(
    api, start_run, log_batch
):
    run_id = start_run()["run_id"]
    log_batch(run_id, metrics=[{"key": "auc", "value": 0.8, "step": 10, "timestamp": 5}])
    log_batch(run_id, metrics=[{"key": "auc", "value": 0.6, "step": 3, "timestamp": 9}])
    assert api.get(RUN_URL.format(run_id)).json()["metrics"] == {"auc": 0.8}
    log_batch(run_id, metrics=[{"key": "auc", "value": 0.7, "step": 10, "timestamp": 6}])
    assert api.get(RUN_URL.format(run_id)).json()["metrics"] == {"auc": 0.7}
    log_batch(run_id, metrics=[{"key": "auc", "value": 0.1, "step": 10, "timestamp": 2}])
    latest = LatestMetric.objects.get(run__run_id=run_id, key="auc")
    assert (latest.value, latest.step, latest.timestamp) == (0.7, 10, 6)


def test_params_are_write_once(api, start_run):
    run_id = start_run(params={"lr": "0.1"})["run_id"]
    url = f"/api/v1/runs/{run_id}/log-param/"
    assert api.post(url, {"key": "lr", "value": "0.1"}, format="json").status_code == 201
    changed = api.post(url, {"key": "lr", "value": "0.2"}, format="json")
    assert changed.status_code == 409
    body = changed.json()
    assert body["code"] == "param_conflict"
    assert body["details"] == {"lr": {"logged": "0.1", "sent": "0.2"}}
    assert Param.objects.get(run__run_id=run_id, key="lr").value == "0.1"
    several = api.post(url, {"params": {"depth": 3, "lr": "0.1"}}, format="json")
    assert several.status_code == 201


def test_a_batch_with_a_changed_param_logs_nothing(api, start_run, log_batch):
    run_id = start_run(params={"lr": "0.1"})["run_id"]
    body = log_batch(run_id, expected=409, metrics=points("loss", [1.0, 0.5]),
                     params={"lr": "0.3", "depth": "4"}, tags={"k": "v"})
    assert body["code"] == "param_conflict"
    run = Run.objects.get(run_id=run_id)
    assert run.metrics.count() == 0 and run.latest_metrics.count() == 0
    assert list(run.params.values_list("key", flat=True)) == ["lr"]
    assert run.tags == {}


def test_a_batch_logs_metrics_params_and_tags_together(api, start_run, log_batch):
    run_id = start_run()["run_id"]
    assert log_batch(
        run_id, metrics=points("loss", [0.9, 0.8]) + points("auc", [0.6]),
        params=[{"key": "lr", "value": "0.1"}], tags={"stage": "tuning"},
    ) == {"metrics": 3, "params": 1, "tags": 1}
    detail = api.get(RUN_URL.format(run_id)).json()
    assert detail["metrics"] == {"auc": 0.6, "loss": 0.8}
    assert detail["params"] == {"lr": "0.1"}
    assert detail["tags"] == {"stage": "tuning"}


def test_batch_limits_answer_413_and_log_nothing(api, start_run, log_batch):
    run_id = start_run()["run_id"]
    log_batch(run_id, metrics=points("loss", [0.5] * 10_000))
    too_many = log_batch(run_id, expected=413, metrics=points("loss", [0.5] * 10_001))
    assert too_many["code"] == "batch_too_large"
    assert "10001 metrics" in too_many["message"]
    log_batch(run_id, expected=413, params={f"p{i}": i for i in range(101)})
    log_batch(run_id, expected=413, tags={f"t{i}": i for i in range(101)})
    assert Metric.objects.filter(run__run_id=run_id).count() == 10_000
    assert not Param.objects.filter(run__run_id=run_id).exists()


@pytest.mark.parametrize("metric", [
    {"key": "", "value": 1}, {"key": "a" * 251, "value": 1}, {"key": "auc:x", "value": 1},
    {"key": "auc", "value": "high"}, {"key": "auc", "value": True},
    {"key": "auc", "value": 1, "step": 1.5},
])
def test_invalid_metrics_are_a_400(api, start_run, metric):
    run_id = start_run()["run_id"]
    response = api.post(f"/api/v1/runs/{run_id}/log-metric/", metric, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_tracking_input"


def test_an_ended_run_refuses_logging(api, start_run, end_run, log_batch, artifact_file):
    run_id = start_run()["run_id"]
    ended = end_run(run_id)
    assert ended["status"] == "finished" and ended["end_time"]
    for url, body in [
        ("log-metric/", {"key": "loss", "value": 1}),
        ("log-param/", {"key": "lr", "value": "0.1"}),
        ("log-batch/", {"metrics": points("loss", [1.0])}),
    ]:
        response = api.post(f"/api/v1/runs/{run_id}/{url}", body, format="json")
        assert response.status_code == 409, url
        assert response.json()["code"] == "run_not_active"
    upload = api.post(f"/api/v1/runs/{run_id}/artifacts/",
                      {"file": artifact_file(b"x"), "path": "a.txt"}, format="multipart")
    assert upload.status_code == 409
    again = api.post(f"/api/v1/runs/{run_id}/end/", {"status": "failed"}, format="json")
    assert again.status_code == 409
    assert Run.objects.get(run_id=run_id).status == "finished"
    assert Metric.objects.filter(run__run_id=run_id).count() == 0


def test_an_ended_run_may_still_be_tagged(api, start_run, end_run):
    run_id = start_run(tags={"a": "1"})["run_id"]
    end_run(run_id, "failed")
    response = api.post(f"/api/v1/runs/{run_id}/set-tag/", {"key": "reviewed", "value": "yes"},
                        format="json")
    assert response.json()["tags"] == {"a": "1", "reviewed": "yes"}
    removed = api.post(f"/api/v1/runs/{run_id}/delete-tag/", {"key": "a"}, format="json")
    assert removed.json()["tags"] == {"reviewed": "yes"}
    missing = api.post(f"/api/v1/runs/{run_id}/delete-tag/", {"key": "a"}, format="json")
    assert missing.status_code == 404


def test_a_run_cannot_end_as_running(api, start_run):
    run_id = start_run()["run_id"]
    response = api.post(f"/api/v1/runs/{run_id}/end/", {"status": "running"}, format="json")
    assert response.status_code == 400


def test_a_run_can_be_renamed(api, start_run):
    run_id = start_run(name="a")["run_id"]
    response = api.patch(RUN_URL.format(run_id), {"name": "better"}, format="json")
    assert response.json()["name"] == "better"


def test_nan_and_infinities_round_trip(api, start_run, log_batch):
    """JSON strings in, stored faithfully (is_nan flag; infinities as such), strings out."""
    run_id = start_run()["run_id"]
    log_batch(run_id, metrics=[
        {"key": "nan", "value": "NaN", "step": 0},
        {"key": "pos", "value": "Infinity", "step": 0},
        {"key": "neg", "value": "-Infinity", "step": 0},
        {"key": "fine", "value": 0.25, "step": 0},
    ])
    # Python's json.dumps writes bare NaN / Infinity tokens: read too.
    raw = b'{"metrics": [{"key": "bare", "value": NaN}, {"key": "bare_inf", "value": -Infinity}]}'
    response = api.generic("POST", f"/api/v1/runs/{run_id}/log-batch/", raw,
                           content_type="application/json")
    assert response.status_code == 200, response.json()

    expected = {"nan": "NaN", "pos": "Infinity", "neg": "-Infinity", "fine": 0.25,
                "bare": "NaN", "bare_inf": "-Infinity"}
    assert api.get(RUN_URL.format(run_id)).json()["metrics"] == expected
    history = api.get(f"/api/v1/runs/{run_id}/metrics/nan/history/").json()
    assert history["values"] == ["NaN"]
    compared = api.get(f"/api/v1/runs/compare/?run_ids={run_id}").json()
    assert compared["metrics"]["pos"]["values"] == {run_id: "Infinity"}

    stored = {m.key: m for m in Metric.objects.filter(run__run_id=run_id)}
    assert stored["nan"].is_nan and stored["nan"].value == 0.0
    assert math.isnan(stored["nan"].number)
    assert stored["pos"].value == math.inf and not stored["pos"].is_nan
    assert stored["neg"].value == -math.inf
    with connection.cursor() as cursor:  # what the column itself holds, on this backend
        cursor.execute(f"SELECT key, value, is_nan FROM {Metric._meta.db_table} ORDER BY key")
        column = {key: (value, bool(nan)) for key, value, nan in cursor.fetchall()}
    assert column["pos"] == (math.inf, False)
    assert column["neg"] == (-math.inf, False)
    assert column["nan"] == (0.0, True)


def test_a_body_that_is_not_json_is_a_400(api, start_run):
    run_id = start_run()["run_id"]
    response = api.generic("POST", f"/api/v1/runs/{run_id}/log-batch/", b"{nope",
                           content_type="application/json")
    assert response.status_code == 400
    listed = api.post(f"/api/v1/runs/{run_id}/log-metric/", [1, 2], format="json")
    assert listed.status_code == 400
