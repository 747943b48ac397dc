"""manage.py seed_demo: the four models with versions, one in production each, experiments
with metric histories, a running A/B test; a second run reuses all of it."""

from __future__ import annotations

import io
import pickle

import pytest
from django.core.management import call_command
from django.utils import timezone

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", "--outcomes", "600", stdout=out)
    return out.getvalue()


def test_it_seeds_the_whole_demo_and_a_second_run_reuses_it(demo_platform):
    # demo_platform sets PLATFORM_MODEL_PATHS to demo/platform, as make run does
    from abtest_app.models import ABTest
    from experiments_app.models import Experiment, Run
    from models_app import artifacts
    from models_app.models import ModelVersion, RegisteredModel, StageTransition

    first = _seed()
    assert "demo data ready" in first
    models = {m.name: m for m in RegisteredModel.objects.all()}
    assert set(models) == {"stock-ranking", "market-regime", "earnings-surprise",
                           "factor-timing"}
    for model in models.values():
        stages = dict(model.versions.values_list("version", "stage"))
        assert set(stages) == {"1.0.0", "1.1.0"}
        assert list(stages.values()).count("production") == 1
        tuned = model.versions.get(version="1.1.0")
        assert tuned.signature["inputs"] and tuned.input_example and tuned.metrics
        assert Run.objects.filter(run_id=tuned.source_run_id).exists()  # lineage
        with artifacts.artifact_open(tuned.artifact_path) as handle:
            estimator = pickle.load(handle)
        assert type(estimator).__module__ == "src.ml.models"  # the platform's classes
        assert tuned.load_check_status == "passed" and tuned.load_check["predict_ms"] > 0
        assert tuned.serving_input == "dataframe"
        if model.name != "factor-timing":  # a classifier scored on its holdout
            assert {"accuracy", "auc"} <= set(tuned.verified_metrics)
    assert models["market-regime"].versions.get(version="1.0.0").stage == "archived"
    assert Experiment.objects.count() == 4
    run = Run.objects.filter(experiment__name="stock-ranking-tuning").first()
    assert run.metrics.filter(key="val_loss").count() > 5  # a curve, not one point
    test = ABTest.objects.get()
    assert test.state == "running" and test.snapshots.count() == 6
    times = list(test.snapshots.values_list("created_at", flat=True))
    assert times == sorted(times) and len(set(times)) == 6  # a time axis, not one instant
    assert test.started_at < times[0] and times[-1] <= timezone.now()
    counts = (ModelVersion.objects.count(), StageTransition.objects.count(), Run.objects.count())

    second = _seed()
    assert "already registered, reusing it" in second and "A/B test: already there" in second
    assert (ModelVersion.objects.count(), StageTransition.objects.count(),
            Run.objects.count()) == counts
    assert ABTest.objects.count() == 1
