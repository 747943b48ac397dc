"""The min/max-per-bucket-of-steps downsampling (pure numpy): the definition the pyramid
answers (experiments_app/tests/test_pyramid.py holds the pyramid to it)."""

import numpy as np
import pytest

from experiments_app.downsample import MIN_LEVEL, bucket_level, downsample, minmax_indices


@pytest.mark.parametrize("n,max_points", [(100_000, 1000), (1001, 1000), (10, 4), (12345, 7),
                                          (5000, 5), (999, 998)])
def test_it_keeps_first_last_min_and_max_within_n_points(n, max_points):
    rng = np.random.default_rng(n)
    values = rng.normal(size=n).cumsum()
    keep = minmax_indices(np.arange(n), values, max_points)
    assert len(keep) <= max_points
    assert keep[0] == 0 and keep[-1] == n - 1
    assert values.argmin() in keep and values.argmax() in keep
    assert (np.diff(keep) > 0).all()  # sorted, no duplicates


def test_a_short_series_is_returned_whole():
    values = np.array([3.0, 1.0, 2.0])
    steps = np.arange(3)
    assert minmax_indices(steps, values, 4).tolist() == [0, 1, 2]
    assert downsample(steps, values, steps, None)[1] is values


def test_buckets_are_the_finest_power_of_two_steps_that_fit():
    steps = np.arange(1000)
    assert bucket_level(steps, 499) == MIN_LEVEL  # 125 buckets of 8 steps
    assert bucket_level(steps, 100) == 4  # 63 buckets of 16 (32 of 32 would fit too)
    assert bucket_level(np.array([-(2**62), 2**62]), 1) == 64  # one bucket for everything
    keep = minmax_indices(np.array([-(2**62), 0, 5, 2**62]), np.array([1.0, 9.0, -9.0, 2.0]),
                          4)
    assert keep.tolist() == [0, 1, 2, 3]


def test_every_spike_survives():
    values = np.zeros(10_000)
    spikes = [1234, 5678, 9000]
    values[spikes] = [50.0, -40.0, 30.0]
    keep = minmax_indices(np.arange(10_000), values, 100)
    assert set(spikes) <= set(keep.tolist())


def test_nan_never_hides_a_real_extreme():
    values = np.linspace(0, 1, 1000)
    values[::3] = np.nan
    values[500] = 7.0
    keep = minmax_indices(np.arange(1000), values, 20)
    assert 500 in keep
    assert len(keep) <= 20


def test_an_all_nan_bucket_keeps_its_first_point_so_the_gap_shows():
    values = np.arange(100, dtype=float)
    values[32:64] = np.nan  # steps 32-63: one bucket of 32 steps at the level chosen
    keep = minmax_indices(np.arange(100), values, 12)
    assert 32 in keep
    assert not any(np.isnan(values[i]) for i in keep if i != 32)


def test_infinities_are_extremes_like_any_value():
    values = np.arange(64, dtype=float)
    values[10], values[20] = np.inf, -np.inf
    keep = minmax_indices(np.arange(64), values, 6)
    assert {10, 20} <= set(keep.tolist())


def test_it_refuses_fewer_than_four_points():
    with pytest.raises(ValueError):
        minmax_indices(np.arange(10), np.arange(10.0), 3)


def test_downsample_returns_the_kept_steps_values_and_timestamps():
    steps = np.arange(1000)
    values = np.sin(steps / 50.0)
    stamps = steps * 10
    kept_steps, kept_values, kept_stamps = downsample(steps, values, stamps, 50)
    assert len(kept_steps) <= 50
    assert (values[kept_steps] == kept_values).all()
    assert (kept_stamps == kept_steps * 10).all()
