"""Deterministic arm assignment, compatible with GrowthBook's hash version 2.

    bucket = fnv1a32(str(fnv1a32(seed + unit_id))) % 10000 / 10000

where fnv1a32 runs over the UTF-16 code units of the string (as JavaScript's
``charCodeAt`` sees them), so SDKs in other languages put a unit in the same arm.

Which range of buckets goes to which arm is the test's :class:`AssignmentRule`:

- ``growthbook`` (every test created since): the arms are GrowthBook variations
  [champion, challenger] with weights [1 - p, p], so the champion (variation 0, the
  control) owns [0, 1 - p) and the challenger [1 - p, 1), exactly as the SDKs'
  ``getBucketRanges`` and ``chooseVariation`` decide.
- ``axion-v1`` (tests created before): the challenger when ``bucket < p``. Kept so a
  running test never reshuffles its units.

FNV-1a is sequential, so the state after the seed is computed once per seed and
the unit id continues from it. Only the low 32 bits of the state matter and XOR
with a code unit touches only low bits, so the loops mask once at the end
instead of every step.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np

from .vocabulary import Arm, AssignmentRule

# Older names of the arms, still imported by serving_app.routing; prefer Arm.
CHAMPION = Arm.CHAMPION
CHALLENGER = Arm.CHALLENGER

_OFFSET_BASIS = 0x811C9DC5
_PRIME = 0x01000193
_MASK32 = 0xFFFFFFFF
_BUCKETS = 10_000
_BATCH = 65_536  # bounds the padded code-unit matrix of assign_many
_UTF16 = "utf-16-le" if sys.byteorder == "little" else "utf-16-be"


def _code_units(text: str) -> Iterable[int]:
    if text.isascii():
        return text.encode("ascii")
    return memoryview(text.encode(_UTF16)).cast("H")


def fnv1a32(text: str, state: int = _OFFSET_BASIS) -> int:
    """FNV-1a (32 bit) over the UTF-16 code units of ``text``, continuing from ``state``."""
    h = state
    for unit in _code_units(text):
        h = (h ^ unit) * _PRIME
    return h & _MASK32


@lru_cache(maxsize=256)
def _seed_state(seed: str) -> int:
    return fnv1a32(seed)


def _buckets_below(limit: float) -> int:
    """Number of buckets k in 0..9999 with k / 10000 < limit: the float rule as a count."""
    k = min(max(int(limit * _BUCKETS), 0), _BUCKETS)
    while k > 0 and (k - 1) / _BUCKETS >= limit:
        k -= 1
    while k < _BUCKETS and k / _BUCKETS < limit:
        k += 1
    return k


@lru_cache(maxsize=256)
def _challenger_buckets(challenger_share: float, rule: AssignmentRule) -> tuple[int, int]:
    """The challenger's bucket indices as a half-open range [low, high).

    Comparing integer indices with it is exactly the float rule of ``rule``, without
    a division per unit.
    """
    if not 0 < challenger_share < 100:
        raise ValueError(f"challenger_share must be in (0, 100), got {challenger_share!r}")
    p = challenger_share / 100
    if rule == AssignmentRule.AXION_V1:
        return 0, _buckets_below(p)
    _, challenger = bucket_ranges(2, 1.0, [1 - p, p])
    return _buckets_below(challenger[0]), _buckets_below(challenger[1])


def _rule(rule: AssignmentRule | str) -> AssignmentRule:
    return AssignmentRule(rule)


def _bucket_index(seed_state: int, unit_id: str) -> int:
    prime = _PRIME
    h = seed_state
    for unit in _code_units(unit_id):
        h = (h ^ unit) * prime
    g = _OFFSET_BASIS
    for digit in b"%d" % (h & _MASK32):
        g = (g ^ digit) * prime
    return (g & _MASK32) % _BUCKETS


def bucket(seed: str, unit_id: str) -> float:
    """The unit's position in [0, 1), in steps of 1/10000."""
    return _bucket_index(_seed_state(seed), unit_id) / _BUCKETS


def assign_arm(
    seed: str,
    unit_id: str,
    challenger_share: float,
    rule: AssignmentRule | str = AssignmentRule.GROWTHBOOK,
) -> Arm:
    """The challenger for ``challenger_share`` percent of units, else the champion."""
    low, high = _challenger_buckets(challenger_share, _rule(rule))
    if low <= _bucket_index(_seed_state(seed), unit_id) < high:
        return Arm.CHALLENGER
    return Arm.CHAMPION


def _bucket_indices(seed_state: int, unit_ids: Sequence[str]) -> np.ndarray:
    """Vectorised ``_bucket_index``: one numpy pass per character column."""
    n = len(unit_ids)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # A numpy str array holds code points (UCS-4), zero padded to the longest id.
    # Lengths come from Python, so a real trailing NUL is still hashed.
    codes = np.array(unit_ids, dtype=str)
    width = codes.dtype.itemsize // 4
    codes = codes.view(np.uint32).reshape(n, width)
    lengths = np.fromiter(map(len, unit_ids), dtype=np.int64, count=n)
    prime = np.uint32(_PRIME)  # uint32 arithmetic wraps modulo 2**32, as FNV needs

    h = np.full(n, seed_state, dtype=np.uint32)
    for j in range(width):
        np.copyto(h, (h ^ codes[:, j]) * prime, where=lengths > j)

    # Outer hash over the decimal digits of h, most significant first.
    inner = h.astype(np.int64)
    powers = 10 ** np.arange(10, dtype=np.int64)
    n_digits = 1 + (inner[:, None] >= powers[1:]).sum(axis=1)
    g = np.full(n, _OFFSET_BASIS, dtype=np.uint32)
    for i in range(10):
        exponent = n_digits - 1 - i
        digit = (inner // powers[np.maximum(exponent, 0)]) % 10 + ord("0")
        np.copyto(g, (g ^ digit.astype(np.uint32)) * prime, where=exponent >= 0)
    indices = (g % _BUCKETS).astype(np.int64)

    # Characters outside the BMP are two UTF-16 code units (a surrogate pair) in
    # JavaScript but one code point in numpy: hash those rare ids one by one.
    for row in np.flatnonzero((codes > 0xFFFF).any(axis=1)):
        indices[row] = _bucket_index(seed_state, unit_ids[int(row)])
    return indices


def bucket_many(seed: str, unit_ids: Sequence[str]) -> np.ndarray:
    """Buckets of many units at once, as a float array (same values as :func:`bucket`)."""
    state = _seed_state(seed)
    parts = [
        _bucket_indices(state, unit_ids[start : start + _BATCH])
        for start in range(0, len(unit_ids), _BATCH)
    ]
    indices = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return indices / _BUCKETS


def assign_many(
    seed: str,
    unit_ids: Sequence[str],
    challenger_share: float,
    rule: AssignmentRule | str = AssignmentRule.GROWTHBOOK,
) -> list[str]:
    """Arms of many units at once (same values as :func:`assign_arm`, several times faster)."""
    low, high = _challenger_buckets(challenger_share, _rule(rule))
    state = _seed_state(seed)
    arms: list[str] = []
    for start in range(0, len(unit_ids), _BATCH):
        indices = _bucket_indices(state, unit_ids[start : start + _BATCH])
        challenger = (indices >= low) & (indices < high)
        picked = np.where(challenger, Arm.CHALLENGER.value, Arm.CHAMPION.value)
        arms.extend(picked.tolist())
    return arms


# --- GrowthBook's SDK functions, as its published test cases specify them ----------


def growthbook_hash(seed: str, value: str, version: int) -> float | None:
    """GrowthBook's ``hash``: version 2 is :func:`bucket`; version 1 the original, biased
    fnv1a32(value + seed) % 1000 / 1000; any other version None."""
    if version == 2:
        return bucket(seed, value)
    if version == 1:
        return fnv1a32(value + seed) % 1000 / 1000
    return None


def bucket_ranges(
    num_variations: int, coverage: float = 1.0, weights: Sequence[float] | None = None
) -> list[tuple[float, float]]:
    """GrowthBook's ``getBucketRanges``: variation i owns [start_i, start_i + coverage w_i).

    Coverage is clipped to [0, 1]; weights of the wrong length or not summing to 1
    (within 0.01) fall back to equal weights, as the SDKs do.
    """
    coverage = min(max(coverage, 0.0), 1.0)
    equal = [1 / num_variations] * num_variations if num_variations > 0 else []
    chosen = list(weights) if weights is not None else equal
    if len(chosen) != num_variations or not 0.99 <= sum(chosen) <= 1.01:
        chosen = equal
    ranges: list[tuple[float, float]] = []
    cumulative = 0.0
    for weight in chosen:
        start = cumulative
        cumulative += weight
        ranges.append((start, start + coverage * weight))
    return ranges


def choose_variation(n: float, ranges: Sequence[tuple[float, float]]) -> int:
    """GrowthBook's ``chooseVariation``: the first range with start <= n < end, else -1."""
    for index, (start, end) in enumerate(ranges):
        if start <= n < end:
            return index
    return -1
