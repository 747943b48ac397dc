"""Reads the MLflow protocol needs: a page of runs' params and latest metric points (with
their step and timestamp, which runs_load_data leaves out), in two queries for the lot."""

from __future__ import annotations

from collections import defaultdict

from experiments_app.models import LatestMetric, Param

# (key, value, is_nan, step, timestamp), as stored
LatestPoint = tuple[str, float, bool, int, int]


def runs_params(run_pks: list[int]) -> dict[int, dict[str, str]]:
    found: dict[int, dict[str, str]] = defaultdict(dict)
    for run_pk, key, value in (Param.objects.filter(run_id__in=run_pks).order_by("key")
                               .values_list("run_id", "key", "value")):
        found[run_pk][key] = value
    return found


def runs_latest_points(run_pks: list[int]) -> dict[int, list[LatestPoint]]:
    found: dict[int, list[LatestPoint]] = defaultdict(list)
    for run_pk, key, value, is_nan, step, timestamp in (
        LatestMetric.objects.filter(run_id__in=run_pks).order_by("key")
        .values_list("run_id", "key", "value", "is_nan", "step", "timestamp")
    ):
        found[run_pk].append((key, value, is_nan, step, timestamp))
    return found
