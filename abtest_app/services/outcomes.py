"""Recording outcomes: the hot path. Parse, assign, insert-ignore, add to the arm statistics.

Idempotency holds under concurrent posts because the database decides: the unique index
on (test_id, outcome_id) stores an id once, and the sufficient statistics grow only by
the rows the insert reports as stored, in the same transaction. A repeated outcome id is
therefore stored once and counted once.

On PostgreSQL a batch first goes in as a plain INSERT inside a savepoint: nearly every
batch is new, and ON CONFLICT ... RETURNING costs a third more server time. A batch that
repeats an id stored before fails that insert on the unique index at once (rows go in in
id order, so a resent batch fails on its first row) and is sent again with ON CONFLICT DO
NOTHING RETURNING outcome_id. The outcomes table has no foreign key to the tests (its
per-row check at commit was a third of a batch's server time): the batch locks its test
row FOR KEY SHARE once instead, as that check would, so the test exists and is still
collecting when the batch commits; tests are never deleted (the admin refuses).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain, islice, repeat
from operator import itemgetter
from typing import Any, cast

import numpy as np
import orjson
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from abtest_app import outcomes as batches
from abtest_app.assignment import assign_many
from abtest_app.choices import Arm, MetricType, TestState
from abtest_app.errors import ABTestNotCollecting, InvalidOutcomes, OutcomeBatchTooLarge
from abtest_app.models import ABTest, ArmStats, Outcome, OutcomeToken
from abtest_app.services.tokens import require_outcome_poster
from axion_registry.pgarray import array_literal
from models_app.roles import Actor

MAX_BATCH = 10_000
COLUMNS = ("test_id", "arm", "unit_id", "value", "covariate", "denominator",
           "covariate_denominator", "outcome_id", "metrics", "created_at")
SQLITE_ROWS_PER_STATEMENT = 32_766 // len(COLUMNS)  # SQLite's limit on bound parameters
COLLECTING = (TestState.RUNNING, TestState.PAUSED)
_PG_ARRAY = {"arm": "varchar", "unit_id": "varchar", "value": "float8", "covariate": "float8",
             "denominator": "float8", "covariate_denominator": "float8",
             "outcome_id": "varchar", "metrics": "text"}
UNIQUE_VIOLATION = "23505"


@dataclass(frozen=True)
class OutcomeReceipt:
    received: int  # items in the request
    recorded: int  # stored and counted now
    duplicates: int  # repeated outcome ids (in this batch or before): ignored
    champion: int  # recorded for the champion arm
    challenger: int

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def _parse(test: ABTest, items: object) -> batches.OutcomeBatch:
    if isinstance(items, list) and len(items) > MAX_BATCH:
        raise OutcomeBatchTooLarge(
            f"At most {MAX_BATCH} outcomes per request, got {len(items)}; split the batch."
        )
    specs = [
        batches.MetricSpec(g["name"], g["type"] == MetricType.BINARY) for g in test.guardrails
    ]
    try:
        return batches.parse_outcomes(
            items,
            primary_binary=test.metric_type == MetricType.BINARY,
            guardrails=specs,
            max_batch=MAX_BATCH,
            ratio=test.ratio_metric,
        )
    except batches.OutcomeError as exc:
        raise InvalidOutcomes(str(exc), details={"index": exc.index}) from exc


def _quoted() -> tuple[str, str]:
    qn = connection.ops.quote_name
    return qn(Outcome._meta.db_table), ", ".join(qn(c) for c in COLUMNS)


def _insert_postgresql(
    test_id: int, batch: batches.OutcomeBatch, arms: list[str], metrics: list[str | None],
    created_at: object,
) -> set[str] | None:
    table, columns = _quoted()
    # Rows in outcome-id order: concurrent batches sharing ids then take the unique-index
    # locks in the same order and cannot deadlock.
    ids = batch.outcome_ids
    if None in ids:
        order = sorted(range(len(batch)), key=lambda i: (ids[i] is None, ids[i] or ""))
    else:
        order = sorted(range(len(batch)), key=cast(list[str], ids).__getitem__)
    take = itemgetter(*order) if len(order) > 1 else (lambda column: [column[0]])
    given = {
        "arm": arms, "unit_id": batch.unit_ids, "value": batch.values.tolist(),
        "covariate": batch.covariates, "denominator": batch.denominators,
        "covariate_denominator": batch.covariate_denominators, "outcome_id": ids,
        "metrics": metrics,
    }
    # A column no outcome gives is a NULL in the statement, not an array of NULLs to parse.
    sent = [name for name, column in given.items()
            if name in ("arm", "unit_id", "value") or column.count(None) != len(column)]
    picked = ["%s"] + [(f"u.{name}::jsonb" if name == "metrics" else f"u.{name}")
                       if name in sent else "NULL" for name in COLUMNS[1:-1]] + ["%s"]
    arrays = ", ".join(f"%s::{_PG_ARRAY[name]}[]" for name in sent)
    sql = (f"INSERT INTO {table} ({columns}) SELECT {', '.join(picked)} "
           f"FROM unnest({arrays}) AS u({', '.join(sent)})")
    params: list[Any] = [test_id, created_at] + [
        array_literal(take(given[name]), "float" if _PG_ARRAY[name] == "float8" else "text")
        for name in sent]
    with connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute(sql, params)
            return None
        except IntegrityError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != UNIQUE_VIOLATION:
                raise
        cursor.execute(
            sql + " ON CONFLICT (test_id, outcome_id) DO NOTHING RETURNING outcome_id", params
        )
        return {row[0] for row in cursor.fetchall() if row[0] is not None}


def _sqlite_statements(
    test_id: int, batch: batches.OutcomeBatch, arms: list[str], metrics: list[str | None],
    created_at: object, suffix: str,
) -> Iterator[tuple[str, list[Any]]]:
    table, columns = _quoted()
    values = batch.values.tolist()
    row_marks = "(" + ", ".join(["?"] * len(COLUMNS)) + ")"
    records = zip(repeat(test_id), arms, batch.unit_ids, values, batch.covariates,
                  batch.denominators, batch.covariate_denominators, batch.outcome_ids, metrics,
                  repeat(created_at))
    for start in range(0, len(batch), SQLITE_ROWS_PER_STATEMENT):
        stop = min(start + SQLITE_ROWS_PER_STATEMENT, len(batch))
        params = list(chain.from_iterable(islice(records, stop - start)))
        sql = (f"INSERT INTO {table} ({columns}) VALUES "
               + ", ".join([row_marks] * (stop - start)) + suffix)
        yield sql, params


def _insert_sqlite(
    test_id: int, batch: batches.OutcomeBatch, arms: list[str], metrics: list[str | None],
    created_at: object,
) -> set[str] | None:
    """SQLite (>= 3.35): multi-row VALUES, plain first, as on PostgreSQL; a batch that
    repeats a stored id goes again with ON CONFLICT DO NOTHING RETURNING.

    The statements go to the DB-API connection with qmark placeholders: Django's cursor
    would rewrite their tens of thousands of %s markers with a regex on every batch. It
    is the same connection, so they run inside the caller's transaction.
    """
    connection.ensure_connection()
    raw = connection.connection
    try:
        with transaction.atomic():
            for sql, params in _sqlite_statements(test_id, batch, arms, metrics, created_at,
                                                  ""):
                raw.execute(sql, params)
        return None
    except sqlite3.IntegrityError as exc:
        if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_CONSTRAINT_UNIQUE:
            raise
    inserted: set[str] = set()
    suffix = " ON CONFLICT (test_id, outcome_id) DO NOTHING RETURNING outcome_id"
    for sql, params in _sqlite_statements(test_id, batch, arms, metrics, created_at, suffix):
        rows = raw.execute(sql, params).fetchall()
        inserted.update(row[0] for row in rows if row[0] is not None)
    return inserted


INSERTS = {"postgresql": _insert_postgresql, "sqlite": _insert_sqlite}


def _add_to_stats(test_id: int, increments: Sequence[batches.Increment]) -> None:
    qn = connection.ops.quote_name
    sql = (
        f"UPDATE {qn(ArmStats._meta.db_table)} SET "
        + ", ".join(f"{qn(name)} = {qn(name)} + %s" for name in ArmStats.SUMS)
        + f" WHERE {qn('test_id')} = %s AND {qn('arm')} = %s AND {qn('metric')} = %s"
    )
    with connection.cursor() as cursor:
        for inc in increments:  # sorted by (arm, metric): a fixed lock order
            amounts = [getattr(inc, name) for name in ArmStats.SUMS]
            cursor.execute(sql, [*amounts, test_id, inc.arm, inc.metric])
            if cursor.rowcount == 0:  # rows are made with the test; this repairs a missing one
                ArmStats.objects.create(test_id=test_id, arm=inc.arm, metric=inc.metric,
                                        **dict(zip(ArmStats.SUMS, amounts, strict=True)))


def _lock_collecting(test: ABTest) -> None:
    """See that the test still collects, and on PostgreSQL hold its row FOR KEY SHARE until
    commit (what the outcomes' foreign key check did per row): a test concluded since it
    was read gets no more outcomes. SQLite serialises writers: a read is enough there."""
    lock = " FOR KEY SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT state FROM {connection.ops.quote_name(ABTest._meta.db_table)} "
            f"WHERE id = %s{lock}", [test.pk],
        )
        row = cursor.fetchone()
    if row is None or row[0] not in COLLECTING:
        state = "gone" if row is None else row[0]
        raise ABTestNotCollecting(
            f"{test} is {state}; outcomes are accepted while it is running or paused."
        )


def _new_rows(outcome_ids: Sequence[str | None], inserted: set[str] | None) -> list[int] | None:
    """Positions of the rows the insert stored now; None when every row went in."""
    if inserted is None or len(inserted) == sum(1 for oid in outcome_ids if oid is not None):
        return None
    return [i for i, oid in enumerate(outcome_ids) if oid is None or oid in inserted]


def _optional_column(column: list[float | None]) -> np.ndarray | None:
    """A float array with NaN where not given; None when no outcome gave one."""
    if column.count(None) == len(column):
        return None
    return np.array(column, dtype=np.float64)


def abtest_record_outcomes(
    *,
    test: ABTest,
    outcomes: object,
    now: datetime | None = None,
    actor: Actor = None,
    token: OutcomeToken | None = None,
) -> OutcomeReceipt:
    """Store a batch of outcomes (at most 10,000) of a running or paused test.

    Posted by the test's creator, a release manager or an outcome token made for this
    test (services.tokens.require_outcome_poster).

    The arm of each outcome is derived from its unit id by the test's assignment; an
    "arm" given by the caller must agree with it. Outcome ids are optional; a repeated
    one (within the batch or across requests) is ignored.
    """
    require_outcome_poster(test, actor, token)
    if test.state not in COLLECTING:
        raise ABTestNotCollecting(
            f"{test} is {test.state}; outcomes are accepted while it is running or paused."
        )
    batch = _parse(test, outcomes)
    received = len(batch)
    keep = batches.first_occurrences(batch.outcome_ids)
    if keep is not None:
        batch = batch.take(keep)
    arms = assign_many(test.seed, batch.unit_ids, test.challenger_share, test.assignment_rule)
    if batch.claimed_arms.count(None) != len(batch.claimed_arms):
        try:
            batches.check_claimed_arms(batch.claimed_arms, arms)
        except batches.OutcomeError as exc:
            raise InvalidOutcomes(str(exc), details={"index": exc.index}) from exc
    metrics = [None if m is None else orjson.dumps(m).decode() for m in batch.metrics]
    created_at = connection.ops.adapt_datetimefield_value(now or timezone.now())
    insert = INSERTS.get(connection.vendor)
    if insert is None:
        raise NotImplementedError(f"outcome ingestion supports {', '.join(INSERTS)}")

    with transaction.atomic():
        _lock_collecting(test)
        inserted = insert(test.pk, batch, arms, metrics, created_at)
        kept = _new_rows(batch.outcome_ids, inserted)
        if kept is not None:
            batch, arms = batch.take(kept), [arms[i] for i in kept]
        is_challenger = np.fromiter(
            map(Arm.CHALLENGER.value.__eq__, arms), dtype=bool, count=len(arms)
        )
        values = batch.values
        increments = batches.increments(
            is_challenger, values, batch.metrics, [g["name"] for g in test.guardrails],
            covariates=_optional_column(batch.covariates),
            denominators=_optional_column(batch.denominators),
            covariate_denominators=_optional_column(batch.covariate_denominators),
        )
        _add_to_stats(test.pk, increments)

    recorded = int(values.size)
    challenger = int(is_challenger.sum())
    return OutcomeReceipt(
        received=received,
        recorded=recorded,
        duplicates=received - recorded,
        champion=recorded - challenger,
        challenger=challenger,
    )
