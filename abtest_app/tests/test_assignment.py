from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from abtest_app.assignment import (
    CHALLENGER,
    CHAMPION,
    assign_arm,
    assign_many,
    bucket,
    bucket_many,
    bucket_ranges,
    choose_variation,
    fnv1a32,
    growthbook_hash,
)
from abtest_app.vocabulary import AssignmentRule

UNITS = [f"user-{i}" for i in range(100_000)]


def reference_bucket(seed: str, unit_id: str) -> float:
    """GrowthBook v2 written the slow, obvious way (charCodeAt over UTF-16)."""

    def fnv(text: str) -> int:
        data = text.encode("utf-16-le")
        h = 0x811C9DC5
        for i in range(0, len(data), 2):
            h ^= data[i] | data[i + 1] << 8
            h = (h * 0x01000193) % 2**32
        return h

    return fnv(str(fnv(seed + unit_id))) % 10000 / 10000


@pytest.mark.parametrize(
    ("seed", "unit_id", "expected"),
    [("seed", "a", 0.0505), ("seed", "b", 0.2696), ("foo", "ab", 0.2575)],
)
def test_it_matches_growthbook_published_values(seed: str, unit_id: str, expected: float) -> None:
    assert bucket(seed, unit_id) == expected
    assert bucket_many(seed, [unit_id])[0] == expected


def test_it_matches_the_reference_on_unicode_and_edge_ids() -> None:
    ids = ["", "a", "\x00", "a\x00", "é", "日本語", "😀", "x😀y", "𝔘𝔫𝔦", "user-42", "a" * 300]
    for unit_id in ids:
        assert bucket("exp-1", unit_id) == reference_bucket("exp-1", unit_id)
    assert bucket_many("exp-1", ids).tolist() == [reference_bucket("exp-1", u) for u in ids]
    assert bucket("日本", "😀") == reference_bucket("日本", "😀")


def test_fnv_continues_from_a_seed_state() -> None:
    assert fnv1a32("seed" + "value") == fnv1a32("value", fnv1a32("seed"))


def test_it_is_deterministic() -> None:
    first = [assign_arm("exp-7", u, 30) for u in UNITS[:5000]]
    again = [assign_arm("exp-7", u, 30) for u in UNITS[:5000]]
    assert first == again
    assert assign_many("exp-7", UNITS[:5000], 30) == first


def test_assign_many_equals_assign_arm_across_batches() -> None:
    units = UNITS + ["😀" + u for u in UNITS[:50]]
    assert assign_many("exp-3", units, 25) == [assign_arm("exp-3", u, 25) for u in units]
    assert assign_many("exp-3", [], 25) == []


@pytest.mark.parametrize("share", [10, 30, 50, 85])
def test_shares_are_within_one_percent_of_the_split(share: float) -> None:
    arms = assign_many(f"split-{share}", UNITS, share)
    observed = arms.count(CHALLENGER) / len(arms)
    assert abs(observed - share / 100) < 0.01
    assert set(arms) == {CHALLENGER, CHAMPION}


def test_challenger_iff_bucket_at_or_above_the_champion_share() -> None:
    for u in UNITS[:2000]:
        expected = CHALLENGER if bucket("exp-9", u) >= 1 - 33.33 / 100 else CHAMPION
        assert assign_arm("exp-9", u, 33.33) == expected


def test_two_tests_with_different_seeds_are_independent() -> None:
    p1, p2 = 0.3, 0.5
    first = np.array(assign_many("test-a", UNITS, p1 * 100)) == CHALLENGER
    second = np.array(assign_many("test-b", UNITS, p2 * 100)) == CHALLENGER
    table = np.array(
        [
            [np.sum(first & second), np.sum(first & ~second)],
            [np.sum(~first & second), np.sum(~first & ~second)],
        ]
    )
    assert sps.chi2_contingency(table).pvalue > 0.001
    agreement = np.mean(first == second)
    assert agreement == pytest.approx(p1 * p2 + (1 - p1) * (1 - p2), abs=0.01)


@pytest.mark.parametrize("share", [0, 100, -5, 150])
def test_it_rejects_shares_outside_0_100(share: float) -> None:
    with pytest.raises(ValueError):
        assign_arm("exp", "u", share)
    with pytest.raises(ValueError):
        assign_many("exp", ["u"], share)


# --- GrowthBook's published SDK cases (fixtures/growthbook_cases.json, origin inside) ---

CASES = json.loads((Path(__file__).parent / "fixtures" / "growthbook_cases.json").read_text())


@pytest.mark.parametrize(("seed", "value", "version", "expected"), CASES["hash"])
def test_growthbook_hash_cases_pass(seed: str, value: str, version: int,
                                    expected: float | None) -> None:
    assert growthbook_hash(seed, value, version) == expected


@pytest.mark.parametrize(("name", "args", "expected"), CASES["getBucketRange"])
def test_growthbook_bucket_range_cases_pass(name: str, args: list, expected: list) -> None:
    ranges = bucket_ranges(*args)
    assert len(ranges) == len(expected), name
    for (start, end), (want_start, want_end) in zip(ranges, expected, strict=True):
        assert start == pytest.approx(want_start, abs=1e-12), name
        assert end == pytest.approx(want_end, abs=1e-12), name


@pytest.mark.parametrize(("name", "n", "ranges", "expected"), CASES["chooseVariation"])
def test_growthbook_choose_variation_cases_pass(name: str, n: float, ranges: list,
                                                expected: int) -> None:
    assert choose_variation(n, [tuple(r) for r in ranges]) == expected, name


@pytest.mark.parametrize("share", [50.0, 30.0, 33.33, 1.0, 99.0, 0.01])
def test_the_growthbook_rule_puts_the_champion_in_variation_0(share: float) -> None:
    p = share / 100
    ranges = bucket_ranges(2, 1.0, [1 - p, p])
    units = UNITS[:20_000]
    expected = [
        (CHAMPION, CHALLENGER)[choose_variation(bucket("gb-seed", u), ranges)] for u in units
    ]
    assert [assign_arm("gb-seed", u, share, AssignmentRule.GROWTHBOOK) for u in units] == expected
    assert assign_many("gb-seed", units, share, "growthbook") == expected


def test_the_old_rule_still_gives_the_challenger_the_low_buckets() -> None:
    units = UNITS[:20_000]
    old = assign_many("legacy", units, 30, AssignmentRule.AXION_V1)
    assert old == [CHALLENGER if bucket("legacy", u) < 0.3 else CHAMPION for u in units]
    assert old == [assign_arm("legacy", u, 30, "axion-v1") for u in units]
    assert old != assign_many("legacy", units, 30, AssignmentRule.GROWTHBOOK)


def test_the_hash_vectors_at_50_50_follow_growthbook_variation_order() -> None:
    vectors = [(seed, value) for seed, value, version, _ in CASES["hash"] if version == 2]
    for seed, value in vectors:
        variation = choose_variation(bucket(seed, value), bucket_ranges(2))
        assert assign_arm(seed, value, 50) == (CHAMPION, CHALLENGER)[variation]
