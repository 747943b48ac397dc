"""Downsampling a metric curve for drawing: min/max per bucket. numpy only, no Django.

A series of n points is cut down to at most `max_points`: the first and the last point are
always kept, the points between are split into (max_points - 2) // 2 buckets of equal count,
and each bucket keeps the index of its minimum and of its maximum, in their original order.
The global minimum and maximum therefore survive (they are the minimum or maximum of their
bucket), and so does every spike that a chart should show. NaN never wins a bucket unless the
whole bucket is NaN (then its first point is kept, so the gap stays visible).
"""

from __future__ import annotations

import numpy as np

MIN_POINTS = 4


def minmax_indices(values: np.ndarray, max_points: int) -> np.ndarray:
    """Sorted indices of the points to keep; all of them when there are few enough."""
    if max_points < MIN_POINTS:
        raise ValueError(f"max_points must be at least {MIN_POINTS}, not {max_points}.")
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    if n <= max_points:
        return np.arange(n)
    inner = values[1:-1]
    m = inner.shape[0]
    buckets = (max_points - 2) // 2
    size = -(-m // buckets)  # ceil
    buckets = -(-m // size)  # no bucket is padding only
    nan = np.isnan(inner)
    padded = buckets * size
    low = np.full(padded, np.inf)
    high = np.full(padded, -np.inf)
    low[:m] = np.where(nan, np.inf, inner)
    high[:m] = np.where(nan, -np.inf, inner)
    offsets = np.arange(buckets) * size + 1
    mins = low.reshape(buckets, size).argmin(axis=1) + offsets
    maxs = high.reshape(buckets, size).argmax(axis=1) + offsets
    keep = np.concatenate(([0], mins, maxs, [n - 1]))
    return np.unique(keep)


def downsample(
    steps: np.ndarray, values: np.ndarray, timestamps: np.ndarray, max_points: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (steps, values, timestamps) of the points kept; unchanged when max_points is None."""
    if max_points is None or len(values) <= max_points:
        return steps, values, timestamps
    keep = minmax_indices(values, max_points)
    return steps[keep], values[keep], timestamps[keep]
