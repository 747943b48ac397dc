"""Metric histories for charts: one run, many runs, downsampled on the server."""

import math

import numpy as np
import pytest

pytestmark = pytest.mark.django_db


def log_curve(log_batch, run_id, key, values, step_offset=0):
    for start in range(0, len(values), 1000):
        log_batch(run_id, metrics=[
            {"key": key, "value": value, "step": step_offset + start + number,
             "timestamp": 1_000 + start + number}
            for number, value in enumerate(values[start:start + 1000])
        ])


def test_the_history_comes_whole_in_step_order(api, start_run, log_batch):
    run_id = start_run()["run_id"]
    log_batch(run_id, metrics=[{"key": "loss", "value": v, "step": s, "timestamp": 5}
                               for s, v in [(2, 0.5), (0, 0.9), (1, 0.7), (1, 0.6)]])
    data = api.get(f"/api/v1/runs/{run_id}/metrics/loss/history/").json()
    assert data["steps"] == [0, 1, 1, 2]
    assert data["values"] == [0.9, 0.7, 0.6, 0.5]  # same step and time: logging order
    assert data["timestamps"] == [5, 5, 5, 5]
    assert data["total_points"] == data["returned_points"] == 4


def test_a_long_history_is_downsampled_keeping_first_last_min_and_max(
    api, start_run, log_batch
):
    run_id = start_run()["run_id"]
    rng = np.random.default_rng(3)
    values = rng.normal(size=5000).cumsum().tolist()
    log_curve(log_batch, run_id, "loss", values)
    data = api.get(f"/api/v1/runs/{run_id}/metrics/loss/history/?max_points=100").json()
    assert data["total_points"] == 5000
    assert data["returned_points"] == len(data["values"]) <= 100
    assert data["steps"][0] == 0 and data["steps"][-1] == 4999
    assert min(data["values"]) == min(values) and max(data["values"]) == max(values)
    kept = zip(data["steps"], data["values"], strict=True)
    assert all(values[step] == value for step, value in kept)
    assert data["timestamps"] == [1000 + step for step in data["steps"]]
    assert data["steps"] == sorted(data["steps"])


def test_downsampling_keeps_nan_and_infinity_faithful(api, start_run, log_batch):
    run_id = start_run()["run_id"]
    values = [math.sin(i / 10) for i in range(300)]
    values[150] = "Infinity"
    values[10] = "NaN"
    values[192:260] = ["NaN"] * 68  # steps 192-255 are a bucket of NaN only: a point is kept
    log_curve(log_batch, run_id, "loss", values)
    data = api.get(f"/api/v1/runs/{run_id}/metrics/loss/history/?max_points=20").json()
    assert len(data["values"]) <= 20
    assert "Infinity" in data["values"]
    assert data["steps"][data["values"].index("Infinity")] == 150
    nan_steps = [s for s, v in zip(data["steps"], data["values"], strict=True) if v == "NaN"]
    assert nan_steps and all(192 <= step < 260 for step in nan_steps)


def test_keys_with_slashes_and_spaces_work_in_the_url(api, start_run, log_batch):
    run_id = start_run()["run_id"]
    log_batch(run_id, metrics=[{"key": "val/top 5 acc", "value": 0.4, "step": 0}])
    data = api.get(f"/api/v1/runs/{run_id}/metrics/val/top%205%20acc/history/").json()
    assert data["key"] == "val/top 5 acc" and data["values"] == [0.4]


def test_an_unknown_metric_is_a_404_and_max_points_must_be_at_least_4(api, start_run,
                                                                         log_batch):
    run_id = start_run()["run_id"]
    log_batch(run_id, metrics=[{"key": "loss", "value": 1, "step": 0}])
    missing = api.get(f"/api/v1/runs/{run_id}/metrics/auc/history/")
    assert missing.status_code == 404
    assert missing.json()["code"] == "metric_not_found"
    for bad in ("3", "x", "-5"):
        response = api.get(f"/api/v1/runs/{run_id}/metrics/loss/history/?max_points={bad}")
        assert response.status_code == 400


def test_histories_of_several_runs_at_once(api, start_run, log_batch):
    first, second, empty = (start_run()["run_id"] for _ in range(3))
    log_curve(log_batch, first, "loss", [float(i % 7) for i in range(500)])
    log_curve(log_batch, second, "loss", [0.5, 0.4])
    data = api.get(f"/api/v1/metrics/history/?run_ids={first},{second},{empty}"
                   "&key=loss&max_points=50").json()
    assert data["key"] == "loss" and data["max_points"] == 50
    series = {s["run_id"]: s for s in data["series"]}
    assert [s["run_id"] for s in data["series"]] == [first, second, empty]
    assert series[first]["total_points"] == 500 and series[first]["returned_points"] <= 50
    assert series[second]["values"] == [0.5, 0.4]
    assert series[empty]["values"] == [] and series[empty]["total_points"] == 0
    unknown = api.get(f"/api/v1/metrics/history/?run_ids={first},{'e' * 32}&key=loss")
    assert unknown.status_code == 404
    assert api.get("/api/v1/metrics/history/?key=loss").status_code == 400
