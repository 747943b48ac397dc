from serving_app import histogram


def test_durations_fall_in_the_first_bucket_at_or_above_them():
    assert histogram.slot(50_000) == 0  # 0.05 ms
    assert histogram.slot(100_000) == 0  # exactly 0.1 ms: le="0.0001"
    assert histogram.slot(100_001) == 1
    assert histogram.slot(10_000_000_000) == len(histogram.BOUNDS_MS) - 1  # 10 s
    assert histogram.slot(60_000_000_000) == len(histogram.BOUNDS_MS)  # overflow


def test_percentiles_interpolate_inside_the_bucket():
    counts = histogram.empty()
    counts[histogram.slot(900_000)] = 100  # (0.75, 1.0] ms
    assert histogram.percentile(counts, 0.5) == 0.875
    assert histogram.percentile(histogram.empty(), 0.5) is None


def test_histograms_from_several_processes_merge_by_adding():
    a, b = histogram.empty(), histogram.empty()
    a[0], b[0], b[-1] = 99, 1, 1
    merged = histogram.merge(list(a), b)
    assert merged[0] == 100 and merged[-1] == 1
    assert histogram.percentile(merged, 0.999) == histogram.BOUNDS_MS[-1]
