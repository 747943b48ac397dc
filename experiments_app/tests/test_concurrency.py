"""Guarantees under concurrent requests, on PostgreSQL (SQLite runs one writer at a time)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from experiments_app import services
from experiments_app.errors import ParamConflict, RunNotActive
from experiments_app.models import LatestMetric, Metric, Run
from experiments_app.services.runs import run_for_logging
from experiments_app.services.tracking import _write_metrics

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def in_thread(target):
    def run(*args):
        try:
            return target(*args)
        finally:
            connection.close()

    return run


@pytest.fixture
def run(researcher):
    return services.run_create(experiment="concurrency", user=researcher)


def test_ending_a_run_waits_for_a_logger_in_flight(run):
    locked, release = threading.Event(), threading.Event()

    def logger():
        with transaction.atomic():
            _write_metrics(run_for_logging(run.run_id), [("loss", 0.5, False, 0, 1)])
            locked.set()
            release.wait(10)

    def ender():
        services.run_end(run=run)

    with ThreadPoolExecutor(2) as pool:
        logging = pool.submit(in_thread(logger))
        assert locked.wait(10)
        ending = pool.submit(in_thread(ender))
        time.sleep(0.3)
        assert not ending.done()  # blocked behind the logger's share lock
        release.set()
        logging.result(10)
        ending.result(10)
    assert Run.objects.get(pk=run.pk).status == "finished"
    assert Metric.objects.filter(run=run).count() == 1


def test_a_logger_that_waited_on_the_end_is_refused(run):
    ended, release = threading.Event(), threading.Event()

    def ender():
        with transaction.atomic():
            services.run_end(run=run)
            ended.set()
            release.wait(10)

    def logger():
        services.metric_log(run_id=run.run_id, key="loss", value=0.1)

    with ThreadPoolExecutor(2) as pool:
        ending = pool.submit(in_thread(ender))
        assert ended.wait(10)
        logging = pool.submit(in_thread(logger))
        time.sleep(0.3)
        assert not logging.done()
        release.set()
        ending.result(10)
        with pytest.raises(RunNotActive):
            logging.result(10)
    assert not Metric.objects.filter(run=run).exists()


def test_concurrent_batches_leave_the_highest_step_as_latest(run):
    def log(offset):
        for start in range(offset, 400, 40):
            services.metrics_log(run_id=run.run_id, metrics=[
                {"key": "loss", "value": float(step), "step": step, "timestamp": 1}
                for step in range(start, start + 10)
            ])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(in_thread(log), [0, 10, 20, 30]))
    assert Metric.objects.filter(run=run).count() == 400
    latest = LatestMetric.objects.get(run=run, key="loss")
    assert (latest.step, latest.value) == (399, 399.0)


def test_concurrent_writes_of_one_param_keep_one_value(run):
    barrier = threading.Barrier(4)

    def log(value):
        barrier.wait(10)
        try:
            services.params_log(run_id=run.run_id, params={"lr": value})
            return "ok"
        except ParamConflict:
            return "conflict"

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(in_thread(log), ["0.1", "0.1", "0.2", "0.2"]))
    stored = run.params.get(key="lr").value
    assert outcomes.count("ok") == 2 and outcomes.count("conflict") == 2
    sent = ["0.1", "0.1", "0.2", "0.2"]
    assert [o for o, v in zip(outcomes, sent, strict=True) if v == stored] == ["ok", "ok"]
