"""A/B tests: per arm n and mean, the effect with its CI, p-values and the sequential
evidence over time, SRM, progress toward the planned sample size, the decision; CUPED,
ratio-metric and Bayesian read-outs where a test has them."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from abtest_app.vocabulary import Arm, Decision, TestState
from dashboard import charts, links, tables
from dashboard.api import Registry

STATE_COLORS = {TestState.RUNNING: "green", TestState.PAUSED: "orange", TestState.DRAFT: "gray",
                TestState.CONCLUDED: "blue", TestState.CANCELLED: "red"}
DECISIONS = {
    Decision.CHALLENGER_WINS: "The challenger wins",
    Decision.CHAMPION_WINS: "The champion wins",
    Decision.NO_DECISION: "No decision yet",
    Decision.INCONCLUSIVE: "Inconclusive",
    "": "No decision yet",
}


def render(api: Registry) -> None:
    tests = api.abtests()
    if not tests:
        st.info("No A/B test yet. Create one with POST /api/v1/abtests/.")
        return
    order = {TestState.RUNNING: 0, TestState.PAUSED: 1, TestState.DRAFT: 2, TestState.CONCLUDED: 3,
             TestState.CANCELLED: 4}
    tests = sorted(tests, key=lambda t: (order.get(t["state"], 9), -t["id"]))
    tables.show(pd.DataFrame([{
        "id": t["id"], "name": t["name"], "model": t["model"],
        "champion": t["champion"], "challenger": t["challenger"], "state": t["state"],
        "decision": t.get("decision") or "", "metric": t["metric_name"],
        "started": (t.get("started_at") or "")[:19].replace("T", " "),
        "ended": (t.get("ended_at") or "")[:19].replace("T", " "),
    } for t in tests]), hide_index=True, width="stretch")
    labels = {t["id"]: f"#{t['id']} {t['name']} ({t['state']})" for t in tests}
    test_id = st.selectbox("Test", list(labels), format_func=lambda key: labels[key],
                           key="ab_test")
    if test_id is None:  # only for an empty list of options
        return
    st.markdown(links.anchor(f"Permalink to test #{test_id}", links.abtest_url(test_id)),
                unsafe_allow_html=True)
    _results(api.abtest_results(test_id))


def _results(results: dict, *, heading: bool = True) -> None:
    test = results["test"]
    current = results.get("evaluation")
    if heading:
        color = STATE_COLORS.get(test["state"], "gray")
        st.markdown(f"### {test['name']} :{color}-badge[{test['state']}]")
    st.caption(f"{test['model']}: champion {test['champion']} vs challenger "
               f"{test['challenger']} ({test['challenger_share']:g}% of "
               f"{test['assignment_unit']}s) · metric {test['metric_name']} "
               f"({test['metric_type']}, {test['metric_direction']} is better) · "
               f"{test['method']} at alpha {test['alpha']:g}")
    if current is None:
        st.info("No evaluation yet: the test has not collected outcomes.")
        return
    _decision(test, current)
    arms = (results.get("arms") or {}).get("primary", {})
    cols = st.columns(4)
    for col, arm in zip(cols[:2], (Arm.CHAMPION, Arm.CHALLENGER), strict=True):
        stats = arms.get(arm) or {}
        version = test[arm]
        col.metric(f"{arm.title()} {version}: n", charts.number(stats.get("n", 0)))
        col.metric(f"{arm.title()} {version}: mean", charts.number(stats.get("mean")))
    cols[2].metric("Effect (challenger − champion)", charts.number(current.get("effect")))
    cols[2].caption(f"{100 * (1 - test['alpha']):g}% CI [{charts.number(current.get('ci_low'))}, "
                    f"{charts.number(current.get('ci_high'))}]")
    if current.get("relative_lift") is not None:
        cols[2].caption(f"relative lift {charts.percent(current['relative_lift'])} "
                        f"[{charts.percent(current.get('relative_ci_low'))}, "
                        f"{charts.percent(current.get('relative_ci_high'))}]")
    cols[3].metric("p-value", charts.number(current.get("p_value")))
    cols[3].metric("Sequential p (always valid)", charts.number(current.get("sequential_p")))
    details = current.get("details") or {}
    _adjustment(details, current)
    _bayesian(details)
    _srm(current)
    _progress(test, current)
    history = results.get("history") or []
    if history:
        left, right = st.columns(2)
        left.altair_chart(charts.evidence_chart(history, test["alpha"]), width="stretch")
        right.altair_chart(charts.effect_chart(history), width="stretch")
        looks = f"{len(history)} evaluation{'s' if len(history) != 1 else ''}"
        st.caption(f"{looks} so far (Celery beat evaluates running tests periodically).")
    guardrails = current.get("guardrails") or []
    if guardrails:
        st.markdown("**Guardrails**")
        tables.show(pd.DataFrame(guardrails), hide_index=True)


def _decision(test: dict, current: dict) -> None:
    decision = test.get("decision") or current.get("decision") or ""
    reasons = test.get("conclusion_reason") or " ".join(current.get("reasons") or [])
    text = f"**Decision: {DECISIONS.get(decision, decision)}.** {reasons}"
    if decision == Decision.CHALLENGER_WINS:
        st.success(text)
    elif decision == Decision.CHAMPION_WINS:
        st.warning(text)
    else:
        st.info(text)
    if test.get("promotion_status"):
        st.caption(f"Promotion: {test['promotion_status']}. {test.get('promotion_message', '')}")


def _adjustment(details: dict, current: dict) -> None:
    cuped, ratio = details.get("cuped"), details.get("ratio")
    on_ratio = details.get("analysis") == "ratio_cuped"  # CUPED on a ratio metric
    if cuped:
        st.markdown(
            f"**{'CUPED on the ratio' if on_ratio else 'CUPED'}** "
            f"(θ = {charts.number(cuped.get('theta'))}"
            f"{', by the pre-period ratio' if on_ratio else ''}): adjusted effect "
            f"{charts.number(cuped.get('adjusted_effect'))} ± "
            f"{charts.number(cuped.get('adjusted_std_error'))}, unadjusted "
            f"{charts.number(cuped.get('unadjusted_effect'))} ± "
            f"{charts.number(cuped.get('unadjusted_std_error'))}; variance reduced by "
            f"{charts.percent(cuped.get('variance_reduction'))}")
    if ratio:
        text = (f"**Ratio metric** (delta method): champion "
                f"{charts.number(ratio.get('champion_ratio'))}, challenger "
                f"{charts.number(ratio.get('challenger_ratio'))}")
        if on_ratio:
            text += (f" unadjusted; CUPED-adjusted: champion "
                     f"{charts.number(current.get('champion_mean'))}, challenger "
                     f"{charts.number(current.get('challenger_mean'))}")
        st.markdown(text)


def _bayesian(details: dict) -> None:
    bayes = details.get("bayesian")
    if not bayes:
        return
    prior = (f"prior N({charts.number(bayes.get('prior_mean'))}, "
             f"{charts.number(bayes.get('prior_variance'))})" if bayes.get("prior_proper")
             else "flat prior")
    st.markdown(
        f"**Bayesian** ({bayes.get('scale')} effect, {prior}): chance to win "
        f"{charts.percent(bayes.get('chance_to_win'))}; expected loss of shipping the "
        f"challenger {charts.number(bayes.get('loss_challenger'))}, of keeping the champion "
        f"{charts.number(bayes.get('loss_champion'))}; credible interval "
        f"[{charts.number(bayes.get('ci_low'))}, {charts.number(bayes.get('ci_high'))}]")


def _srm(current: dict) -> None:
    srm_p = current.get("srm_p")
    if current.get("srm_mismatch"):
        st.error(f"Sample ratio mismatch (SRM p = {charts.number(srm_p)}): the arms' sizes do "
                 "not match the planned split; the assignment or logging is broken, so the "
                 "result cannot be trusted.")
    else:
        st.success(f"Sample ratio OK (SRM p = {charts.number(srm_p)}).")


def _progress(test: dict, current: dict) -> None:
    smaller = min(current.get("champion_n") or 0, current.get("challenger_n") or 0)
    planned = max(1, int(test.get("planned_samples_per_arm") or 1))
    minimum = int(test.get("min_samples_per_arm") or 0)
    fraction = min(1.0, smaller / planned)
    st.progress(fraction, text=f"Sample size: {smaller:,} of {planned:,} planned per arm "
                f"({fraction:.0%}; at least {minimum:,} per arm before any decision)")


show_results = _results  # also the A/B test page (dashboard/pages_/abtest.py)
