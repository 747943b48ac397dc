"""The contract between the dashboard and the API: AppTest against a live server whose data
was created through the apps' services (and predictions through the serving API)."""

from __future__ import annotations

import io

import pytest
import requests

from dashboard.tests.conftest import TABS, tab, texts

pytestmark = pytest.mark.django_db(transaction=True)

FEATURES = ["f0", "f1", "f2", "f3"]


@pytest.fixture
def live_data(release_manager, sklearn_pickle):
    """Two models with two versions each, an experiment, a running A/B test."""
    import numpy as np

    from abtest_app import assignment
    from abtest_app import services as abtests
    from experiments_app import services as tracking
    from models_app import services as registry

    signature = {"inputs": [{"name": name, "type": "double"} for name in FEATURES]}
    example = [dict.fromkeys(FEATURES, 0.5)]
    versions = {}
    for name in ("ranking", "regime"):
        registry.model_create(name=name, description=f"The {name} model",
                              metric_directions={"log_loss": "lower"})
        for number, auc in (("1.0.0", 0.70), ("1.1.0", 0.74)):
            versions[name, number] = registry.version_register(
                model_name=name, artifact=io.BytesIO(sklearn_pickle), framework="sklearn",
                artifact_format="pickle", version=number,
                metrics={"auc": auc, "log_loss": 1 - auc},
                hyperparameters={"C": 1.0 if number == "1.0.0" else 0.5, "penalty": "l2"},
                signature=signature, input_example=example, created_by=release_manager,
            )
        registry.version_transition(version=versions[name, "1.0.0"], to="staging",
                                    actor=release_manager, reason="offline ok")
        registry.version_promote(version=versions[name, "1.0.0"], actor=release_manager,
                                 reason="first production model")
        registry.version_transition(version=versions[name, "1.1.0"], to="staging",
                                    actor=release_manager, reason="candidate")

    experiment = tracking.experiment_create(name="ranking-sweep")
    for lr, curve in (("0.1", [0.9, 0.7, 0.6]), ("0.3", [0.9, 0.8, 0.75])):
        run = tracking.run_create(experiment=experiment, name=f"lr={lr}",
                                  user=release_manager, params={"lr": lr, "depth": "3"})
        tracking.batch_log(run_id=run.run_id, body={"metrics": [
            {"key": "val_loss", "value": v, "step": step, "timestamp": 1000 + step}
            for step, v in enumerate(curve)] + [
            {"key": "auc", "value": 1 - curve[-1] / 2, "step": 3, "timestamp": 2000}]})
        tracking.run_end(run=run)

    test = abtests.abtest_create(
        name="ranking 1.1.0 vs 1.0.0", model="ranking", champion="1.0.0", challenger="1.1.0",
        metric_name="return_bps", metric_type="continuous", min_samples_per_arm=50,
        planned_samples_per_arm=1000, created_by=release_manager,
    )
    test = abtests.abtest_start(test=test, actor=release_manager)
    rng = np.random.default_rng(3)
    outcomes = []
    for i in range(300):
        unit = f"u{i}"
        arm = assignment.assign_arm(test.seed, unit, test.challenger_share)
        outcomes.append({"unit_id": unit, "value": float(rng.normal(
            10.0 if arm == "champion" else 10.5, 3.0))})
    abtests.abtest_record_outcomes(test=test, outcomes=outcomes)
    abtests.abtest_evaluate(test_id=test.pk)
    return {"test": test, "experiment": experiment, "versions": versions}


@pytest.fixture
def live_dashboard(live_server, release_manager, monkeypatch, live_data):
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=release_manager)
    monkeypatch.setenv("AXION_API_URL", f"{live_server.url}/api/v1")
    monkeypatch.setenv("AXION_API_TOKEN", token.key)
    for _ in range(5):  # latency rows for the Deployment tab, from real predictions
        answer = requests.post(f"{live_server.url}/api/v1/serve/regime/predict/",
                               json={"records": [dict.fromkeys(FEATURES, 0.1)]},
                               headers={"Authorization": f"Token {token.key}"}, timeout=30)
        assert answer.status_code == 200, answer.text
    from serving_app.flusher import flush
    from serving_app.runtime import get_runtime

    flush(get_runtime())
    return live_data


def test_every_tab_reads_its_numbers_from_the_real_api(live_dashboard, app):
    at = app()
    assert not at.error, [e.value for e in at.error]
    assert [t.label for t in at.tabs] == TABS
    for label in TABS:
        assert not tab(at, label).error, (label, [e.value for e in tab(at, label).error])

    registry = tab(at, "Model Registry")
    models = registry.dataframe[0].value.set_index("model")
    assert models.loc["ranking", "in production"] == "1.0.0"
    versions = registry.dataframe[1].value
    assert set(zip(versions["model"], versions["version"], versions["stage"], strict=True)) == {
        ("ranking", "1.0.0", "production"), ("ranking", "1.1.0", "staging"),
        ("regime", "1.0.0", "production"), ("regime", "1.1.0", "staging")}
    comparison = registry.dataframe[2].value.set_index("metric")
    assert comparison.loc["auc", "best"] == "1.1.0"
    assert comparison.loc["log_loss", "direction"] == "lower"

    experiments = tab(at, "Experiments")
    assert sorted(experiments.dataframe[0].value["run"]) == ["lr=0.1", "lr=0.3"]
    assert "Best run by auc (max)=lr=0.1" in texts(experiments)
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
