"""Guarantees under concurrent requests, on PostgreSQL (SQLite runs one writer at a time)."""

import functools
import threading
import time

import pytest
from django.db import transaction

from axion_registry.testing import run_concurrently
from experiments_app import services
from experiments_app.errors import ParamConflict, RunNotActive
from experiments_app.models import LatestMetric, Metric, Run
from experiments_app.services.runs import run_for_logging
from experiments_app.services.tracking import _write_metrics

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def run(researcher):
    return services.run_create(experiment="concurrency", user=researcher)


def test_ending_a_run_waits_for_a_logger_in_flight(run):
    locked, release, ended = threading.Event(), threading.Event(), threading.Event()

    def logger():
        with transaction.atomic():
            _write_metrics(run_for_logging(run.run_id), [("loss", 0.5, False, 0, 1)])
            locked.set()
            assert release.wait(10)

    def ender():
        assert locked.wait(10)
        services.run_end(run=run)
        ended.set()

    def observer():
        """While the logger holds its transaction open, the ender must still be waiting."""
        assert locked.wait(10)
        time.sleep(0.3)
        blocked = not ended.is_set()  # behind the logger's share lock
        release.set()
        return blocked

    _, _, ender_was_blocked = run_concurrently([logger, ender, observer], timeout=30)
    assert ender_was_blocked
    assert Run.objects.get(pk=run.pk).status == "finished"
    assert Metric.objects.filter(run=run).count() == 1


def test_a_logger_that_waited_on_the_end_is_refused(run):
    ended, release, logged = threading.Event(), threading.Event(), threading.Event()

    def ender():
        with transaction.atomic():
            services.run_end(run=run)
            ended.set()
            assert release.wait(10)

    def logger():
        assert ended.wait(10)
        try:
            services.metric_log(run_id=run.run_id, key="loss", value=0.1)
        finally:
            logged.set()

    def observer():
        """While the ender holds its transaction open, the logger must still be waiting."""
        assert ended.wait(10)
        time.sleep(0.3)
        blocked = not logged.is_set()
        release.set()
        return blocked

    ending, logging, logger_was_blocked = run_concurrently(
        [ender, logger, observer], timeout=30, return_exceptions=True)
    assert ending is None
    assert logger_was_blocked is True
    assert isinstance(logging, RunNotActive)
    assert not Metric.objects.filter(run=run).exists()


def test_concurrent_batches_leave_the_highest_step_as_latest(run):
    def log(offset):
        for start in range(offset, 400, 40):
            services.metrics_log(run_id=run.run_id, metrics=[
                {"key": "loss", "value": float(step), "step": step, "timestamp": 1}
                for step in range(start, start + 10)
            ])

    run_concurrently([functools.partial(log, offset) for offset in [0, 10, 20, 30]])
    assert Metric.objects.filter(run=run).count() == 400
    latest = LatestMetric.objects.get(run=run, key="loss")
    assert (latest.step, latest.value) == (399, 399.0)


def test_concurrent_writes_of_one_param_keep_one_value(run):
    sent = ["0.1", "0.1", "0.2", "0.2"]

    def log(value):
        try:
            services.params_log(run_id=run.run_id, params={"lr": value})
            return "ok"
        except ParamConflict:
            return "conflict"

    outcomes = run_concurrently([functools.partial(log, value) for value in sent])
    stored = run.params.get(key="lr").value
    assert outcomes.count("ok") == 2 and outcomes.count("conflict") == 2
    assert [o for o, v in zip(outcomes, sent, strict=True) if v == stored] == ["ok", "ok"]
