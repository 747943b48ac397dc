"""Metric histories for charts, downsampled on the server from the metric pyramid
(experiments_app.pyramid, which answers what experiments_app.downsample defines).

A compacted run (services.retention) has no raw points left: its whole history is what its
pyramid kept, each bucket of 8 steps' first, lowest, highest and last point, all of them real
logged points; `total_points` still counts every point logged and `compacted` says so. MLflow's
get-history reads this too, so it answers those kept points for a compacted run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from django.db import connection

from experiments_app.downsample import MIN_POINTS, downsample
from experiments_app.errors import InvalidSearch, MetricNotFound, RunNotFound
from experiments_app.models import BUCKET_COLUMNS, Metric, MetricBucket, Run, bucket_from_row
from experiments_app.pyramid import (
    LEVELS,
    Bucket,
    Point,
    choose_level,
    fold,
    kept_points,
    retained_points,
)
from experiments_app.tracking_input import json_number

MAX_HISTORY_RUNS = 100
Columns = tuple[np.ndarray, np.ndarray, np.ndarray]  # steps, values, timestamps
Fetched = tuple[int, Columns]


def _clean_max_points(max_points: int | None) -> int | None:
    if max_points is not None and max_points < MIN_POINTS:
        raise InvalidSearch(f"max_points must be at least {MIN_POINTS}.")
    return max_points


def _order_clause() -> str:
    return f"ORDER BY step, {connection.ops.quote_name('timestamp')}, id"


def _points(run_pk: int, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, values, timestamps) of every point, in step, timestamp, logging order."""
    quote = connection.ops.quote_name
    sql = (
        f"SELECT step, {quote('timestamp')}, value, is_nan FROM {Metric._meta.db_table} "
        f"WHERE run_id = %s AND key = %s {_order_clause()}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_pk, key])
        return _columns(cursor.fetchall())


def _columns(rows: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    count = len(rows)
    if not count:
        empty = np.empty(0, dtype=np.int64)
        return empty, np.empty(0, dtype=np.float64), empty
    table = np.array(rows, dtype=object)
    steps = table[:, 0].astype(np.int64)
    stamps = table[:, 1].astype(np.int64)
    values = table[:, 2].astype(np.float64)
    values[table[:, 3].astype(bool)] = np.nan
    return steps, values, stamps


def _bucket_ids(run_pk: int, key: str) -> Callable[[int, int], list[int]]:
    sql = (f"SELECT bucket FROM {MetricBucket._meta.db_table} "
           "WHERE run_id = %s AND key = %s AND level = %s ORDER BY bucket LIMIT %s")

    def ids_at(level: int, limit: int) -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(sql, [run_pk, key, level, limit])
            return [row[0] for row in cursor.fetchall()]

    return ids_at


def _buckets(run_pk: int, key: str, level: int) -> list[Bucket]:
    sql = (f"SELECT {', '.join(BUCKET_COLUMNS[1:])} FROM {MetricBucket._meta.db_table} "
           "WHERE run_id = %s AND key = %s AND level = %s ORDER BY bucket")
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_pk, key, level])
        return [bucket_from_row(row) for row in cursor.fetchall()]


def _point_columns(points: list[Point]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _columns([(p.step, p.timestamp, p.value, p.is_nan) for p in points])


def _unaggregated(run_pk: int, key: str, max_points: int | None) -> Fetched:
    """Points logged before the pyramid existed (none once `metric_pyramid_build` ran): read
    whole and downsampled in Python, the same answer, in time that grows with them."""
    steps, values, stamps = _points(run_pk, key)
    return len(values), downsample(steps, values, stamps, max_points)


def _fetch(run_pk: int, key: str, max_points: int | None, *, compacted: bool) -> Fetched:
    """(points stored, the points answered). Downsampled from the pyramid whatever the
    length; whole from the raw points, or what the pyramid kept of a compacted run."""
    top = _buckets(run_pk, key, LEVELS[-1])
    if not top:
        return _unaggregated(run_pk, key, max_points)
    total = sum(bucket.size for bucket in top)
    if max_points is not None and total > max_points:
        stored, level = choose_level(_bucket_ids(run_pk, key), (max_points - 2) // 2)
        return total, _point_columns(kept_points(fold(_buckets(run_pk, key, stored),
                                                      stored, level)))
    if compacted:
        return total, _point_columns(retained_points(_buckets(run_pk, key, LEVELS[0])))
    return total, _points(run_pk, key)


def _series(run_id: str, key: str, fetched: Fetched, *, compacted: bool) -> dict[str, Any]:
    total, (steps, values, stamps) = fetched
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
        "compacted": compacted,
    }


def metric_history(*, run: Run, key: str, max_points: int | None = None) -> dict[str, Any]:
    """One metric's points, in columns (steps, timestamps, values), at most max_points."""
    max_points = _clean_max_points(max_points)
    compacted = run.metrics_compacted_at is not None
    fetched = _fetch(run.pk, key, max_points, compacted=compacted)
    if fetched[0] == 0:
        raise MetricNotFound(f"Run {run.run_id} has no metric '{key}'.")
    return _series(run.run_id, key, fetched, compacted=compacted)


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
    found = {run_id: (pk, compacted_at is not None) for run_id, pk, compacted_at in
             Run.objects.filter(run_id__in=ordered).values_list("run_id", "pk",
                                                                "metrics_compacted_at")}
    missing = [run_id for run_id in ordered if run_id not in found]
    if missing:
        raise RunNotFound(f"No run(s) with id {', '.join(missing)}.", details={"missing": missing})
    return [
        _series(run_id, key, _fetch(found[run_id][0], key, max_points,
                                    compacted=found[run_id][1]), compacted=found[run_id][1])
        for run_id in ordered
    ]
