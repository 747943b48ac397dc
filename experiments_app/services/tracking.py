"""Logging to a run: metrics (history and latest value), write-once params, tags.

The hot path: one lock read of the run, one bulk insert of the history, one upsert of the
latest values, in one transaction. Rows go in as tuples, never through serializers.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction

from experiments_app.errors import (
    BatchTooLarge,
    InvalidTrackingInput,
    ParamConflict,
    TagNotFound,
)
from experiments_app.models import LatestMetric, Metric, Param, Run
from experiments_app.ownership import require_run_owner
from experiments_app.services.runs import run_for_logging
from experiments_app.tracking_input import (
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


def _invalid(exc: TrackingInputError) -> InvalidTrackingInput | BatchTooLarge:
    if isinstance(exc, BatchLimitError):
        return BatchTooLarge(str(exc))
    return InvalidTrackingInput(str(exc))


def _write_metrics(run_pk: int, rows: list[MetricRow]) -> None:
    """Append the points to the history (one multi-row executemany: no model instances, no
    per-field ORM preparation) and advance the latest values."""
    if not rows:
        return
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(Metric._meta.db_table)} "
        f"(run_id, key, value, is_nan, step, {quote('timestamp')}) "
        "VALUES (%s, %s, %s, %s, %s, %s)"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(run_pk, *row) for row in rows])
    _upsert_latest(run_pk, list(latest_per_key(rows).values()))


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
def batch_log(*, run_id: str, body: Any, actor: Actor = None) -> Batch:
    """Metrics, params and tags in one transaction: all of it is logged, or none."""
    try:
        batch = clean_batch(body)
    except TrackingInputError as exc:
        raise _invalid(exc) from exc
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
