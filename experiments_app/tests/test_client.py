"""axion_client against a live server: what a training script and the dashboard do."""

import math
import subprocess
import sys
from pathlib import Path

import pytest

from axion_client import AxionAPIError, AxionClient
from experiments_app.models import Run
from models_app.models import ModelVersion

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(live_server, researcher):
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=researcher)
    client = AxionClient(live_server.url, token.key)
    yield client
    # Close the keep-alive connection: the live server's request thread then ends and closes
    # its database connection (else PostgreSQL's test database cannot be dropped at the end).
    client.session.close()


def test_the_client_imports_without_django():
    code = ("import sys, axion_client; "
            "print(sorted(m for m in sys.modules if m == 'django' or m.startswith('django.')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, env={"PATH": "/usr/bin:/bin"}, check=True)
    assert result.stdout.strip() == "[]"


def test_a_run_block_that_succeeds_is_finished(client, tmp_path, registered_model,
                                               sklearn_pickle):
    model_file = tmp_path / "model.pkl"
    model_file.write_bytes(sklearn_pickle)
    with client.start_run("ranking-exp", name="lgbm", tags={"git": "abc"},
                          params={"lr": 0.1}) as run:
        run.log_param("depth", 6)
        run.log_params({"seed": 7, "penalty": "l2"})
        for step in range(3):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        run.log_metrics({"auc": 0.81, "val/loss": float("nan")}, step=3)
        run.log_batch(metrics=[{"key": "curve", "value": i * 0.001, "step": i}
                               for i in range(2500)],  # split into three requests
                      tags={"stage": "tuning"})
        run.set_tag("owner", "rita")
        assert run.log_artifact(str(model_file), "model/")["path"] == "model/model.pkl"
        version = run.register_version("ranking", "model/model.pkl", framework="sklearn",
                                       artifact_format="pickle")
        run_id = run.run_id
    assert version["source_run_id"] == run_id
    stored = Run.objects.get(run_id=run_id)
    assert stored.status == "finished" and stored.end_time is not None
    assert stored.metrics.filter(key="curve").count() == 2500

    detail = client.get_run(run_id)
    assert detail["params"] == {"depth": "6", "lr": "0.1", "penalty": "l2", "seed": "7"}
    assert detail["metrics"]["loss"] == pytest.approx(1 / 3)
    assert math.isnan(detail["metrics"]["val/loss"])
    assert detail["tags"] == {"git": "abc", "stage": "tuning", "owner": "rita"}
    assert detail["produced_versions"][0]["version"] == version["version"]
    assert client.list_artifacts(run_id) == [{"path": "model/model.pkl",
                                              "size": len(sklearn_pickle)}]
    target = client.download_artifact(run_id, "model/model.pkl", str(tmp_path / "back.pkl"))
    assert Path(target).read_bytes() == sklearn_pickle
    assert ModelVersion.objects.get(source_run_id=run_id).version == version["version"]


def test_a_run_block_that_raises_is_failed_and_the_error_propagates(client):
    with pytest.raises(ZeroDivisionError):
        with client.start_run("ranking-exp") as run:
            run.log_metric("loss", 0.5)
            raise ZeroDivisionError("diverged")
    stored = Run.objects.get(run_id=run.run_id)
    assert stored.status == "failed" and stored.end_time is not None


def test_a_run_block_interrupted_is_killed(client):
    with pytest.raises(KeyboardInterrupt):
        with client.start_run("ranking-exp") as run:
            raise KeyboardInterrupt
    assert Run.objects.get(run_id=run.run_id).status == "killed"


def test_a_run_ended_inside_the_block_is_left_as_ended(client):
    with client.start_run("ranking-exp") as run:
        run.end("killed")
    assert Run.objects.get(run_id=run.run_id).status == "killed"


def test_api_errors_carry_status_code_and_message(client):
    with client.start_run("ranking-exp") as run:
        run.log_param("lr", 0.1)
        with pytest.raises(AxionAPIError) as caught:
            run.log_param("lr", 0.2)
    assert caught.value.status == 409
    assert caught.value.code == "param_conflict"
    assert "write-once" in caught.value.message
    with pytest.raises(AxionAPIError) as missing:
        client.get_run("0" * 32)
    assert (missing.value.status, missing.value.code) == (404, "run_not_found")


def test_a_wrong_token_is_an_api_error(live_server, db):
    client = AxionClient(live_server.url + "/api/v1/", "wrong")
    with pytest.raises(AxionAPIError) as caught:
        client.list_experiments()
    client.session.close()
    assert caught.value.status == 401


def test_the_read_helpers_the_dashboard_uses(client):
    ids = []
    for number, (lr, auc) in enumerate([(0.1, 0.7), (0.01, 0.8), (0.1, 0.75)]):
        with client.start_run("dash", name=f"r{number}", params={"lr": lr}) as run:
            run.log_batch(metrics=[{"key": "loss", "value": 1 / (s + 1), "step": s}
                                   for s in range(300)] + [{"key": "auc", "value": auc}])
            ids.append(run.run_id)
    experiment = next(e for e in client.list_experiments() if e["name"] == "dash")
    assert experiment["run_count"] == 3

    found = client.search_runs(experiment="dash", params={"lr": 0.1}, metrics=["auc>0.7"])
    assert [r["name"] for r in found] == ["r2"]
    ordered = client.search_runs(experiment="dash", order_by="metric.auc", desc=True)
    assert [r["name"] for r in ordered] == ["r1", "r2", "r0"]
    assert len(client.search_runs(experiment="dash", max_results=2)) == 2

    comparison = client.compare_runs(ids)
    assert comparison["differing_params"] == ["lr"]
    assert comparison["metrics"]["auc"]["values"][ids[1]] == 0.8

    history = client.metric_history(ids[0], "loss", max_points=10)
    assert history["total_points"] == 300 and len(history["values"]) <= 10
    assert history["values"][0] == 1.0
    histories = client.metric_histories(ids, "loss", max_points=10)
    assert [h["run_id"] for h in histories] == ids

    best = client.best_run(experiment["id"], "auc", "max")
    assert best["run"]["name"] == "r1" and best["value"] == 0.8
    assert client.best_run(experiment["id"], "auc", "min", params={"lr": 0.1})["run"][
        "name"] == "r0"
    assert client.get("experiments/", name="dash")["count"] == 1


def test_nan_and_infinity_round_trip_through_the_client(client):
    with client.start_run("nan-exp") as run:
        run.log_metric("a", float("nan"))
        run.log_metric("b", float("inf"), step=1)
        run.log_metric("c", float("-inf"))
    detail = client.get_run(run.run_id)
    assert math.isnan(detail["metrics"]["a"])
    assert detail["metrics"]["b"] == math.inf and detail["metrics"]["c"] == -math.inf
    assert client.metric_history(run.run_id, "b")["values"] == [math.inf]
