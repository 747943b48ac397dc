"""Deployments reach every process without a restart; warm-ups run in a real worker."""

from __future__ import annotations

import threading
import time

import pytest
from django.conf import settings

from axion_registry.testing import run_concurrently, wait_for
from models_app import services as registry
from models_app.models import StageTransition
from serving_app.generation import generations_read
from serving_app.models import DeploymentEvent
from serving_app.runtime import ServingRuntime
from serving_app.tasks import warmup_queue
from serving_app.tests.mock_models import ConstantModel, CountingModel, RaisingModel

ROWS = [{"f0": 1.0, "f1": 0.0, "f2": 0.0, "f3": 0.0}]




@pytest.fixture
def purged_queue(celery_app):
    """Drop warm-ups queued by earlier tests (their rows are gone) before a worker starts."""
    with celery_app.connection_for_write() as connection:
        for queue in ("celery", warmup_queue(settings.AXION_HOST_NAME).name):
            connection.default_channel.queue_purge(queue)


@pytest.mark.django_db(transaction=True)
def test_deployments_are_recorded_and_bump_the_generation(deploy, release_manager):
    before = generations_read().get("ranking", 0)
    first = deploy(ConstantModel(1.0), "1.0.0")
    event = DeploymentEvent.objects.get(kind="promote")
    assert event.version_id == first.pk and event.warmup_status == "pending"
    assert event.reason == "test"
    assert generations_read()["ranking"] == before + 1
    second = deploy(ConstantModel(2.0), "1.1.0")
    registry.model_rollback(model=second.model, actor=release_manager, reason="why not")
    assert generations_read()["ranking"] == before + 3
    rollback = DeploymentEvent.objects.get(kind="rollback")
    assert (rollback.version_id, rollback.previous_version_id) == (first.pk, second.pk)
    assert rollback.reason == "why not"


@pytest.mark.django_db(transaction=True)
def test_another_process_notices_a_promotion_and_a_rollback_without_restart(
        deploy, release_manager):
    """The second runtime stands for another gunicorn process: its own cache, its own
    thread, learning of deployments only through the generation check."""
    deploy(ConstantModel(1.0), "1.0.0")
    other = ServingRuntime(background=True, check_interval_ms=20)
    answers: list[tuple[str, bool]] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            result = other.predict("ranking", ROWS)  # any failure fails the test
            answers.append((result.version, result.predictions[0]))
            time.sleep(0.002)

    def deployments() -> None:
        try:
            wait_for(lambda: answers)
            second = deploy(ConstantModel(2.0), "1.1.0")
            wait_for(lambda: answers[-1] == ("1.1.0", 2.0))
            registry.model_rollback(model=second.model, actor=release_manager, reason="back")
            wait_for(lambda: answers[-1] == ("1.0.0", 1.0))
        finally:
            stop.set()

    try:
        run_concurrently([traffic, deployments])
    finally:
        other.close()
    versions = [v for v, _ in answers]
    swap = versions.index("1.1.0")
    assert set(versions[:swap]) == {"1.0.0"}  # old answers until the swap, then new ones
    assert other.cache.loads == 2  # 1.0.0 stayed cached as the fallback: the rollback is instant


@pytest.mark.django_db(transaction=True)
def test_a_process_warms_its_copy_before_routing_traffic_to_it(deploy):
    deploy(ConstantModel(1.0), "1.0.0")
    other = ServingRuntime(background=False, check_interval_ms=0)
    other.predict("ranking", ROWS)
    CountingModel.calls = 0
    deploy(CountingModel(), "1.1.0")
    assert CountingModel.calls == 0
    result = other.predict("ranking", ROWS)
    assert result.version == "1.1.0"
    assert CountingModel.calls == 3 + 1  # the warm-up rounds, then the request
    assert other.describe("ranking")["production"]["warm"] is True


@pytest.mark.django_db(transaction=True)
def test_the_warm_up_task_records_load_and_predict_times(purged_queue, celery_worker,
                                                         deploy):
    version = deploy(ConstantModel(1.0), "1.0.0")
    event = wait_for(lambda: DeploymentEvent.objects.filter(
        version=version, warmup_status="ok").first())
    assert event.load_ms > 0 and event.predict_ms > 0 and event.error == ""
    assert not event.rolled_back


@pytest.mark.django_db(transaction=True)
def test_a_failed_warm_up_rolls_the_promotion_back(purged_queue, celery_worker, deploy, api):
    good = deploy(ConstantModel(1.0), "1.0.0")
    bad = deploy(RaisingModel(), "1.1.0")
    event = wait_for(lambda: DeploymentEvent.objects.filter(
        version=bad, warmup_status="failed", rolled_back=True).first())
    assert "this model always fails" in event.error
    bad.refresh_from_db()
    good.refresh_from_db()
    assert (bad.stage, good.stage) == ("archived", "production")
    rollback = StageTransition.objects.get(kind="rollback")
    assert rollback.source == "warmup" and rollback.actor.username == "axion-system"
    assert "warm-up of ranking@1.1.0 failed" in rollback.reason
    listed = api.get("/api/v1/deployments/?model=ranking").json()["results"]
    kinds = [(e["kind"], e["version"], e["source"]) for e in listed]
    assert ("rollback", "1.0.0", "warmup") in kinds and ("promote", "1.1.0", "") in kinds
    failed = next(e for e in listed if e["kind"] == "promote" and e["version"] == "1.1.0")
    assert failed["warmup_status"] == "failed" and failed["rolled_back"] is True
    (host,) = failed["hosts"]
    assert (host["host"], host["status"], host["attempts"]) == (
        settings.AXION_HOST_NAME, "failed", 1)
    assert "this model always fails" in host["error"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_requests_load_the_model_once(deploy):
    deploy(ConstantModel(1.0), "1.0.0")
    cold = ServingRuntime(background=False, check_interval_ms=60_000)
    versions = run_concurrently([lambda: cold.predict("ranking", ROWS).version] * 6)
    assert versions == ["1.0.0"] * 6
    assert cold.cache.loads == 1
