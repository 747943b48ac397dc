"""Retention: compacting old finished runs removes their raw points and changes no answer
that a chart, a search, a comparison, a best-run query or a gate gives."""

import io
import math
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from axion_registry.celery import app
from experiments_app import selectors, services
from experiments_app.models import LatestMetric, Metric, MetricBucket, Run
from experiments_app.pyramid import LEVELS
from experiments_app.tasks import metrics_compact_finished
from models_app.gates import evaluate_gates

GATES = {"required_metrics": ["auc"], "thresholds": [{"metric": "auc", "op": ">=",
                                                       "value": 0.6}],
         "require_staging": False, "verify_artifact": False, "load_check": False}


def curve(number: int) -> list[dict]:
    points = []
    for step in range(3000):
        value: float | str = 0.5 + number * 0.05 + math.sin(step / 40) * 0.1
        if step % 97 == 0:
            value = "NaN"
        points.append({"key": "auc", "value": value, "step": step, "timestamp": 10 + step})
        points.append({"key": "loss", "value": 1 / (step + 1), "step": step,
                       "timestamp": 10 + step})
    return points


def finished_run(number: int, *, ended_days_ago: int) -> Run:
    run = services.run_create(experiment="retention", name=f"run-{number}")
    points = curve(number)
    for start in range(0, len(points), 1000):
        services.metrics_log(run_id=run.run_id, metrics=points[start:start + 1000])
    services.run_end(run=run, status="finished")
    Run.objects.filter(pk=run.pk).update(end_time=timezone.now()
                                         - timedelta(days=ended_days_ago))
    return Run.objects.get(pk=run.pk)


def answers(runs: list[Run]) -> dict:
    experiment = runs[0].experiment
    histories = {
        (run.run_id, key, max_points): {
            name: value for name, value in selectors.metric_history(
                run=Run.objects.get(pk=run.pk), key=key, max_points=max_points).items()
            if name != "compacted"
        }
        for run in runs for key in ("auc", "loss") for max_points in (4, 50, 400, 1000)
    }
    best = selectors.run_best(experiment=experiment, metric="auc")
    latest = {run.run_id: {key: (value, nan, step) for key, value, nan, step in
                           LatestMetric.objects.filter(run=run).values_list(
                               "key", "value", "is_nan", "step")} for run in runs}
    gates = {
        run.run_id: evaluate_gates(GATES, metrics={k: v[0] for k, v in latest[run.run_id].items()
                                                   if not v[1]}, from_stage="staging",
                                   artifact_ok=True, production_metrics=None,
                                   directions={"auc": "higher"}).as_list()
        for run in runs
    }
    comparison = selectors.runs_compare(run_ids=[run.run_id for run in runs]).as_dict()
    return {"histories": histories, "best": (best.run.run_id, best.value), "latest": latest,
            "gates": gates, "comparison": comparison}


@pytest.mark.django_db(transaction=True)
def test_compaction_removes_old_raw_points_and_changes_no_answer():
    old = [finished_run(number, ended_days_ago=40) for number in range(3)]
    recent = finished_run(3, ended_days_ago=1)
    running = services.run_create(experiment="retention", name="still running")
    services.metrics_log(run_id=running.run_id, metrics=curve(9)[:500])
    before = answers(old)
    top_before = sorted(MetricBucket.objects.filter(level__in=LEVELS[:3]).values_list(
        "run_id", "key", "level", "bucket", "count", "low_value", "high_value", "last_value"))

    done = services.metrics_compact(finished_before=timezone.now() - timedelta(days=30),
                                    limit=10)

    assert sorted(done.run_ids) == sorted(run.run_id for run in old)
    assert done.points_removed == 3 * 6000
    assert not Metric.objects.filter(run__in=old).exists()
    assert Metric.objects.filter(run=recent).count() == 6000
    assert Metric.objects.filter(run=running).count() == 500
    assert answers(old) == before
    assert sorted(MetricBucket.objects.filter(level__in=LEVELS[:3]).values_list(
        "run_id", "key", "level", "bucket", "count", "low_value", "high_value",
        "last_value")) == top_before
    again = services.metrics_compact(finished_before=timezone.now(), limit=10)
    assert again.run_ids == [recent.run_id]  # the old ones are not compacted twice


@pytest.mark.django_db(transaction=True)
def test_a_compacted_whole_history_is_what_the_pyramid_kept_and_says_so():
    run = finished_run(0, ended_days_ago=40)
    whole = selectors.metric_history(run=run, key="loss")
    assert whole["compacted"] is False and whole["returned_points"] == 3000
    services.run_metrics_compact(run_pk=run.pk)
    kept = selectors.metric_history(run=Run.objects.get(pk=run.pk), key="loss")
    assert kept["compacted"] is True and kept["total_points"] == 3000
    assert 3000 // 8 * 2 <= kept["returned_points"] <= 3000 // 8 * 4
    assert kept["steps"][0] == 0 and kept["steps"][-1] == 2999
    assert kept["values"][-1] == whole["values"][-1]  # the last point is kept
    by_step = dict(zip(whole["steps"], whole["values"], strict=True))
    assert all(by_step[step] == value
               for step, value in zip(kept["steps"], kept["values"], strict=True))


@pytest.mark.django_db(transaction=True)
def test_points_logged_before_the_pyramid_are_aggregated_before_they_are_removed():
    run = finished_run(1, ended_days_ago=40)
    reference = selectors.metric_history(run=run, key="auc", max_points=100)
    MetricBucket.objects.filter(run=run, key="auc").delete()  # as if logged before 0003
    assert selectors.metric_history(run=run, key="auc", max_points=100) == reference
    out = io.StringIO()
    call_command("metric_pyramid_build", stdout=out)
    assert f"{run.run_id}: rebuilt auc" in out.getvalue()
    services.run_metrics_compact(run_pk=run.pk)
    after = selectors.metric_history(run=Run.objects.get(pk=run.pk), key="auc",
                                     max_points=100)
    assert {**after, "compacted": False} == reference


@pytest.mark.django_db(transaction=True)
def test_the_command_compacts_by_age_and_refuses_to_run_without_one():
    run = finished_run(0, ended_days_ago=10)
    out = io.StringIO()
    call_command("metrics_compact", "--days", "30", stdout=out)
    assert "Compacted 0 run(s)" in out.getvalue()
    call_command("metrics_compact", "--days", "5", stdout=out)
    assert "Compacted 1 run(s), removed 6000 raw point(s)." in out.getvalue()
    assert Run.objects.get(pk=run.pk).metrics_compacted_at is not None
    with pytest.raises(CommandError, match="METRIC_RETENTION_DAYS"):
        call_command("metrics_compact", "--days", "0")


@pytest.mark.django_db(transaction=True)
def test_the_beat_task_is_scheduled_and_compacts_only_when_retention_is_set(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["metrics-compact-finished"]
    assert entry["task"] == "experiments_app.tasks.metrics_compact_finished"
    assert entry["task"] in app.tasks
    run = finished_run(0, ended_days_ago=10)
    settings.METRIC_RETENTION_DAYS = 0
    assert metrics_compact_finished() == []
    settings.METRIC_RETENTION_DAYS = 7
    assert metrics_compact_finished() == [run.run_id]
    assert not Metric.objects.filter(run=run).exists()


def test_retention_is_off_unless_configured():
    assert settings.METRIC_RETENTION_DAYS == 0
