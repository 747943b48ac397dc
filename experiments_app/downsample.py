"""Downsampling a metric curve for drawing: min/max per bucket of steps. numpy only, no Django.

This module is the definition; experiments_app.pyramid answers the same question from
buckets aggregated at write time, so a read touches O(buckets) rows whatever the length.

A series of n points, in (step, timestamp, logging order), is cut down to at most
`max_points`. Buckets are ranges of 2**level steps (bucket = step >> level; level 64 is one
bucket for everything), at the smallest level from MIN_LEVEL up that gives no more than
(max_points - 2) // 2 non-empty buckets. Kept: the first and the last point of the series and,
per bucket, the first point with the lowest value and the first with the highest. The global
minimum and maximum therefore survive, and so does every spike a chart should show. NaN never
wins a bucket unless the whole bucket is NaN (then its first point is kept, so the gap shows).
Buckets of steps rather than of equal counts are what makes the answer composable: a bucket's
extremes are the extremes of its halves, so they can be kept up to date as points arrive.
"""

from __future__ import annotations

import numpy as np

MIN_POINTS = 4
MIN_LEVEL = 3  # the finest stored pyramid level: buckets of 8 steps
WHOLE = 64  # the level whose one bucket holds every int64 step


def bucket_ids(steps: np.ndarray, level: int) -> np.ndarray:
    steps = np.asarray(steps, dtype=np.int64)
    return steps >> level if level < WHOLE else np.zeros_like(steps)


def bucket_level(steps: np.ndarray, budget: int) -> int:
    """The smallest level from MIN_LEVEL with at most `budget` non-empty buckets."""
    for level in range(MIN_LEVEL, WHOLE):
        if len(np.unique(bucket_ids(steps, level))) <= budget:
            return level
    return WHOLE


def minmax_indices(steps: np.ndarray, values: np.ndarray, max_points: int) -> np.ndarray:
    """Sorted indices of the points to keep (the points given in step, timestamp, logging
    order); all of them when there are few enough."""
    if max_points < MIN_POINTS:
        raise ValueError(f"max_points must be at least {MIN_POINTS}, not {max_points}.")
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    if n <= max_points:
        return np.arange(n)
    buckets = bucket_ids(steps, bucket_level(steps, (max_points - 2) // 2))
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = np.r_[starts[1:], n]
    keep = [0, n - 1]
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        chunk = values[start:end]
        real = np.flatnonzero(~np.isnan(chunk))
        if not len(real):
            keep.append(start)
            continue
        keep.append(start + int(real[chunk[real].argmin()]))
        keep.append(start + int(real[chunk[real].argmax()]))
    return np.unique(keep)


def downsample(
    steps: np.ndarray, values: np.ndarray, timestamps: np.ndarray, max_points: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (steps, values, timestamps) of the points kept; unchanged when max_points is None."""
    if max_points is None or len(values) <= max_points:
        return steps, values, timestamps
    keep = minmax_indices(steps, values, max_points)
    return steps[keep], values[keep], timestamps[keep]
