"""Retention of metric histories: the raw points of runs finished long ago are removed,
leaving their pyramid (experiments_app.pyramid), which keeps every bucket's count, first,
lowest, highest and last point at every level. So a downsampled history answers the same
before and after; the latest values (LatestMetric, what search, comparison and best-run
read) are not touched; gates read a version's own metrics, never the points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from experiments_app.choices import RunStatus
from experiments_app.models import Metric, MetricBucket, Run
from experiments_app.pyramid import LEVELS, Points, build_columns
from experiments_app.selectors.runs import runs_due_for_compaction
from experiments_app.services.tracking import buckets_upsert

REBUILD_CHUNK = 100_000  # points read per pass while a key's pyramid is rebuilt


@dataclass
class Compaction:
    run_ids: list[str] = field(default_factory=list)
    points_removed: int = 0


def _counts(run_pk: int) -> tuple[dict[str, int], dict[str, int]]:
    """Per key: the raw points stored, and the points the pyramid counts."""
    raw = dict(Metric.objects.filter(run_id=run_pk).order_by().values("key")
               .annotate(n=Count("id")).values_list("key", "n"))
    aggregated = dict(MetricBucket.objects.filter(run_id=run_pk, level=LEVELS[-1]).order_by()
                      .values("key").annotate(n=Sum("count")).values_list("key", "n"))
    return raw, aggregated


def _rebuild_key(run_pk: int, key: str) -> None:
    """The key's pyramid from its raw points, read in chunks and merged by the upsert."""
    MetricBucket.objects.filter(run_id=run_pk, key=key).delete()
    quote = connection.ops.quote_name
    sql = (f"SELECT id, step, {quote('timestamp')}, value, is_nan FROM "
           f"{quote(Metric._meta.db_table)} WHERE run_id = %s AND key = %s AND id > %s "
           "ORDER BY id LIMIT %s")
    after = 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(sql, [run_pk, key, after, REBUILD_CHUNK])
            rows = cursor.fetchall()
            if not rows:
                return
            ids, steps, stamps, values, nans = zip(*rows, strict=True)
            points = Points([key] * len(rows), np.array(steps), np.array(stamps),
                            np.array(ids), np.where(np.array(nans, dtype=bool), math.nan,
                                                    np.array(values, dtype=np.float64)))
            buckets_upsert(run_pk, build_columns(points))
            after = ids[-1]


def _lock(run_pk: int) -> Run | None:
    return Run.objects.select_for_update().filter(pk=run_pk).first()


@transaction.atomic
def run_pyramid_build(*, run_pk: int) -> list[str]:
    """Rebuild the pyramid of every key of the run whose raw points it does not count
    exactly (points logged before the pyramid existed); returns those keys. The run is
    locked, so no batch logs to it meanwhile."""
    if _lock(run_pk) is None:
        return []
    raw, aggregated = _counts(run_pk)
    stale = sorted(key for key, n in raw.items() if aggregated.get(key) != n)
    for key in stale:
        _rebuild_key(run_pk, key)
    return stale


@transaction.atomic
def run_metrics_compact(*, run_pk: int) -> int:
    """Remove a finished run's raw points once its pyramid counts every one of them;
    returns how many were removed."""
    run = _lock(run_pk)
    if run is None or run.status == RunStatus.RUNNING or run.metrics_compacted_at is not None:
        return 0
    run_pyramid_build(run_pk=run_pk)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {connection.ops.quote_name(Metric._meta.db_table)} "
                       "WHERE run_id = %s", [run_pk])
        removed = cursor.rowcount
    Run.objects.filter(pk=run_pk).update(metrics_compacted_at=timezone.now())
    return removed


def metrics_compact(*, finished_before: datetime, limit: int) -> Compaction:
    """Compact up to `limit` runs that ended before `finished_before`, oldest first, each in
    its own transaction."""
    done = Compaction()
    for run_pk, run_id in runs_due_for_compaction(finished_before=finished_before,
                                                  limit=limit):
        done.points_removed += run_metrics_compact(run_pk=run_pk)
        done.run_ids.append(run_id)
    return done
