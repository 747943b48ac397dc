"""Experiments: runs (linked to their pages), the best run by a chosen metric, run
comparison (differing params highlighted), several metrics on one chart from the downsampled
history endpoint, params against a metric (scatter, parallel coordinates) and runs compared
across experiments. Opens on the newest experiment that has runs."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from axion_client import AxionAPIError
from dashboard import charts, links, tables
from dashboard import experiment_charts as xc
from dashboard.api import Registry, guarded
from models_app.vocabulary import Direction

MAX_COMPARED = 10
CURVE_POINTS = 400


def render(api: Registry) -> None:
    experiments = sorted(api.experiments(), key=lambda e: e.get("created_at") or "",
                         reverse=True)
    if not experiments:
        st.info("No experiment yet. Log runs with axion_client.AxionClient.")
        return
    labels = {e["id"]: f"{e['name']} ({e.get('run_count', 0)} runs)" for e in experiments}
    with_runs = [e["id"] for e in experiments if e.get("run_count")]
    first = list(labels).index(with_runs[0]) if with_runs else 0  # newest with runs
    experiment_id = st.selectbox("Experiment", list(labels), format_func=lambda key: labels[key],
                                 index=first, key="exp_experiment")
    if experiment_id is None:  # only for an empty list of options
        return
    st.markdown(links.anchor("Open this experiment's page", links.experiment_url(experiment_id)),
                unsafe_allow_html=True)
    render_experiment(api, experiment_id)
    with guarded(api):
        _across(api, experiments, with_runs)


def render_experiment(api: Registry, experiment_id: int) -> None:
    """Runs, best run, comparison, metric curves and params against a metric (the tab and
    the experiment page)."""
    runs = api.runs(experiment_id)
    if not runs:
        st.info("This experiment has no runs yet.")
        return
    names = {r["run_id"]: xc.run_name(r) for r in runs}
    st.subheader("Runs")
    runs_table(runs)
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
    with guarded(api):
        _params_against_metric([r for r in runs if r["run_id"] in chosen], metric_keys,
                               experiment_id)


def runs_table(runs: list[dict], *, experiment: bool = False) -> None:
    """The runs with a link to each run's page; wide columns so names are not cut off."""
    frame = xc.runs_frame(runs, experiment=experiment)
    frame.insert(0, "page", [links.run_url(r) for r in frame["run_id"]])
    config = {column: st.column_config.Column(width="medium") for column in frame.columns}
    config["page"] = st.column_config.LinkColumn("page", display_text="open", width="small")
    config["run"] = st.column_config.Column("run", width="large")
    tables.show(frame, hide_index=True, width="stretch", column_config=config)


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
    name = names.get(run["run_id"], run["run_id"][:8])
    inner[0].markdown(f"Best run by {metric} ({direction})<br>**"
                      f"{links.anchor(name, links.run_url(run['run_id']))}**",
                      unsafe_allow_html=True)
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
        {"metric": key, **{names.get(r, r[:8]): xc.shown(entry["values"].get(r)) for r in ordered}}
        for key, entry in comparison["metrics"].items()
    )
    metrics = metrics.apply(lambda c: c if c.name == "metric" else c.map(xc.cell))
    left, right = st.columns(2)
    left.markdown("**Params** (those that differ are highlighted)")
    if params.empty:
        left.caption("No params logged.")
    else:
        tables.show(charts.highlight_rows(params), on=left, hide_index=True, width="stretch")
    right.markdown("**Latest metrics**")
    tables.show(metrics, on=right, hide_index=True, width="stretch")


def _curves(api: Registry, chosen: list[str], names: dict[str, str], metric_keys: list[str],
            experiment_id: int) -> None:
    st.subheader("Metric curves")
    if not metric_keys:
        st.caption("No metrics logged yet.")
        return
    default = [k for k in metric_keys if "loss" in k] or metric_keys[:1]
    keys = st.multiselect("Metrics (on one chart)", metric_keys, default=default,
                          key=f"exp_curve_metrics_{experiment_id}")
    if not keys:
        st.caption("Choose one or more metrics.")
        return
    series = {key: api.metric_histories(chosen, key, max_points=CURVE_POINTS) for key in keys}
    metric_chart(series, names)
    total = sum(s.get("total_points", 0) for group in series.values() for s in group)
    shown = sum(s.get("returned_points", len(s["values"])) for group in series.values()
                for s in group)
    st.caption(f"{shown:,} of {total:,} points (downsampled on the server to at most "
               f"{CURVE_POINTS} per run, keeping first, last, minimum and maximum)")


def metric_chart(series: dict[str, list[dict]], names: dict[str, str]) -> None:
    """The metrics that have a finite point on one chart; the all-NaN ones named instead."""
    drawable, empty = xc.finite_keys(series)
    for key in empty:
        st.info(f"{key}: every point of the chosen runs is NaN or infinite; nothing to draw.")
    if drawable:
        st.altair_chart(xc.metrics_chart({k: series[k] for k in drawable}, names),
                        width="stretch")


def _params_against_metric(runs: list[dict], metric_keys: list[str],
                           experiment_id: int) -> None:
    st.subheader("Params against a metric")
    param_keys = sorted({k for r in runs for k in (r.get("params") or {})})
    if not metric_keys or not param_keys:
        st.caption("Needs runs with both params and metrics.")
        return
    cols = st.columns([1, 3])
    default = next((k for k in ("auc", "accuracy", "val_loss") if k in metric_keys),
                   metric_keys[0])
    metric = cols[0].selectbox("Metric", metric_keys, index=metric_keys.index(default),
                               key=f"exp_pm_metric_{experiment_id}")
    params = cols[1].multiselect("Params", param_keys, default=param_keys[:4],
                                 key=f"exp_pm_params_{experiment_id}")
    if not params:
        st.caption("Choose params.")
        return
    if xc.params_frame(runs, params, metric).empty:
        st.info(f"No chosen run has a finite value of {metric}; nothing to draw.")
        return
    left, right = st.columns(2)
    left.altair_chart(xc.scatter_chart(runs, params[0], metric), width="stretch")
    right.altair_chart(xc.parallel_chart(runs, params, metric), width="stretch")


def _across(api: Registry, experiments: list[dict], with_runs: list[int]) -> None:
    st.subheader("Runs across experiments")
    names = {e["id"]: e["name"] for e in experiments}
    chosen = st.multiselect("Experiments", list(names), format_func=lambda key: names[key],
                            default=with_runs[:3], key="exp_across")
    if not chosen:
        st.caption("Choose experiments.")
        return
    runs = api.runs_of(chosen)
    metric_keys = sorted({k for r in runs for k in (r.get("metrics") or {})})
    if not runs or not metric_keys:
        st.caption("No runs with metrics in these experiments.")
        return
    default = next((k for k in ("auc", "accuracy", "val_loss") if k in metric_keys),
                   metric_keys[0])
    metric = st.selectbox("Metric", metric_keys, index=metric_keys.index(default),
                          key="exp_across_metric")
    if not any(xc.finite((r.get("metrics") or {}).get(metric)) for r in runs):
        st.info(f"No run of these experiments has a finite value of {metric}.")
    else:
        st.altair_chart(xc.across_chart(runs, metric), width="stretch")
    runs_table(runs, experiment=True)
