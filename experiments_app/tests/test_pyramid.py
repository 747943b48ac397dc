"""The metric pyramid answers what experiments_app.downsample defines, whatever the order and
the batches the points came in (pure, then through the database: SQLite, and PostgreSQL when
DATABASE_URL names one)."""

import math

import numpy as np
import pytest

from experiments_app.downsample import minmax_indices
from experiments_app.models import LatestMetric, Metric, MetricBucket, Run
from experiments_app.pyramid import (
    LEVEL_STEP,
    LEVELS,
    Bucket,
    Points,
    build,
    choose_level,
    group_of,
    id_cap,
    merge,
)
from experiments_app.selectors import metric_history
from experiments_app.services import tracking

MAX_POINTS = [4, 5, 9, 20, 101, 1000]


def series(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of a fixed curve, in logging order (not step order)."""
    rng = np.random.default_rng(len(name))
    if name == "nan-inf-ties":
        steps = np.repeat(np.arange(700), 3)  # three points per step
        values = np.round(rng.normal(size=len(steps)), 1)  # many equal values
        values[::17] = np.nan
        values[100:400] = np.nan  # whole buckets of NaN
        values[[5, 900]] = np.inf
        values[[6, 1500]] = -np.inf
        values[np.isinf(values) & (np.arange(len(values)) > 1000)] = np.nan
    elif name == "sparse-negative":
        steps = np.sort(rng.integers(-(2**40), 2**40, size=3000))
        values = rng.normal(size=3000).cumsum()
    elif name == "all-nan":
        steps = np.arange(50)
        values = np.full(50, np.nan)
    else:  # a long training curve
        steps = np.arange(5000)
        values = np.exp(-steps / 900) + rng.random(5000) * 0.05
    order = rng.permutation(len(steps))
    return steps[order], values[order]


CURVES = ["nan-inf-ties", "sparse-negative", "all-nan", "training"]


def reference(steps, stamps, ids, values, max_points):
    order = np.lexsort((ids, stamps, steps))
    keep = order[minmax_indices(steps[order], values[order], max_points)]
    return [(int(steps[i]), int(stamps[i]), float(values[i])) for i in keep]


def shown(points):
    return [(p.step, p.timestamp, math.nan if p.is_nan else p.value) for p in points]


def same(a, b):
    assert len(a) == len(b)
    for left, right in zip(a, b, strict=True):
        assert left[:2] == right[:2]
        assert left[2] == right[2] or (math.isnan(left[2]) and math.isnan(right[2]))


def pyramid_in_batches(steps, stamps, ids, values, batch):
    """What the upserts leave: each batch built alone, then merged bucket by bucket."""
    stored: dict[tuple[int, int], Bucket] = {}
    for start in range(0, len(steps), batch):
        part = slice(start, start + batch)
        for _key, bucket in build(Points(["loss"] * len(steps[part]), steps[part],
                                         stamps[part], ids[part], values[part])):
            place = (bucket.level, bucket.bucket)
            old = stored.get(place)
            stored[place] = bucket if old is None else merge(old, bucket, level=place[0],
                                                             bucket=place[1])
    return stored


def fold(rows, stored, level):
    folded = []
    for row in rows:
        group = group_of(row.bucket, stored, level)
        if folded and folded[-1].bucket == group:
            folded[-1] = merge(folded[-1], row, level=level, bucket=group)
        else:
            folded.append(row._replace(level=level, bucket=group))
    return folded


def kept_points(buckets):
    """What a read shows (the SQL in selectors.metrics does the same in the database)."""
    chosen = {buckets[0].first.point_id: buckets[0].first,
              buckets[-1].last.point_id: buckets[-1].last}
    for row in buckets:
        for point in (row.low, row.high) if row.low is not None else (row.first,):
            chosen[point.point_id] = point
    return sorted(chosen.values(), key=lambda point: point.order)


def read(stored, max_points):
    budget = (max_points - 2) // 2

    def ids_at(level):
        return sorted(b for lv, b in stored if lv == level)

    distinct = {
        level: [len({group_of(b, level, level + shift)
                     for b in ids_at(level)[:id_cap(budget) + 1]})
                if shift else min(len(ids_at(level)), id_cap(budget) + 1)
                for shift in range(LEVEL_STEP)]
        for level in LEVELS
    }
    stored_level, level = choose_level(distinct, budget)
    rows = [stored[(stored_level, b)] for b in ids_at(stored_level)]
    return kept_points(fold(rows, stored_level, level))


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_the_pyramid_answers_the_reference_downsampling_whatever_the_batches(curve, batch):
    steps, values = series(curve)
    stamps = np.arange(len(steps)) % 5  # equal timestamps: ties go to logging order
    ids = np.arange(len(steps)) + 1
    stored = pyramid_in_batches(steps, stamps, ids, values, batch)
    assert sum(b.size for (level, _), b in stored.items() if level == LEVELS[-1]) == len(steps)
    for max_points in MAX_POINTS:
        if len(steps) <= max_points:
            continue
        answer = shown(read(stored, max_points))
        assert len(answer) <= max_points
        same(answer, reference(steps, stamps, ids, values, max_points))


def log_curve_in_batches(run_id, steps, values, batch):
    for start in range(0, len(steps), batch):
        tracking.metrics_log(run_id=run_id, metrics=[
            {"key": "loss", "value": "NaN" if math.isnan(v) else v, "step": int(s),
             "timestamp": 1_700_000_000_000 + (start + i) % 3}
            for i, (s, v) in enumerate(zip(steps[start:start + batch],
                                           values[start:start + batch], strict=True))
        ])


def stored_points(run):
    rows = list(Metric.objects.filter(run=run, key="loss").values_list(
        "step", "timestamp", "id", "value", "is_nan"))
    steps, stamps, ids, values, nans = (np.array(column) for column in zip(*rows, strict=True))
    return steps, stamps, ids, np.where(nans.astype(bool), np.nan, values.astype(float))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("curve", ["nan-inf-ties", "sparse-negative", "all-nan"])
def test_downsampled_histories_read_from_the_database_match_the_reference(curve, make_run):
    run = make_run()
    steps, values = series(curve)
    log_curve_in_batches(run.run_id, steps, values, 250)
    raw = stored_points(run)
    for max_points in MAX_POINTS:
        data = metric_history(run=run, key="loss", max_points=max_points)
        assert data["total_points"] == len(steps)
        answer = list(zip(data["steps"], data["timestamps"],
                          [math.nan if v == "NaN" else float(v) for v in data["values"]],
                          strict=True))
        same(answer, reference(*raw, max_points))


@pytest.mark.django_db(transaction=True)
def test_a_replayed_batch_is_counted_twice_and_leaves_the_latest_value_alone(make_run):
    run = make_run()
    batch = {"metrics": [{"key": "loss", "value": v, "step": s, "timestamp": 5}
                         for s, v in enumerate([0.9, "NaN", 0.4, 0.7])]}
    tracking.batch_log(run_id=run.run_id, body=batch)
    latest = LatestMetric.objects.get(run=run, key="loss")
    tracking.batch_log(run_id=run.run_id, body=batch)
    again = LatestMetric.objects.get(run=run, key="loss")
    assert (again.step, again.value, again.is_nan) == (latest.step, latest.value, False)
    assert (latest.step, latest.value) == (3, 0.7)
    whole = metric_history(run=run, key="loss")
    assert whole["total_points"] == 8 and whole["values"].count("NaN") == 2
    top = MetricBucket.objects.get(run=run, key="loss", level=LEVELS[-1])
    assert top.count == 8 and (top.low_value, top.high_value) == (0.4, 0.9)
    # The earlier of two equal points wins a tie: the first batch's.
    assert top.low_point < top.high_point or top.high_step < top.low_step
    first = Metric.objects.filter(run=run, key="loss", step=2).order_by("id").first()
    assert top.low_point == first.pk


@pytest.mark.django_db(transaction=True)
def test_nan_is_kept_as_nan_and_infinity_as_infinity_in_the_pyramid(make_run):
    run = make_run()
    tracking.metrics_log(run_id=run.run_id, metrics=[
        {"key": "m", "value": "NaN", "step": 0}, {"key": "m", "value": "Infinity", "step": 1},
        {"key": "m", "value": "-Infinity", "step": 2}, {"key": "m", "value": "NaN", "step": 3},
    ])
    top = MetricBucket.objects.get(run=run, key="m", level=LEVELS[-1])
    assert (top.first_is_nan, top.last_is_nan) == (True, True)
    assert (top.low_value, top.high_value) == (-math.inf, math.inf)
    data = metric_history(run=run, key="m", max_points=4)
    assert data["values"] == ["NaN", "Infinity", "-Infinity", "NaN"]


@pytest.fixture
def make_run(db):
    from experiments_app.services import run_create

    def make(name: str = "curve") -> Run:
        return run_create(experiment="pyramid", name=name)

    return make


@pytest.mark.parametrize("seed", range(40))
def test_a_few_points_build_the_same_pyramid_rows_without_numpy_as_with_it(seed):
    from experiments_app import pyramid

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, pyramid.FEW_POINTS + 1))
    keys = list(rng.choice(["loss", "auc", "a"], size=n))
    steps = rng.integers(-(2**40), 2**40, size=n) if seed % 3 == 0 else rng.integers(0, 9, n)
    values = np.round(rng.normal(size=n), 0)  # ties
    values[rng.random(n) < 0.3] = np.nan
    values[rng.random(n) < 0.1] = np.inf
    values[rng.random(n) < 0.1] = -np.inf
    points = Points(keys, steps, rng.integers(0, 3, n), rng.permutation(n) + 100, values)
    few, many = pyramid._few_columns(points), pyramid._array_columns(points)
    assert list(few) == list(many)
    for column in few:
        assert len(few[column]) == len(many[column]), column
        for left, right in zip(few[column], many[column], strict=True):
            assert type(left) is type(right) or None in (left, right), (column, left, right)
            assert left == right or (left != left and right != right), (column, left, right)
