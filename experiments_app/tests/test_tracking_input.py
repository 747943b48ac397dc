"""The pure checks on what a training script logs (no Django)."""

import math

import pytest

from experiments_app.tracking_input import (
    MAX_BATCH_METRICS,
    MAX_BATCH_PARAMS,
    MAX_BATCH_TAGS,
    BatchLimitError,
    TrackingInputError,
    clean_artifact_path,
    clean_batch,
    clean_key,
    clean_metrics,
    clean_params,
    json_number,
    latest_per_key,
    metric_value,
)


@pytest.mark.parametrize("key", ["auc", "val/loss", "train loss", "lr-0.1_x", "a" * 250])
def test_it_accepts_mlflow_key_characters(key):
    assert clean_key(key) == key


@pytest.mark.parametrize("key", ["", "a" * 251, "auc>=1", "a:b", "a\\b", "a\nb", None, 3])
def test_it_refuses_keys_outside_the_documented_set(key):
    with pytest.raises(TrackingInputError):
        clean_key(key)


def test_non_finite_values_are_read_from_their_json_strings():
    assert math.isnan(metric_value("NaN"))
    assert metric_value("Infinity") == math.inf
    assert metric_value("-Infinity") == -math.inf
    assert metric_value("inf") == math.inf
    assert metric_value(3) == 3.0


@pytest.mark.parametrize("value", [True, None, "abc", [1], {"v": 1}])
def test_it_refuses_values_that_are_not_numbers(value):
    with pytest.raises(TrackingInputError):
        metric_value(value)


def test_json_number_writes_non_finite_values_as_strings():
    assert [json_number(v) for v in (math.nan, math.inf, -math.inf, 0.5)] == [
        "NaN", "Infinity", "-Infinity", 0.5
    ]


def test_a_nan_point_is_stored_as_zero_with_its_flag():
    [row] = clean_metrics([{"key": "loss", "value": "NaN", "step": 3, "timestamp": 7}])
    assert row == ("loss", 0.0, True, 3, 7)


def test_step_and_timestamp_must_be_integers():
    with pytest.raises(TrackingInputError):
        clean_metrics([{"key": "loss", "value": 1, "step": "x"}])
    with pytest.raises(TrackingInputError):
        clean_metrics([{"key": "loss", "value": 1, "step": 2**63}])
    [row] = clean_metrics([{"key": "loss", "value": 1}])
    assert row[3] == 0 and row[4] > 1_600_000_000_000


def test_batch_limits_are_mlflows():
    clean_batch({"metrics": [{"key": "m", "value": 1}] * MAX_BATCH_METRICS,
                 "params": {f"p{i}": i for i in range(MAX_BATCH_PARAMS)},
                 "tags": {f"t{i}": i for i in range(MAX_BATCH_TAGS)}})
    for body in (
        {"metrics": [{"key": "m", "value": 1}] * (MAX_BATCH_METRICS + 1)},
        {"params": {f"p{i}": i for i in range(MAX_BATCH_PARAMS + 1)}},
        {"tags": {f"t{i}": i for i in range(MAX_BATCH_TAGS + 1)}},
    ):
        with pytest.raises(BatchLimitError):
            clean_batch(body)


def test_a_param_twice_with_two_values_in_one_request_is_refused():
    assert clean_params([{"key": "lr", "value": 0.1}, {"key": "lr", "value": "0.1"}]) == {
        "lr": "0.1"
    }
    with pytest.raises(TrackingInputError):
        clean_params([{"key": "lr", "value": 0.1}, {"key": "lr", "value": 0.2}])


def test_latest_is_highest_step_then_latest_timestamp_then_last_logged():
    rows = clean_metrics([
        {"key": "a", "value": 1, "step": 5, "timestamp": 10},
        {"key": "a", "value": 2, "step": 3, "timestamp": 99},
        {"key": "b", "value": 1, "step": 1, "timestamp": 10},
        {"key": "b", "value": 2, "step": 1, "timestamp": 20},
        {"key": "c", "value": 1, "step": 1, "timestamp": 10},
        {"key": "c", "value": 2, "step": 1, "timestamp": 10},
    ])
    latest = latest_per_key(rows)
    assert {key: row[1] for key, row in latest.items()} == {"a": 1.0, "b": 2.0, "c": 2.0}


@pytest.mark.parametrize("path", [
    "../x", "a/../../x", "/etc/passwd", "a\\b", "..\\x", "a//b", "./a", "a/.", "C:/x",
    "a/\x00b", "",
])
def test_artifact_paths_that_could_escape_are_refused(path):
    with pytest.raises(TrackingInputError):
        clean_artifact_path(path)


def test_artifact_paths_inside_the_run_are_kept():
    assert clean_artifact_path("model/model.pkl") == "model/model.pkl"
    assert clean_artifact_path("plots/", allow_empty=True) == "plots"
    assert clean_artifact_path("", allow_empty=True) == ""
