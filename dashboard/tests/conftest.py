"""AppTest over dashboard/app.py with the HTTP layer faked (dashboard/tests/fake_api.py)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import requests
import responses

from dashboard.tests.fake_api import BASE, TOKEN, FakeAPI

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TABS = ["Model Registry", "Experiments", "A/B Tests", "Deployment"]


@pytest.fixture(autouse=True)
def fresh_cache():
    """st.cache_data is process-wide: every test starts from an empty cache."""
    import streamlit as st

    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.fixture
def fake_api(monkeypatch):
    monkeypatch.setenv("AXION_API_URL", BASE)
    monkeypatch.setenv("AXION_API_TOKEN", TOKEN)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeAPI(mock)


@pytest.fixture
def app():
    """A function that runs the dashboard once and returns the AppTest."""
    from streamlit.testing.v1 import AppTest

    def run(at: AppTest | None = None) -> AppTest:
        at = at or AppTest.from_file(APP, default_timeout=30)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return run


def tab(at, label: str):
    return next(t for t in at.tabs if t.label == label)


def texts(node) -> str:
    """Every markdown, caption, alert and metric text under a node, joined."""
    parts = []
    for kind in ("markdown", "caption", "info", "success", "warning", "error", "subheader"):
        parts += [str(e.value) for e in node.get(kind)]
    parts += [f"{m.label}={m.value}" for m in node.get("metric")]
    return "\n".join(parts)


# -- a live server with data created through the services (contract and browser tests) --

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
                              metric_directions={"log_loss": "lower"},
                              gates={"load_check": False})
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
def serving_runtime(settings):
    """A fresh serving runtime for this process: the live server thread serves with it."""
    from axion_registry.authentication import forget_tokens
    from serving_app.runtime import ServingRuntime, reset_runtime

    settings.SERVING_FLUSH_SECONDS = 0
    settings.SERVING_GENERATION_CHECK_MS = 0
    forget_tokens()
    runtime = ServingRuntime(background=False, check_interval_ms=0)
    reset_runtime(runtime)
    yield runtime
    reset_runtime(None)


@pytest.fixture
def live_dashboard(live_server, release_manager, monkeypatch, live_data, serving_runtime):
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

    flush(serving_runtime)
    return live_data
