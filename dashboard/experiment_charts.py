"""Charts and tables of runs (the Experiments tab and the run / experiment pages): pure
functions from API answers to Altair specs and pandas frames, no Streamlit calls.

Non-finite metric values (NaN, +/-inf) are shown as such in tables and left out of charts;
a series with no finite value is reported by `finite_keys`, never drawn as an empty chart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

LABELS = alt.Axis(labelLimit=0, titleLimit=0)
LEGEND = alt.Legend(labelLimit=0, titleLimit=0, orient="bottom", columns=4)


def finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def shown(value: Any) -> Any:
    """A cell value for a table: NaN and infinities spelled out (st.dataframe shows a NaN
    float as 'None'), numbers kept as numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def run_name(run: Mapping[str, Any]) -> str:
    return run.get("name") or run["run_id"][:8]


def runs_frame(runs: Iterable[Mapping[str, Any]], *, experiment: bool = False) -> pd.DataFrame:
    """One row per run: name, status, user, start, params, latest metrics (NaN as 'NaN')."""
    rows = []
    for r in runs:
        row: dict[str, Any] = {"run": run_name(r)}
        if experiment:
            row["experiment"] = r.get("experiment") or r.get("experiment_id")
        row.update({"status": r["status"], "user": r.get("user") or "",
                    "started": (r.get("start_time") or "")[:19].replace("T", " ")})
        row.update({f"param.{k}": v for k, v in sorted((r.get("params") or {}).items())})
        row.update({f"metric.{k}": shown(v) for k, v in sorted((r.get("metrics") or {}).items())})
        row["run_id"] = r["run_id"]
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        if column.startswith("metric."):
            frame[column] = frame[column].map(cell)
    return frame


def cell(value: Any) -> str:
    """A metric cell as text, so NaN and infinities read as such (Arrow takes one type per
    column, and st.dataframe shows a missing float as 'None'): the spelled-out value,
    6 significant digits, or blank where the run has none."""
    if isinstance(value, str):
        return value
    return "" if value is None or math.isnan(value) else f"{value:.6g}"


def finite_keys(series_by_key: Mapping[str, Iterable[Mapping[str, Any]]]) -> tuple[
        list[str], list[str]]:
    """(keys with at least one finite point, keys with none) among the series."""
    drawable: list[str] = []
    empty: list[str] = []
    for key, series in series_by_key.items():
        has = any(finite(v) for s in series for v in s["values"])
        (drawable if has else empty).append(key)
    return drawable, empty


def metrics_frame(series_by_key: Mapping[str, Iterable[Mapping[str, Any]]],
                  names: Mapping[str, str]) -> pd.DataFrame:
    """Long frame (run, metric, step, value) of the finite points of every series."""
    rows = [
        {"run": names.get(s["run_id"], s["run_id"][:8]), "metric": key, "step": step,
         "value": value}
        for key, series in series_by_key.items()
        for s in series
        for step, value in zip(s["steps"], s["values"], strict=False)
        if finite(value)
    ]
    return pd.DataFrame(rows, columns=["run", "metric", "step", "value"])


def metrics_chart(series_by_key: Mapping[str, Iterable[Mapping[str, Any]]],
                  names: Mapping[str, str]) -> alt.Chart:
    """Several metrics on one chart: colour by metric, dash by run (train and validation
    loss of the same runs together)."""
    frame = metrics_frame(series_by_key, names)
    keys = list(series_by_key)
    title = " and ".join(keys) + " by step" if len(keys) <= 3 else f"{len(keys)} metrics by step"
    encoding: dict[str, Any] = {
        "x": alt.X("step:Q", axis=LABELS),
        "y": alt.Y("value:Q", title="value", scale=alt.Scale(zero=False), axis=LABELS),
        "color": alt.Color("metric:N", legend=LEGEND, scale=alt.Scale(scheme="tableau10")),
        "detail": "run:N",
        "tooltip": ["metric", "run", "step", alt.Tooltip("value:Q", format=".4g")],
    }
    if frame["run"].nunique() > 1:
        encoding["strokeDash"] = alt.StrokeDash("run:N", legend=LEGEND)
    return alt.Chart(frame, title=title).mark_line(point=len(frame) <= 60).encode(**encoding)


def _numeric(values: Sequence[Any]) -> bool:
    try:
        [float(v) for v in values]
    except (TypeError, ValueError):
        return False
    return True


def params_frame(runs: Iterable[Mapping[str, Any]], params: Sequence[str],
                 metric: str) -> pd.DataFrame:
    """One row per run with a finite value of `metric`: run, each param, the metric."""
    rows = []
    for r in runs:
        value = (r.get("metrics") or {}).get(metric)
        if not finite(value):
            continue
        row = {"run": run_name(r), **{p: (r.get("params") or {}).get(p) for p in params}}
        row[metric] = value
        rows.append(row)
    return pd.DataFrame(rows, columns=["run", *params, metric])


def scatter_chart(runs: Iterable[Mapping[str, Any]], param: str, metric: str) -> alt.Chart:
    """A param against a metric, one point per run (a numeric param on a numeric axis)."""
    frame = params_frame(runs, [param], metric)
    numeric = not frame.empty and _numeric(frame[param].dropna().tolist())
    if numeric:
        frame[param] = frame[param].astype(float)
    x = alt.X(f"{param}:{'Q' if numeric else 'N'}", title=param, axis=LABELS,
              scale=alt.Scale(zero=False) if numeric else alt.Undefined)
    return (
        alt.Chart(frame, title=f"{metric} against {param}")
        .mark_circle(size=90, opacity=0.8)
        .encode(x=x, y=alt.Y(f"{metric}:Q", title=metric, scale=alt.Scale(zero=False),
                             axis=LABELS),
                tooltip=["run", param, alt.Tooltip(f"{metric}:Q", format=".4g")])
    )


def parallel_frame(runs: Iterable[Mapping[str, Any]], params: Sequence[str],
                   metric: str) -> pd.DataFrame:
    """Long frame (run, axis, position 0..1, label, metric) for parallel coordinates: each
    axis scaled to its own range; a non-numeric param's values spread evenly in sort order."""
    frame = params_frame(runs, params, metric)
    rows = []
    for axis in [*params, metric]:
        column = frame[axis]
        if _numeric(column.dropna().tolist()):
            values = column.astype(float)
            low, high = values.min(), values.max()
            position = (values - low) / (high - low) if high > low else values * 0 + 0.5
        else:
            order = sorted(column.astype(str).unique())
            step = max(1, len(order) - 1)
            position = column.astype(str).map(lambda v, o=order, s=step: o.index(v) / s)
        for run, pos, label, score in zip(frame["run"], position, column, frame[metric],
                                          strict=True):
            rows.append({"run": run, "axis": axis, "position": float(pos), "label": str(label),
                         "metric": score})
    return pd.DataFrame(rows, columns=["run", "axis", "position", "label", "metric"])


def parallel_chart(runs: Iterable[Mapping[str, Any]], params: Sequence[str],
                   metric: str) -> alt.Chart:
    """Parallel coordinates: one line per run across the params and the metric, coloured by
    the metric; each axis spans its own range (the tooltip gives the value)."""
    frame = parallel_frame(runs, params, metric)
    order = [*params, metric]
    return (
        alt.Chart(frame, title=f"Params against {metric} (each axis scaled to its range)")
        .mark_line(point=True, opacity=0.8)
        .encode(
            x=alt.X("axis:N", sort=order, title=None, axis=alt.Axis(labelAngle=0,
                                                                   labelLimit=0)),
            y=alt.Y("position:Q", axis=None, scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("metric:Q", title=metric, scale=alt.Scale(scheme="viridis")),
            detail="run:N",
            tooltip=["run", "axis", "label", alt.Tooltip("metric:Q", format=".4g",
                                                         title=metric)],
        )
    )


def across_chart(runs: Iterable[Mapping[str, Any]], metric: str) -> alt.Chart:
    """Runs of several experiments on one metric: one point per run, a row per experiment."""
    rows = [{"experiment": str(r.get("experiment") or r.get("experiment_id")),
             "run": run_name(r), "value": (r.get("metrics") or {}).get(metric)}
            for r in runs if finite((r.get("metrics") or {}).get(metric))]
    frame = pd.DataFrame(rows, columns=["experiment", "run", "value"])
    return (
        alt.Chart(frame, title=f"{metric} of each run, by experiment")
        .mark_circle(size=90, opacity=0.8)
        .encode(x=alt.X("value:Q", title=metric, scale=alt.Scale(zero=False), axis=LABELS),
                y=alt.Y("experiment:N", title=None, axis=LABELS),
                color=alt.Color("experiment:N", legend=None),
                tooltip=["experiment", "run", alt.Tooltip("value:Q", format=".4g")])
    )
