"""The min/max-per-bucket downsampling (pure numpy)."""

import numpy as np
import pytest

from experiments_app.downsample import downsample, minmax_indices


@pytest.mark.parametrize("n,max_points", [(100_000, 1000), (1001, 1000), (10, 4), (12345, 7),
                                          (5000, 5), (999, 998)])
def test_it_keeps_first_last_min_and_max_within_n_points(n, max_points):
    rng = np.random.default_rng(n)
    values = rng.normal(size=n).cumsum()
    keep = minmax_indices(values, max_points)
    assert len(keep) <= max_points
    assert keep[0] == 0 and keep[-1] == n - 1
    assert values.argmin() in keep and values.argmax() in keep
    assert (np.diff(keep) > 0).all()  # sorted, no duplicates


def test_a_short_series_is_returned_whole():
    values = np.array([3.0, 1.0, 2.0])
    assert minmax_indices(values, 4).tolist() == [0, 1, 2]
    steps = np.arange(3)
    assert downsample(steps, values, steps, None)[1] is values


def test_every_spike_survives():
    values = np.zeros(10_000)
    spikes = [1234, 5678, 9000]
    values[spikes] = [50.0, -40.0, 30.0]
    keep = minmax_indices(values, 100)
    assert set(spikes) <= set(keep.tolist())


def test_nan_never_hides_a_real_extreme():
    values = np.linspace(0, 1, 1000)
    values[::3] = np.nan
    values[500] = 7.0
    keep = minmax_indices(values, 20)
    assert 500 in keep
    assert len(keep) <= 20


def test_an_all_nan_bucket_keeps_a_point_so_the_gap_shows():
    values = np.arange(100, dtype=float)
    values[30:80] = np.nan
    keep = minmax_indices(values, 12)  # 5 buckets of 20 inner points
    assert any(np.isnan(values[i]) for i in keep)


def test_it_refuses_fewer_than_four_points():
    with pytest.raises(ValueError):
        minmax_indices(np.arange(10.0), 3)


def test_downsample_returns_the_kept_steps_values_and_timestamps():
    steps = np.arange(1000)
    values = np.sin(steps / 50.0)
    stamps = steps * 10
    kept_steps, kept_values, kept_stamps = downsample(steps, values, stamps, 50)
    assert len(kept_steps) <= 50
    assert (values[kept_steps] == kept_values).all()
    assert (kept_stamps == kept_steps * 10).all()
