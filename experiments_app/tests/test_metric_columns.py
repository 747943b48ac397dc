"""The column-at-a-time reading of a metric batch gives the rows the per-item loop gives,
and leaves every batch it cannot read whole (or that holds a bad item) to that loop."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments_app.tracking_input import (
    INT64_MAX,
    TrackingInputError,
    _metric_rows,
    _uniform_metrics,
    clean_metrics,
)

keys = st.sampled_from(["loss", "val/acc", "lr", "bad key!", ""])
values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5),
                   st.sampled_from(["NaN", "Infinity", "x", None, True]))
integers = st.one_of(st.integers(-INT64_MAX - 1, INT64_MAX), st.sampled_from(
    [2**63, -(2**63) - 1, -1, "7", None, 1.5, False]))
items = st.fixed_dictionaries(
    {"key": keys, "value": values},
    optional={"step": integers, "timestamp": integers, "extra": st.just(1)})


whole_items = st.fixed_dictionaries({  # every field given and valid: the fast reading's shape
    "key": st.sampled_from(["loss", "val/acc", "lr"]),
    "value": st.floats(allow_nan=True, allow_infinity=True),
    "step": st.integers(-INT64_MAX - 1, INT64_MAX), "timestamp": st.integers(0, INT64_MAX)})


def outcome(read, batch):
    try:
        return read(batch)
    except TrackingInputError as exc:
        return str(exc)


def same(a, b) -> bool:  # NaN-aware row comparison
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return len(a) == len(b) and all(
        x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y))
        for row_a, row_b in zip(a, b, strict=True) for x, y in zip(row_a, row_b, strict=True))


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.lists(items, min_size=1, max_size=12),
                 st.lists(whole_items, min_size=1, max_size=12)))
def test_the_fast_reading_agrees_with_the_loop_or_steps_aside(batch):
    fast = outcome(_uniform_metrics, batch)
    loop = outcome(lambda b: _metric_rows(b, 1_700_000_000_000), batch)
    if fast is not None:
        assert same(fast, loop), (batch, fast, loop)
    assert same(outcome(lambda b: clean_metrics(b, default_timestamp=1_700_000_000_000),
                        batch), loop)


def test_a_uniform_batch_takes_the_fast_reading_and_keeps_nan_faithful():
    batch = [{"key": "loss", "value": float(v), "step": i, "timestamp": 10 + i}
             for i, v in enumerate([0.5, math.nan, 0.25])]
    rows = _uniform_metrics(batch)
    assert rows is not None
    assert rows[0] == ("loss", 0.5, False, 0, 10)
    assert rows[1] == ("loss", 0.0, True, 1, 11)  # stored as 0.0 with is_nan
    assert rows[2] == ("loss", 0.25, False, 2, 12)


@pytest.mark.parametrize("change", [
    {"value": 1}, {"step": True}, {"timestamp": -1}, {"step": 2**63}, {"extra": 0}])
def test_anything_else_goes_to_the_loop(change):
    batch = [{"key": "loss", "value": 0.5, "step": 1, "timestamp": 2}, {
        "key": "loss", "value": 0.5, "step": 1, "timestamp": 2, **change}]
    assert _uniform_metrics(batch) is None


def test_the_first_bad_key_is_the_one_named():
    batch = [{"key": "ok", "value": 0.5, "step": 1, "timestamp": 2},
             {"key": "first bad!", "value": 0.5, "step": 1, "timestamp": 2},
             {"key": "second bad!", "value": 0.5, "step": 1, "timestamp": 2}]
    with pytest.raises(TrackingInputError, match="first bad"):
        clean_metrics(batch)
