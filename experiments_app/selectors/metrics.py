"""Metric histories for charts, downsampled on the server (experiments_app.downsample)."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db import connection

from experiments_app.downsample import MIN_POINTS, downsample
from experiments_app.errors import InvalidSearch, MetricNotFound, RunNotFound
from experiments_app.models import Metric, Run
from experiments_app.tracking_input import json_number

MAX_HISTORY_RUNS = 100


def _clean_max_points(max_points: int | None) -> int | None:
    if max_points is not None and max_points < MIN_POINTS:
        raise InvalidSearch(f"max_points must be at least {MIN_POINTS}.")
    return max_points


def _points(run_pk: int, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, values, timestamps) in step, then timestamp, then logging order."""
    quote = connection.ops.quote_name
    sql = (
        f"SELECT step, {quote('timestamp')}, value, is_nan FROM {Metric._meta.db_table} "
        f"WHERE run_id = %s AND key = %s ORDER BY step, {quote('timestamp')}, id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_pk, key])
        rows = cursor.fetchall()
    if not rows:
        empty = np.empty(0, dtype=np.int64)
        return empty, np.empty(0, dtype=np.float64), empty
    steps, stamps, values, nans = zip(*rows, strict=True)
    values_array = np.array(values, dtype=np.float64)
    nan_array = np.array(nans, dtype=bool)
    if nan_array.any():
        values_array[nan_array] = np.nan
    return np.array(steps, dtype=np.int64), values_array, np.array(stamps, dtype=np.int64)


def _series(run_id: str, key: str, points: tuple[np.ndarray, np.ndarray, np.ndarray],
            max_points: int | None) -> dict[str, Any]:
    steps, values, stamps = points
    total = len(values)
    steps, values, stamps = downsample(steps, values, stamps, max_points)
    if np.isfinite(values).all():
        listed: list[Any] = values.tolist()
    else:
        listed = [json_number(value) for value in values.tolist()]
    return {
        "run_id": run_id,
        "key": key,
        "total_points": total,
        "returned_points": len(listed),
        "steps": steps.tolist(),
        "timestamps": stamps.tolist(),
        "values": listed,
    }


def metric_history(*, run: Run, key: str, max_points: int | None = None) -> dict[str, Any]:
    """One metric's points, in columns (steps, timestamps, values), at most max_points."""
    max_points = _clean_max_points(max_points)
    points = _points(run.pk, key)
    if len(points[1]) == 0:
        raise MetricNotFound(f"Run {run.run_id} has no metric '{key}'.")
    return _series(run.run_id, key, points, max_points)


def metric_histories(
    *, run_ids: list[str], key: str, max_points: int | None = None
) -> list[dict[str, Any]]:
    """The same metric for several runs, one series per run (empty when never logged)."""
    max_points = _clean_max_points(max_points)
    ordered = list(dict.fromkeys(run_id.strip() for run_id in run_ids if run_id.strip()))
    if not ordered or not key:
        raise InvalidSearch("Give run_ids (comma-separated) and a metric key.")
    if len(ordered) > MAX_HISTORY_RUNS:
        raise InvalidSearch(f"Ask for at most {MAX_HISTORY_RUNS} runs at once.")
    pks = dict(Run.objects.filter(run_id__in=ordered).values_list("run_id", "pk"))
    missing = [run_id for run_id in ordered if run_id not in pks]
    if missing:
        raise RunNotFound(f"No run(s) with id {', '.join(missing)}.", details={"missing": missing})
    return [_series(run_id, key, _points(pks[run_id], key), max_points) for run_id in ordered]
