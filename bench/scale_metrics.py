"""Metric points at scale on PostgreSQL, through the REST API of a real gunicorn.

Seeds its own PostgreSQL database (bulk: ids reserved from the table's sequence, COPY of the
raw points and of their pyramid, built by experiments_app.pyramid exactly as the write path
builds it), with progress, then prints:

  1. one run's history downsampled to 1,000 points, median of 20, for runs of
     10^4 ... 10^7 points (and a run among --many-runs runs), with the growth ratio;
     target < 50 ms whatever the length
  2. ingestion through POST runs/{id}/log-batch/ at 1,000 points per request (MLflow's cap)
     and 10,000 (Axion's), one key and ten keys, by one writer (points/s per batch, median of
     --batches batches) and by two writers at once, each to its own run (points/s overall);
     target >= 100,000

The --many-runs runs of --points-per-run points are seeded in bulk (seed_runs: binary COPY
built by numpy, a transaction per 50 runs, resumable); `--many-runs 10000 --points-per-run
10000` is the issue's 10^8 points across 10,000 runs, beside the single runs above.
Seeded runs are kept between invocations (found by name), so a second run only measures.
Usage: .venv/bin/python bench/scale_metrics.py [--database-url URL] [--max-points 10000000]
       [--many-runs 1000 --points-per-run 10000] [--batches 30] [--seed-only]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import orjson  # noqa: E402
from harness import server  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/axion_scalemetrics_bench"
SIZES = [10**4, 10**5, 10**6, 10**7]
HISTORY_POINTS = 1000
READS = 20
BATCH = 1000
BATCH_SIZES = (1000, 10_000)
CHUNK_LEVEL = 18  # seed in chunks of 2**18 steps: finer buckets never straddle two chunks
T0 = 1_700_000_000_000
JSON = {"Content-Type": "application/json"}


def ensure_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def curve(steps: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = np.exp(-steps / max(1, len(steps) / 5)) + rng.random(len(steps)) * 0.02
    values[rng.random(len(steps)) < 0.001] = np.nan
    return values


def seed_run(run_pk: int, n: int, seed: int) -> None:
    """n points of key 'loss' at steps 0..n-1: raw rows, pyramid and latest value."""
    from django.db import connection, transaction

    from experiments_app.models import Metric, MetricBucket
    from experiments_app.pyramid import (
        BUCKET_COLUMNS,
        Bucket,
        Points,
        bucket_columns,
        bucket_of,
        build_columns,
        merge,
    )

    table = Metric._meta.db_table
    carry: dict[tuple[int, int], Bucket] = {}
    began = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), "
                       "nextval(pg_get_serial_sequence(%s, 'id')) + %s - 1)", [table, table, n])
        first_id = cursor.fetchone()[0] - n + 1
        raw = cursor.cursor
        chunk = 1 << CHUNK_LEVEL
        for start in range(0, n, chunk):
            steps = np.arange(start, min(n, start + chunk), dtype=np.int64)
            values = curve(steps, seed + start)
            stamps, ids = T0 + steps * 10, first_id + steps
            nan = np.isnan(values)
            stored = np.where(nan, 0.0, values)
            with raw.copy(f'COPY {table} (id, run_id, key, value, is_nan, step, "timestamp") '
                          "FROM STDIN") as copy:
                for row in zip(ids.tolist(), stored.tolist(), nan.tolist(), steps.tolist(),
                               stamps.tolist(), strict=True):
                    copy.write_row((row[0], run_pk, "loss", row[1], row[2], row[3], row[4]))
            built = build_columns(Points(["loss"] * len(steps), steps, stamps, ids, values))
            final = []
            for row in zip(*(built[column] for column in BUCKET_COLUMNS), strict=True):
                if row[1] <= CHUNK_LEVEL:
                    final.append(row)
                    continue
                bucket = bucket_of(row[1:])
                place = (bucket.level, bucket.bucket)
                old = carry.get(place)
                carry[place] = bucket if old is None else merge(old, bucket, level=place[0],
                                                                bucket=place[1])
            copy_buckets(raw, run_pk, final, MetricBucket._meta.db_table, BUCKET_COLUMNS)
            if n >= 10**6:
                done = start + len(steps)
                print(f"    {done:>11,} / {n:,} points "
                      f"({done / (time.perf_counter() - began):,.0f}/s)", flush=True)
        copy_buckets(raw, run_pk, [bucket_columns("loss", bucket) for bucket in carry.values()],
                     MetricBucket._meta.db_table, BUCKET_COLUMNS)
        cursor.execute(
            'INSERT INTO experiments_app_latestmetric (run_id, key, value, is_nan, step, '
            '"timestamp") VALUES (%s, %s, %s, %s, %s, %s)',
            [run_pk, "loss", stored[-1], bool(nan[-1]), n - 1, T0 + (n - 1) * 10])


# One row of a binary COPY of (id, run_id, key, value, is_nan, step, timestamp).
POINT_RECORD = np.dtype([
    ("fields", ">i2"), ("id_len", ">i4"), ("id", ">i8"), ("run_len", ">i4"), ("run", ">i8"),
    ("key_len", ">i4"), ("key", "S4"), ("value_len", ">i4"), ("value", ">f8"),
    ("nan_len", ">i4"), ("is_nan", "?"), ("step_len", ">i4"), ("step", ">i8"),
    ("stamp_len", ">i4"), ("stamp", ">i8"),
])
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)


def point_records(run_pk: int, first_id: int, values: np.ndarray) -> bytes:
    """The binary COPY rows of one run's points 'loss' at steps 0..n-1, built by numpy."""
    n = len(values)
    steps = np.arange(n, dtype=np.int64)
    records = np.empty(n, dtype=POINT_RECORD)
    records["fields"] = 7
    for name, size in (("id", 8), ("run", 8), ("key", 4), ("value", 8), ("nan", 1),
                       ("step", 8), ("stamp", 8)):
        records[f"{name}_len"] = size
    nan = np.isnan(values)
    records["id"], records["run"], records["key"] = first_id + steps, run_pk, b"loss"
    records["value"], records["is_nan"] = np.where(nan, 0.0, values), nan
    records["step"], records["stamp"] = steps, T0 + steps * 10
    return records.tobytes()


def seed_runs(experiment: str, runs: int, points: int, group: int = 50) -> list[str]:
    """`runs` runs named many-0 ... of `points` points each, the missing ones seeded in
    bulk: a transaction per `group` runs with one binary COPY of their points (built by
    numpy), one COPY of their pyramid (built by experiments_app.pyramid as the write path
    builds it) and their latest values. A run counts as seeded once its latest value is
    stored, which is written in the same transaction as its points, so an interrupted seed
    resumes where it stopped."""
    from django.db import connection, transaction

    from experiments_app.models import LatestMetric, Metric, MetricBucket, Run
    from experiments_app.pyramid import BUCKET_COLUMNS, Points, build_columns
    from experiments_app.services import run_create

    names = [f"many-{number}" for number in range(runs)]
    have = dict(Run.objects.filter(experiment__name=experiment, name__in=names)
                .values_list("name", "pk"))
    for name in names:
        if name not in have:
            have[name] = run_create(experiment=experiment, name=name).pk
    done = set(LatestMetric.objects.filter(run_id__in=have.values(), key="loss")
               .values_list("run_id", flat=True))
    todo = [(number, have[name]) for number, name in enumerate(names) if have[name] not in done]
    print(f"  {runs:,} runs of {points:,} points: {len(todo):,} to seed", flush=True)
    table, buckets = Metric._meta.db_table, MetricBucket._meta.db_table
    began, seeded = time.perf_counter(), 0
    for at in range(0, len(todo), group):
        chunk = todo[at:at + group]
        with transaction.atomic(), connection.cursor() as cursor:
            total = points * len(chunk)
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), "
                           "nextval(pg_get_serial_sequence(%s, 'id')) + %s - 1)",
                           [table, table, total])
            first_id = cursor.fetchone()[0] - total + 1
            raw, latest, pyramids = cursor.cursor, [], []
            with raw.copy(f"COPY {table} (id, run_id, key, value, is_nan, step, "
                          '"timestamp") FROM STDIN (FORMAT BINARY)') as copy:
                copy.write(COPY_HEADER)
                for offset, (number, run_pk) in enumerate(chunk):
                    values = curve(np.arange(points, dtype=np.int64), number)
                    ids = first_id + offset * points + np.arange(points, dtype=np.int64)
                    copy.write(point_records(run_pk, int(ids[0]), values))
                    steps = np.arange(points, dtype=np.int64)
                    pyramids.append((run_pk, build_columns(
                        Points(["loss"] * points, steps, T0 + steps * 10, ids, values))))
                    last = float(values[-1])
                    latest.append((run_pk, "loss", 0.0 if math.isnan(last) else last,
                                   math.isnan(last), points - 1, T0 + (points - 1) * 10))
                copy.write(COPY_TRAILER)
            with raw.copy(f"COPY {buckets} (run_id, {', '.join(BUCKET_COLUMNS)}) "
                          "FROM STDIN") as copy:
                for run_pk, built in pyramids:
                    for row in zip(*(built[column] for column in BUCKET_COLUMNS),
                                   strict=True):
                        copy.write_row((run_pk, *row))
            raw.executemany(
                'INSERT INTO experiments_app_latestmetric (run_id, key, value, is_nan, step, '
                '"timestamp") VALUES (%s, %s, %s, %s, %s, %s)', latest)
        seeded += len(chunk)
        if seeded % (group * 20) == 0 or seeded == len(todo):
            rate = seeded * points / (time.perf_counter() - began)
            print(f"    {seeded:>7,} / {len(todo):,} runs ({rate:,.0f} points/s)", flush=True)
    run_ids = dict(Run.objects.filter(pk__in=have.values()).values_list("pk", "run_id"))
    return [run_ids[have[name]] for name in names]


def copy_buckets(raw: Any, run_pk: int, rows: list, table: str, columns: tuple) -> None:
    with raw.copy(f"COPY {table} (run_id, {', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row((run_pk, *row))


def seeded_run(name: str, n: int, seed: int, experiment: str) -> str:
    """The run_id of a run named `name` with n points, seeded when missing."""
    from experiments_app.models import MetricBucket, Run
    from experiments_app.pyramid import LEVELS
    from experiments_app.services import run_create

    run = Run.objects.filter(name=name, experiment__name=experiment).first()
    if run is not None:
        counted = sum(MetricBucket.objects.filter(run=run, level=LEVELS[-1])
                      .values_list("count", flat=True))
        if counted == n:
            return run.run_id
        run.metric_buckets.all().delete()
        run.metrics.all()._raw_delete(run.metrics.db)
        run.latest_metrics.all().delete()
    else:
        run = run_create(experiment=experiment, name=name)
    seed_run(run.pk, n, seed)
    return run.run_id


def ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def read_history(session: Any, base: str, run_id: str) -> float:
    times = []
    url = f"{base}/runs/{run_id}/metrics/loss/history/"
    for _ in range(READS):
        started = time.perf_counter()
        response = session.get(url, params={"max_points": HISTORY_POINTS}, timeout=300)
        times.append(ms(started))
        if response.status_code != 200:
            raise SystemExit(f"history: {response.status_code} {response.text[:300]}")
    data = response.json()
    assert data["returned_points"] <= HISTORY_POINTS, data["returned_points"]
    return statistics.median(times)


def ingest(running: Any, base: str, keys: int, batches: int, size: int,
           writers: int = 1) -> tuple[float, float]:
    """(median points/s per batch, points/s overall) through log-batch, by `writers`
    threads at once, each with its own connection and logging to a run of its own."""
    session = running.session()
    session.trust_env = False
    def prepared(writer: int) -> tuple[str, list[bytes]]:
        response = session.post(f"{base}/runs/", json={
            "experiment": "scale-ingest",
            "name": f"ingest-{keys}-keys-{size}-{writer}-of-{writers}"}, timeout=60)
        run_id = response.json()["run_id"]
        rng = np.random.default_rng(keys)
        per_key = size // keys
        bodies = []
        for number in range(batches):
            first = number * per_key
            bodies.append(orjson.dumps({"metrics": [
                {"key": f"m{key}", "value": float(rng.random()), "step": first + step,
                 "timestamp": T0 + first + step}
                for step in range(per_key) for key in range(keys)
            ]}))
        return f"{base}/runs/{run_id}/log-batch/", bodies

    work = [prepared(writer) for writer in range(writers)]
    rates: list[float] = []

    def write(url: str, bodies: list[bytes]) -> None:
        session = running.session()
        session.trust_env = False
        for body in bodies:
            started = time.perf_counter()
            response = session.post(url, data=body, headers=JSON, timeout=120)
            rates.append(size / (time.perf_counter() - started))
            if response.status_code != 200:
                raise SystemExit(f"log-batch: {response.status_code} {response.text[:300]}")

    began = time.perf_counter()
    with ThreadPoolExecutor(writers) as pool:
        for done in [pool.submit(write, url, bodies) for url, bodies in work]:
            done.result()
    return statistics.median(rates), size * batches * writers / (time.perf_counter() - began)


def in_process(run_ids: dict[int, str]) -> None:
    """The selector and the service called in this process: wall and CPU time (this
    process's, which leaves out the database server's), for a machine shared with others."""
    from experiments_app.models import Run
    from experiments_app.selectors import metric_history
    from experiments_app.services import batch_log, run_create

    def timed(call: Any) -> tuple[float, float]:
        walls, cpus = [], []
        for _ in range(READS):
            wall, cpu = time.perf_counter(), time.process_time()
            call()
            walls.append(ms(wall))
            cpus.append((time.process_time() - cpu) * 1000)
        return statistics.median(walls), statistics.median(cpus)

    print("in process (selector / service, no HTTP), median of 20: wall ms, CPU ms of "
          "this process")
    for size, run_id in run_ids.items():
        run = Run.objects.get(run_id=run_id)
        wall, cpu = timed(lambda: metric_history(run=run, key="loss",  # noqa: B023
                                                 max_points=HISTORY_POINTS))
        print(f"  history of {size:>11,} points: {wall:7.1f} wall, {cpu:5.1f} CPU")
    run = run_create(experiment="scale-ingest", name="in-process")
    steps = iter(range(0, 10**9, BATCH))

    def one_batch() -> None:
        first = next(steps)
        batch_log(run_id=run.run_id, body={"metrics": [
            {"key": "loss", "value": 1.0 / (step + 1), "step": step, "timestamp": T0 + step}
            for step in range(first, first + BATCH)]})

    wall, cpu = timed(one_batch)
    print(f"  batch_log of {BATCH:,} points: {wall:7.1f} wall ({BATCH / wall * 1000:,.0f} "
          f"points/s), {cpu:5.1f} CPU ({BATCH / cpu * 1000:,.0f} points/s of CPU)\n")


def growth(values: list[float]) -> list[str]:
    return ["" if i == 0 else f"x{values[i] / values[i - 1]:.2f}" for i in range(len(values))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--max-points", type=int, default=SIZES[-1])
    parser.add_argument("--many-runs", type=int, default=1000)
    parser.add_argument("--points-per-run", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--seed-only", action="store_true",
                        help="seed (with progress) and print the table's size; measure nothing")
    args = parser.parse_args()
    sizes = [size for size in SIZES if size <= args.max_points]

    ensure_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "axion_registry.settings")
    with server(database_url=args.database_url) as running:
        import django

        django.setup()
        from django.db import connection

        print(f"seeding {args.database_url.rpartition('/')[2]} (kept between invocations)",
              flush=True)
        run_ids = {}
        for size in sizes:
            started = time.perf_counter()
            run_ids[size] = seeded_run(f"scale-{size}", size, size, "scale-metrics")
            print(f"  one run of {size:>11,} points ready in {ms(started) / 1000:6.1f} s",
                  flush=True)
        started = time.perf_counter()
        many = seed_runs("scale-many", args.many_runs, args.points_per_run)
        print(f"  {args.many_runs:,} runs of {args.points_per_run:,} points ready in "
              f"{ms(started) / 1000:6.1f} s", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM experiments_app_metric")
            total = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM experiments_app_metricbucket")
            buckets = cursor.fetchone()[0]
            cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('experiments_app_metric'))"
                           ", pg_size_pretty(pg_total_relation_size("
                           "'experiments_app_metricbucket'))")
            sizes_on_disk = cursor.fetchone()
            # What autovacuum would otherwise be doing to a freshly loaded table while the
            # measurements below run (the steady state of a table that grew over time).
            print("  VACUUM ANALYZE of both tables ...", flush=True)
            cursor.execute("VACUUM ANALYZE experiments_app_metric")
            cursor.execute("VACUUM ANALYZE experiments_app_metricbucket")
        connection.close()
        print(f"  table: {total:,} points ({sizes_on_disk[0]}), {buckets:,} pyramid buckets "
              f"({sizes_on_disk[1]})\n", flush=True)
        if args.seed_only:
            return

        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
        in_process(run_ids)
        connection.close()
        session = running.session()
        session.trust_env = False
        base = f"{running.base}/api/v1"
        session.get(f"{base}/experiments/")
        reads = [read_history(session, base, run_ids[size]) for size in sizes]
        among = read_history(session, base, many[len(many) // 2]) if many else math.nan
        print(f"history downsampled to {HISTORY_POINTS:,} points, median of {READS} "
              f"(PostgreSQL, gunicorn, table of {total:,} points):")
        print(f"  {'points in the run':>20} {'ms':>9} {'growth':>8}")
        for size, value, ratio in zip(sizes, reads, growth(reads), strict=True):
            print(f"  {size:>20,} {value:>9.1f} {ratio:>8}")
        print(f"  {args.points_per_run:>20,} {among:>9.1f}   (one of {args.many_runs:,} runs)")
        print(f"  target < 50 ms whatever the length: "
              f"{'MET' if max(reads) < 50 else 'MISSED'}\n")

        print(f"ingestion through log-batch ({args.batches} batches per writer; "
              f"load average {os.getloadavg()[0]:.1f}):")
        print(f"  {'points/request':>14} {'keys':>4} {'writers':>7} {'per batch':>10} "
              f"{'overall':>10}  target >= 100,000 points/s")
        for size in BATCH_SIZES:
            for keys in (1, 10):
                for writers in (1, 2):
                    median_rate, overall = ingest(running, base, keys, args.batches, size,
                                                  writers)
                    print(f"  {size:>14,} {keys:>4} {writers:>7} {median_rate:>10,.0f} "
                          f"{overall:>10,.0f}  {'MET' if overall >= 100_000 else 'MISSED'}",
                          flush=True)


if __name__ == "__main__":
    main()
