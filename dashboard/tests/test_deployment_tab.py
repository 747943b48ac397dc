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
    assert any("Error and fallback rates" in s for s in specs)


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
