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

from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from experiments_app.downsample import MIN_LEVEL, WHOLE

LEVEL_STEP = 3
LEVELS = tuple(range(MIN_LEVEL, WHOLE, LEVEL_STEP))  # 3, 6, ..., 63


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


def build(points: Points) -> Iterator[tuple[str, Bucket]]:
    """(key, bucket) for every level and every non-empty bucket of the points given."""
    names = list(dict.fromkeys(points.keys))
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
    if not n:
        return
    nan = np.isnan(values)
    stored = np.where(nan, 0.0, values)
    position = np.arange(n)
    low_values = np.where(nan, np.inf, values)
    high_values = np.where(nan, -np.inf, values)
    columns = (steps.tolist(), stamps.tolist(), ids.tolist(), stored.tolist(), nan.tolist())

    def point(index: int) -> Point:
        return Point(*(column[index] for column in columns))

    key_change = codes[1:] != codes[:-1]
    for level in LEVELS:
        buckets = steps >> level
        starts = np.flatnonzero(np.r_[True, key_change | (buckets[1:] != buckets[:-1])])
        counts = np.diff(np.r_[starts, n])
        lows = np.minimum.reduceat(low_values, starts)
        highs = np.maximum.reduceat(high_values, starts)
        low_at = np.minimum.reduceat(
            np.where(~nan & (low_values == np.repeat(lows, counts)), position, n), starts)
        high_at = np.minimum.reduceat(
            np.where(~nan & (high_values == np.repeat(highs, counts)), position, n), starts)
        for start, count, low, high in zip(starts.tolist(), counts.tolist(), low_at.tolist(),
                                           high_at.tolist(), strict=True):
            yield names[int(codes[start])], Bucket(
                level, int(buckets[start]), count,
                point(low) if low < n else None, point(high) if high < n else None,
                point(start), point(start + count - 1),
            )
