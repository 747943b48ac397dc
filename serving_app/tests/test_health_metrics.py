"""/readyz and /metrics."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from serving_app.runtime import predict
from serving_app.tests.mock_models import ConstantModel, PickyModel

pytestmark = pytest.mark.django_db
GOOD = [{"f0": 1.0, "f1": 0.0, "f2": 0.0, "f3": 0.0}]
UNLUCKY = [{"f0": 13.0, "f1": 0.0, "f2": 0.0, "f3": 0.0}]


def test_readyz_lists_production_versions_not_yet_warm_here(runtime, deploy, client):
    deploy(ConstantModel(1.0), "1.0.0", model_name="ranking")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["not_ready"] == [
        {"model": "ranking", "version": "1.0.0", "reason": "not loaded"}
    ]
    runtime.preload_production()  # what a gunicorn worker does when it starts
    assert client.get("/readyz").status_code == 200


def test_an_anonymous_readyz_loads_nothing_a_signed_in_one_loads_what_is_missing(
        runtime, deploy, client, researcher):
    deploy(ConstantModel(1.0), "1.0.0", model_name="ranking")
    for _ in range(3):
        assert client.get("/readyz").status_code == 503
    assert runtime.route("ranking") is None
    client.force_login(researcher)
    client.get("/readyz")  # synchronously in this test runtime
    assert client.get("/readyz").status_code == 200


def test_readyz_names_a_version_that_failed_to_load(runtime, deploy, client, artifact_root):
    version = deploy(ConstantModel(1.0), "1.0.0")
    (artifact_root / version.artifact_path).write_bytes(b"tampered")
    runtime.preload_production()
    (missing,) = client.get("/readyz").json()["not_ready"]
    assert "failed to load" in missing["reason"] and "sha256" in missing["reason"]


def test_readyz_is_ready_with_nothing_in_production(runtime, db, client):
    assert client.get("/readyz").json() == {"status": "ready"}


def test_metrics_parse_as_prometheus_text_with_a_histogram_per_version_and_outcome(
        runtime, deploy, client):
    deploy(ConstantModel(7.0), "1.0.0")
    deploy(PickyModel(), "1.1.0")
    for rows in (GOOD, GOOD, UNLUCKY):
        predict("ranking", rows)
    response = client.get("/metrics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.content.decode())}
    family = families["axion_serving_request_duration_seconds"]
    assert family.type == "histogram"
    counts = {
        s.labels["outcome"]: s.value for s in family.samples
        if s.name.endswith("_count") and s.labels["model"] == "ranking"
        and s.labels["version"] == "1.1.0"
    }
    # counters are per process and cumulative: other tests may have counted before
    assert counts["ok"] >= 2 and counts["fallback"] >= 1
    buckets = [s for s in family.samples if s.name.endswith("_bucket")
               and s.labels.get("version") == "1.1.0" and s.labels["outcome"] == "ok"]
    assert buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == counts["ok"]
    assert {b.labels["le"] for b in buckets} >= {"0.0001", "10.0"}
