"""The Deployment tab over a faked API."""

from __future__ import annotations

from dashboard.tests.conftest import tab, texts


def test_it_shows_what_each_model_serves_and_its_warm_up(fake_api, app):
    table = tab(app(), "Deployment").dataframe[0].value.set_index("model")
    assert table.loc["stock-ranking", "production"] == "1.0.0"
    assert table.loc["market-regime", "fallback"] == "1.0.0"
    assert table.loc["market-regime", "warm-up"] == "ok"
    assert table.loc["market-regime", "load ms"] == 12.5


def test_it_shows_latency_percentiles_and_error_and_fallback_rates(fake_api, app):
    deployment = tab(app(), "Deployment")
    assert fake_api.requests("GET", "serve/stock-ranking/latency/")[-1][0] == {"minutes": "60"}
    shown = texts(deployment)
    for expected in ("Requests=400", "Error rate=0.75%", "Fallback rate=1.50%",
                     "p95 (last minute)=11.5 ms", "p99 (last minute)=30.2 ms",
                     "Last error (1.0.0, 10:01 UTC): ValueError: boom"):
        assert expected in shown, expected
    specs = [c.proto.spec for c in deployment.get("vega_lite_chart")]
    assert any("Latency per minute" in s for s in specs)
    assert any("Error rate per minute" in s for s in specs)
    assert any("Fallback rate per minute" in s for s in specs)


def test_a_model_without_traffic_says_so(fake_api, app):
    at = app()
    at.selectbox(key="dep_model").set_value("market-regime")
    app(at)
    assert "No predictions of market-regime in the last 1 hour." in texts(tab(at, "Deployment"))


def test_it_lists_recent_fallbacks_and_rollbacks(fake_api, app):
    deployment = tab(app(), "Deployment")
    assert fake_api.requests("GET", "deployments/")[-1][0]["kind"] == ["fallback", "rollback"]
    events = deployment.dataframe[1].value
    assert events.loc[0, "kind"] == "rollback" and events.loc[0, "model"] == "market-regime"
    assert events.loc[0, "reason or error"] == "error rate 35%"


# -- the charts' specs (pure: dataframes in, Vega-Lite out) ---------------------------------

def _frame(*rows):
    from dashboard import charts
    from dashboard.tests.fake_api import latency

    return charts.latency_frame([latency(*row) for row in rows])


ROWS = [("2026-11-27T10:00:00Z", "1.0.0", 100, 0, 0, 2.5, 9.0, 15.0),
        ("2026-11-27T10:03:00Z", "1.0.0", 300, 0, 0, 2.7, 11.5, 30.2),
        ("2026-11-27T10:03:00Z", "1.1.0", 50, 0, 0, 1.2, 4.0, 8.0)]


def _layers(spec):
    return spec["layer"] if "layer" in spec else spec["spec"]["layer"]


def test_latency_is_on_a_log_axis_with_labelled_ms_ticks_and_a_colour_per_version():
    from dashboard import charts

    spec = charts.latency_chart(_frame(*ROWS)).to_dict()
    line = _layers(spec)[0]
    y = line["encoding"]["y"]
    assert y["scale"]["type"] == "log"
    assert y["axis"]["values"] == [1, 2, 5, 10, 20, 50]
    assert "' ms'" in y["axis"]["labelExpr"]
    assert line["encoding"]["color"]["field"] == "version"
    assert line["encoding"]["strokeDash"]["field"] == "percentile"
    assert line["mark"]["invalid"] == "break-paths-filter-domains"


def test_a_minute_without_requests_is_a_gap_not_a_bridge():
    from dashboard import charts

    full = charts.with_gaps(_frame(*ROWS))
    one = full[full["version"] == "1.0.0"].set_index("minute")
    assert len(one) == 4  # 10:00 to 10:03
    assert one["p50_ms"].isna().tolist() == [False, True, True, False]
    assert one["count"].tolist() == [100, 0, 0, 300]


def test_ms_ticks_run_1_2_5_from_below_the_lowest_to_above_the_highest():
    from dashboard import charts

    assert charts.ms_ticks(2.5, 30.2) == [2, 5, 10, 20, 50]
    assert charts.ms_ticks(0.3, 0.3) == [0.2, 0.5]
    assert charts.ms_ticks(1.0, 1000) == [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]


def test_error_and_fallback_rates_get_a_chart_each_so_two_zeros_never_overlap():
    from dashboard import charts

    errors, fallbacks = (c.to_dict() for c in charts.rates_charts(_frame(*ROWS)))
    assert errors["title"]["text"] == "Error rate per minute"
    assert fallbacks["title"]["text"] == "Fallback rate per minute"
    assert errors["layer"][0]["encoding"]["y"]["field"] == "error rate"
    assert errors["layer"][0]["mark"]["color"] != fallbacks["layer"][0]["mark"]["color"]
    data = next(iter(errors["datasets"].values()))
    gap = [r["error rate"] for r in data if r["minute"].startswith("2026-11-27T10:01")]
    assert gap == [None]  # no requests that minute: a gap, not 0
