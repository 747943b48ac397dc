"""Experiments: runs, run comparison (differing params highlighted), metric curves from the
downsampled history endpoint, the best run by a chosen metric."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from axion_client import AxionAPIError
from dashboard import charts
from dashboard.api import Registry, guarded
from models_app.vocabulary import Direction

MAX_COMPARED = 10
CURVE_POINTS = 400


def render(api: Registry) -> None:
    experiments = api.experiments()
    if not experiments:
        st.info("No experiment yet. Log runs with axion_client.AxionClient.")
        return
    labels = {e["id"]: f"{e['name']} ({e.get('run_count', 0)} runs)" for e in experiments}
    experiment_id = st.selectbox("Experiment", list(labels), format_func=lambda key: labels[key],
                                 key="exp_experiment")
    if experiment_id is None:  # only for an empty list of options
        return
    runs = api.runs(experiment_id)
    if not runs:
        st.info("This experiment has no runs yet.")
        return
    names = {r["run_id"]: r.get("name") or r["run_id"][:8] for r in runs}
    st.subheader("Runs")
    st.dataframe(_runs_frame(runs), hide_index=True, width="stretch")
    metric_keys = sorted({k for r in runs for k in (r.get("metrics") or {})})
    with guarded(api):
        _best_run(api, experiment_id, metric_keys, names)
    chosen = st.multiselect("Runs to compare", list(names), format_func=lambda key: names[key],
                            default=list(names)[:MAX_COMPARED], max_selections=MAX_COMPARED,
                            key=f"exp_runs_{experiment_id}")
    if not chosen:
        st.caption("Choose runs to compare.")
        return
    with guarded(api):
        _comparison(api, chosen, names)
    with guarded(api):
        _curves(api, chosen, names, metric_keys, experiment_id)


def _runs_frame(runs: list[dict]) -> pd.DataFrame:
    rows = []
    for r in runs:
        row = {"run": r.get("name") or r["run_id"][:8], "status": r["status"],
               "user": r.get("user") or "", "started": (r.get("start_time") or "")[:19]
               .replace("T", " ")}
        row.update({f"param.{k}": v for k, v in sorted((r.get("params") or {}).items())})
        row.update({f"metric.{k}": v for k, v in sorted((r.get("metrics") or {}).items())})
        row["run_id"] = r["run_id"]
        rows.append(row)
    return pd.DataFrame(rows)


def _best_run(api: Registry, experiment_id: int, metric_keys: list[str],
              names: dict[str, str]) -> None:
    st.subheader("Best run")
    if not metric_keys:
        st.caption("No metrics logged yet.")
        return
    cols = st.columns([2, 1, 3])
    default = next((k for k in ("auc", "accuracy", "rmse") if k in metric_keys), metric_keys[0])
    metric = cols[0].selectbox("By metric", metric_keys, index=metric_keys.index(default),
                               key=f"exp_best_metric_{experiment_id}")
    direction = cols[1].radio("Direction", [d.extremum for d in Direction],
                              index=1 if charts.lower_is_better(metric) else 0,
                              key=f"exp_best_dir_{experiment_id}_{metric}")
    try:
        best = api.best_run(experiment_id, metric, direction)
    except AxionAPIError as exc:
        if exc.status != 404:
            raise
        cols[2].info(exc.message)
        return
    run = best["run"]
    inner = cols[2].columns(2)
    inner[0].metric(f"Best run by {metric} ({direction})",
                    names.get(run["run_id"], run["run_id"][:8]))
    inner[1].metric(metric, charts.number(best["value"]))
    cols[2].caption(f"run {run['run_id']}, best of {best.get('candidates', '?')} finished runs")


def _comparison(api: Registry, chosen: list[str], names: dict[str, str]) -> None:
    st.subheader("Compare runs")
    comparison = api.compare_runs(chosen)
    ordered = comparison["run_ids"]
    params = pd.DataFrame(
        {"param": key, "differs": "yes" if entry["differs"] else "",
         **{names.get(r, r[:8]): entry["values"].get(r) for r in ordered}}
        for key, entry in comparison["params"].items()
    )
    metrics = pd.DataFrame(
        {"metric": key, **{names.get(r, r[:8]): entry["values"].get(r) for r in ordered}}
        for key, entry in comparison["metrics"].items()
    )
    left, right = st.columns(2)
    left.markdown("**Params** (those that differ are highlighted)")
    if params.empty:
        left.caption("No params logged.")
    else:
        left.dataframe(charts.highlight_rows(params), hide_index=True, width="stretch")
    right.markdown("**Latest metrics**")
    right.dataframe(metrics, hide_index=True, width="stretch")


def _curves(api: Registry, chosen: list[str], names: dict[str, str], metric_keys: list[str],
            experiment_id: int) -> None:
    st.subheader("Metric curves")
    if not metric_keys:
        return
    default = "val_loss" if "val_loss" in metric_keys else metric_keys[0]
    key = st.selectbox("Metric", metric_keys, index=metric_keys.index(default),
                       key=f"exp_curve_metric_{experiment_id}")
    series = api.metric_histories(chosen, key, max_points=CURVE_POINTS)
    total = sum(s.get("total_points", 0) for s in series)
    shown = sum(s.get("returned_points", len(s["values"])) for s in series)
    st.altair_chart(charts.metric_curves_chart(series, names, key), width="stretch")
    st.caption(f"{shown:,} of {total:,} points (downsampled on the server to at most "
               f"{CURVE_POINTS} per run, keeping first, last, minimum and maximum)")
