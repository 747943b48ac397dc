"""The A/B Tests tab over a faked API."""

from __future__ import annotations

import copy

from dashboard.tests.conftest import tab, texts
from dashboard.tests.fake_api import TEST_ID


def test_it_shows_each_arm_the_effect_with_its_ci_and_the_p_values(fake_api, app):
    abtests = tab(app(), "A/B Tests")
    assert abtests.dataframe[0].value.loc[0, "state"] == "running"
    shown = texts(abtests)
    for expected in ("Champion 1.0.0: n=1,210", "Champion 1.0.0: mean=42.5",
                     "Challenger 1.1.0: n=1,190", "Challenger 1.1.0: mean=44.25",
                     "Effect (challenger − champion)=1.75", "95% CI [-0.5, 4]",
                     "relative lift 4.1% [-1.0%, 9.0%]", "p-value=0.0123",
                     "Sequential p (always valid)=0.2345"):
        assert expected in shown, expected
    assert "CUPED" not in shown and "Bayesian" not in shown  # this test has neither
    assert f'href="?abtest={TEST_ID}"' in shown  # the test's own page


def test_it_shows_srm_progress_decision_and_the_evidence_over_time(fake_api, app):
    abtests = tab(app(), "A/B Tests")
    shown = texts(abtests)
    assert "Sample ratio OK (SRM p = 0.6831)" in shown
    assert "Decision: No decision yet.** not significant yet" in shown
    progress = abtests.get("progress")[0]
    assert progress.proto.value == 29  # 1,190 of 4,000 per arm
    assert "1,190 of 4,000 planned per arm" in progress.proto.text
    specs = [c.proto.spec for c in abtests.get("vega_lite_chart")]
    assert any("Evidence over time" in s for s in specs)
    assert any("with its CI" in s for s in specs)


def test_a_sample_ratio_mismatch_and_a_concluded_test_are_shown_as_such(fake_api, app):
    results = copy.deepcopy(fake_api.routes[f"abtests/{TEST_ID}/results/"])
    results["evaluation"].update(srm_mismatch=True, srm_p=0.0001)
    results["test"].update(state="concluded", decision="challenger_wins",
                           conclusion_reason="challenger better: p = 0.001 < alpha 0.05")
    fake_api.routes[f"abtests/{TEST_ID}/results/"] = results
    shown = texts(tab(app(), "A/B Tests"))
    assert "Sample ratio mismatch (SRM p = 0.0001)" in shown
    assert "Decision: The challenger wins.** challenger better: p = 0.001" in shown


def test_cuped_ratio_and_bayesian_read_outs_are_shown_where_a_test_has_them(fake_api, app):
    results = copy.deepcopy(fake_api.routes[f"abtests/{TEST_ID}/results/"])
    results["evaluation"]["details"] = {
        "analysis": "cuped",
        "cuped": {"theta": 0.8, "adjusted_effect": 1.75, "adjusted_std_error": 0.2,
                  "unadjusted_effect": 1.5, "unadjusted_std_error": 0.5,
                  "variance_reduction": 0.84},
        "ratio": {"champion_ratio": 0.05, "challenger_ratio": 0.04},
        "bayesian": {"scale": "absolute", "prior_proper": False, "chance_to_win": 0.9713,
                     "loss_challenger": 0.0012, "loss_champion": 1.76, "ci_low": 1.36,
                     "ci_high": 2.14},
    }
    fake_api.routes[f"abtests/{TEST_ID}/results/"] = results
    shown = texts(tab(app(), "A/B Tests"))
    for expected in ("CUPED** (θ = 0.8): adjusted effect 1.75 ± 0.2, unadjusted 1.5 ± 0.5; "
                     "variance reduced by 84.0%",
                     "Ratio metric** (delta method): champion 0.05, challenger 0.04",
                     "Bayesian** (absolute effect, flat prior): chance to win 97.1%; expected "
                     "loss of shipping the challenger 0.0012, of keeping the champion 1.76; "
                     "credible interval [1.36, 2.14]"):
        assert expected in shown, expected


def test_a_ratio_test_with_pre_period_data_shows_the_adjusted_and_the_plain_ratios(fake_api,
                                                                                  app):
    results = copy.deepcopy(fake_api.routes[f"abtests/{TEST_ID}/results/"])
    results["evaluation"].update(champion_mean=0.0312, challenger_mean=0.0281)
    results["evaluation"]["details"] = {
        "analysis": "ratio_cuped",
        "cuped": {"theta": 0.36, "adjusted_effect": -0.0031, "adjusted_std_error": 0.0013,
                  "unadjusted_effect": -0.0042, "unadjusted_std_error": 0.0015,
                  "variance_reduction": 0.25},
        "ratio": {"champion_ratio": 0.0515, "challenger_ratio": 0.0473},
    }
    fake_api.routes[f"abtests/{TEST_ID}/results/"] = results
    shown = texts(tab(app(), "A/B Tests"))
    for expected in ("CUPED on the ratio** (θ = 0.36, by the pre-period ratio): adjusted "
                     "effect -0.0031 ± 0.0013, unadjusted -0.0042 ± 0.0015; variance reduced "
                     "by 25.0%",
                     "Ratio metric** (delta method): champion 0.0515, challenger 0.0473 "
                     "unadjusted; CUPED-adjusted: champion 0.0312, challenger 0.0281"):
        assert expected in shown, expected


# -- the charts' specs (pure: history in, Vega-Lite out) ------------------------------------

def _history(*pairs, **extra):
    return [{"id": i, "created_at": "2026-11-27T10:00:00Z", "champion_n": 100 * i,
             "challenger_n": 100 * i, "p_value": p, "sequential_p": seq, "effect": 1.0,
             "ci_low": 0.5, "ci_high": 1.5, **extra} for i, (p, seq) in enumerate(pairs, 1)]


def test_the_evidence_chart_is_a_log_axis_with_the_alpha_line():
    import altair as alt

    from dashboard import charts

    chart = charts.evidence_chart(_history((0.3, 0.8), (0.0123, 0.2345)), 0.05)
    spec = chart.to_dict()
    y = spec["layer"][0]["encoding"]["y"]
    assert y["scale"]["type"] == "log" and 0.05 in y["axis"]["values"]
    assert y["axis"]["values"][0] == 0.01 and y["axis"]["values"][-1] == 1.0
    rule = spec["layer"][2]
    assert rule["mark"]["type"] == "rule" and isinstance(chart, alt.LayerChart)
    assert [v["alpha"] for v in spec["datasets"][rule["data"]["name"]]] == [0.05]
    assert spec["title"]["subtitle"] == []  # they differ, nothing to explain


def test_when_the_two_p_values_coincide_the_chart_says_so_and_draws_both():
    from dashboard import charts

    spec = charts.evidence_chart(_history((1.0, 1.0), (1.0, 1.0)), 0.05).to_dict()
    assert any("coincide at every look" in s for s in spec["title"]["subtitle"])
    points = spec["layer"][1]["encoding"]
    assert (points["size"]["value"], points["size"]["condition"]["value"]) == (260, 40)
    assert points["fill"]["value"] == "transparent"  # the sequential p: a ring round the dot
    assert spec["layer"][0]["encoding"]["color"]["legend"]["orient"] == "top"


def test_looks_that_share_a_timestamp_still_get_a_place_each():
    from dashboard import charts

    spec = charts.evidence_chart(_history((0.3, 0.8), (0.2, 0.6)), 0.05).to_dict()
    data = spec["datasets"][spec["layer"][0]["data"]["name"]]
    assert sorted({row["look"] for row in data}) == [1, 2]
    assert spec["layer"][0]["encoding"]["x"]["field"] == "look"


def test_nan_and_infinities_are_counted_in_a_note_and_never_break_the_chart():
    from dashboard import charts

    history = _history((float("nan"), "NaN"), (0.2, float("inf")), (0.1, 0.3))
    spec = charts.evidence_chart(history, 0.05).to_dict()
    assert "3 of 6 points are not finite (2 NaN, 1 +∞; not drawn)" in spec["title"]["subtitle"]
    data = spec["datasets"][spec["layer"][0]["data"]["name"]]
    assert len(data) == 3
    empty = charts.evidence_chart(_history(("NaN", "NaN")), 0.05).to_dict()
    assert "all 2 points are NaN (not drawn)" in empty["title"]["subtitle"]
    effect = charts.effect_chart(_history((0.1, 0.1), effect="-Infinity")).to_dict()
    assert "1 of 3 points is −∞ (not drawn)" in effect["title"]["subtitle"]


def test_the_effect_chart_titles_its_y_axis_once():
    from dashboard import charts

    spec = charts.effect_chart(_history((0.3, 0.8), (0.2, 0.6))).to_dict()
    titles = {layer["encoding"]["y"]["title"] for layer in spec["layer"]}
    assert titles == {"effect (challenger − champion)"}
