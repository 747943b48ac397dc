"""Metric histories for charts, downsampled on the server from the metric pyramid
(experiments_app.pyramid, which answers what experiments_app.downsample defines).

A compacted run (services.retention) has no raw points left: its whole history is what its
pyramid kept, each bucket of 8 steps' first, lowest, highest and last point, all of them real
logged points; `total_points` still counts every point logged and `compacted` says so. MLflow's
get-history reads this too, so it answers those kept points for a compacted run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db import connection

from experiments_app.downsample import MIN_POINTS, WHOLE, downsample
from experiments_app.errors import InvalidSearch, MetricNotFound, RunNotFound
from experiments_app.models import Metric, MetricBucket, Run
from experiments_app.pyramid import (
    BUCKET_COLUMNS,
    LEVEL_STEP,
    LEVELS,
    Bucket,
    Point,
    bucket_of,
    choose_level,
    id_cap,
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


def _grouped(column: str, stored: int, shift: int) -> str:
    """SQL: the group of a stored bucket id at level stored + shift (pyramid.group_of)."""
    return "0" if stored + shift >= WHOLE else f"({column} >> {shift})"


def _level_counts(run_pk: int, key: str, budget: int, levels: list[int]
                  ) -> dict[int, list[int]]:
    """For each stored level given, in one statement: how many of its first id_cap(budget)
    + 1 bucket ids there are, and their distinct groups one and two levels up."""
    table = MetricBucket._meta.db_table
    parts: list[str] = []
    params: list[Any] = []
    for stored in levels:
        folds = ", ".join(f"COUNT(DISTINCT {_grouped('b', stored, shift)})"
                          for shift in range(1, LEVEL_STEP))
        parts.append(
            f"SELECT {stored}, COUNT(*), {folds} FROM (SELECT bucket AS b FROM {table} "
            f"WHERE run_id = %s AND key = %s AND level = {stored} ORDER BY bucket LIMIT %s) "
            f"AS ids_{stored}")
        params += [run_pk, key, id_cap(budget) + 1]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        return {row[0]: list(row[1:]) for row in cursor.fetchall()}


def _distinct_counts(run_pk: int, key: str, top: list[Bucket], budget: int
                     ) -> dict[int, list[int]]:
    """What pyramid.choose_level needs, reading as few bucket ids as it can: a level whose
    step range (first to last point) spans at most `budget` buckets certainly fits, so only
    the levels below the finest such level are counted, two at a time, from the top down,
    until one does not fit."""
    first, last = top[0].first.step, top[-1].last.step
    sure = [level for level in LEVELS if (last >> level) - (first >> level) + 1 <= budget]
    counts = {level: [1] * LEVEL_STEP for level in sure}  # at most `budget` at every shift
    below = [level for level in reversed(LEVELS) if level not in counts]
    while below:
        batch, below = below[:2], below[2:]
        counts.update(_level_counts(run_pk, key, budget, batch))
        finest = counts[batch[-1]]
        if finest[0] > id_cap(budget) or finest[0] > budget:
            break
    for level in below:  # never reached by choose_level, which stops above them
        counts[level] = [id_cap(budget) + 1] * LEVEL_STEP
    return counts


def _kept_sql(stored: int, shift: int) -> str:
    """SQL: per group of the stored level's buckets, its lowest and its highest point (the
    earliest on a tie), or its first point when all of it is NaN; as (step, timestamp,
    point id, value, is_nan)."""
    table = MetricBucket._meta.db_table
    columns = ", ".join(column for column in BUCKET_COLUMNS[4:] if not column.startswith("last"))
    order = "{0}_step, {0}_timestamp, {0}_point"
    return (
        f"WITH g AS (SELECT {_grouped('bucket', stored, shift)} AS grp, {columns} "
        f"FROM {table} WHERE run_id = %s AND key = %s AND level = {stored}), "
        "r AS (SELECT g.*, "
        "ROW_NUMBER() OVER (PARTITION BY grp ORDER BY low_value IS NULL, low_value, "
        f"{order.format('low')}) AS low_rank, "
        "ROW_NUMBER() OVER (PARTITION BY grp ORDER BY high_value IS NULL, high_value DESC, "
        f"{order.format('high')}) AS high_rank, "
        f"ROW_NUMBER() OVER (PARTITION BY grp ORDER BY {order.format('first')}) AS first_rank, "
        "COUNT(low_value) OVER (PARTITION BY grp) AS real_points FROM g) "
        "SELECT low_step, low_timestamp, low_point, low_value, 1 = 0 FROM r "
        "WHERE low_rank = 1 AND low_value IS NOT NULL UNION ALL "
        "SELECT high_step, high_timestamp, high_point, high_value, 1 = 0 FROM r "
        "WHERE high_rank = 1 AND high_value IS NOT NULL UNION ALL "
        "SELECT first_step, first_timestamp, first_point, first_value, first_is_nan FROM r "
        "WHERE first_rank = 1 AND real_points = 0"
    )


def _downsampled(run_pk: int, key: str, top: list[Bucket], max_points: int) -> Columns:
    """What experiments_app.downsample keeps, computed by the database from O(budget)
    pyramid rows: the series' first and last point (from the top level) and each group's
    lowest and highest."""
    budget = (max_points - 2) // 2
    stored, level = choose_level(_distinct_counts(run_pk, key, top, budget), budget)
    with connection.cursor() as cursor:
        cursor.execute(_kept_sql(stored, level - stored), [run_pk, key])
        found = {row[2]: Point(row[0], row[1], row[2], row[3], bool(row[4]))
                 for row in cursor.fetchall()}
    for end in (top[0].first, top[-1].last):
        found[end.point_id] = end
    return _point_columns(sorted(found.values(), key=lambda point: point.order))


def _buckets(run_pk: int, key: str, level: int) -> list[Bucket]:
    sql = (f"SELECT {', '.join(BUCKET_COLUMNS[1:])} FROM {MetricBucket._meta.db_table} "
           "WHERE run_id = %s AND key = %s AND level = %s ORDER BY bucket")
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_pk, key, level])
        return [bucket_of(row) for row in cursor.fetchall()]


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
        return total, _downsampled(run_pk, key, top, max_points)
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
