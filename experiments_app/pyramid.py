"""The metric pyramid: min/max/first/last/count per bucket of 2**level steps, for every level
in LEVELS, aggregated as points arrive. numpy and the standard library only, no Django.

Reading it (in SQL, experiments_app.selectors.metrics) gives the answer
experiments_app.downsample defines (tested against it): the level is chosen from bucket ids
alone (at most 4 x budget of them per stored level), then the rows of the stored level just
below it are grouped up to it, so a read touches O(budget) rows.

Points are ordered by (step, timestamp, point id); every "first" and every tie goes to the
earlier point, as numpy's argmin/argmax do on the ordered series.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from experiments_app.downsample import MIN_LEVEL, WHOLE

LEVEL_STEP = 3
LEVELS = tuple(range(MIN_LEVEL, WHOLE, LEVEL_STEP))  # 3, 6, ..., 63
BUCKET_COLUMNS = (  # as stored (experiments_app.models.MetricBucket)
    "key", "level", "bucket", "count",
    *(f"{part}_{field}" for part in ("low", "high")
      for field in ("value", "step", "timestamp", "point")),
    *(f"{part}_{field}" for part in ("first", "last")
      for field in ("value", "is_nan", "step", "timestamp", "point")),
)


class Point(NamedTuple):
    step: int
    timestamp: int
    point_id: int
    value: float  # 0.0 when is_nan, as stored
    is_nan: bool

    @property
    def order(self) -> tuple[int, int, int]:
        return self.step, self.timestamp, self.point_id


class Bucket(NamedTuple):
    level: int
    bucket: int
    size: int  # points in the bucket
    low: Point | None  # None when every point of the bucket is NaN
    high: Point | None
    first: Point
    last: Point


def _lower(a: Point | None, b: Point | None) -> Point | None:
    if a is None or b is None:
        return a if b is None else b
    return a if (a.value, a.order) <= (b.value, b.order) else b


def _higher(a: Point | None, b: Point | None) -> Point | None:
    if a is None or b is None:
        return a if b is None else b
    return a if (-a.value, a.order) <= (-b.value, b.order) else b


def merge(a: Bucket, b: Bucket, *, level: int, bucket: int) -> Bucket:
    """Two buckets' aggregates as one (the SQL upsert in services.tracking does the same)."""
    return Bucket(
        level, bucket, a.size + b.size, _lower(a.low, b.low), _higher(a.high, b.high),
        a.first if a.first.order <= b.first.order else b.first,
        a.last if a.last.order >= b.last.order else b.last,
    )


def group_of(bucket: int, stored: int, level: int) -> int:
    return bucket >> (level - stored) if level < WHOLE else 0


def id_cap(budget: int) -> int:
    """Bucket ids worth reading per stored level: more than this, and even the level two
    above it has more than `budget` buckets."""
    return (1 << (LEVEL_STEP - 1)) * budget


def choose_level(distinct: Mapping[int, Sequence[int]], budget: int) -> tuple[int, int]:
    """(stored level to read, level to fold it to): the smallest level from MIN_LEVEL whose
    non-empty buckets number at most `budget`. `distinct[stored]` counts, among the first
    id_cap(budget) + 1 bucket ids of a stored level, the distinct groups at stored + 0, 1, 2
    (so its first entry says whether the level was cut short)."""
    best = (LEVELS[-1], WHOLE)
    for stored in reversed(LEVELS):
        counts = distinct[stored]
        if counts[0] > id_cap(budget):
            break
        fits = [level for level in range(stored, min(stored + LEVEL_STEP, WHOLE + 1))
                if counts[level - stored] <= budget]
        if not fits:
            break
        best = (stored, fits[0])
        if fits[0] != stored:
            break
    return best


def retained_points(buckets: Sequence[Bucket]) -> list[Point]:
    """Every point the rows of a level hold (first, lowest, highest, last), once each, in
    order: what is left of a history whose raw points were compacted away."""
    chosen: dict[int, Point] = {}
    for row in buckets:
        for point in (row.first, row.low, row.high, row.last):
            if point is not None:
                chosen[point.point_id] = point
    return sorted(chosen.values(), key=lambda point: point.order)


class Points(NamedTuple):
    """A batch of points as columns (any order); NaN values are NaN here."""

    keys: Sequence[str]
    steps: np.ndarray
    timestamps: np.ndarray
    point_ids: np.ndarray
    values: np.ndarray


def _point_columns(prefix: str, index: np.ndarray, found: np.ndarray | None,
                   columns: dict[str, np.ndarray]) -> dict[str, list[Any]]:
    """The stored columns of one of a bucket's points (None where `found` is False)."""
    names = ("value", "step", "timestamp", "point") if found is not None else (
        "value", "is_nan", "step", "timestamp", "point")
    out = {}
    for name in names:
        picked = columns[name][index]
        if found is not None and not found.all():
            picked = picked.astype(object)
            picked[~found] = None
        out[f"{prefix}_{name}"] = picked.tolist()
    return out


FEW_POINTS = 24  # up to this many, plain Python beats numpy's per-call overhead


def _few_columns(points: Points) -> dict[str, list[Any]]:
    """build_columns for a handful of points (log_metric's one): the same rows, no numpy."""
    ordered = sorted(zip(points.keys, [int(s) for s in points.steps],
                         [int(t) for t in points.timestamps], [int(i) for i in points.point_ids],
                         [float(v) for v in points.values], strict=True))
    built: dict[str, list[Any]] = {column: [] for column in BUCKET_COLUMNS}
    for level in LEVELS:
        start = 0
        while start < len(ordered):
            key, bucket = ordered[start][0], ordered[start][1] >> level
            end = start + 1
            while end < len(ordered) and ordered[end][0] == key and (
                    ordered[end][1] >> level) == bucket:
                end += 1
            group = ordered[start:end]
            numbers = [row for row in group if not math.isnan(row[4])]
            low = min(numbers, key=lambda row: row[4]) if numbers else None
            high = max(numbers, key=lambda row: row[4]) if numbers else None
            row: list[Any] = [key, level, bucket, end - start]
            for extreme in (low, high):
                row += (None,) * 4 if extreme is None else (extreme[4], *extreme[1:4])
            for end_point in (group[0], group[-1]):
                nan = math.isnan(end_point[4])
                row += (0.0 if nan else end_point[4], nan, *end_point[1:4])
            for column, value in zip(BUCKET_COLUMNS, row, strict=True):
                built[column].append(value)
            start = end
    return built


def build_columns(points: Points) -> dict[str, list[Any]]:
    """The pyramid of the points given, as stored columns (BUCKET_COLUMNS): every level,
    every non-empty bucket, in (level, key, bucket) order, which is the order upserts take
    rows in so that two batches never wait on each other's rows in opposite orders."""
    return (_few_columns if len(points.keys) <= FEW_POINTS else _array_columns)(points)


def _array_columns(points: Points) -> dict[str, list[Any]]:
    names = sorted(set(points.keys))
    codes_of = {name: code for code, name in enumerate(names)}
    codes = np.fromiter((codes_of[key] for key in points.keys), dtype=np.int64,
                        count=len(points.keys))
    steps = np.asarray(points.steps, dtype=np.int64)
    stamps = np.asarray(points.timestamps, dtype=np.int64)
    ids = np.asarray(points.point_ids, dtype=np.int64)
    values = np.asarray(points.values, dtype=np.float64)
    order = np.lexsort((ids, stamps, steps, codes))
    codes, steps, stamps, ids, values = (codes[order], steps[order], stamps[order],
                                         ids[order], values[order])
    n = len(values)
    built: dict[str, list[Any]] = {column: [] for column in BUCKET_COLUMNS}
    if not n:
        return built
    nan = np.isnan(values)
    columns = {"value": np.where(nan, 0.0, values), "is_nan": nan, "step": steps,
               "timestamp": stamps, "point": ids}
    position = np.arange(n)
    low_values = np.where(nan, np.inf, values)
    high_values = np.where(nan, -np.inf, values)
    key_change = codes[1:] != codes[:-1]
    for level in LEVELS:
        buckets = steps >> level
        starts = np.flatnonzero(np.r_[True, key_change | (buckets[1:] != buckets[:-1])])
        counts = np.diff(np.r_[starts, n])
        found = {}
        for part, extreme, reduce in (("low", low_values, np.minimum),
                                      ("high", high_values, np.maximum)):
            best = np.repeat(reduce.reduceat(extreme, starts), counts)
            found[part] = np.minimum.reduceat(
                np.where(~nan & (extreme == best), position, n), starts)
        built["key"] += [names[code] for code in codes[starts].tolist()]
        built["level"] += [level] * len(starts)
        built["bucket"] += buckets[starts].tolist()
        built["count"] += counts.tolist()
        for part, at in found.items():
            for name, column in _point_columns(part, np.minimum(at, n - 1), at < n,
                                               columns).items():
                built[name] += column
        for part, at in (("first", starts), ("last", starts + counts - 1)):
            for name, column in _point_columns(part, at, None, columns).items():
                built[name] += column
    return built


def bucket_of(row: Sequence[Any]) -> Bucket:
    """A Bucket from its stored columns (BUCKET_COLUMNS without the key)."""
    level, bucket, count = row[0], row[1], row[2]
    extremes = [None if row[i] is None else Point(row[i + 1], row[i + 2], row[i + 3],
                                                  row[i], False)
                for i in (3, 7)]
    ends = [Point(row[i + 2], row[i + 3], row[i + 4], row[i], bool(row[i + 1]))
            for i in (11, 16)]
    return Bucket(level, bucket, count, extremes[0], extremes[1], ends[0], ends[1])


def bucket_columns(key: str, bucket: Bucket) -> tuple[Any, ...]:
    """The stored columns (BUCKET_COLUMNS) of one bucket of `key`."""
    row: list[Any] = [key, bucket.level, bucket.bucket, bucket.size]
    for extreme in (bucket.low, bucket.high):
        row += ((None,) * 4 if extreme is None else
                (extreme.value, extreme.step, extreme.timestamp, extreme.point_id))
    for end in (bucket.first, bucket.last):
        row += (end.value, end.is_nan, end.step, end.timestamp, end.point_id)
    return tuple(row)


def build(points: Points) -> Iterator[tuple[str, Bucket]]:
    """(key, bucket) for every level and every non-empty bucket of the points given."""
    built = build_columns(points)
    for row in zip(*(built[column] for column in BUCKET_COLUMNS), strict=True):
        yield row[0], bucket_of(row[1:])
