"""The periodic evaluation through a real Celery worker (memory broker; Redis in CI's 2nd run)."""

from __future__ import annotations

import time

import pytest

from abtest_app import tasks
from abtest_app.models import ABTest, ABTestSnapshot
from abtest_app.tests.conftest import record, simulate
from models_app.models import ModelVersion, StageTransition

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(check, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def second_model(register_version, release_manager):
    """`regime`, with a production champion and a staging challenger."""
    from models_app import services as registry

    registry.model_create(name="regime", gates={"load_check": False})
    old = register_version("1.0.0", model_name="regime")
    new = register_version("1.1.0", model_name="regime")
    for version in (old, new):
        registry.version_transition(version=version, to="staging", actor=release_manager)
    registry.version_promote(version=ModelVersion.objects.get(pk=old.pk), actor=release_manager)
    return ModelVersion.objects.get(pk=old.pk), ModelVersion.objects.get(pk=new.pk)


def test_the_beat_task_fans_out_one_evaluation_per_running_test(
    celery_worker, running_test, make_test, second_model, champion, challenger
):
    decisive = running_test(auto_promote=True, method="welch")
    record(decisive, simulate(decisive, 3000, champion_mean=1.0, challenger_mean=1.3))
    old, new = second_model
    undecided = running_test(model=old.model, champion=old, challenger=new,
                             min_samples_per_arm=1000)
    record(undecided, simulate(undecided, 200, champion_mean=1.0, challenger_mean=1.0))
    draft = make_test(name="never started")

    enqueued = tasks.abtest_evaluate_running.delay()
    assert enqueued.id

    assert wait_for(lambda: ABTestSnapshot.objects.filter(
        test__in=[decisive, undecided]).values("test").distinct().count() == 2)
    assert wait_for(lambda: ABTest.objects.get(pk=decisive.pk).promotion_status != "")

    decisive = ABTest.objects.get(pk=decisive.pk)
    assert (decisive.state, decisive.decision, decisive.promotion_status) == (
        "concluded", "challenger_wins", "promoted"
    )
    assert ModelVersion.objects.get(pk=challenger.pk).stage == "production"
    assert ModelVersion.objects.get(pk=champion.pk).stage == "archived"
    promotion = StageTransition.objects.get(version=challenger, kind="promote")
    assert promotion.source == f"abtest:{decisive.pk}"
    snapshot = ABTestSnapshot.objects.get(test=undecided)
    assert (snapshot.decision, snapshot.champion_n + snapshot.challenger_n) == ("no_decision",
                                                                                200)
    assert ABTest.objects.get(pk=undecided.pk).state == "running"
    assert not ABTestSnapshot.objects.filter(test=draft).exists()


def test_a_refused_gate_through_the_worker_keeps_the_champion(
    celery_worker, running_test, champion, challenger
):
    from models_app import services as registry

    registry.model_update(model=champion.model, gates={"require_staging": True,
                                                       "required_metrics": ["sharpe"]})
    test = running_test(auto_promote=True, method="welch")
    record(test, simulate(test, 3000, champion_mean=1.0, challenger_mean=1.3))

    tasks.abtest_evaluate.delay(test.pk)

    assert wait_for(lambda: ABTest.objects.get(pk=test.pk).promotion_status != "")
    test = ABTest.objects.get(pk=test.pk)
    assert (test.state, test.decision, test.promotion_status) == (
        "concluded", "challenger_wins", "refused"
    )
    assert "required_metric:sharpe" in test.promotion_message
    assert ModelVersion.objects.get(pk=champion.pk).stage == "production"
    assert ModelVersion.objects.get(pk=challenger.pk).stage == "staging"
