from __future__ import annotations

import json
import math

import numpy as np
import pytest

from abtest_app.decision import (
    Decision,
    DecisionConfig,
    Direction,
    Guardrail,
    Method,
    MinEffectKind,
    evaluate,
)
from abtest_app.stats import ArmStats


def normal_arms(
    seed: int, mean_a: float, mean_b: float, *, sd: float = 2.0, n_a: int = 2000, n_b: int = 2000
) -> tuple[ArmStats, ArmStats]:
    rng = np.random.default_rng(seed)
    return (
        ArmStats.from_values(rng.normal(mean_a, sd, n_a)),
        ArmStats.from_values(rng.normal(mean_b, sd, n_b)),
    )


def binary_arms(seed: int, rate_a: float, rate_b: float, n: int) -> tuple[ArmStats, ArmStats]:
    rng = np.random.default_rng(seed)
    return (
        ArmStats.from_values(rng.random(n) < rate_a),
        ArmStats.from_values(rng.random(n) < rate_b),
    )


BETTER = normal_arms(1, 10.0, 10.5)
WORSE = normal_arms(2, 10.0, 9.5)
SAME = normal_arms(3, 10.0, 10.0)


def test_challenger_wins_when_significantly_better() -> None:
    result = evaluate(DecisionConfig(), *BETTER)
    assert result.decision == Decision.CHALLENGER_WINS
    assert result.p_value < 0.05 and result.ci_low > 0
    assert "challenger significantly better" in result.reasons[-1]
    assert result.effect == pytest.approx(BETTER[1].mean - BETTER[0].mean)


def test_champion_wins_when_challenger_significantly_worse() -> None:
    result = evaluate(DecisionConfig(), *WORSE)
    assert result.decision == Decision.CHAMPION_WINS
    assert "significantly worse" in result.reasons[-1]


def test_lower_is_better_metric_prefers_the_lower_prediction_error() -> None:
    rng = np.random.default_rng(4)
    champion = ArmStats.from_values(np.abs(rng.normal(0, 1.0, 3000)))
    challenger = ArmStats.from_values(np.abs(rng.normal(0, 0.8, 3000)))
    lower = evaluate(DecisionConfig(direction=Direction.LOWER), champion, challenger)
    assert lower.effect < 0
    assert lower.decision == Decision.CHALLENGER_WINS
    higher = evaluate(DecisionConfig(direction=Direction.HIGHER), champion, challenger)
    assert higher.decision == Decision.CHAMPION_WINS


def test_lower_is_better_with_a_minimum_effect_counts_the_drop() -> None:
    champion, challenger = normal_arms(5, 10.0, 9.0, sd=1.0)
    config = DecisionConfig(direction="lower", min_effect=0.5)
    assert evaluate(config, champion, challenger).decision == Decision.CHALLENGER_WINS
    config = DecisionConfig(direction="lower", min_effect=1.5)
    assert evaluate(config, champion, challenger).decision == Decision.NO_DECISION


def test_an_a_a_test_is_no_decision_then_inconclusive_at_maximum_duration() -> None:
    running = evaluate(DecisionConfig(), *SAME)
    assert running.decision == Decision.NO_DECISION
    assert "not significant" in running.reasons[0]
    ended = evaluate(DecisionConfig(), *SAME, max_duration_reached=True)
    assert ended.decision == Decision.INCONCLUSIVE
    assert ended.reasons[-1] == "maximum duration reached without a decision"


def test_a_tie_never_names_a_winner() -> None:
    arm = ArmStats.from_values([1.0, 2.0, 3.0] * 100)
    flat = ArmStats.from_values([5.0] * 300)
    assert evaluate(DecisionConfig(), arm, arm).decision == Decision.NO_DECISION
    assert evaluate(DecisionConfig(), flat, flat).decision == Decision.NO_DECISION
    ended = evaluate(DecisionConfig(), arm, arm, max_duration_reached=True)
    assert ended.decision == Decision.INCONCLUSIVE


def test_a_sample_ratio_mismatch_blocks_any_decision_and_flags() -> None:
    champion, challenger = normal_arms(6, 10.0, 11.0, n_a=5000, n_b=5600)
    result = evaluate(DecisionConfig(challenger_share=50), champion, challenger)
    assert result.srm_mismatch and result.srm.p_value < 0.001
    assert result.decision == Decision.NO_DECISION
    assert result.p_value < 1e-6  # the effect is there, the data just cannot be trusted
    assert "sample ratio mismatch" in result.reasons[0]
    worse = evaluate(DecisionConfig(), challenger, champion, max_duration_reached=True)
    assert worse.decision == Decision.INCONCLUSIVE


def test_the_configured_split_is_not_a_mismatch() -> None:
    champion, challenger = normal_arms(7, 10.0, 10.5, n_a=7000, n_b=3000)
    result = evaluate(DecisionConfig(challenger_share=30), champion, challenger)
    assert not result.srm_mismatch
    assert result.decision == Decision.CHALLENGER_WINS


def test_nothing_is_decided_below_the_minimum_sample() -> None:
    champion, challenger = normal_arms(8, 10.0, 20.0, n_a=50, n_b=50)
    result = evaluate(DecisionConfig(min_samples_per_arm=100), champion, challenger)
    assert result.decision == Decision.NO_DECISION
    assert "minimum sample not reached" in result.reasons[0]
    assert math.isnan(result.p_value) and result.welch is None


def test_a_significant_effect_must_clear_the_absolute_minimum_effect() -> None:
    config = DecisionConfig(min_effect=0.45)
    result = evaluate(config, *BETTER)
    assert result.p_value < 0.05 and result.ci_low < 0.45
    assert result.decision == Decision.NO_DECISION
    assert "does not clear the minimum absolute effect 0.45" in result.reasons[-1]
    assert evaluate(config, *BETTER, max_duration_reached=True).decision == Decision.INCONCLUSIVE


def test_a_relative_minimum_effect_uses_the_relative_lift_ci() -> None:
    passes = evaluate(DecisionConfig(min_effect=0.02, min_effect_kind="relative"), *BETTER)
    assert passes.decision == Decision.CHALLENGER_WINS
    assert passes.relative_lift is not None and passes.relative_lift.ci_low > 0.02
    fails = evaluate(DecisionConfig(min_effect=0.05, min_effect_kind="relative"), *BETTER)
    assert fails.decision == Decision.NO_DECISION
    assert "relative lift CI" in fails.reasons[-1]


def test_a_negative_baseline_takes_a_relative_minimum_effect_on_the_absolute_mean() -> None:
    champion, challenger = normal_arms(9, -3.0, -2.5)
    relative = DecisionConfig(min_effect=0.01, min_effect_kind=MinEffectKind.RELATIVE)
    result = evaluate(relative, champion, challenger)
    assert result.decision == Decision.CHALLENGER_WINS
    lift = result.relative_lift
    assert lift is not None and lift.estimate is not None and lift.ci_low is not None
    assert lift.estimate == pytest.approx(
        (challenger.mean - champion.mean) / abs(champion.mean), rel=1e-12)
    assert lift.ci_low > 0.01
    absolute = evaluate(DecisionConfig(min_effect=0.1), champion, challenger)
    assert absolute.decision == Decision.CHALLENGER_WINS
    zero = evaluate(relative, ArmStats(2000, 0.0, 8000.0), normal_arms(19, 0.0, 0.5)[1])
    assert zero.decision == Decision.NO_DECISION
    assert "champion mean of 0" in zero.reasons[-1]


def test_a_significantly_worse_guardrail_blocks_the_challenger() -> None:
    slower = normal_arms(10, 120.0, 135.0, sd=30.0)
    latency = Guardrail("latency_ms", *slower, direction=Direction.LOWER)
    result = evaluate(DecisionConfig(), *BETTER, guardrails=[latency])
    assert result.decision == Decision.NO_DECISION
    assert result.guardrails[0].significantly_worse
    assert "latency_ms" in result.reasons[-1]

    faster = Guardrail("latency_ms", *normal_arms(11, 120.0, 110.0, sd=30.0), direction="lower")
    errors = Guardrail("error_rate", *binary_arms(12, 0.02, 0.02, 5000), binary=True)
    result = evaluate(DecisionConfig(), *BETTER, guardrails=[faster, errors])
    assert result.decision == Decision.CHALLENGER_WINS
    assert not any(g.significantly_worse for g in result.guardrails)


def test_a_guardrail_without_data_is_not_worse() -> None:
    empty = ArmStats(n=0, total=0.0, total_sq=0.0)
    result = evaluate(DecisionConfig(), *BETTER, guardrails=[Guardrail("cpu", empty, empty)])
    assert result.decision == Decision.CHALLENGER_WINS
    assert math.isnan(result.guardrails[0].p_value)
    with pytest.raises(ValueError):
        Guardrail("cpu", empty, empty, direction="sideways")


def test_the_ztest_method_decides_a_binary_metric() -> None:
    champion, challenger = binary_arms(13, 0.10, 0.12, 20_000)
    result = evaluate(DecisionConfig(method=Method.ZTEST), champion, challenger)
    assert result.decision == Decision.CHALLENGER_WINS
    assert result.proportion is not None and result.p_value == result.proportion.p_value
    with pytest.raises(ValueError, match="binary"):
        evaluate(DecisionConfig(method="ztest"), *BETTER)


def test_mann_whitney_needs_raw_values_and_sees_a_heavy_tailed_shift() -> None:
    rng = np.random.default_rng(14)
    a = 5 + 3 * rng.standard_t(1.5, 3000)
    b = 5.3 + 3 * rng.standard_t(1.5, 3000)
    champion, challenger = ArmStats.from_values(a), ArmStats.from_values(b)
    with pytest.raises(ValueError, match="raw"):
        evaluate(DecisionConfig(method="mannwhitney"), champion, challenger)
    welch = evaluate(DecisionConfig(), champion, challenger)
    ranks = evaluate(DecisionConfig(method="mannwhitney"), champion, challenger, raw=(a, b))
    assert welch.p_value > 0.05
    assert ranks.mann_whitney is not None and ranks.p_value < 0.05


def test_the_sequential_method_decides_and_carries_its_p_value() -> None:
    config = DecisionConfig(method="sequential", planned_n_per_arm=2000)
    strong = evaluate(config, *normal_arms(15, 10.0, 10.6))
    assert strong.decision == Decision.CHALLENGER_WINS
    assert strong.sequential is not None and strong.p_value == strong.sequential_p
    assert strong.ci_low < strong.welch.ci_low  # the always-valid CI is wider

    same = evaluate(config, *SAME, prior_sequential_p=0.3)
    assert same.decision == Decision.NO_DECISION
    assert same.sequential_p == min(0.3, same.sequential.look_p_value)

    early = evaluate(config, *normal_arms(16, 10.0, 10.0, n_a=20, n_b=20), prior_sequential_p=0.4)
    assert early.sequential_p == 0.4  # kept for the next look
    assert evaluate(DecisionConfig(), *SAME).sequential_p is None


def test_the_config_rejects_what_it_cannot_decide_with() -> None:
    with pytest.raises(ValueError, match="planned_n_per_arm"):
        DecisionConfig(method="sequential")
    with pytest.raises(ValueError):
        DecisionConfig(method="bayesian")
    with pytest.raises(ValueError):
        DecisionConfig(min_effect=-0.1)
    assert DecisionConfig(direction="lower").direction is Direction.LOWER


def test_the_snapshot_is_json_safe() -> None:
    latency = Guardrail("latency_ms", *normal_arms(17, 120.0, 121.0, sd=30.0), direction="lower")
    full = evaluate(DecisionConfig(planned_n_per_arm=4000), *BETTER, guardrails=[latency])
    early = evaluate(DecisionConfig(), *normal_arms(18, 1.0, 1.0, n_a=3, n_b=3))
    for result in (full, early):
        snapshot = json.loads(json.dumps(result.as_snapshot(), allow_nan=False))
        assert snapshot["decision"] == result.decision.value
        assert snapshot["champion_n"] == result.champion_n
    assert json.loads(json.dumps(early.as_snapshot()))["p_value"] is None
    assert full.as_snapshot()["guardrails"][0]["name"] == "latency_ms"


def test_guardrails_are_one_sided_and_corrected_across_the_family() -> None:
    from statsmodels.stats.multitest import multipletests
    from statsmodels.stats.weightstats import ttest_ind

    rng = np.random.default_rng(20)
    raw = {
        "latency_ms": (rng.normal(120, 30, 2000), rng.normal(123, 30, 2000), "lower"),
        "hit_rate": (rng.normal(0.5, 0.2, 2000), rng.normal(0.49, 0.2, 2000), "higher"),
        "coverage": (rng.normal(0.9, 0.1, 2000), rng.normal(0.9, 0.1, 2000), "higher"),
    }
    guardrails = [Guardrail(name, ArmStats.from_values(a), ArmStats.from_values(b),
                            direction=direction) for name, (a, b, direction) in raw.items()]
    expected_p = [
        ttest_ind(b, a, usevar="unequal",
                  alternative="larger" if direction == "lower" else "smaller")[1]
        for a, b, direction in raw.values()
    ]
    for correction, sm_method in (("holm", "holm"), ("bh", "fdr_bh")):
        result = evaluate(DecisionConfig(guardrail_correction=correction), *BETTER,
                          guardrails=guardrails)
        adjusted = multipletests(expected_p, method=sm_method)[1]
        for outcome, p, q in zip(result.guardrails, expected_p, adjusted, strict=True):
            assert outcome.p_value == pytest.approx(p, rel=1e-9)
            assert outcome.adjusted_p_value == pytest.approx(q, rel=1e-9)
            assert outcome.significantly_worse == (q < 0.05)
        snapshot = result.as_snapshot()["guardrails"]
        assert {g["correction"] for g in snapshot} == {correction}
        assert result.details()["guardrail_correction"] == correction


def test_a_better_guardrail_is_never_significantly_worse() -> None:
    # Two-sided, a much faster challenger was "significant"; one-sided it is not worse.
    faster = Guardrail("latency_ms", *normal_arms(21, 120.0, 100.0, sd=30.0), direction="lower")
    result = evaluate(DecisionConfig(), *BETTER, guardrails=[faster])
    assert result.guardrails[0].alternative == "larger"
    assert result.guardrails[0].p_value > 0.99
    assert not result.guardrails[0].significantly_worse
    assert result.decision == Decision.CHALLENGER_WINS
