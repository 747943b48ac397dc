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
# Load checks and warm-ups: the colour says it, so the cell needs no emoji (headless
# browsers without an emoji font draw those as boxes).
STATUS_CELLS = {
    "passed": STAGE_CELLS[Stage.PRODUCTION], "ok": STAGE_CELLS[Stage.PRODUCTION],
    "failed": STAGE_CELLS[Stage.DEPRECATED] + "; font-weight: 600",
    "pending": STAGE_CELLS[Stage.STAGING],
}
HIGHLIGHT = "background-color: #fff3b0"


def style_stages(frame: pd.DataFrame, column: str = "stage") -> Any:
    """The frame with its stage column coloured like a badge (a pandas Styler)."""
    return frame.style.map(lambda stage: STAGE_CELLS.get(stage, ""), subset=[column]).format(
        precision=4)


def as_numbers(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """`frame` with these columns as floats: anything missing or not a number is NaN."""
    for column in columns:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def style_status(frame: pd.DataFrame, column: str) -> Any:
    """The frame with a load-check or warm-up status column coloured (a pandas Styler)."""
    return frame.style.map(lambda status: STATUS_CELLS.get(status, ""), subset=[column]).format(
        precision=4)


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


def _as_float(value: Any) -> float | None:
    """The value as a float, NaN and ±∞ included (also spelled as JSON strings: "NaN",
    "Infinity"); None for missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def finite(value: Any) -> float | None:
    """The value as a float when it is a finite number; None for missing, NaN, ±∞."""
    number = _as_float(value)
    return number if number is not None and math.isfinite(number) else None


def _invalid_kind(value: Any) -> str | None:
    """"NaN", "+∞" or "−∞" for a value that is one of them; None otherwise."""
    number = _as_float(value)
    if number is None:
        return None
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+∞" if number > 0 else "−∞"
    return None


def invalid_note(values: Iterable[Any]) -> str:
    """A sentence for the points a chart cannot draw: "2 of 5 points are NaN, 1 is +∞
    (not drawn)"; "" when every point is finite or missing."""
    values = list(values)
    counts: dict[str, int] = {}
    for value in values:
        kind = _invalid_kind(value)
        if kind:
            counts[kind] = counts.get(kind, 0) + 1
    if not counts:
        return ""
    total = sum(counts.values())
    if len(values) == 1:
        head = "the only point"
    elif total == len(values):
        head = f"all {total} points"
    else:
        head = f"{total} of {len(values)} points"
    if len(counts) == 1:
        kind = next(iter(counts))
        verb = "is" if head == "the only point" or total == 1 else "are"
        return f"{head} {verb} {kind} (not drawn)"
    kinds = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    verb = "is" if total == 1 else "are"
    return f"{head} {verb} not finite ({kinds}; not drawn)"


AnyChart = alt.LayerChart | alt.FacetChart  # what .properties() of a layer may return

# A categorical palette with distinct hues (Streamlit's theme shades one blue otherwise).
VERSION_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                   "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _title(text: str, notes: Iterable[str] = ()) -> alt.TitleParams:
    subtitle = [note for note in notes if note]
    return alt.TitleParams(text, subtitle=subtitle, subtitleColor="#a61e1e", anchor="start")


def versions_frame(versions: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per version of one model: stage, one column per metric this model's versions
    have (no other model's), when and by whom."""
    versions = list(versions)
    metric_names = sorted({k for v in versions for k in (v.get("metrics") or {})})
    columns = ["version", "stage", "framework", *metric_names, "created", "by"]
    rows = [
        {"version": v["version"], "stage": v["stage"], "framework": v["framework"],
         **{name: finite((v.get("metrics") or {}).get(name)) for name in metric_names},
         "created": v.get("created_at", "")[:19].replace("T", " "),
         "by": v.get("created_by") or ""}
        for v in versions
    ]
    return pd.DataFrame(rows, columns=columns)


def search_frame(versions: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Versions of several models: each version's own metrics in one text column, so no
    cell stands for another model's metric."""
    rows = [
        {"model": v["model"], "version": v["version"], "stage": v["stage"],
         "framework": v["framework"],
         "metrics": ", ".join(f"{k} {number(val) if finite(val) is not None else val}"
                              for k, val in sorted((v.get("metrics") or {}).items())),
         "created": v.get("created_at", "")[:19].replace("T", " "),
         "by": v.get("created_by") or ""}
        for v in versions
    ]
    return pd.DataFrame(rows, columns=["model", "version", "stage", "framework", "metrics",
                                       "created", "by"])


def metrics_comparison_chart(comparison: Mapping[str, Any]) -> alt.FacetChart:
    """Small multiples: one panel per metric on its own y scale, a dot per version (the
    version's colour as in the legend), the best one by the metric's direction ringed."""
    rows, raw = [], []
    for metric, entry in comparison["metrics"].items():
        direction = entry.get("direction") or "higher"
        for version, value in entry["values"].items():
            raw.append(value)
            if finite(value) is not None:
                rows.append({"metric": f"{metric} ({direction} is better)", "version": version,
                             "value": finite(value),
                             "best": "best" if entry.get("best") == version else ""})
    frame = pd.DataFrame(rows, columns=["metric", "version", "value", "best"])
    order = list(comparison.get("versions") or sorted(set(frame["version"])))
    base = alt.Chart(frame).encode(
        x=alt.X("version:N", title=None, sort=order, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False, nice=True)),
        color=alt.Color("version:N", sort=order, title="version",
                        scale=alt.Scale(domain=order, range=VERSION_PALETTE[:len(order)])),
        tooltip=["metric", "version", alt.Tooltip("value:Q", format=".4g"), "best"],
    )
    dots = base.mark_point(filled=True, size=140, opacity=1)
    labels = base.mark_text(dy=-14, fontSize=12).encode(
        text=alt.Text("value:Q", format=".4g"), color=alt.value("#333"))
    best = base.transform_filter(alt.datum.best == "best").mark_point(
        size=420, strokeWidth=2.5, filled=False).encode(color=alt.value("#2b8a3e"))
    return (
        alt.layer(dots, labels, best)
        .properties(width=170, height=170)
        .facet(facet=alt.Facet("metric:N", title=None, header=alt.Header(labelFontSize=13,
                                                                          labelFontWeight="bold")),
               columns=4, title=_title("Metrics by version (each metric on its own scale; "
                                       "the best version ringed in green)",
                                       [invalid_note(raw)]))
        .resolve_scale(y="independent")
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


# -- A/B tests ---------------------------------------------------------------------------

P_FLOOR = 1e-12  # p-values below it (and p = 0) are drawn at it: the log axis has no 0
ALPHA_COLOR = "#d62728"


def _looks(history: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The evaluations in order, each with its look number and sample size."""
    ordered = sorted(history, key=lambda s: (s.get("created_at") or "", s.get("id") or 0))
    return [{**s, "look": i + 1, "n": (s.get("champion_n") or 0) + (s.get("challenger_n") or 0)}
            for i, s in enumerate(ordered)]


def _p_ticks(low: float) -> list[float]:
    """Ticks for p from 1 down to the first at or below `low`: 0.5, 0.2, 0.1, 0.05, then
    decades."""
    ticks = [1.0, 0.5, 0.2, 0.1, 0.05, *(10.0 ** -e for e in range(2, 13))]
    floor = max((t for t in ticks if t <= low), default=ticks[-1])
    return sorted(t for t in ticks if t >= floor)


def evidence_chart(history: Iterable[Mapping[str, Any]], alpha: float) -> AnyChart:
    """The look's p-value and the always-valid sequential p at each evaluation, on a log
    axis with the α line; where the two coincide, the subtitle says so and both stay
    visible (a dot inside a ring)."""
    looks = _looks(history)
    rows, raw, same = [], [], True
    series = (("p-value", "p_value"), ("sequential p", "sequential_p"))
    for snap in looks:
        values = {label: snap.get(field) for label, field in series}
        raw += list(values.values())
        if finite(values["p-value"]) != finite(values["sequential p"]):
            same = False
        for label, value in values.items():
            p = finite(value)
            if p is not None:
                rows.append({"look": snap["look"], "time": snap.get("created_at"),
                             "n": snap["n"], "series": label, "p": p,
                             "drawn at": max(p, P_FLOOR)})
    frame = pd.DataFrame(rows, columns=["look", "time", "n", "series", "p", "drawn at"])
    notes = [invalid_note(raw)]
    if looks and same and not frame.empty:
        notes.append("The p-value and the sequential p coincide at every look "
                     "(the dot sits inside the ring).")
    if (frame["p"] < P_FLOOR).any():
        notes.append(f"p below {P_FLOOR:g} is drawn at {P_FLOOR:g}.")
    low = min([alpha / 2, *frame["drawn at"].tolist()]) if not frame.empty else alpha / 2
    ticks = _p_ticks(low)
    x = alt.X("look:Q", title="evaluation (look)", axis=alt.Axis(tickMinStep=1, format="d"),
              scale=alt.Scale(domain=[0.5, max(1, len(looks)) + 0.5], nice=False))
    y = alt.Y("drawn at:Q", title="p (log scale)",
              scale=alt.Scale(type="log", domain=[ticks[0], 1.0], nice=False),
              axis=alt.Axis(values=ticks, format="~g"))
    color = alt.Color("series:N", title=None, sort=["p-value", "sequential p"],
                      scale=alt.Scale(domain=["p-value", "sequential p"],
                                      range=["#1f77b4", "#9467bd"]),
                      legend=alt.Legend(orient="top", symbolType="circle"))
    tooltip: list[Any] = ["look:Q", "time:T", "n:Q", "series:N",
                          alt.Tooltip("p:Q", format=".4g")]
    base = alt.Chart(frame).encode(x=x, y=y, color=color, tooltip=tooltip)
    lines = base.mark_line(invalid="break-paths-filter-domains")
    is_p = alt.datum.series == "p-value"
    points = base.mark_point(strokeWidth=2, opacity=1).encode(
        size=alt.condition(is_p, alt.value(40), alt.value(260)),
        fill=alt.condition(is_p, alt.value("#1f77b4"), alt.value("transparent")),
    )
    rule = alt.Chart(pd.DataFrame({"alpha": [alpha], "label": [f"α = {alpha:g}"]}))
    threshold = rule.mark_rule(strokeDash=[4, 4], color=ALPHA_COLOR).encode(y="alpha:Q")
    label = rule.mark_text(align="left", dx=4, dy=-7, color=ALPHA_COLOR).encode(
        y="alpha:Q", x=alt.value(0), text="label:N")
    return alt.layer(lines, points, threshold, label).properties(
        title=_title("Evidence over time", notes), height=360)


def effect_chart(history: Iterable[Mapping[str, Any]]) -> AnyChart:
    """The effect estimate with its confidence interval at each evaluation; one y axis,
    titled once."""
    looks = _looks(history)
    rows, raw = [], []
    for snap in looks:
        raw += [snap.get("effect"), snap.get("ci_low"), snap.get("ci_high")]
        effect = finite(snap.get("effect"))
        if effect is None:
            continue
        rows.append({"look": snap["look"], "time": snap.get("created_at"), "n": snap["n"],
                     "effect": effect, "low": finite(snap.get("ci_low")),
                     "high": finite(snap.get("ci_high"))})
    frame = pd.DataFrame(rows, columns=["look", "time", "n", "effect", "low", "high"])
    x = alt.X("look:Q", title="evaluation (look)", axis=alt.Axis(tickMinStep=1, format="d"),
              scale=alt.Scale(domain=[0.5, max(1, len(looks)) + 0.5], nice=False))
    y_title = "effect (challenger − champion)"
    base = alt.Chart(frame).encode(x=x)
    band = base.mark_area(opacity=0.2, invalid="break-paths-filter-domains").encode(
        y=alt.Y("low:Q", title=y_title), y2="high:Q")
    bars = base.mark_rule(opacity=0.6).encode(y=alt.Y("low:Q", title=y_title), y2="high:Q")
    line = base.mark_line(point=True).encode(
        y=alt.Y("effect:Q", title=y_title),
        tooltip=["look:Q", "time:T", "n:Q", alt.Tooltip("effect:Q", format=".4g"),
                 alt.Tooltip("low:Q", format=".4g"), alt.Tooltip("high:Q", format=".4g")],
    )
    zero = alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(color="gray").encode(
        y=alt.Y("zero:Q", title=y_title))
    return alt.layer(band, bars, line, zero).properties(
        title=_title("Effect with its CI", [invalid_note(raw)]), height=360)


# -- serving -----------------------------------------------------------------------------

PERCENTILES = ["p50", "p95", "p99"]
PERCENTILE_DASH = [[1, 0], [7, 3], [2, 2]]


def latency_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=["minute", "version", "count", "errors",
                                              "fallbacks", "p50_ms", "p95_ms", "p99_ms",
                                              "last_error"])
    frame["minute"] = pd.to_datetime(frame["minute"], utc=True)
    for column in ("p50_ms", "p95_ms", "p99_ms"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def with_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """Every minute from the first to the last, for every version: a minute without
    requests is a row of NaN, which breaks the line there instead of bridging it."""
    if frame.empty:
        return frame
    minutes = pd.date_range(frame["minute"].min(), frame["minute"].max(), freq="min")
    versions = sorted(frame["version"].unique())
    grid = pd.MultiIndex.from_product([minutes, versions], names=["minute", "version"])
    full = frame.set_index(["minute", "version"]).reindex(grid).reset_index()
    for column in ("count", "errors", "fallbacks"):
        full[column] = full[column].fillna(0).astype(int)
    full["last_error"] = full["last_error"].fillna("")
    return full


def ms_ticks(low: float, high: float) -> list[float]:
    """1-2-5 ticks in ms from the one at or below `low` to the one at or above `high`."""
    low = max(low, 0.01)
    high = max(high, low)
    decade = 10.0 ** math.floor(math.log10(low))
    ticks: list[float] = []
    while not ticks or ticks[-1] < high:
        ticks += [round(step * decade, 10) for step in (1, 2, 5)]
        decade *= 10
    while len(ticks) > 1 and ticks[1] <= low:
        ticks.pop(0)
    while len(ticks) > 1 and ticks[-2] >= high:
        ticks.pop()
    return ticks


MS_LABEL = ("datum.value >= 1000 ? format(datum.value / 1000, '~g') + ' s' : "
            "format(datum.value, '~g') + ' ms'")


def latency_chart(frame: pd.DataFrame) -> AnyChart:
    """p50, p95 and p99 per minute on a log axis in ms: one colour per version, one dash per
    percentile; a minute without requests is a gap."""
    full = with_gaps(frame)
    long = full.melt(id_vars=["minute", "version", "count"],
                     value_vars=["p50_ms", "p95_ms", "p99_ms"], var_name="percentile",
                     value_name="ms")
    long["percentile"] = long["percentile"].str.replace("_ms", "", regex=False)
    long["ms"] = long["ms"].where(long["ms"] > 0)  # the log axis has no 0
    drawn = long["ms"].dropna()
    ticks = ms_ticks(float(drawn.min()), float(drawn.max())) if not drawn.empty else [1, 10]
    versions = sorted(full["version"].unique())
    x = alt.X("minute:T", title=None, axis=alt.Axis(format="%H:%M"))
    y = alt.Y("ms:Q", title="latency (log scale)",
              scale=alt.Scale(type="log", domain=[ticks[0], ticks[-1]], nice=False),
              axis=alt.Axis(values=ticks, labelExpr=MS_LABEL))
    color = alt.Color("version:N", title="version", sort=versions,
                      scale=alt.Scale(domain=versions, range=VERSION_PALETTE[:len(versions)]),
                      legend=alt.Legend(symbolType="stroke", symbolStrokeWidth=3))
    tooltip: list[Any] = [alt.Tooltip("minute:T", format="%H:%M"), "version:N", "percentile:N",
               alt.Tooltip("ms:Q", format=".3g", title="ms"), "count:Q"]
    base = alt.Chart(long).encode(x=x, y=y, color=color, tooltip=tooltip)
    lines = base.mark_line(invalid="break-paths-filter-domains", strokeWidth=2).encode(
        strokeDash=alt.StrokeDash("percentile:N", sort=PERCENTILES, title="percentile",
                                  scale=alt.Scale(domain=PERCENTILES, range=PERCENTILE_DASH),
                                  legend=alt.Legend(symbolStrokeColor="#444",
                                                    symbolStrokeWidth=2)),
        detail="percentile:N")
    points = base.mark_point(filled=True, size=18, opacity=0.8)  # a lone minute still shows
    return alt.layer(lines, points).properties(title=_title("Latency per minute (ms)"),
                                               height=380)


RATES = {"error rate": ("errors", "#d62728"), "fallback rate": ("fallbacks", "#ff7f0e")}


def rates_charts(frame: pd.DataFrame) -> list[AnyChart]:
    """Error and fallback rates per minute, all versions together, a chart each (small
    multiples on one scale, so two rates at 0 never hide each other); a minute without
    requests is a gap."""
    per_minute = with_gaps(frame).groupby("minute", as_index=False)[
        ["count", "errors", "fallbacks"]].sum()
    counts = per_minute["count"].where(per_minute["count"] > 0)
    for rate, (column, _) in RATES.items():
        per_minute[rate] = per_minute[column] / counts
    top = max(0.05, *(float(per_minute[rate].max(skipna=True) or 0.0) for rate in RATES))
    charts: list[AnyChart] = []
    for rate, (_, colour) in RATES.items():
        base = alt.Chart(per_minute).encode(
            x=alt.X("minute:T", title=None, axis=alt.Axis(format="%H:%M")),
            y=alt.Y(f"{rate}:Q", title="share of requests", axis=alt.Axis(format=".0%"),
                    scale=alt.Scale(domain=[0, top])),
            tooltip=[alt.Tooltip("minute:T", format="%H:%M"),
                     alt.Tooltip(f"{rate}:Q", format=".2%"), "count:Q"],
        )
        layers = alt.layer(base.mark_line(invalid="break-paths-filter-domains", color=colour),
                           base.mark_point(filled=True, size=18, color=colour))
        charts.append(layers.properties(title=_title(f"{rate.capitalize()} per minute"),
                                        height=200))
    return charts


# -- gates -------------------------------------------------------------------------------

GATE_FAILED = "background-color: #ffe3e3; color: #a61e1e; font-weight: 600"
GATE_PASSED = "color: #1b5e20"


def gate_report(report: Iterable[Mapping[str, Any]]) -> Any:
    """A gate report as a table (a pandas Styler): a failing gate's row in red, with what it
    wanted and what it got."""
    frame = pd.DataFrame([{
        "gate": g.get("gate", ""), "result": "passed" if g.get("passed") else "FAILED",
        "wanted": g.get("wanted", ""), "got": g.get("got", ""),
    } for g in report], columns=["gate", "result", "wanted", "got"])

    def style(row: pd.Series) -> list[str]:
        return [GATE_FAILED if row["result"] == "FAILED" else GATE_PASSED] * len(row)

    return frame.style.apply(style, axis=1)
