"""Locking guarantees that only PostgreSQL can prove: several processes flush into the same
minute, and several deciders (guardrails, warm-ups) want to roll back the same version."""

from __future__ import annotations

import functools

import pytest

from axion_registry.testing import run_concurrently
from models_app.models import StageTransition
from serving_app import services
from serving_app.metrics import LatencyRecorder
from serving_app.models import LatencyMinute
from serving_app.tests.mock_models import ConstantModel

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_flushes_into_one_minute_add_up(deploy):
    version = deploy(ConstantModel(1.0), "1.0.0")
    snapshots = []
    for i in range(6):  # six processes' drained histograms for the same minute
        recorder = LatencyRecorder()
        for _ in range(10 + i):
            recorder.record("ranking", version.pk, "1.0.0", "ok", 300_000)
        recorder.record("ranking", version.pk, "1.0.0", "fallback", 900_000, "boom")
        snapshots.append(recorder.drain())
    services.latency_flush(snapshot=snapshots.pop())  # the row exists: every flush updates it
    run_concurrently([functools.partial(services.latency_flush, snapshot=snapshots[i])
                      for i in range(5)])
    (row,) = LatencyMinute.objects.filter(version=version)
    assert row.count == sum(10 + i for i in range(6)) + 6
    assert row.fallbacks == 6 and sum(row.buckets) == row.count


def test_only_one_of_several_deciders_rolls_a_version_back(deploy):
    deploy(ConstantModel(1.0), "1.0.0")
    deploy(ConstantModel(2.0), "1.1.0")
    current = deploy(ConstantModel(3.0), "1.2.0")
    results = run_concurrently([
        functools.partial(services.rollback_if_current, version=current,
                          reason=f"decider {i}", source="guardrail")
        for i in range(5)])
    assert sum(r is not None for r in results) == 1
    rollbacks = StageTransition.objects.filter(kind="rollback")
    assert [r.version.version for r in rollbacks] == ["1.1.0"]  # not walked back to 1.0.0
