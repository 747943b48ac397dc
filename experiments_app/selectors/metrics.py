"""Metric histories for charts, downsampled on the server (experiments_app.downsample)."""

from __future__ import annotations

from itertools import chain
from typing import Any

import numpy as np
from django.db import connection

from experiments_app.downsample import MIN_POINTS, minmax_indices
from experiments_app.errors import InvalidSearch, MetricNotFound, RunNotFound
from experiments_app.models import Metric, Run
from experiments_app.tracking_input import json_number

MAX_HISTORY_RUNS = 100
ID_CHUNK = 500


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


def _points_downsampled(
    run_pk: int, key: str, max_points: int
) -> tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(total, the kept points). Only id and value of every point are read (from the covering
    index, straight into numpy; NaN comes as the string 'nan', which numpy reads, so one
    column fewer); step and timestamp are then read for the kept points only. The Python
    objects made per point are what a 100,000-point history costs, so fewer columns win.
    """
    table = Metric._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, CASE WHEN is_nan THEN 'nan' ELSE value END FROM {table} "
            f"WHERE run_id = %s AND key = %s {_order_clause()}",
            [run_pk, key],
        )
        # Each row tuple is freed as soon as numpy has read it (no list of 100,000 tuples).
        flat = np.fromiter(chain.from_iterable(cursor.cursor), dtype=np.float64)
        total = len(flat) // 2
        if not total:
            return 0, _columns([])
        flat = flat.reshape(total, 2)
        values = flat[:, 1]
        keep = minmax_indices(values, max_points)
        ids = flat[keep, 0].astype(np.int64).tolist()
        quote = connection.ops.quote_name
        found: dict[int, tuple] = {}
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start:start + ID_CHUNK]
            cursor.execute(
                f"SELECT id, step, {quote('timestamp')}, value, is_nan FROM {table} "
                f"WHERE id IN ({', '.join(['%s'] * len(chunk))})",
                chunk,
            )
            found.update((row[0], row[1:]) for row in cursor.fetchall())
    return total, _columns([found[point_id] for point_id in ids])


def _fetch(run_pk: int, key: str, max_points: int | None
           ) -> tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    if max_points is None:
        points = _points(run_pk, key)
        return len(points[1]), points
    return _points_downsampled(run_pk, key, max_points)


def _series(run_id: str, key: str, fetched: tuple[int, tuple[np.ndarray, ...]]
            ) -> dict[str, Any]:
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
    }


def metric_history(*, run: Run, key: str, max_points: int | None = None) -> dict[str, Any]:
    """One metric's points, in columns (steps, timestamps, values), at most max_points."""
    max_points = _clean_max_points(max_points)
    fetched = _fetch(run.pk, key, max_points)
    if fetched[0] == 0:
        raise MetricNotFound(f"Run {run.run_id} has no metric '{key}'.")
    return _series(run.run_id, key, fetched)


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
    return [_series(run_id, key, _fetch(pks[run_id], key, max_points)) for run_id in ordered]
