"""The Model Registry tab over a faked API: what it shows and what it asks the API to do."""

from __future__ import annotations

import pandas as pd

from dashboard.tests.conftest import tab, texts
from dashboard.tests.fake_api import Reply


def test_it_lists_models_and_versions_with_their_stage(fake_api, app):
    registry = tab(app(), "Model Registry")
    models = registry.dataframe[0].value
    assert list(models["model"]) == ["stock-ranking", "market-regime"]
    assert list(models["in production"]) == ["1.0.0", "1.1.0"]
    versions = registry.dataframe[1].value
    assert list(zip(versions["model"], versions["version"], versions["stage"], strict=True)) == [
        ("stock-ranking", "1.1.0", "staging"), ("stock-ranking", "1.0.0", "production"),
        ("market-regime", "1.1.0", "production"), ("market-regime", "1.0.0", "archived"),
    ]
    assert versions.loc[1, "auc"] == 0.6611
    assert "1.0.0 · production" in texts(registry) and "1.1.0 · staging" in texts(registry)


def test_its_filters_become_query_parameters_of_the_version_search(fake_api, app):
    at = app()
    at.multiselect(key="reg_stages").set_value(["production"])
    at.text_input(key="reg_search").set_value("regime")
    at.text_input(key="reg_metric").set_value("accuracy>=0.9")
    app(at)
    query, _ = fake_api.requests("GET", "versions/")[-1]
    assert query["stage"] == "production" and query["name"] == "regime"
    assert query["metric"] == "accuracy>=0.9"
    versions = tab(at, "Model Registry").dataframe[1].value
    assert list(versions["version"]) == ["1.1.0"] and list(versions["model"]) == ["market-regime"]


def test_a_filter_the_api_refuses_is_explained_not_raised(fake_api, app):
    at = app()
    at.text_input(key="reg_metric").set_value("auc>>1")
    app(at)
    assert "Filter not understood: write it like auc>=0.7." in texts(tab(at, "Model Registry"))


def test_it_compares_two_versions_with_a_chart_and_highlights_differing_params(fake_api, app):
    registry = tab(app(), "Model Registry")
    query, _ = fake_api.requests("GET", "models/stock-ranking/compare/")[-1]
    assert query["versions"] == "1.0.0,1.1.0"
    metrics = registry.dataframe[2].value
    assert metrics.set_index("metric").loc["log_loss", "best"] == "1.1.0"
    assert metrics.set_index("metric").loc["auc", "1.1.0"] == 0.6798
    params = registry.dataframe[3].value.set_index("parameter")
    assert params.loc["learning_rate", "differs"] == "yes"
    assert params.loc["max_depth", "differs"] == ""
    assert len(registry.get("vega_lite_chart")) == 1


def test_it_shows_the_transition_history(fake_api, app):
    history = tab(app(), "Model Registry").dataframe[4].value
    assert list(history["kind"]) == ["promote", "submit"]
    assert history.loc[0, "by"] == "max_release"
    assert history.loc[0, "reason"] == "first production model"


def test_it_offers_only_the_moves_the_api_allows_and_promotes_with_a_reason(fake_api, app):
    fake_api.posts["models/stock-ranking/versions/1.1.0/transition/"] = Reply(200, {
        "id": 3, "kind": "promote", "actor": "max_release", "to_stage": "production"})
    at = app()
    move = at.selectbox(key="reg_move_to_stock-ranking_1.1.0")
    assert move.options == ["production", "draft", "deprecated"]
    move.set_value("production")
    at.text_input(key="reg_move_reason_stock-ranking_1.1.0").set_value("won the A/B test")
    at.button(key="reg_move_go_stock-ranking_1.1.0").click()
    app(at)
    posted = fake_api.requests("POST", "models/stock-ranking/versions/1.1.0/transition/")
    assert [body for _, body in posted] == [{"to": "production", "reason": "won the A/B test"}]
    assert "stock-ranking 1.1.0 moved to production" in texts(tab(at, "Model Registry"))


def test_it_refuses_to_send_a_transition_without_a_reason(fake_api, app):
    at = app()
    at.selectbox(key="reg_move_to_stock-ranking_1.1.0").set_value("production")
    at.button(key="reg_move_go_stock-ranking_1.1.0").click()
    app(at)
    assert fake_api.requests("POST", "models/stock-ranking/versions/1.1.0/transition/") == []
    assert "Give a reason" in texts(tab(at, "Model Registry"))


def test_a_refused_promotion_shows_the_api_message_and_the_gate_report(fake_api, app):
    fake_api.posts["models/stock-ranking/versions/1.1.0/transition/"] = Reply(409, {
        "code": "gate_refused", "message": "stock-ranking 1.1.0 may not enter production: "
        "auc 0.68 < 0.7.", "details": {"gate_report": [
            {"gate": "threshold:auc", "passed": False, "wanted": "auc >= 0.7",
             "got": "auc = 0.68"}]}})
    at = app()
    at.selectbox(key="reg_move_to_stock-ranking_1.1.0").set_value("production")
    at.text_input(key="reg_move_reason_stock-ranking_1.1.0").set_value("try")
    at.button(key="reg_move_go_stock-ranking_1.1.0").click()
    app(at)
    registry = tab(at, "Model Registry")
    assert "409 (gate_refused): stock-ranking 1.1.0 may not enter production" in texts(registry)
    report = registry.dataframe[-1].value
    assert list(report["gate"]) == ["threshold:auc"] and not report.loc[0, "passed"]


def test_it_rolls_back_through_the_api_when_the_user_may(fake_api, app):
    fake_api.posts["models/market-regime/rollback/"] = Reply(200, {
        "id": 9, "kind": "rollback", "actor": "max_release", "to_stage": "production"})
    at = app()
    at.selectbox(key="reg_model").set_value("market-regime")
    app(at)
    at.text_input(key="reg_rollback_reason_market-regime").set_value("latency regression")
    at.button(key="reg_rollback_go_market-regime").click()
    app(at)
    posted = fake_api.requests("POST", "models/market-regime/rollback/")
    assert [body for _, body in posted] == [{"reason": "latency regression"}]
    assert "market-regime rolled back" in texts(tab(at, "Model Registry"))


def test_a_user_without_the_promote_permission_gets_no_rollback_button(fake_api, app):
    fake_api.routes["models/market-regime/versions/1.1.0/"]["available_transitions"] = []
    at = app()
    at.selectbox(key="reg_model").set_value("market-regime")
    app(at)
    keys = {b.key for b in at.button}
    assert "reg_rollback_go_market-regime" not in keys
    assert "Rolling back needs the promote permission" in texts(tab(at, "Model Registry"))


def test_it_shows_each_versions_load_check_and_verified_beside_reported_metrics(fake_api, app):
    registry = tab(app(), "Model Registry")
    checks = registry.dataframe[5].value.set_index("version")
    assert checks.loc["1.0.0", "load check"] == "✅ passed"
    assert checks.loc["1.0.0", "predict ms"] == 3.25 and checks.loc["1.0.0", "memory MB"] == 254
    assert checks.loc["1.0.0", "packages"] == "lightgbm==4.7.0"
    assert checks.loc["1.1.0", "load check"] == "❌ failed"
    assert "PLATFORM_MODEL_PATHS" in checks.loc["1.1.0", "problem"]
    metrics = registry.dataframe[6].value.set_index(["version", "metric"])
    assert metrics.loc[("1.0.0", "auc"), "reported"] == 0.6611
    assert metrics.loc[("1.0.0", "auc"), "verified"] == 0.6502
    assert pd.isna(metrics.loc[("1.1.0", "auc"), "verified"])  # a failed check verifies none


def test_it_shows_the_aliases_of_each_version(fake_api, app):
    registry = tab(app(), "Model Registry")
    assert fake_api.requests("GET", "models/stock-ranking/aliases/")
    aliases = next(d.value for d in registry.dataframe if "alias" in d.value.columns)
    assert list(zip(aliases["alias"], aliases["version"], aliases["number"], strict=True)) == [
        ("champion", "1.0.0", 1), ("challenger", "1.1.0", 2)]
    assert "1.0.0 · @champion" in texts(registry) and "1.1.0 · @challenger" in texts(registry)
