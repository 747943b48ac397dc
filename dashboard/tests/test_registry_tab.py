"""The Model Registry tab over a faked API: what it shows and what it asks the API to do."""

from __future__ import annotations

import json

import pandas as pd

from dashboard.tests.conftest import tab, texts
from dashboard.tests.fake_api import Reply


def frame_with(node, *columns: str) -> pd.DataFrame:
    """The first table under `node` that has all these columns."""
    return next(d.value for d in node.dataframe if set(columns) <= set(d.value.columns))


def test_it_shows_one_model_at_a_time_with_its_own_metric_columns(fake_api, app):
    at = app()
    registry = tab(at, "Model Registry")
    versions = frame_with(registry, "version", "stage", "framework")
    assert list(versions.columns) == ["version", "stage", "framework", "auc", "log_loss",
                                      "created", "by"]
    assert list(zip(versions["version"], versions["stage"], strict=True)) == [
        ("1.1.0", "staging"), ("1.0.0", "production")]
    assert versions.loc[1, "auc"] == 0.6611 and not versions[["auc", "log_loss"]].isna().any().any()
    assert "1.0.0 · production" in texts(registry) and "1.1.0 · staging" in texts(registry)
    assert "](?model=stock-ranking&version=1.0.0)" in texts(registry)  # each badge a permalink
    at.selectbox(key="reg_model").set_value("market-regime")
    app(at)
    versions = frame_with(tab(at, "Model Registry"), "version", "stage", "framework")
    assert list(versions.columns) == ["version", "stage", "framework", "accuracy", "created",
                                      "by"]  # no stock-ranking metric, so no empty cells


def test_its_filters_become_query_parameters_of_the_version_search(fake_api, app):
    at = app()
    at.multiselect(key="reg_stages").set_value(["production"])
    at.text_input(key="reg_search").set_value("regime")
    at.text_input(key="reg_metric").set_value("accuracy>=0.9")
    app(at)
    query, _ = fake_api.requests("GET", "versions/")[-1]
    assert query["stage"] == "production" and query["name"] == "regime"
    assert query["metric"] == "accuracy>=0.9"
    found = frame_with(tab(at, "Model Registry"), "model", "metrics")
    assert list(found["version"]) == ["1.1.0"] and list(found["model"]) == ["market-regime"]
    assert list(found["metrics"]) == ["accuracy 0.904"]


def test_the_search_across_models_shows_each_versions_own_metrics_only(fake_api, app):
    found = frame_with(tab(app(), "Model Registry"), "model", "metrics")
    assert list(found.columns) == ["model", "version", "stage", "framework", "metrics",
                                   "created", "by"]
    assert found.loc[0, "metrics"] == "auc 0.6798, log_loss 1.431"
    assert found.loc[3, "metrics"] == "accuracy 0.8507"


def test_a_filter_the_api_refuses_is_explained_not_raised(fake_api, app):
    at = app()
    at.text_input(key="reg_metric").set_value("auc>>1")
    app(at)
    assert "Filter not understood: write it like auc>=0.7." in texts(tab(at, "Model Registry"))


def test_it_compares_two_versions_on_a_panel_per_metric(fake_api, app):
    registry = tab(app(), "Model Registry")
    query, _ = fake_api.requests("GET", "models/stock-ranking/compare/")[-1]
    assert query["versions"] == "1.0.0,1.1.0"
    metrics = frame_with(registry, "metric", "best").set_index("metric")
    assert metrics.loc["log_loss", "best"] == "1.1.0"
    assert metrics.loc["auc", "1.1.0"] == 0.6798
    params = frame_with(registry, "parameter").set_index("parameter")
    assert params.loc["learning_rate", "differs"] == "yes"
    assert params.loc["max_depth", "differs"] == ""
    spec = json.loads(next(c.proto.spec for c in registry.get("vega_lite_chart")
                           if "Metrics by version" in c.proto.spec))
    assert spec["facet"]["field"] == "metric" and spec["resolve"]["scale"]["y"] == "independent"


def test_it_shows_the_transition_history(fake_api, app):
    history = frame_with(tab(app(), "Model Registry"), "kind", "from", "to")
    assert list(history["kind"]) == ["promote", "submit"]
    assert history.loc[0, "by"] == "max_release"
    assert history.loc[0, "reason"] == "first production model"


def test_it_offers_only_the_moves_the_api_allows_and_promotes_with_a_reason(fake_api, app):
    fake_api.posts["models/stock-ranking/versions/1.1.0/transition/"] = Reply(200, {
        "id": 3, "kind": "promote", "actor": "max_release", "to_stage": "production"})
    at = app()
    move = at.selectbox(key="reg_move_to_stock-ranking_1.1.0")
    assert move.options == ["production (promote)", "draft (reject)", "deprecated"]
    assert move.value == "production"  # staging's next stage
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
    report = [d.value for d in registry.dataframe if "wanted" in d.value.columns][-1]
    assert list(report["gate"]) == ["threshold:auc"] and report.loc[0, "result"] == "FAILED"


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
    assert "market-regime rolled back to 1.0.0" in texts(tab(at, "Model Registry"))


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
    checks = frame_with(registry, "load check").set_index("version")
    assert checks.loc["1.0.0", "load check"] == "passed"
    assert checks.loc["1.0.0", "predict ms"] == 3.25 and checks.loc["1.0.0", "memory MB"] == 254
    assert checks.loc["1.0.0", "packages"] == "lightgbm==4.7.0"
    assert checks.loc["1.1.0", "load check"] == "failed"
    assert "PLATFORM_MODEL_PATHS" in checks.loc["1.1.0", "problem"]
    metrics = frame_with(registry, "reported", "verified").set_index(["version", "metric"])
    assert metrics.loc[("1.0.0", "auc"), "reported"] == 0.6611
    assert metrics.loc[("1.0.0", "auc"), "verified"] == 0.6502
    assert pd.isna(metrics.loc[("1.1.0", "auc"), "verified"])  # a failed check verifies none


def test_every_table_shows_a_missing_number_as_a_dash(fake_api, app):
    at = app()
    tables = [d for t in at.tabs for d in t.dataframe]
    assert len(tables) >= 4
    assert {d.proto.placeholder for d in tables} == {"—"}  # never Streamlit's grey "None"
    metrics = frame_with(tab(at, "Model Registry"), "reported", "verified")
    assert metrics["verified"].isna().any()  # the case the dash is for


def test_it_shows_the_aliases_of_each_version(fake_api, app):
    registry = tab(app(), "Model Registry")
    assert fake_api.requests("GET", "models/stock-ranking/aliases/")
    aliases = next(d.value for d in registry.dataframe if "alias" in d.value.columns)
    assert list(zip(aliases["alias"], aliases["version"], aliases["number"], strict=True)) == [
        ("champion", "1.0.0", 1), ("challenger", "1.1.0", 2)]
    assert "1.0.0 · @champion" in texts(registry) and "1.1.0 · @challenger" in texts(registry)


def test_a_drafts_move_defaults_to_staging(fake_api, app):
    fake_api.routes["models/stock-ranking/versions/1.1.0/"].update(
        stage="draft", available_transitions=["deprecated", "production", "staging"])
    move = app().selectbox(key="reg_move_to_stock-ranking_1.1.0")
    assert move.options[0] == "staging (submit for review)" and move.value == "staging"


def test_failing_gates_take_production_off_the_moves_and_show_what_they_wanted(fake_api, app):
    from dashboard.tests.fake_api import gates

    fake_api.routes["models/stock-ranking/versions/1.1.0/gates/"] = gates(passed=False)
    registry = tab(at := app(), "Model Registry")
    assert at.selectbox(key="reg_move_to_stock-ranking_1.1.0").options == [
        "draft (reject)", "deprecated"]
    assert ("The gates refuse production for 1.1.0: threshold:auc wanted auc >= 0.7, got "
            "auc = 0.68.") in texts(registry)
    table = next(d for d in registry.dataframe if "wanted" in d.value.columns)
    report = table.value.set_index("gate")
    assert report.loc["threshold:auc", "result"] == "FAILED"
    assert report.loc["threshold:auc", ["wanted", "got"]].tolist() == ["auc >= 0.7",
                                                                       "auc = 0.68"]
    assert report.loc["require_staging", "result"] == "passed"


def test_the_failing_gate_row_is_highlighted(fake_api, app):
    from dashboard import charts
    from dashboard.tests.fake_api import gates

    styled = charts.gate_report(gates(passed=False)["gates"])
    html = styled.to_html()
    assert charts.GATE_FAILED.split(";")[0] in html
    cells = styled._compute().ctx
    failing_row = list(styled.data["gate"]).index("threshold:auc")
    assert ("background-color", "#ffe3e3") in cells[(failing_row, 0)]
    assert ("background-color", "#ffe3e3") not in cells.get((0, 0), [])


def test_an_archived_version_is_offered_a_roll_forward_with_a_reason(fake_api, app):
    fake_api.posts["models/market-regime/versions/1.0.0/transition/"] = Reply(200, {
        "id": 11, "kind": "promote", "actor": "max_release", "to_stage": "production"})
    at = app()
    at.selectbox(key="reg_model").set_value("market-regime")
    app(at)
    at.selectbox(key="reg_act_version_market-regime").set_value("1.0.0")
    app(at)
    move = at.selectbox(key="reg_move_to_market-regime_1.0.0")
    assert move.value == "production" and move.options[0] == "production (roll forward)"
    at.button(key="reg_move_go_market-regime_1.0.0").click()
    app(at)
    assert fake_api.requests("POST", "models/market-regime/versions/1.0.0/transition/") == []
    assert "Give a reason" in texts(tab(at, "Model Registry"))
    at.text_input(key="reg_move_reason_market-regime_1.0.0").set_value("fix was upstream")
    at.button(key="reg_move_go_market-regime_1.0.0").click()
    app(at)
    posted = fake_api.requests("POST", "models/market-regime/versions/1.0.0/transition/")
    assert [body for _, body in posted] == [{"to": "production", "reason": "fix was upstream"}]


def test_no_roll_back_where_no_earlier_version_is_left_to_restore(fake_api, app):
    at = app()  # stock-ranking 1.0.0 is its first production version
    assert "reg_rollback_go_stock-ranking" not in {b.key for b in at.button}
    assert "No roll back: no earlier production version of stock-ranking" in texts(
        tab(at, "Model Registry"))
    fake_api.routes["models/market-regime/versions/1.1.0/"]["rollback_to"] = None
    at.selectbox(key="reg_model").set_value("market-regime")  # one archived, but newer
    app(at)
    assert "reg_rollback_go_market-regime" not in {b.key for b in at.button}


def test_a_rollback_needs_a_reason(fake_api, app):
    at = app()
    at.selectbox(key="reg_model").set_value("market-regime")
    app(at)
    at.button(key="reg_rollback_go_market-regime").click()
    app(at)
    assert fake_api.requests("POST", "models/market-regime/rollback/") == []
    assert "Give a reason" in texts(tab(at, "Model Registry"))
