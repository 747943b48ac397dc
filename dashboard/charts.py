"""Altair charts and small formatting helpers. Plain data in, charts out; no Streamlit."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import altair as alt
import pandas as pd

from models_app.vocabulary import Stage

# Streamlit badge colours (st.badge, :color-badge[...]) and table cell colours per stage.
STAGE_COLORS = {
    Stage.PRODUCTION: "green",
    Stage.STAGING: "orange",
    Stage.DRAFT: "gray",
    Stage.ARCHIVED: "violet",
    Stage.DEPRECATED: "red",
}


STAGE_CELLS = {
    Stage.PRODUCTION: "background-color: #d3f9d8; color: #1b5e20; font-weight: 600",
    Stage.STAGING: "background-color: #fff3bf; color: #7a5b00; font-weight: 600",
    Stage.DRAFT: "background-color: #f1f3f5; color: #495057",
    Stage.ARCHIVED: "background-color: #e5dbff; color: #4b2a86",
    Stage.DEPRECATED: "background-color: #ffe3e3; color: #a61e1e",
}
HIGHLIGHT = "background-color: #fff3b0"


def style_stages(frame: pd.DataFrame, column: str = "stage") -> Any:
    """The frame with its stage column coloured like a badge (a pandas Styler)."""
    return frame.style.map(lambda stage: STAGE_CELLS.get(stage, ""), subset=[column]).format(
        precision=4, na_rep="")


def highlight_rows(frame: pd.DataFrame, flag: str = "differs") -> Any:
    """The frame with the rows whose `flag` column is "yes" highlighted."""
    def style(row: pd.Series) -> list[str]:
        return [HIGHLIGHT if row.get(flag) == "yes" else ""] * len(row)

    return frame.style.apply(style, axis=1)


def number(value: Any, digits: int = 4) -> str:
    """A number for people: 4 significant digits, n/a for missing and NaN."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}g}"


def percent(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def lower_is_better(metric: str) -> bool:
    name = metric.lower()
    return any(word in name for word in ("loss", "rmse", "mse", "mae", "error", "brier"))


def versions_frame(versions: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per version: identity, stage, one column per metric, when and by whom."""
    versions = list(versions)
    metric_names = sorted({k for v in versions for k in (v.get("metrics") or {})})
    columns = ["model", "version", "stage", "framework", *metric_names, "created", "by"]
    rows = [
        {"model": v["model"], "version": v["version"], "stage": v["stage"],
         "framework": v["framework"], **(v.get("metrics") or {}),
         "created": v.get("created_at", "")[:19].replace("T", " "),
         "by": v.get("created_by") or ""}
        for v in versions
    ]
    return pd.DataFrame(rows, columns=columns)


def metrics_comparison_chart(comparison: Mapping[str, Any]) -> alt.Chart:
    """Grouped bars: each metric, one bar per version."""
    rows = [
        {"metric": metric, "version": version, "value": value}
        for metric, entry in comparison["metrics"].items()
        for version, value in entry["values"].items()
        if value is not None
    ]
    frame = pd.DataFrame(rows, columns=["metric", "version", "value"])
    return (
        alt.Chart(frame, title="Metrics by version")
        .mark_bar()
        .encode(
            x=alt.X("metric:N", title=None),
            xOffset="version:N",
            y=alt.Y("value:Q"),
            color=alt.Color("version:N"),
            tooltip=["metric", "version", alt.Tooltip("value:Q", format=".4g")],
        )
    )


def metric_curves_chart(series: Iterable[Mapping[str, Any]], names: Mapping[str, str],
                        key: str) -> alt.Chart:
    """One line per run: the metric's value by step."""
    rows = [
        {"run": names.get(s["run_id"], s["run_id"][:8]), "step": step, "value": value}
        for s in series
        for step, value in zip(s["steps"], s["values"], strict=False)
        if isinstance(value, (int, float)) and math.isfinite(value)
    ]
    frame = pd.DataFrame(rows, columns=["run", "step", "value"])
    return (
        alt.Chart(frame, title=f"{key} by step")
        .mark_line()
        .encode(x="step:Q", y=alt.Y("value:Q", title=key, scale=alt.Scale(zero=False)),
                color="run:N", tooltip=["run", "step", alt.Tooltip("value:Q", format=".4g")])
    )


def evidence_chart(history: Iterable[Mapping[str, Any]], alpha: float) -> alt.Chart:
    """The sequential p-value (always valid) and the look's p-value at each evaluation."""
    rows = []
    for snap in history:
        for label, field in (("sequential p", "sequential_p"), ("p-value", "p_value")):
            if snap.get(field) is not None:
                rows.append({"time": snap["created_at"], "series": label,
                             "value": snap[field],
                             "n": snap["champion_n"] + snap["challenger_n"]})
    frame = pd.DataFrame(rows, columns=["time", "series", "value", "n"])
    lines = (
        alt.Chart(frame, title="Evidence over time")
        .mark_line(point=True)
        .encode(x=alt.X("time:T", title=None, axis=alt.Axis(format="%H:%M")),
                y=alt.Y("value:Q", title="p", scale=alt.Scale(domain=[0, 1])),
                color=alt.Color("series:N", title=None),
                tooltip=["time:T", "series", alt.Tooltip("value:Q", format=".4f"), "n"])
    )
    threshold = (
        alt.Chart(pd.DataFrame({"alpha": [alpha]}))
        .mark_rule(strokeDash=[4, 4], color="red")
        .encode(y="alpha:Q")
    )
    return lines + threshold


def effect_chart(history: Iterable[Mapping[str, Any]]) -> alt.Chart:
    """The effect estimate with its confidence interval at each evaluation."""
    rows = [
        {"time": s["created_at"], "effect": s["effect"], "low": s.get("ci_low"),
         "high": s.get("ci_high")}
        for s in history
        if s.get("effect") is not None
    ]
    frame = pd.DataFrame(rows, columns=["time", "effect", "low", "high"])
    base = alt.Chart(frame, title="Effect (challenger − champion) with its CI")
    band = base.mark_area(opacity=0.25).encode(
        x=alt.X("time:T", title=None, axis=alt.Axis(format="%H:%M")), y="low:Q", y2="high:Q")
    bars = base.mark_rule(opacity=0.6).encode(x="time:T", y="low:Q", y2="high:Q")
    line = base.mark_line(point=True).encode(
        x="time:T", y=alt.Y("effect:Q", title="effect"),
        tooltip=["time:T", alt.Tooltip("effect:Q", format=".4g"),
                 alt.Tooltip("low:Q", format=".4g"), alt.Tooltip("high:Q", format=".4g")],
    )
    zero = alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(color="gray").encode(y="zero:Q")
    return band + bars + line + zero


def latency_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=["minute", "version", "count", "errors",
                                              "fallbacks", "p50_ms", "p95_ms", "p99_ms",
                                              "last_error"])
    frame["minute"] = pd.to_datetime(frame["minute"], utc=True)
    return frame


def latency_chart(frame: pd.DataFrame) -> alt.Chart:
    """p50, p95 and p99 per minute (one line each; dashed per version if several)."""
    long = frame.melt(id_vars=["minute", "version"], value_vars=["p50_ms", "p95_ms", "p99_ms"],
                      var_name="percentile", value_name="ms")
    long["percentile"] = long["percentile"].str.replace("_ms", "", regex=False)
    return (
        alt.Chart(long, title="Latency per minute (ms)")
        .mark_line(point=True)
        .encode(x=alt.X("minute:T", title=None, axis=alt.Axis(format="%H:%M")),
                y=alt.Y("ms:Q", title="ms (log scale)", scale=alt.Scale(type="symlog")),
                color=alt.Color("percentile:N", sort=["p50", "p95", "p99"]),
                strokeDash="version:N",
                tooltip=["minute:T", "version", "percentile", alt.Tooltip("ms:Q", format=".3g")])
    )


def rates_chart(frame: pd.DataFrame) -> alt.Chart:
    """Error and fallback rates per minute, all versions together."""
    per_minute = frame.groupby("minute", as_index=False)[["count", "errors", "fallbacks"]].sum()
    counts = per_minute["count"].where(per_minute["count"] > 0)
    per_minute["error rate"] = (per_minute["errors"] / counts).fillna(0.0)
    per_minute["fallback rate"] = (per_minute["fallbacks"] / counts).fillna(0.0)
    long = per_minute.melt(id_vars=["minute", "count"],
                           value_vars=["error rate", "fallback rate"], var_name="rate",
                           value_name="value")
    return (
        alt.Chart(long, title="Error and fallback rates per minute")
        .mark_line(point=True)
        .encode(x=alt.X("minute:T", title=None, axis=alt.Axis(format="%H:%M")),
                y=alt.Y("value:Q", title="share of requests", axis=alt.Axis(format=".1%"),
                        scale=alt.Scale(domain=[0, max(0.05, float(long["value"].max()))])),
                color=alt.Color("rate:N", scale=alt.Scale(range=["#d62728", "#ff7f0e"])),
                tooltip=["minute:T", "rate", alt.Tooltip("value:Q", format=".2%"), "count"])
    )
