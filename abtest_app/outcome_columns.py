"""The fast path of outcome parsing: a batch whose items all have the same plain shape is
read column by column. Pure computation, no Django.

Nearly every batch a service posts is uniform: every item has the same keys, ids are
strings and numbers are floats. Such a batch is checked a column at a time (a type check
per column, then numpy range checks), which costs a fraction of the per-item loop in
:func:`abtest_app.outcomes.parse_outcomes`. Anything else (a missing or extra key,
an integer or null where a float is usual, a value out of range, guardrail metrics, a
claimed arm, a binary metric) answers None, and the per-item loop parses the batch
again: it accepts what it accepts and names the first bad item, so the fast path never
changes what is accepted or which error is raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import cast

import numpy as np

MAX_UNIT_ID = 200
MAX_OUTCOME_ID = 100
# Sums of squares of ten million values must stay finite in float64.
MAX_ABS_VALUE = 1e12
PLAIN = frozenset({"unit_id", "value", "outcome_id", "covariate"})
RATIO = PLAIN | {"denominator", "covariate_denominator"}


def _strings(column: Sequence[object], limit: int) -> bool:
    if set(map(type, column)) != {str}:
        return False
    lengths = list(map(len, cast(Sequence[str], column)))
    return 0 < min(lengths) and max(lengths) <= limit


def _floats(column: Sequence[object], low: float) -> np.ndarray | None:
    if set(map(type, column)) != {float}:
        return None
    array = np.array(column, dtype=np.float64)
    if not ((array >= low) & (array <= MAX_ABS_VALUE)).all():  # NaN fails too
        return None
    return array


def uniform_columns(
    items: Sequence[object], *, binary: bool, ratio: bool
) -> tuple[dict[str, list], np.ndarray] | None:
    """(the batch's columns by key, the values as float64), or None when the batch is
    not uniform and plain (the per-item parser then reads it).

    The checks are C loops (map, set, itemgetter, numpy), not Python ones per item."""
    first = items[0]
    if binary or type(first) is not dict:
        return None
    keys = tuple(first)
    if not set(keys) <= (RATIO if ratio else PLAIN) or "unit_id" not in keys \
            or "value" not in keys or (ratio and "denominator" not in keys):
        return None
    if set(map(type, items)) != {dict}:
        return None
    dicts = cast(Sequence[dict], items)
    if set(map(len, dicts)) != {len(keys)}:
        return None
    try:  # every item has as many keys as the first: the same keys, or a KeyError
        columns = {key: list(map(itemgetter(key), dicts)) for key in keys}
    except KeyError:
        return None
    if not _strings(columns["unit_id"], MAX_UNIT_ID):
        return None
    if "outcome_id" in columns and not _strings(columns["outcome_id"], MAX_OUTCOME_ID):
        return None
    values = _floats(columns["value"], -MAX_ABS_VALUE)
    if values is None:
        return None
    for key, low in (("covariate", -MAX_ABS_VALUE), ("denominator", 0.0),
                     ("covariate_denominator", 0.0)):
        if key in columns and _floats(columns[key], low) is None:
            return None
    return columns, values
