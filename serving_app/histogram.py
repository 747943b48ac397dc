"""Fixed latency buckets from 0.1 ms to 10 s, and percentiles read from bucket counts.

No Django here. Counts are plain lists with one slot per bound plus an overflow slot, so
histograms from several processes (or several flushes) merge by adding slot by slot.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence

BOUNDS_MS: tuple[float, ...] = (
    0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75,
    1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.5,
    10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 75.0,
    100.0, 150.0, 200.0, 300.0, 400.0, 500.0, 750.0,
    1000.0, 1500.0, 2000.0, 3000.0, 4000.0, 5000.0, 7500.0, 10000.0,
)
BOUNDS_NS: tuple[int, ...] = tuple(int(bound * 1_000_000) for bound in BOUNDS_MS)
BOUNDS_SECONDS: tuple[float, ...] = tuple(bound / 1000 for bound in BOUNDS_MS)
SLOTS = len(BOUNDS_MS) + 1  # the last slot counts everything above 10 s


def slot(elapsed_ns: int) -> int:
    """The slot a duration falls in: the first bound at or above it (Prometheus' `le`)."""
    return bisect_left(BOUNDS_NS, elapsed_ns)


def empty() -> list[int]:
    return [0] * SLOTS


def merge(into: list[int], counts: Sequence[int]) -> list[int]:
    if len(counts) != SLOTS:
        raise ValueError(f"expected {SLOTS} bucket counts, got {len(counts)}")
    for index, count in enumerate(counts):
        into[index] += count
    return into


def percentile(counts: Sequence[int], q: float) -> float | None:
    """The q-th quantile (0 < q < 1) in ms, interpolated inside its bucket; None if empty.

    Above the last bound the answer is the last bound (10 s): the histogram cannot tell more.
    """
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            if index >= len(BOUNDS_MS):
                return BOUNDS_MS[-1]
            lower = BOUNDS_MS[index - 1] if index else 0.0
            upper = BOUNDS_MS[index]
            return round(lower + (upper - lower) * (rank - seen) / count, 4)
        seen += count
    return BOUNDS_MS[-1]


def percentiles(counts: Sequence[int], qs: Iterable[float] = (0.5, 0.95, 0.99)) -> list:
    return [percentile(counts, q) for q in qs]
