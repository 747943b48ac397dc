"""The contract between the dashboard and the API: AppTest against a live server whose data
was created through the apps' services (and predictions through the serving API)."""

from __future__ import annotations

import pytest

from dashboard.tests.conftest import TABS, tab, texts

pytestmark = pytest.mark.django_db(transaction=True)

def test_every_tab_reads_its_numbers_from_the_real_api(live_dashboard, app):
    at = app()
    assert not at.error, [e.value for e in at.error]
    assert [t.label for t in at.tabs] == TABS
    for label in TABS:
        assert not tab(at, label).error, (label, [e.value for e in tab(at, label).error])

    registry = tab(at, "Model Registry")
    assert "in production: **1.0.0**" in texts(registry)
    versions = next(d.value for d in registry.dataframe if "metrics" in d.value.columns)
    assert set(zip(versions["model"], versions["version"], versions["stage"], strict=True)) == {
        ("ranking", "1.0.0", "production"), ("ranking", "1.1.0", "staging"),
        ("regime", "1.0.0", "production"), ("regime", "1.1.0", "staging")}
    comparison = next(d.value for d in registry.dataframe
                      if "best" in d.value.columns).set_index("metric")
    assert comparison.loc["auc", "best"] == "1.1.0"
    assert comparison.loc["log_loss", "direction"] == "lower"

    experiments = tab(at, "Experiments")
    assert sorted(experiments.dataframe[0].value["run"]) == ["lr=0.1", "lr=0.3"]
    assert 'Best run by auc (max)<br>**<a href="?run=' in texts(experiments)
    assert 'target="_self">lr=0.1</a>**' in texts(experiments)
    params = experiments.dataframe[1].value.set_index("param")
    assert params.loc["lr", "differs"] == "yes" and params.loc["depth", "differs"] == ""

    abtests = tab(at, "A/B Tests")
    shown = texts(abtests)
    test = live_dashboard["test"]
    assert abtests.dataframe[0].value.loc[0, "state"] == "running"
    assert "Champion 1.0.0: n=" in shown and "Sample ratio" in shown
    from abtest_app.selectors import abtest_results

    truth = abtest_results(test=test)["evaluation"]
    assert f"Champion 1.0.0: n={truth['champion_n']:,}" in shown
    assert f"Challenger 1.1.0: n={truth['challenger_n']:,}" in shown

    deployment = tab(at, "Deployment")
    serving = deployment.dataframe[0].value.set_index("model")
    assert serving.loc["regime", "production"] == "1.0.0"
    at.selectbox(key="dep_model").set_value("regime")
    at.run()
    assert "Requests=5" in texts(tab(at, "Deployment"))


def test_a_promotion_from_the_dashboard_goes_through_the_lifecycle_service(live_dashboard, app):
    from models_app.models import ModelVersion, StageTransition

    at = app()
    at.selectbox(key="reg_model").set_value("regime")
    app(at)
    at.selectbox(key="reg_move_to_regime_1.1.0").set_value("production")
    at.text_input(key="reg_move_reason_regime_1.1.0").set_value("better auc")
    at.button(key="reg_move_go_regime_1.1.0").click()
    app(at)
    assert "regime 1.1.0 moved to production" in texts(tab(at, "Model Registry"))
    version = ModelVersion.objects.get(model__name="regime", version="1.1.0")
    assert version.stage == "production"
    record = StageTransition.objects.filter(version=version, kind="promote").get()
    assert record.reason == "better auc" and record.actor.username == "max_release"


def test_a_four_eyes_approval_from_the_dashboard_promotes_through_the_service(
        live_dashboard, app, second_release_manager):
    from models_app import services
    from models_app.models import ModelVersion, RegisteredModel

    regime = RegisteredModel.objects.get(name="regime")
    services.model_update(model=regime, actor=second_release_manager, require_four_eyes=True)
    staged = ModelVersion.objects.get(model=regime, version="1.1.0")
    request = services.promotion_request_file(version=staged, actor=second_release_manager,
                                              reason="better auc")
    at = app()
    at.selectbox(key="reg_model").set_value("regime")
    app(at)
    assert "production" not in at.selectbox(key="reg_move_to_regime_1.1.0").options
    at.button(key=f"reg_pr_approve_{request.pk}").click()
    app(at)
    assert f"Request {request.pk} approved" in texts(tab(at, "Model Registry"))
    request.refresh_from_db()
    assert (request.status, request.decided_by.username) == ("approved", "max_release")
    assert ModelVersion.objects.get(pk=staged.pk).stage == "production"
