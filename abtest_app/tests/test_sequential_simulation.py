"""Peeking: A/A tests looked at 20 times.

The data are drawn with numpy in one go and summed per look; each look then
calls the shipped functions on the per-arm sufficient statistics, as the app does.
"""

from __future__ import annotations

import numpy as np
import pytest

from abtest_app.stats import ArmStats, msprt, welch_ttest

ALPHA = 0.05
TESTS = 2000
LOOKS = 20


def cumulative_arms(values: np.ndarray) -> list[list[ArmStats]]:
    """values[test, look, unit] -> ArmStats per test and look, cumulated over looks."""
    per_look = values.shape[2]
    totals = np.cumsum(values.sum(axis=2), axis=1)
    squares = np.cumsum((values * values).sum(axis=2), axis=1)
    return [
        [
            ArmStats(n=(look + 1) * per_look, total=float(t), total_sq=float(q))
            for look, (t, q) in enumerate(zip(test_totals, test_squares, strict=True))
        ]
        for test_totals, test_squares in zip(totals, squares, strict=True)
    ]


def rejection_rates(
    champion: np.ndarray, challenger: np.ndarray, *, planned_n_per_arm: int
) -> tuple[float, float]:
    """Share of tests that ever reject: (sequential mSPRT, naive Welch at every look)."""
    sequential = naive = 0
    tests = zip(cumulative_arms(champion), cumulative_arms(challenger), strict=True)
    for a_looks, b_looks in tests:
        p_value = 1.0
        naive_rejected = False
        for a, b in zip(a_looks, b_looks, strict=True):
            p_value = msprt(
                a, b, planned_n_per_arm=planned_n_per_arm, alpha=ALPHA, prior_p_value=p_value
            ).p_value
            naive_rejected = naive_rejected or welch_ttest(a, b, alpha=ALPHA).p_value < ALPHA
        sequential += p_value < ALPHA  # the always-valid p never goes back up
        naive += naive_rejected
    return sequential / len(champion), naive / len(champion)


def test_peeking_at_a_normal_a_a_test_keeps_the_sequential_error_rate() -> None:
    rng = np.random.default_rng(2024)
    champion = rng.normal(10, 2, size=(TESTS, LOOKS, 50))
    challenger = rng.normal(10, 2, size=(TESTS, LOOKS, 50))
    sequential, naive = rejection_rates(champion, challenger, planned_n_per_arm=LOOKS * 50)
    assert sequential <= 0.06  # measured 0.012
    assert naive > 0.15  # measured 0.241: the naive t-test at every look is far above alpha


def test_peeking_at_a_skewed_uneven_split_a_a_test_keeps_the_sequential_error_rate() -> None:
    # Revenue-like skewed metric, 30% challenger traffic, planned size reached mid-way.
    rng = np.random.default_rng(7)
    champion = rng.exponential(3.0, size=(TESTS, LOOKS, 70))
    challenger = rng.exponential(3.0, size=(TESTS, LOOKS, 30))
    sequential, naive = rejection_rates(champion, challenger, planned_n_per_arm=500)
    assert sequential <= 0.06  # measured 0.018
    assert naive > 0.15  # measured 0.258


def test_the_sequential_test_still_finds_a_real_effect() -> None:
    rng = np.random.default_rng(99)
    champion = rng.normal(0, 1, size=(500, LOOKS, 50))
    challenger = rng.normal(0.2, 1, size=(500, LOOKS, 50))
    sequential, naive = rejection_rates(champion, challenger, planned_n_per_arm=LOOKS * 50)
    assert sequential > 0.8  # measured 0.95: it pays for peeking with a little power only
    assert naive == pytest.approx(1.0, abs=0.05)
