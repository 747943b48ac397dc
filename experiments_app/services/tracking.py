"""Logging to a run: metrics (history and latest value), write-once params, tags.

The hot path: one lock read of the run, one bulk insert of the history (COPY on PostgreSQL,
the pyramid built while the server stores it), one upsert of the pyramid's buckets, one
upsert of the latest values, in one transaction. Rows go in as tuples, never serializers.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from axion_registry.pgarray import array_literal
from experiments_app.errors import (
    BatchTooLarge,
    InvalidTrackingInput,
    ParamConflict,
    TagNotFound,
)
from experiments_app.models import LatestMetric, Metric, MetricBucket, Param, Run
from experiments_app.ownership import require_run_owner
from experiments_app.point_copy import COLUMNS as POINT_COLUMNS
from experiments_app.point_copy import points_copy
from experiments_app.pyramid import BUCKET_COLUMNS, Points, build_columns
from experiments_app.services.runs import run_for_logging
from experiments_app.tracking_input import (
    MAX_BATCH_METRICS,
    Batch,
    BatchLimitError,
    MetricRow,
    TrackingInputError,
    clean_batch,
    clean_metrics,
    clean_params,
    clean_tags,
    latest_per_key,
    metric_row,
)
from models_app.roles import Actor

UPSERT_CHUNK = 150  # rows per upsert statement: 6 parameters each, under SQLite's 999
# Buckets per upsert on SQLite, 23 parameters each: under its limit of 32,766 parameters
# (999 before SQLite 3.32).
SQLITE_BUCKET_CHUNK = 1400 if sqlite3.sqlite_version_info >= (3, 32) else 40


def _invalid(exc: TrackingInputError) -> InvalidTrackingInput | BatchTooLarge:
    if isinstance(exc, BatchLimitError):
        return BatchTooLarge(str(exc))
    return InvalidTrackingInput(str(exc))


def _commit_relaxed() -> None:
    """With METRIC_SYNCHRONOUS_COMMIT off, a logging transaction of its own commits without
    waiting for PostgreSQL's WAL flush: a database crash may lose the last fraction of a
    second of acknowledged points, never leaves them half written. Never applied to an outer
    transaction's other writes."""
    if (not settings.METRIC_SYNCHRONOUS_COMMIT and connection.vendor == "postgresql"
            and len(connection.atomic_blocks) == 1):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO off")


def _write_metrics(run_pk: int, rows: list[MetricRow]) -> None:
    """Append the points to the history, fold them into the pyramid and advance the latest
    values: three statements (COPY on PostgreSQL), whatever the number of points."""
    if not rows:
        return
    count = len(rows)
    columns = PointColumns(
        keys=list(map(itemgetter(0), rows)),
        values=np.fromiter(map(itemgetter(1), rows), dtype=np.float64, count=count),
        is_nan=np.fromiter(map(itemgetter(2), rows), dtype=np.bool_, count=count),
        steps=np.fromiter(map(itemgetter(3), rows), dtype=np.int64, count=count),
        timestamps=np.fromiter(map(itemgetter(4), rows), dtype=np.int64, count=count),
    )
    with _points_inserted(run_pk, rows, columns) as point_ids:
        # On PostgreSQL the server is still taking in the COPY while this runs.
        points = Points(keys=columns.keys, steps=columns.steps, timestamps=columns.timestamps,
                        point_ids=point_ids,
                        values=np.where(columns.is_nan, np.nan, columns.values))
        buckets = _bucket_statements(run_pk, build_columns(points))
        latest = list(latest_per_key(rows).values())
    _execute(buckets)
    _upsert_latest(run_pk, latest)


class PointColumns(NamedTuple):
    """A batch's points as columns, in the order given; values as stored (0.0 when NaN)."""

    keys: list[str]
    values: np.ndarray
    is_nan: np.ndarray
    steps: np.ndarray
    timestamps: np.ndarray


@functools.cache
def _point_sequence(table: str) -> str:
    """The id sequence of the points table, looked up once per process: resolving it in
    the nextval() call itself costs a catalog lookup per point."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        return str(cursor.fetchone()[0])


@contextmanager
def _points_inserted(run_pk: int, rows: list[MetricRow],
                     columns: PointColumns) -> Iterator[np.ndarray]:
    """Insert the points in the order given; yields their ids, in that order. On
    PostgreSQL the COPY's rows are all sent before the body runs and it ends after, so the
    server stores them while this process goes on with the batch (the two run on two cores)."""
    quote = connection.ops.quote_name
    table = quote(Metric._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Ids drawn first (ascending, from the table's own sequence, as one text value
            # rather than a row each), so the pyramid can name its points; then one COPY.
            cursor.execute("SELECT string_agg(id::text, ',' ORDER BY id) FROM "
                           "(SELECT nextval(%s::regclass) AS id FROM generate_series(1, %s)) ids",
                           [_point_sequence(Metric._meta.db_table), len(rows)])
            point_ids = np.array(cursor.fetchone()[0].split(","), dtype=np.int64)
            # Binary COPY built by numpy (experiments_app.point_copy): no float text for the
            # server to parse, no Python call per point.
            with cursor.cursor.copy(f"COPY {table} ({', '.join(map(quote, POINT_COLUMNS))}) "
                                    "FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(points_copy(run_pk, columns.keys, point_ids, columns.values,
                                       columns.is_nan, columns.steps, columns.timestamps))
                yield point_ids
            return
        names = ", ".join(map(quote, POINT_COLUMNS[1:]))
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES (%s, %s, %s, %s, %s, %s)",
                           [(run_pk, *row) for row in rows])
        # SQLite has one writer at a time, which holds the lock from the first row to the
        # commit: the rows got consecutive ids ending at the last one.
        cursor.execute("SELECT last_insert_rowid()")
        last = cursor.fetchone()[0]
    yield np.arange(last - len(rows) + 1, last + 1, dtype=np.int64)


def _wins(part: str, better: str, table: str) -> str:
    """SQL: the incoming bucket's `part` point replaces the stored one."""
    new = f"(excluded.{part}_step, excluded.{part}_timestamp, excluded.{part}_point)"
    old = f"({table}.{part}_step, {table}.{part}_timestamp, {table}.{part}_point)"
    if part in ("first", "last"):
        return f"{new} {'<' if part == 'first' else '>'} {old}"
    value, stored = f"excluded.{part}_value", f"{table}.{part}_value"
    return (f"{value} IS NOT NULL AND ({stored} IS NULL OR {value} {better} {stored} "
            f"OR ({value} = {stored} AND {new} < {old}))")


def _array_type(column: str) -> str:
    if column in ("key", "level"):
        return {"key": "text", "level": "smallint"}[column]
    return next((kind for end, kind in (("_value", "float8"), ("_is_nan", "boolean"))
                 if column.endswith(end)), "bigint")


def _bucket_upsert_sql(table: str, rows: int) -> str:
    """One upsert of `rows` buckets: from arrays (23 parameters) on PostgreSQL, whose
    client would otherwise parse thousands of placeholders; from VALUES elsewhere."""
    columns = ("run_id", *BUCKET_COLUMNS)
    updates = [f"count = {table}.count + excluded.count"]
    for part, better in (("low", "<"), ("high", ">"), ("first", ""), ("last", "")):
        wins = _wins(part, better, table)
        updates += [f"{column} = CASE WHEN {wins} THEN excluded.{column} ELSE {table}.{column} END"
                    for column in BUCKET_COLUMNS if column.startswith(f"{part}_")]
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{_array_type(column)}[]"
                           for column in BUCKET_COLUMNS)
        source = f"SELECT %s::bigint, * FROM unnest({arrays})"
    else:
        placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
        source = "VALUES " + ", ".join([placeholders] * rows)
    return (f"INSERT INTO {table} ({', '.join(columns)}) {source} "
            "ON CONFLICT (run_id, key, level, bucket) DO UPDATE SET " + ", ".join(updates))


_LITERAL_KIND = {"text": "text", "boolean": "boolean", "float8": "float",
                 "bigint": "integer", "smallint": "integer"}


Statement = tuple[str, list[Any]]


def _bucket_statements(run_pk: int, built: dict[str, list[Any]]) -> list[Statement]:
    """The upserts that merge buckets (pyramid.build_columns, in its order) into the run's
    pyramid: one on PostgreSQL, chunks of SQLITE_BUCKET_CHUNK elsewhere."""
    table = connection.ops.quote_name(MetricBucket._meta.db_table)
    count = len(built["key"])
    if not count:
        return []
    if connection.vendor == "postgresql":
        return [(_bucket_upsert_sql(table, count), [run_pk, *(
            array_literal(built[name], _LITERAL_KIND[_array_type(name)])
            for name in BUCKET_COLUMNS)])]
    rows = list(zip(*(built[name] for name in BUCKET_COLUMNS), strict=True))
    return [(_bucket_upsert_sql(table, len(chunk)),
             [value for row in chunk for value in (run_pk, *row)])
            for chunk in (rows[start:start + SQLITE_BUCKET_CHUNK]
                          for start in range(0, count, SQLITE_BUCKET_CHUNK))]


def _execute(statements: list[Statement]) -> None:
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)


def buckets_upsert(run_pk: int, built: dict[str, list[Any]]) -> None:
    """Merge buckets (pyramid.build_columns, in its order) into the run's pyramid."""
    _execute(_bucket_statements(run_pk, built))


def _upsert_latest(run_pk: int, rows: list[MetricRow]) -> None:
    """Insert or advance each key's latest value; an older point never replaces a newer one.

    One statement per chunk, atomic per row under concurrency on both backends.
    """
    quote = connection.ops.quote_name
    table = quote(LatestMetric._meta.db_table)
    ts = quote("timestamp")
    columns = f"run_id, key, value, is_nan, step, {ts}"
    for start in range(0, len(rows), UPSERT_CHUNK):
        chunk = rows[start:start + UPSERT_CHUNK]
        values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(chunk))
        sql = (
            f"INSERT INTO {table} ({columns}) VALUES {values} "
            f"ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, "
            f"is_nan = excluded.is_nan, step = excluded.step, {ts} = excluded.{ts} "
            f"WHERE excluded.step > {table}.step "
            f"OR (excluded.step = {table}.step AND excluded.{ts} >= {table}.{ts})"
        )
        params: list[Any] = []
        for key, value, nan, step, timestamp in chunk:
            params += (run_pk, key, value, nan, step, timestamp)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def _write_params(run_pk: int, run_id: str, params: dict[str, str]) -> None:
    """Insert the new keys; a key already logged must have the same value (else 409)."""
    if not params:
        return
    Param.objects.bulk_create(
        [Param(run_id=run_pk, key=key, value=value) for key, value in params.items()],
        ignore_conflicts=True,
    )
    stored = dict(
        Param.objects.filter(run_id=run_pk, key__in=list(params)).values_list("key", "value")
    )
    conflicts = {
        key: {"logged": stored[key], "sent": value}
        for key, value in params.items()
        if stored.get(key) != value
    }
    if conflicts:
        raise ParamConflict(
            f"Params are write-once: run {run_id} already has "
            + ", ".join(f"{key}={c['logged']!r}" for key, c in conflicts.items())
            + ". Log a changed value in a new run.",
            details=conflicts,
        )


def _write_tags(run_pk: int, tags: dict[str, str]) -> None:
    if not tags:
        return
    current = Run.objects.filter(pk=run_pk).values_list("tags", flat=True).get()
    Run.objects.filter(pk=run_pk).update(tags={**(current or {}), **tags})


@transaction.atomic
def metric_log(
    *,
    run_id: str,
    key: Any,
    value: Any,
    step: Any = None,
    timestamp: Any = None,
    actor: Actor = None,
) -> MetricRow:
    """Log one metric point; returns the stored row (key, value, is_nan, step, timestamp)."""
    try:
        row = metric_row(key, value, step, timestamp)
    except TrackingInputError as exc:
        raise _invalid(exc) from exc
    _commit_relaxed()
    _write_metrics(run_for_logging(run_id, actor=actor), [row])
    return row


@transaction.atomic
def metrics_log(
    *, run_id: str, metrics: list[dict[str, Any]], actor: Actor = None
) -> int:
    """Log many points of one or more metrics (MLflow's metric objects); returns the count."""
    try:
        rows = clean_metrics(metrics)
    except TrackingInputError as exc:
        raise _invalid(exc) from exc
    _commit_relaxed()
    _write_metrics(run_for_logging(run_id, actor=actor), rows)
    return len(rows)


@transaction.atomic
def params_log(
    *,
    run_id: str,
    params: dict[str, Any] | list[dict[str, Any]],
    actor: Actor = None,
) -> dict[str, str]:
    try:
        cleaned = clean_params(params)
    except TrackingInputError as exc:
        raise _invalid(exc) from exc
    _write_params(run_for_logging(run_id, actor=actor), run_id, cleaned)
    return cleaned


@transaction.atomic
def batch_log(*, run_id: str, body: Any, actor: Actor = None,
              max_metrics: int = MAX_BATCH_METRICS) -> Batch:
    """Metrics, params and tags in one transaction: all of it is logged, or none."""
    try:
        batch = clean_batch(body, max_metrics=max_metrics)
    except TrackingInputError as exc:
        raise _invalid(exc) from exc
    _commit_relaxed()
    run_pk = run_for_logging(run_id, exclusive=bool(batch.tags), actor=actor)
    _write_params(run_pk, run_id, batch.params)
    _write_metrics(run_pk, batch.metrics)
    _write_tags(run_pk, batch.tags)
    return batch


@transaction.atomic
def tags_set(
    *,
    run: Run,
    tags: dict[str, Any] | list[dict[str, Any]],
    actor: Actor = None,
) -> dict[str, str]:
    """Set (or overwrite) tags. Tags annotate, so an ended run may still be tagged."""
    require_run_owner(actor, run_id=run.run_id, owner_id=run.user_id, action="tag")
    try:
        cleaned = clean_tags(tags)
    except TrackingInputError as exc:
        raise _invalid(exc) from exc
    locked = Run.objects.select_for_update().get(pk=run.pk)
    locked.tags = {**locked.tags, **cleaned}
    locked.save(update_fields=["tags"])
    return locked.tags


@transaction.atomic
def tag_delete(*, run: Run, key: str, actor: Actor = None) -> dict[str, str]:
    require_run_owner(actor, run_id=run.run_id, owner_id=run.user_id, action="untag")
    locked = Run.objects.select_for_update().get(pk=run.pk)
    if key not in locked.tags:
        raise TagNotFound(f"Run {run.run_id} has no tag '{key}'.")
    del locked.tags[key]
    locked.save(update_fields=["tags"])
    return locked.tags
