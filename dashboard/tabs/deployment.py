"""Deployment: what each model serves, warm-up results, latency percentiles over time,
error and fallback rates, recent fallbacks and rollbacks."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, tables
from dashboard.api import Registry, guarded

WINDOWS = {"15 minutes": 15, "1 hour": 60, "6 hours": 360, "24 hours": 1440}


def render(api: Registry) -> None:
    models = api.models()
    if not models:
        st.info("No model is registered yet.")
        return
    st.subheader("In production")
    rows = []
    for model in models:
        status = api.serving_status(model["name"])
        warmup = status.get("warmup") or {}
        rows.append({
            "model": model["name"],
            "production": status.get("production_version") or "—",
            "fallback": status.get("fallback_version") or "—",
            "warm-up": warmup.get("warmup_status") or "—",
            "load ms": warmup.get("load_ms"),
            "first predict ms": warmup.get("predict_ms"),
            "deployed": (warmup.get("created_at") or "")[:19].replace("T", " "),
            "warm-up error": warmup.get("error") or "",
        })
    frame = charts.as_numbers(pd.DataFrame(rows), "load ms", "first predict ms")
    tables.show(charts.style_status(frame, "warm-up").format(
        {"load ms": "{:.1f}", "first predict ms": "{:.1f}"}), hide_index=True, width="stretch")
    with guarded(api):
        _latency(api, [m["name"] for m in models])
    with guarded(api):
        _events(api)


def _latency(api: Registry, names: list[str]) -> None:
    st.subheader("Serving health")
    cols = st.columns([2, 2, 6])
    model = cols[0].selectbox("Model", names, key="dep_model")
    window = cols[1].selectbox("Window", list(WINDOWS), index=1, key="dep_window")
    frame = charts.latency_frame(api.latency(model, WINDOWS[window]))
    if frame.empty:
        st.info(f"No predictions of {model} in the last {window}.")
        return
    total = int(frame["count"].sum())
    errors = int(frame["errors"].sum())
    fallbacks = int(frame["fallbacks"].sum())
    latest = frame.sort_values("minute").groupby("version").tail(1)
    metrics = st.columns(5)
    metrics[0].metric("Requests", f"{total:,}")
    metrics[1].metric("Error rate", charts.percent(errors / total if total else None, 2))
    metrics[2].metric("Fallback rate", charts.percent(fallbacks / total if total else None, 2))
    metrics[3].metric("p95 (last minute)", f"{latest['p95_ms'].max():.1f} ms")
    metrics[4].metric("p99 (last minute)", f"{latest['p99_ms'].max():.1f} ms")
    st.altair_chart(charts.latency_chart(frame), width="stretch")
    for column, chart in zip(st.columns(2), charts.rates_charts(frame), strict=True):
        column.altair_chart(chart, width="stretch")
    failing = frame[frame["last_error"].astype(bool)]
    if not failing.empty:
        last = failing.sort_values("minute").iloc[-1]
        st.warning(f"Last error ({last['version']}, {last['minute']:%H:%M} UTC): "
                   f"{last['last_error']}")


def _events(api: Registry) -> None:
    st.subheader("Recent fallbacks and rollbacks")
    events = api.deployments(kinds=["fallback", "rollback"])
    if not events:
        st.success("No fallback and no rollback recorded.")
        return
    tables.show(pd.DataFrame([{
        "when": e["created_at"][:19].replace("T", " "), "model": e["model"], "kind": e["kind"],
        "version": e["version"], "previous / served by": e.get("previous_version")
        or e.get("served_by") or "", "requests": e.get("count") or "",
        "source": e.get("source", ""), "reason or error": e.get("reason") or e.get("error", ""),
    } for e in events]), hide_index=True, width="stretch")
